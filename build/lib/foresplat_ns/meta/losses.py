"""Splatfacto's photometric loss, batched over views, and a depth loss for scenes that have depth maps."""

from __future__ import annotations

import torch
from jaxtyping import Float
from pytorch_msssim import ssim
from torch import Tensor


def photometric_loss(
    pred: Float[Tensor, "views height width 3"], gt: Float[Tensor, "views height width 3"], ssim_lambda: float = 0.2
) -> Float[Tensor, ""]:
    """(1 - λ) L1 + λ (1 - SSIM), splatfacto's training loss (λ = 0.2 there)."""
    l1 = torch.abs(gt - pred).mean()
    structural = ssim(gt.permute(0, 3, 1, 2), pred.permute(0, 3, 1, 2), data_range=1.0, size_average=True)
    return (1.0 - ssim_lambda) * l1 + ssim_lambda * (1.0 - structural)


def psnr(pred: Float[Tensor, "*batch 3"], gt: Float[Tensor, "*batch 3"]) -> Float[Tensor, ""]:
    """Peak signal-to-noise ratio for images in [0, 1], over all pixels given."""
    mse = torch.mean((pred.clamp(0.0, 1.0) - gt) ** 2)
    return -10.0 * torch.log10(mse.clamp_min(1e-10))


def disparity_loss(
    depth: Float[Tensor, "views height width 1"],
    alpha: Float[Tensor, "views height width 1"],
    true_depth: Float[Tensor, "views height width"],
    near: float,
    min_alpha: float = 0.5,
) -> Float[Tensor, ""]:
    """Mean |near / ẑ − near / z| over covered pixels: the rendered depth's error in disparity.

    `depth` is the renderer's expected depth ẑ = Σ wᵢzᵢ / Σ wᵢ (gsplat's "ED") and `alpha` Σ wᵢ. Disparity
    in units of the nearest possible one (near / z ∈ (0, 1]) weighs near geometry most and stays
    bounded for far surfaces. Pixels with alpha below `min_alpha` or without a valid true depth are
    left to the photometric loss.
    """
    covered = alpha[..., 0]
    valid = (covered > min_alpha) & torch.isfinite(true_depth) & (true_depth > 0)
    if not bool(valid.any()):
        return depth.sum() * 0.0
    rendered = depth[..., 0][valid]
    return torch.abs(near / rendered.clamp_min(1e-6) - near / true_depth[valid]).mean()
