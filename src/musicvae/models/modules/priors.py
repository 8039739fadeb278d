"""Latent priors of the adversarial autoencoder (MusAE): an isotropic Gaussian and the "flower" mixture.

Place in the flow: prior ``.sample`` -> "real" codes for the critic in
``training.adversarial`` (the encoder's codes are the "fake" ones) and -> z for
``MusAE.sample``. With style labels, a labelled example's real code comes from its
label's component (:func:`label_components` maps label names to components).

Flower prior (Valenti, Carta, Bacciu, ECAI 2020, eqs. 14-18). With ``K`` components,
``Z`` latent dimensions, ``r`` the radius, ``s_r`` / ``s_t`` the radial / tangential
variances, component ``k`` (``k = 0 .. K-1``) is ``N(mu_k, Sigma_k)`` where::

    theta_k = 2 pi k / K
    mu_k    = (r cos theta_k, r sin theta_k, 0, ..., 0)                 in R^Z
    R_k     = [[cos theta_k, -sin theta_k], [sin theta_k, cos theta_k]] (+) I_{Z-2}
    D       = diag(s_r, s_t, s_t, ..., s_t)
    Sigma_k = R_k D R_k^T
    p(z)    = (1 / K) sum_k N(z; mu_k, Sigma_k)

so each petal is elongated along its own radius (variance ``s_r = 0.1`` along
``(cos theta_k, sin theta_k)``) and thin across it and in every other dimension
(``s_t = 0.001``). A draw is ``z = mu_k + R_k (sqrt(diag D) * eps)``, ``eps ~ N(0, I)``.

Radius: ``r = 1.0`` by default (the paper does not pin it down in the text we follow).
With ``K = 32`` neighbouring means are ``2 r sin(pi / K) ~= 0.196`` apart, about six
tangential standard deviations (``sqrt(0.001) ~= 0.032``), so petals stay separable,
while the radial spread (``sqrt(0.1) ~= 0.32``) keeps every petal clear of the origin.
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn


def _check_labels(labels: torch.Tensor | None, n: int, components: int) -> None:
    if labels is None:
        return
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < -1 or int(labels.max()) >= components):
        raise ValueError(f"labels must be -1 (any) or in [0, {components}), got {labels.tolist()}")


class GaussianPrior(nn.Module):
    """``N(0, I)`` in ``Z`` dimensions; labels are accepted (for a uniform interface) and ignored."""

    def __init__(self, z_size: int):
        super().__init__()
        self.z_size = int(z_size)
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # follows .to(device/dtype)

    def sample(
        self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``(n, Z)`` standard normal draws."""
        a = self._anchor
        return torch.randn(n, self.z_size, generator=generator, device=a.device, dtype=a.dtype)


