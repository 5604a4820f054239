"""Splatfacto's photometric loss, batched over views."""

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
