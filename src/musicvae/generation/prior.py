"""A prior fitted to a VAE's aggregate posterior: a full-covariance Gaussian mixture over training codes.

Place in the flow: posterior means of training windows (``TrainedModel.codes``) ->
:func:`fit_prior` -> ``prior.safetensors`` in an exported model dir (``musicvae fit-prior``)
-> ``TrainedModel.prior_codes`` / ``sample`` draw from it by default (``--prior standard``
opts out).

Why: a VAE trained under a free-bits allowance it never exceeds leaves its codes far from
N(0, I) (the bundled ``mel_2bar``'s posterior means have norm ~6 where N(0, I) draws in
128 dimensions have ~11.3), so N(0, I) draws land where the decoder was never trained
("prior holes"; see ``experiments/results/prior_holes/``). Sampling from a density fitted to
where the codes actually are gives data-like samples without retraining.

The file holds ``weights`` ``(K,)``, ``means`` ``(K, Z)`` and ``chol`` ``(K, Z, Z)`` (lower
Cholesky factors of the covariances), float32, plus string metadata (``format``, how it was
fitted). No pickle.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors.numpy import load as load_numpy_bytes, save as save_numpy

from ..utils.io import atomic_write_bytes
from ..utils.stored import StoredFileError, read_bytes
from .windows import InputError, input_errors

PRIOR_FILE = "prior.safetensors"
PRIOR_FORMAT = "musicvae-prior-gmm-1"


@dataclass
class FittedPrior:
    """A Gaussian mixture ``sum_k w_k N(mean_k, L_k L_k^T)`` over codes."""

    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, Z)
    chol: np.ndarray  # (K, Z, Z) lower triangular
    info: dict[str, str] = field(default_factory=dict)

    @property
    def components(self) -> int:
        return len(self.weights)

    @property
    def z_size(self) -> int:
        return int(self.means.shape[1])

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """``(n, Z)`` float32 draws (component by weight, then its Gaussian)."""
        rng = np.random.default_rng(seed)
        comp = rng.choice(self.components, size=n, p=self.weights / self.weights.sum())  # (n,)
        eps = rng.standard_normal((n, self.z_size))  # (n, Z)
        z = self.means[comp] + np.einsum("nij,nj->ni", self.chol[comp], eps)
        return z.astype(np.float32)

    def log_density(self, z: np.ndarray) -> np.ndarray:
        """Log density ``(N,)`` of codes ``(N, Z)`` under the mixture."""
        return _log_resp(np.asarray(z, np.float64), self.weights, self.means, self.chol)[1]

    def to_bytes(self) -> bytes:
        """The ``prior.safetensors`` bytes."""
        arrays = {"weights": self.weights.astype(np.float32), "means": self.means.astype(np.float32),
                  "chol": self.chol.astype(np.float32)}
        meta = {"format": PRIOR_FORMAT, **{str(k): str(v) for k, v in self.info.items()}}
        return save_numpy(arrays, metadata=meta)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        atomic_write_bytes(path, self.to_bytes())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, z_size: int | None = None) -> "FittedPrior":
        """Read ``prior.safetensors``; a bad file or one of another code size is one-line InputError."""
        path = Path(path)
        with input_errors(StoredFileError):
            data = read_bytes(path)
        return cls.from_bytes(data, path, z_size)

    @classmethod
    def from_bytes(cls, data: bytes, path: str | os.PathLike = PRIOR_FILE, z_size: int | None = None
                   ) -> "FittedPrior":
        """Parse ``prior.safetensors`` bytes (``path`` names the file in errors)."""
        try:
            size = int.from_bytes(data[:8], "little")
            header = json.loads(data[8:8 + size])
            meta = header.get("__metadata__") or {}
            arrays = load_numpy_bytes(data)
            if not isinstance(meta, dict):
                raise ValueError("bad metadata")
        except Exception as exc:  # safetensors raises its own error types
            raise InputError(f"{path}: unreadable prior ({' '.join(str(exc).split())[:120]})") from None
        if meta.get("format") != PRIOR_FORMAT or set(arrays) != {"weights", "means", "chol"}:
            raise InputError(f"{path}: not a {PRIOR_FORMAT} file")
        w, m, c = (np.asarray(arrays[k], np.float64) for k in ("weights", "means", "chol"))
        k = len(w)
        if (w.ndim != 1 or m.ndim != 2 or c.ndim != 3 or m.shape[0] != k or c.shape != (k, m.shape[1], m.shape[1])
                or not k or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0
                or not np.all(np.isfinite(m)) or not np.all(np.isfinite(c))):
            raise InputError(f"{path}: inconsistent prior arrays (weights {w.shape}, means {m.shape}, chol {c.shape})")
        if z_size is not None and m.shape[1] != z_size:
            raise InputError(f"{path}: prior over {m.shape[1]}-d codes, the model's codes have {z_size}")
        meta = {str(a): str(b) for a, b in meta.items() if a != "format"}
        return cls(w / w.sum(), m, c, meta)


def _log_resp(z: np.ndarray, weights: np.ndarray, means: np.ndarray, chol: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Responsibilities ``(N, K)`` and log density ``(N,)`` of ``z`` ``(N, Z)``."""
    n, d = z.shape
    logp = np.empty((n, len(weights)))
    for k in range(len(weights)):
        diff = (z - means[k]).T  # (Z, N)
        sol = np.linalg.solve(chol[k], diff)  # L^-1 (z - m): (Z, N)  (triangular; solve is fine at Z=128)
        logdet = 2.0 * np.log(np.abs(np.diag(chol[k]))).sum()
        logp[:, k] = np.log(max(weights[k], 1e-300)) - 0.5 * (np.sum(sol * sol, axis=0) + logdet + d * np.log(2 * np.pi))
    top = logp.max(axis=1, keepdims=True)
    total = top[:, 0] + np.log(np.exp(logp - top).sum(axis=1))
    return np.exp(logp - total[:, None]), total


