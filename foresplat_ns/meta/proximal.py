"""The proximal term of the IFT inner objective: ½ Σ λ (θ − θ0)², λ from the predicted confidence."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Dict, Optional, Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from foresplat_ns.gaussians import SPLATFACTO_KEYS

if TYPE_CHECKING:
    from foresplat_ns.meta.ift import IFTConfig

TensorDict = Dict[str, Tensor]


def proximal_weights(confidence: Float[Tensor, "gaussian 1"], config: "IFTConfig") -> TensorDict:
    """λ per Gaussian and parameter group, bounded in [lambda_min, lambda_max] times the group's scale.

    Differentiable in the confidence: the gradient with respect to λ reaches the network through it.
    """
    log_min, log_max = math.log(config.lambda_min), math.log(config.lambda_max)
    base = torch.exp(log_min + confidence * (log_max - log_min))
    return {name: config.group_scales.get(name, 1.0) * base for name in SPLATFACTO_KEYS}


def expand(weight: Tensor, like: Tensor) -> Tensor:
    """λ of shape [N, 1] broadcast to a parameter [N, ...]."""
    return weight.reshape(weight.shape[0], *([1] * (like.dim() - 1)))


def proximal_penalty(params: TensorDict, anchor: TensorDict, weights: TensorDict) -> Tensor:
    """½ Σ λ (θ − θ0)² over the groups in `weights`."""
    return 0.5 * sum((expand(weights[k], params[k]) * (params[k] - anchor[k]) ** 2).sum() for k in weights)


def hold_scale(step: int, hold: Optional[int]) -> float:
    """Factor of λ at refinement step `step` (1 for the first): 1 up to `hold`, then hold / step (None: always 1).

    t Adam steps hold parameters near their start with a weight that falls as 1/t (IFT's horizon weight): a term
    that falls alike keeps the share of the pull it had over the `hold` steps it was trained for.
    """
    if hold is None or step <= hold:
        return 1.0
    return hold / step


def fixed_term(value: float) -> "IFTConfig":
    """A proximal term of fixed λ `value` times IFT's default group scales, whatever the confidence."""
    from foresplat_ns.meta.ift import IFTConfig

    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"a fixed proximal λ must be a positive number, got {value}")
    return IFTConfig(lambda_min=value, lambda_max=value)


def restricted_term(config: "IFTConfig", groups: Sequence[str]) -> "IFTConfig":
    """`config`'s proximal term kept on `groups` only (the others' scale is zero)."""
    unknown = sorted(set(groups) - set(SPLATFACTO_KEYS))
    if unknown:
        raise ValueError(f"unknown parameter group(s) {unknown}; choose from {list(SPLATFACTO_KEYS)}")
    scales = {name: (config.group_scales.get(name, 1.0) if name in groups else 0.0) for name in SPLATFACTO_KEYS}
    return replace(config, group_scales=scales)
