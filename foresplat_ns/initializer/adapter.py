"""From raw head outputs to valid, bounded `Gaussians` in world frame.

Every raw output equal to zero maps to the configured initial value (middle of the disparity
range, `scale_init`, `opacity_init`, identity rotation, the input pixel's colour, no offset),
so a network whose output layers start near zero starts from a sensible scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

from foresplat_ns.gaussians import Gaussians
from foresplat_ns.initializer.config import InitializerConfig
from foresplat_ns.initializer.plucker import PixelRays

SH_C0 = 0.28209479177387814
"""Degree-0 SH basis constant: colour = SH_C0 * dc + 0.5, as splatfacto renders it."""
CONFIDENCE_EPS = 1e-4
"""Confidence stays within [eps, 1 - eps]: a float32 sigmoid alone reaches exactly 0 or 1, and
consumers divide by confidence or its complement."""


@dataclass
class RawGaussians:
    """Unconstrained head outputs on the Gaussian grid: `k` Gaussians per grid cell."""

    depth: Float[Tensor, "view height width k"]
    offset: Float[Tensor, "view height width k 3"]
    scale: Float[Tensor, "view height width k 3"]
    rotation: Float[Tensor, "view height width k 4"]
    opacity: Float[Tensor, "view height width k"]
    sh_dc: Float[Tensor, "view height width k 3"]
    """Residual added to the input pixel's colour, in SH units."""
    sh_rest: Float[Tensor, "view height width k rest 3"]
    confidence: Optional[Float[Tensor, "view height width k"]] = None


@dataclass
class Prediction:
    """The adapter's output: the Gaussians and the per-Gaussian geometry they were built from."""

    gaussians: Gaussians
    """All views' Gaussians, flattened in (view, row, column, k) order."""
    depths: Float[Tensor, "view height width k"]
    """z-depth of each Gaussian's ray point (before the offset), within [near, far]."""
    footprints: Float[Tensor, "view height width k"]
    """World size of a grid cell at that depth (depth * patch_size / focal)."""


def rgb_to_sh(rgb: Tensor) -> Tensor:
    """SH DC coefficient that renders as `rgb` (splatfacto's RGB2SH)."""
    return (rgb - 0.5) / SH_C0


def depth_from_logits(
    logits: Float[Tensor, "view height width k"], near: float, far: float
) -> Float[Tensor, "view height width k"]:
    """z-depth in [near, far], interpolated linearly in disparity.

    Gaussian `i` of `k` per cell starts at the disparity fraction (i + 0.5) / k, so several
    Gaussians of a pixel start at distinct depths.
    """
    k = logits.shape[-1]
    start = (torch.arange(k, dtype=logits.dtype, device=logits.device) + 0.5) / k
    fraction = torch.sigmoid(logits + torch.logit(start))
    disparity = 1.0 / far + fraction * (1.0 / near - 1.0 / far)
    return (1.0 / disparity).clamp(near, far)


def bounded_scales(
    raw: Float[Tensor, "*batch 3"], footprints: Float[Tensor, "*batch"], config: InitializerConfig
) -> Float[Tensor, "*batch 3"]:
    """Scales between `scale_min` and `scale_max` footprints; `scale_init` footprints at raw = 0."""
    bias = math.log((config.scale_init - config.scale_min) / (config.scale_max - config.scale_init))
    multiple = config.scale_min + (config.scale_max - config.scale_min) * torch.sigmoid(raw + bias)
    return multiple * footprints[..., None]


def unit_quaternions(raw: Float[Tensor, "*batch 4"]) -> Float[Tensor, "*batch 4"]:
    """Unit wxyz quaternions; identity at raw = 0."""
    identity = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=raw.dtype, device=raw.device)
    return F.normalize(raw + identity, dim=-1)


def bounded_confidence(raw: Float[Tensor, "*batch"], initial: float) -> Float[Tensor, "*batch"]:
    """Confidence strictly inside (0, 1); about `initial` at raw = 0."""
    fraction = torch.sigmoid(raw + math.log(initial / (1 - initial)))
    return CONFIDENCE_EPS + (1 - 2 * CONFIDENCE_EPS) * fraction


