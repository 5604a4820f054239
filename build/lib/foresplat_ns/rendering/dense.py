"""Dense reference rasteriser: every pixel against every Gaussian, no tiles, no extents.

Written for obviousness rather than speed; the tile path is tested against it. Memory and
time grow with pixels x Gaussians.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from jaxtyping import Float
from torch import Tensor

from .pipeline import RenderMode, render_cpu
from .projection import ALPHA_THRESHOLD, Projection
from .tiles import MAX_ALPHA, TRANSMITTANCE_EPS


def composite_dense(
    proj: Projection, colors: Float[Tensor, "C N D"], width: int, height: int, **_: Any
) -> tuple[Float[Tensor, "C H W D"], Float[Tensor, "C H W 1"], dict]:
    """Composites all drawable Gaussians over all pixels, globally sorted by depth per camera.

    Args:
        proj: Projected Gaussians.
        colors: Per-camera colours (or features).
        width: Image width in pixels.
        height: Image height in pixels.

    Returns:
        Colours without background, alphas and no extra meta.
    """
    C, N, D = colors.shape
    dtype, device = colors.dtype, colors.device
    px = (torch.arange(width, device=device, dtype=dtype) + 0.5)[None, :, None]  # [1, W, 1]
    py = (torch.arange(height, device=device, dtype=dtype) + 0.5)[:, None, None]  # [H, 1, 1]
    images, alphas = [], []
    for c in range(C):
        ids = torch.nonzero(proj.drawable[c]).reshape(-1)
        ids = ids[torch.argsort(proj.depths[c, ids].detach(), stable=True)]
        mean, conic = proj.means2d[c, ids], proj.conics[c, ids]
        dx = mean[:, 0] - px  # [1, W, n]
        dy = mean[:, 1] - py  # [H, 1, n]
        # Grouped so that only [1, W, n] and [H, 1, n] factors are kept for backward.
        sigma = 0.5 * (conic[:, 0] * dx * dx + conic[:, 2] * dy * dy) + (conic[:, 1] * dx) * dy  # [H, W, n]
        alpha = torch.clamp(proj.opacities[c, ids] * torch.exp(-sigma), max=MAX_ALPHA)
        alpha = torch.where((sigma >= 0) & (alpha >= ALPHA_THRESHOLD), alpha, torch.zeros_like(alpha))
        with torch.no_grad():
            # gsplat stops before the Gaussian that would leave T <= 1e-4. T never grows, so
            # that Gaussian and all behind it are those whose inclusive product is <= 1e-4.
            keep = torch.cumprod(1.0 - alpha, dim=-1) > TRANSMITTANCE_EPS
        alpha = torch.where(keep, alpha, torch.zeros_like(alpha))
        trans_incl = torch.cumprod(1.0 - alpha, dim=-1)
        trans_before = torch.cat([torch.ones_like(trans_incl[..., :1]), trans_incl[..., :-1]], dim=-1)
        weights = alpha * trans_before  # [H, W, n]
        images.append(weights @ colors[c, ids])
        if ids.numel():
            alphas.append(1.0 - trans_incl[..., -1:])
        else:
            alphas.append(torch.zeros(height, width, 1, dtype=dtype, device=device))
    return torch.stack(images), torch.stack(alphas), {}


def rasterize_dense(
    means: Float[Tensor, "N 3"],
    quats: Float[Tensor, "N 4"],
    scales: Float[Tensor, "N 3"],
    opacities: Float[Tensor, "N"],
    colors: Tensor,
    viewmats: Float[Tensor, "C 4 4"],
    Ks: Float[Tensor, "C 3 3"],
    width: int,
    height: int,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    sh_degree: Optional[int] = None,
    backgrounds: Optional[Float[Tensor, "C D"]] = None,
    render_mode: RenderMode = "RGB",
    tile_size: int = 16,
    **gsplat_kwargs: Any,
) -> tuple[Tensor, Tensor, dict]:
    """Dense CPU reference with the same arguments and outputs as :func:`rasterize`.

    The meta has the projection entries but no tile intersections.
    """
    return render_cpu(
        composite_dense,
        means,
        quats,
        scales,
        opacities,
        colors,
        viewmats,
        Ks,
        width,
        height,
        near_plane=near_plane,
        far_plane=far_plane,
        sh_degree=sh_degree,
        backgrounds=backgrounds,
        render_mode=render_mode,
        tile_size=tile_size,
        **gsplat_kwargs,
    )


__all__ = ["composite_dense", "rasterize_dense"]
