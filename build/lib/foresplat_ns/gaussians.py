"""`Gaussians`: the contract between the initializer, the inner loop and splatfacto."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Dict, Optional

import torch
from jaxtyping import Float
from torch import Tensor

# Splatfacto's `gauss_params` keys for each of our fields, in splatfacto's parametrisation.
SPLATFACTO_KEYS = {
    "means": "means",
    "log_scales": "scales",
    "quats": "quats",
    "logit_opacities": "opacities",
    "sh_dc": "features_dc",
    "sh_rest": "features_rest",
}


@dataclass
class Gaussians:
    """A scene's Gaussians in world frame, in splatfacto's parametrisation.

    Every field is unconstrained the way splatfacto optimises it: log-scales, logit-opacities,
    SH coefficients (DC and rest); quaternions are unit wxyz, as gsplat expects.
    """

    means: Float[Tensor, "gaussian 3"]
    log_scales: Float[Tensor, "gaussian 3"]
    quats: Float[Tensor, "gaussian 4"]
    logit_opacities: Float[Tensor, "gaussian 1"]
    sh_dc: Float[Tensor, "gaussian 3"]
    sh_rest: Float[Tensor, "gaussian rest 3"]
    confidence: Optional[Float[Tensor, "gaussian 1"]] = None
    """Predicted confidence in (0, 1) per Gaussian; not a splatfacto parameter."""

    @property
    def num_gaussians(self) -> int:
        return self.means.shape[0]

    @property
    def sh_degree(self) -> int:
        """Highest SH degree the coefficients hold."""
        return int(round((self.sh_rest.shape[1] + 1) ** 0.5)) - 1

    def params(self) -> Dict[str, Tensor]:
        """The optimisable fields by name (confidence excluded)."""
        return {name: getattr(self, name) for name in SPLATFACTO_KEYS}

    def to_splatfacto(self) -> Dict[str, Tensor]:
        """Splatfacto's `gauss_params` layout (same tensors, splatfacto's names)."""
        return {SPLATFACTO_KEYS[name]: value for name, value in self.params().items()}

    @classmethod
    def from_splatfacto(cls, params: Dict[str, Tensor], confidence: Optional[Tensor] = None) -> "Gaussians":
        """Gaussians from splatfacto's `gauss_params` (or its state dict entries without the prefix)."""
        return cls(**{name: params[key] for name, key in SPLATFACTO_KEYS.items()}, confidence=confidence)

    def replace(self, **changes: Tensor) -> "Gaussians":
        """A copy with some fields replaced."""
        return replace(self, **changes)

    def map(self, fn) -> "Gaussians":
        """Apply `fn` to every tensor (e.g. `detach`, `.to(device)`)."""
        return Gaussians(**{f.name: (None if getattr(self, f.name) is None else fn(getattr(self, f.name))) for f in fields(self)})

    def detach(self) -> "Gaussians":
        return self.map(torch.Tensor.detach)

    def to(self, device) -> "Gaussians":
        return self.map(lambda t: t.to(device))

    def colors(self) -> Float[Tensor, "gaussian coeffs 3"]:
        """SH coefficients, DC first, as the renderer takes them."""
        return torch.cat([self.sh_dc[:, None, :], self.sh_rest], dim=1)
