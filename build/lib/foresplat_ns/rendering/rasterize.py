"""Public entry point: gsplat's ``rasterization`` on CUDA, the tile rasteriser on CPU."""

from __future__ import annotations

from typing import Any, Optional

import torch
from jaxtyping import Float
from torch import Tensor

from .pipeline import RenderMode, render_cpu
from .projection import Projection
from .tiles import composite_tiles, intersect_tiles


def composite_with_tiles(
    proj: Projection,
    colors: Float[Tensor, "C N D"],
    width: int,
    height: int,
    tile_size: int = 16,
    absgrad: bool = False,
) -> tuple[Tensor, Tensor, dict]:
    """Tile compositor for :func:`render_cpu`; returns gsplat's tile entries as extra meta."""
    isects = intersect_tiles(proj, width, height, tile_size)
    render_colors, render_alphas = composite_tiles(proj, colors, isects, width, height, absgrad=absgrad)
    meta = {
        "tile_width": isects.tile_width,
        "tile_height": isects.tile_height,
        "tiles_per_gauss": isects.tiles_per_gauss,
        "isect_ids": isects.isect_ids,
        "flatten_ids": isects.flatten_ids.to(torch.int32),
        "isect_offsets": isects.isect_offsets,
    }
    return render_colors, render_alphas, meta


def uses_gsplat(means: Tensor) -> bool:
    """Whether :func:`rasterize` hands these tensors to gsplat's CUDA kernels."""
    return means.is_cuda


def rasterize(
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
    """Rasterises 3D Gaussians with ``gsplat.rasterization``'s arguments and outputs.

    CUDA tensors go to gsplat 1.4.0; CPU tensors to a differentiable (twice, and in forward
    mode) PyTorch tile rasteriser with the same conventions.

    Args:
        means: World-space centres.
        quats: Rotations as (w, x, y, z) quaternions, normalised internally.
        scales: Activated scales.
        opacities: Opacities in [0, 1].
        colors: ``[(C,) N, D]`` colours, or ``[(C,) N, K, 3]`` SH coefficients with ``sh_degree``.
        viewmats: World-to-camera matrices (OpenCV axes: x right, y down, z forward).
        Ks: Pinhole intrinsics.
        width: Image width in pixels.
        height: Image height in pixels.
        near_plane: Gaussians nearer than this are culled.
        far_plane: Gaussians farther than this are culled.
        sh_degree: SH degree to evaluate, or None for plain colours.
        backgrounds: Background per camera, added as ``(1 - alpha) * background``.
        render_mode: ``RGB``, accumulated depth ``D``, expected depth ``ED`` or both.
        tile_size: Tile edge in pixels.
        **gsplat_kwargs: Further ``gsplat.rasterization`` keywords. On CPU ``absgrad``,
            ``rasterize_mode``, ``eps2d``, ``radius_clip`` and ``covars`` are honoured;
            ``packed``, ``sparse_grad`` and ``channel_chunk`` are ignored (unpacked layout).

    Returns:
        ``render_colors [C, H, W, D(+1)]``, ``render_alphas [C, H, W, 1]`` and the meta dict
        gsplat's ``DefaultStrategy`` reads (``means2d``, ``radii``, ``width``, ...).
    """
    if uses_gsplat(means):
        from gsplat.rendering import rasterization  # imported lazily: importing/JIT-building needs CUDA

        return rasterization(
            means=means,
            quats=quats,
            scales=scales,
            opacities=opacities,
            colors=colors,
            viewmats=viewmats,
            Ks=Ks,
            width=width,
            height=height,
            near_plane=near_plane,
            far_plane=far_plane,
            sh_degree=sh_degree,
            backgrounds=backgrounds,
            render_mode=render_mode,
            tile_size=tile_size,
            **gsplat_kwargs,
        )
    return render_cpu(
        composite_with_tiles,
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


__all__ = ["composite_with_tiles", "rasterize", "uses_gsplat"]
