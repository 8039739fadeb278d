"""Operations in latent space: interpolation, attribute vectors, averaging, neighbours.

Place in the flow: ``TrainedModel.encode`` -> z vectors -> these pure numpy functions
-> ``TrainedModel.decode``. Nothing here knows about models or music, so each
operation is tested on hand-computed vectors.

* :func:`slerp` follows the MusicVAE paper (and Shoemake's formula), falling back to
  linear interpolation when the two vectors are (nearly) parallel, where the
  spherical formula divides by sin(omega) ~ 0.
* :func:`attribute_vector` is the ICML paper's recipe: the mean code of the examples in
  the top quartile of an attribute minus the mean code of the bottom quartile.
"""

from __future__ import annotations

import numpy as np

#: below this angle (radians) slerp is computed as lerp (sin(omega) ~ omega ~ 0)
PARALLEL_EPS = 1e-4


def lerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Linear interpolation ``(1 - t) a + t b`` (``t`` scalar, or ``(S,)`` for a stack ``(S, Z)``)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if t.ndim:
        t = t[:, None]
    return (1.0 - t) * a + t * b


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation between two vectors ``(Z,)``.

    ``sin((1-t) w) / sin(w) * a + sin(t w) / sin(w) * b`` with ``w`` the angle between
    ``a`` and ``b``. Edge cases: parallel or anti-parallel-free nearly parallel vectors
    (``w < 1e-4``) interpolate linearly; a zero vector has no direction, so lerp too.
    Exactly opposite vectors have no unique great circle: the formula's answer at
    ``sin(w) = 0`` is undefined, so they are also interpolated linearly.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0.0 or nb == 0.0:
        return lerp(a, b, t)
    cos = float(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))
    omega = float(np.arccos(cos))
    if omega < PARALLEL_EPS or np.pi - omega < PARALLEL_EPS:
        return lerp(a, b, t)
    t = np.asarray(t, dtype=np.float64)
    s = np.sin(omega)
    wa = np.sin((1.0 - t) * omega) / s
    wb = np.sin(t * omega) / s
    if t.ndim:
        wa, wb = wa[:, None], wb[:, None]
    return wa * a + wb * b


def interpolate(a: np.ndarray, b: np.ndarray, steps: int, method: str = "slerp") -> np.ndarray:
    """``steps`` codes from ``a`` to ``b`` inclusive: ``(steps, Z)`` float32."""
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps (its endpoints), got {steps}")
    if method not in ("slerp", "lerp"):
        raise ValueError(f"unknown interpolation method {method!r} (slerp or lerp)")
    return (slerp if method == "slerp" else lerp)(a, b, np.linspace(0.0, 1.0, steps)).astype(np.float32)


def attribute_vector(codes: np.ndarray, values: np.ndarray, quantile: float = 0.25) -> np.ndarray:
    """Mean code of the top ``quantile`` of ``values`` minus that of the bottom ``quantile``.

    ``codes`` is ``(N, Z)``, ``values`` ``(N,)``. Examples whose value is NaN (the
    attribute is undefined for them, e.g. the interval of a one-note melody) are left
    out. The quartiles are taken by rank, so an attribute that is zero for most examples
    (syncopation in plain folk tunes) still contrasts its top quarter with music that has
    none; ties at the boundary fall in data order. Raises ValueError when fewer than 4
    defined values remain, or when the attribute does not vary (top and bottom quartile
    would have the same mean value).
    """
    codes = np.asarray(codes, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if codes.ndim != 2 or len(codes) != len(values):
        raise ValueError(f"codes (N, Z) and values (N,) must match, got {codes.shape} and {values.shape}")
    keep = ~np.isnan(values)
    codes, values = codes[keep], values[keep]
    if len(values) < 4:
        raise ValueError(f"an attribute vector needs at least 4 examples where the attribute is defined, got {len(values)}")
    order = np.argsort(values, kind="stable")
    k = max(1, int(round(len(values) * quantile)))
    if values[order[-k:]].mean() <= values[order[:k]].mean():
        raise ValueError("the attribute does not vary across these examples (top and bottom quartiles are alike)")
    return (codes[order[-k:]].mean(axis=0) - codes[order[:k]].mean(axis=0)).astype(np.float32)


def average(codes: np.ndarray) -> np.ndarray:
    """Latent averaging (the paper's Fig. 1): the mean code of ``(N, Z)`` codes, ``(Z,)``."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) == 0:
        raise ValueError(f"average needs a non-empty (N, Z) array of codes, got shape {codes.shape}")
    return codes.mean(axis=0).astype(np.float32)


def neighbours(z: np.ndarray, n: int, similarity: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` codes correlated with ``z``: ``s z + sqrt(1 - s^2) eps`` with ``eps ~ N(0, I)``.

    ``similarity`` s in [0, 1]: 1 returns ``z`` itself, 0 independent prior samples.
    When ``z`` is itself a prior sample the result is again distributed as N(0, I),
    with correlation ``s`` to ``z`` in every dimension.
    """
    if not 0.0 <= similarity <= 1.0:
        raise ValueError(f"similarity must be in [0, 1], got {similarity}")
    z = np.asarray(z, dtype=np.float64)
    eps = rng.standard_normal((n, z.shape[-1]))
    return (similarity * z[None] + np.sqrt(1.0 - similarity**2) * eps).astype(np.float32)