def fit_prior(codes: np.ndarray, components: int = 8, iterations: int = 50, seed: int = 0,
              reg: float = 1e-3, tol: float = 1e-4) -> FittedPrior:
    """EM for a full-covariance Gaussian mixture over codes ``(N, Z)``.

    ``components=1`` is the single full-covariance Gaussian (closed form). ``reg`` is
    added to every covariance's diagonal (times the codes' mean variance) so a component
    never collapses; components are started from random codes. Stops when the mean log
    density improves by less than ``tol`` nats. Raises ValueError for fewer codes than
    ``2 * components`` or codes that are not finite.
    """
    z = np.asarray(codes, dtype=np.float64)
    if z.ndim != 2 or not np.all(np.isfinite(z)):
        raise ValueError(f"codes must be a finite (N, Z) array, got shape {z.shape}")
    n, d = z.shape
    if components < 1 or n < 2 * components:
        raise ValueError(f"{n} codes are too few for {components} components")
    rng = np.random.default_rng(seed)
    eye = np.eye(d) * reg * float(z.var(axis=0).mean())
    means = z[rng.choice(n, size=components, replace=False)]
    resp = np.zeros((n, components))
    resp[np.arange(n), np.argmin(((z[:, None, :] - means[None]) ** 2).sum(-1), axis=1)] = 1.0  # hard start
    last = -np.inf
    done = 0
    for done in range(1, max(1, iterations) + 1):
        nk = resp.sum(axis=0) + 1e-10  # (K,)
        weights = nk / n
        means = resp.T @ z / nk[:, None]  # (K, Z)
        chol = np.empty((components, d, d))
        for k in range(components):
            diff = z - means[k]
            cov = (resp[:, k, None] * diff).T @ diff / nk[k] + eye
            chol[k] = np.linalg.cholesky(cov)
        if components == 1:
            break
        resp, logp = _log_resp(z, weights, means, chol)
        mean_logp = float(logp.mean())
        if mean_logp - last < tol:
            break
        last = mean_logp
    info = {"components": str(components), "codes": str(n), "iterations": str(done), "seed": str(seed),
            "reg": str(reg)}
    return FittedPrior(weights, means, chol, info)