def stacked_opacity_logits(logits: Float[Tensor, "*batch"], power: float) -> Float[Tensor, "*batch"]:
    """Logits of 1 - (1 - a)^power for opacities a = sigmoid(logits): one layer of these lets through what
    `power` layers of the originals let through. Computed in log space, so no opacity saturates to 0 or 1."""
    log_transmittance = power * F.logsigmoid(-logits)
    return torch.log(-torch.expm1(log_transmittance)) - log_transmittance


def opacity_power(config: InitializerConfig, views: int) -> float:
    """The power `stacked_opacity_logits` applies to a prediction from `views` input views (1: none)."""
    return config.opacity_views / views if config.opacity_views else 1.0


def adapt(
    raw: RawGaussians,
    rays: PixelRays,
    colors: Float[Tensor, "view height width 3"],
    near: float,
    far: float,
    config: InitializerConfig,
    depth_override: Optional[Float[Tensor, "view height width"]] = None,
) -> Prediction:
    """Valid, bounded Gaussians in world frame from raw head outputs.

    Each Gaussian sits on its cell's ray at z-depth `z` (distance along the camera's optical
    axis): the ray direction is scaled to unit length along that axis, so the point is
    `origin + z * direction`, i.e. `z / cos(angle to the axis)` along the unit ray. A bounded
    offset of at most `offset_scale` footprints per camera axis is added to it.

    Args:
        raw: Head outputs on the Gaussian grid.
        rays: The grid's rays.
        colors: Input colour of each grid cell in [0, 1]; the DC colour is a residual on it.
        near: Lower bound of the scene's z-depth.
        far: Upper bound of the scene's z-depth.
        config: Bounds and initial values.
        depth_override: z-depth per grid cell replacing the depth head (e.g. a known depth map),
            shared by the cell's Gaussians.

    With `config.opacity_views` set and another number of views, the opacities are corrected for the
    number of layers the views stack (`stacked_opacity_logits`).

    Returns:
        The Gaussians (flattened in view, row, column, Gaussian-of-cell order), their ray
        points' z-depths and their footprints.
    """
    if depth_override is None:
        depths = depth_from_logits(raw.depth, near, far)
    else:
        if depth_override.shape != raw.depth.shape[:-1]:
            raise ValueError(
                f"depth_override has shape {tuple(depth_override.shape)} but the Gaussian grid is "
                f"{tuple(raw.depth.shape[:-1])} (views, height / patch_size, width / patch_size)"
            )
        depths = depth_override[..., None].to(raw.depth).expand_as(raw.depth)
    footprints = rays.footprint(depths)

    centres = rays.origins[:, None, None, None, :] + depths[..., None] * rays.directions[:, :, :, None, :]
    offset_camera = config.offset_scale * torch.tanh(raw.offset) * footprints[..., None]
    means = centres + torch.einsum("vij,vhwkj->vhwki", rays.rotations, offset_camera)

    count = depths.numel()
    sh_dc = rgb_to_sh(colors)[:, :, :, None, :] + raw.sh_dc
    opacity_bias = math.log(config.opacity_init / (1 - config.opacity_init))
    logit_opacities = raw.opacity + opacity_bias
    power = opacity_power(config, raw.opacity.shape[0])
    if power != 1.0:
        logit_opacities = stacked_opacity_logits(logit_opacities, power)
    confidence = None
    if raw.confidence is not None:
        confidence = bounded_confidence(raw.confidence, config.confidence_init).reshape(count, 1)
    gaussians = Gaussians(
        means=means.reshape(count, 3),
        log_scales=torch.log(bounded_scales(raw.scale, footprints, config)).reshape(count, 3),
        quats=unit_quaternions(raw.rotation).reshape(count, 4),
        logit_opacities=logit_opacities.reshape(count, 1),
        sh_dc=sh_dc.reshape(count, 3),
        sh_rest=(config.sh_rest_scale * raw.sh_rest).reshape(count, raw.sh_rest.shape[-2], 3),
        confidence=confidence,
    )
    return Prediction(gaussians=gaussians, depths=depths, footprints=footprints)