class FlowerPrior(nn.Module):
    """Uniform mixture of ``components`` rotated, radially elongated Gaussians (see the module docstring)."""

    def __init__(
        self,
        z_size: int,
        components: int = 32,
        radial_variance: float = 0.1,
        tangential_variance: float = 0.001,
        radius: float = 1.0,
    ):
        super().__init__()
        if z_size < 2:
            raise ValueError(f"the flower prior needs z_size >= 2, got {z_size}")
        if components < 1:
            raise ValueError(f"components must be >= 1, got {components}")
        if radial_variance <= 0 or tangential_variance <= 0:
            raise ValueError("variances must be > 0")
        self.z_size, self.components = int(z_size), int(components)
        self.radial_variance, self.tangential_variance, self.radius = radial_variance, tangential_variance, radius
        theta = 2.0 * math.pi * torch.arange(components, dtype=torch.float64) / components  # (K,)
        means = torch.zeros(components, z_size, dtype=torch.float64)
        means[:, 0], means[:, 1] = radius * torch.cos(theta), radius * torch.sin(theta)
        std = torch.full((z_size,), math.sqrt(tangential_variance), dtype=torch.float64)
        std[0] = math.sqrt(radial_variance)
        # Constants derived from the arguments: buffers follow .to(device), kept out of checkpoints.
        self.register_buffer("means", means.float(), persistent=False)  # (K, Z)
        self.register_buffer("std", std.float(), persistent=False)  # (Z,): sqrt(diag D)
        self.register_buffer("cos", torch.cos(theta).float(), persistent=False)  # (K,)
        self.register_buffer("sin", torch.sin(theta).float(), persistent=False)  # (K,)

    def rotation(self, k: int) -> torch.Tensor:
        """``R_k`` (Z, Z): rotation by ``theta_k`` in dimensions 0-1, identity elsewhere."""
        r = torch.eye(self.z_size, device=self.means.device, dtype=self.means.dtype)
        c, s = self.cos[k], self.sin[k]
        r[0, 0], r[0, 1], r[1, 0], r[1, 1] = c, -s, s, c
        return r

    def covariance(self, k: int) -> torch.Tensor:
        """``Sigma_k = R_k D R_k^T`` (Z, Z)."""
        r = self.rotation(k)
        return r @ torch.diag(self.std.pow(2)) @ r.T

    def sample(
        self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``(n, Z)`` draws. ``labels`` (n,) long: component per draw, ``-1`` = any (uniform)."""
        _check_labels(labels, n, self.components)
        dev, dt = self.means.device, self.means.dtype
        # Always draw the uniform components, so the random stream does not depend on the labels.
        k = torch.randint(0, self.components, (n,), generator=generator, device=dev)  # (n,)
        if labels is not None:
            labels = labels.to(device=dev, dtype=torch.long)
            k = torch.where(labels >= 0, labels, k)
        eps = torch.randn(n, self.z_size, generator=generator, device=dev, dtype=dt) * self.std  # (n, Z)
        c, s = self.cos[k], self.sin[k]  # (n,)
        z = eps.clone()
        z[:, 0] = c * eps[:, 0] - s * eps[:, 1]  # R_k applied in the plane of dims 0-1
        z[:, 1] = s * eps[:, 0] + c * eps[:, 1]
        return z + self.means[k]  # (n, Z)

    def nearest_component(self, z: torch.Tensor) -> torch.Tensor:
        """``(n, Z)`` codes -> ``(n,)`` the petal of highest density at each code.

        Every petal has the same covariance determinant, so that is the petal of smallest
        Mahalanobis distance; the dimensions beyond 0-1 add the same term for every petal,
        leaving ``radial^2 / s_r + tangential^2 / s_t`` of ``z[:, :2] - mu_k[:2]`` in petal
        ``k``'s own axes. (Plain Euclidean distance to the means misjudges codes far out
        along an elongated petal.)
        """
        u = z[:, None, :2].to(self.means) - self.means[None, :, :2]  # (n, K, 2)
        radial = self.cos * u[..., 0] + self.sin * u[..., 1]  # (n, K)
        tangential = -self.sin * u[..., 0] + self.cos * u[..., 1]  # (n, K)
        return (radial.pow(2) / self.radial_variance + tangential.pow(2) / self.tangential_variance).argmin(dim=1)


_PREFIX = re.compile(r"[/:]")


def label_prefix(name: str) -> str:
    """Group key of a label: the text before the first ``/`` or ``:`` (the whole name if none)."""
    return _PREFIX.split(name, maxsplit=1)[0]


def label_components(label_names: list[str], components: int) -> dict[str, int]:
    """Assign style labels to flower components, related labels on neighbouring petals.

    Rule (deterministic, independent of the input order and of duplicates):

    1. group the distinct names by :func:`label_prefix` (``"essen/china"`` and
       ``"essen/germany"`` -> ``"essen"``); order groups by prefix and names within a
       group alphabetically, giving one sequence of ``n`` names;
    2. if ``n <= components``, lay the groups out around the circle from component 0,
       members of a group on consecutive components, and spread the ``components - n``
       free components as evenly as possible over the ``G`` gaps after each group
       (the first ``(components - n) % G`` gaps get one extra), so unrelated groups are
       kept apart;
    3. if ``n > components``, name ``i`` goes to ``floor(i * components / n)``: petals are
       shared, and consecutive names (hence a group's members) land on the same or
       adjacent components.
    """
    if components < 1:
        raise ValueError(f"components must be >= 1, got {components}")
    groups: dict[str, list[str]] = {}
    for name in sorted(set(label_names)):
        groups.setdefault(label_prefix(name), []).append(name)
    ordered = [groups[p] for p in sorted(groups)]
    names = [name for members in ordered for name in members]
    n = len(names)
    if n > components:
        return {name: i * components // n for i, name in enumerate(names)}
    free, g = components - n, len(ordered)
    out: dict[str, int] = {}
    position = 0
    for j, members in enumerate(ordered):
        for name in members:
            out[name] = position
            position += 1
        position += free // g + (1 if j < free % g else 0)
    return out
