"""The meta step: from a prediction θ0 = f_φ(context) to a surrogate loss whose gradient in φ is the meta-gradient.

nerfstudio's trainer then runs backward and the optimiser step unchanged. Each mode only
changes the gradient that reaches θ0:

- ``zero-step``: the rendering loss of θ0 itself, on the target views (and, weighted, the
  context views). Its gradient is the ordinary feed-forward training signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Literal, Optional

import torch
from torch import Tensor

from foresplat_ns.data.scene_batch import SceneBatch
from foresplat_ns.gaussians import Gaussians
from foresplat_ns.meta.losses import photometric_loss, psnr
from foresplat_ns.rendering.views import render_views

MetaMode = Literal["zero-step"]


@dataclass
class MetaConfig:
    """How the initializer's training signal is computed from each scene."""

    mode: MetaMode = "zero-step"
    """Training signal: 'zero-step' renders the prediction itself into the target views."""
    context_weight: float = 0.5
    """Weight of the context-view rendering loss beside the target-view loss (0 = targets only)."""
    ssim_lambda: float = 0.2
    """Weight of D-SSIM in the photometric loss, as splatfacto's `ssim_lambda`."""
    background: Literal["random", "black", "white"] = "random"
    """Background behind the Gaussians while training; random (as splatfacto) rewards full coverage."""


@dataclass
class MetaStepResult:
    """What one meta step hands to nerfstudio's trainer."""

    surrogate: Tensor
    """Scalar whose gradient with respect to the network is the meta-gradient."""
    metrics: Dict[str, Tensor]
    """Detached figures to log."""


def training_background(config: MetaConfig, step: int, device: torch.device) -> Tensor:
    """The background colour of a step; random colours depend on the step only, so a resumed run repeats them."""
    if config.background == "random":
        return torch.rand(3, generator=torch.Generator().manual_seed(step)).to(device)
    return torch.full((3,), 1.0 if config.background == "white" else 0.0, device=device)


def scene_loss(
    gaussians: Gaussians, batch: SceneBatch, config: MetaConfig, background: Optional[Tensor] = None
) -> tuple[Tensor, Dict[str, Tensor]]:
    """Photometric loss of Gaussians on a batch's target views, plus weighted context views."""
    target = render_views(gaussians, batch.target_cameras, background)
    loss_target = photometric_loss(target.rgb, batch.target_images, config.ssim_lambda)
    metrics = {"target_loss": loss_target.detach(), "target_psnr": psnr(target.rgb.detach(), batch.target_images)}
    loss = loss_target
    if config.context_weight > 0:
        context = render_views(gaussians, batch.context_cameras, background)
        loss_context = photometric_loss(context.rgb, batch.context_images, config.ssim_lambda)
        metrics["context_loss"] = loss_context.detach()
        metrics["context_psnr"] = psnr(context.rgb.detach(), batch.context_images)
        loss = loss + config.context_weight * loss_context
    return loss, metrics


def meta_step(config: MetaConfig, prediction: Gaussians, batch: SceneBatch, step: int = 0) -> MetaStepResult:
    """The surrogate loss of one scene for the configured mode."""
    background = training_background(config, step, prediction.means.device)
    if config.mode == "zero-step":
        loss, metrics = scene_loss(prediction, batch, config, background)
        return MetaStepResult(surrogate=loss, metrics=metrics)
    raise ValueError(f"unknown meta-training mode {config.mode!r}")
