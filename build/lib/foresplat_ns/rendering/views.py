"""Render `Gaussians` into nerfstudio `Cameras`: the one call meta-training, refinement and benchmarks share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from jaxtyping import Float
from torch import Tensor

from nerfstudio.cameras.cameras import Cameras

from foresplat_ns.gaussians import Gaussians
from foresplat_ns.rendering.rasterize import rasterize


def viewmats_from_cameras(cameras: Cameras) -> Float[Tensor, "cameras 4 4"]:
    """World-to-camera matrices in OpenCV convention from nerfstudio's OpenGL camera-to-world."""
    c2w = cameras.camera_to_worlds.reshape(-1, 3, 4)
    # OpenGL (y up, looking along -z) to OpenCV (y down, looking along +z): flip the y and z axes.
    rotation = c2w[:, :3, :3] * torch.tensor([1.0, -1.0, -1.0], device=c2w.device, dtype=c2w.dtype)
    translation = c2w[:, :3, 3:4]
    rotation_inv = rotation.transpose(1, 2)
    viewmats = torch.zeros(c2w.shape[0], 4, 4, device=c2w.device, dtype=c2w.dtype)
    viewmats[:, :3, :3] = rotation_inv
    viewmats[:, :3, 3:4] = -rotation_inv @ translation
    viewmats[:, 3, 3] = 1.0
    return viewmats


@dataclass
class Renders:
    """Images of one set of Gaussians in several cameras."""

    rgb: Float[Tensor, "cameras height width 3"]
    """Colour composited over the background."""
    alpha: Float[Tensor, "cameras height width 1"]
    depth: Float[Tensor, "cameras height width 1"]
    """Expected z-depth (0 where nothing was hit)."""
    meta: dict


def render_views(
    gaussians: Gaussians,
    cameras: Cameras,
    background: Optional[Float[Tensor, "3"]] = None,
    sh_degree: Optional[int] = None,
    tile_size: int = 16,
    absgrad: bool = False,
) -> Renders:
    """Render into every camera (all of one size) with the Gaussians' full SH degree by default.

    `absgrad` makes `meta["means2d"].absgrad` available after backward, for densification.
    """
    cameras = cameras.reshape((-1,))
    width, height = int(cameras.width[0]), int(cameras.height[0])
    if not (torch.all(cameras.width == width) and torch.all(cameras.height == height)):
        raise ValueError("render_views needs cameras of one image size")
    degree = gaussians.sh_degree if sh_degree is None else sh_degree
    render, alpha, meta = rasterize(
        means=gaussians.means,
        quats=gaussians.quats,
        scales=torch.exp(gaussians.log_scales),
        opacities=torch.sigmoid(gaussians.logit_opacities).squeeze(-1),
        colors=gaussians.colors(),
        viewmats=viewmats_from_cameras(cameras).to(gaussians.means),
        Ks=cameras.get_intrinsics_matrices().to(gaussians.means),
        width=width,
        height=height,
        sh_degree=degree,
        render_mode="RGB+ED",
        tile_size=tile_size,
        absgrad=absgrad,
    )
    rgb = render[..., :3]
    if background is not None:
        rgb = rgb + (1.0 - alpha) * background.to(rgb)
    return Renders(rgb=rgb, alpha=alpha, depth=render[..., 3:4], meta=meta)
