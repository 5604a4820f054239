"""The proximal term of the IFT inner objective: ½ Σ λ (θ − θ0)², λ from the predicted confidence."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Dict

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
