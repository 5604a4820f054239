"""`Initializer`: posed context views in, pixel-aligned `Gaussians` in world frame out."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from nerfstudio.cameras.cameras import Cameras

from foresplat_ns.gaussians import Gaussians
from foresplat_ns.initializer.adapter import Prediction, RawGaussians, adapt
from foresplat_ns.initializer.config import InitializerConfig
from foresplat_ns.initializer.network import InitializerNetwork, SweepGeometry
from foresplat_ns.initializer.plucker import camera_features, pixel_rays, plucker_embedding


class Initializer(nn.Module):
    """Predicts `gaussians_per_pixel` Gaussians per pixel (or per patch) of every context view.

    Scenes are normalised before the network sees them: positions relative to the mean camera
    centre, divided by `far`, and depths as a fraction of the [near, far] disparity range, so
    scenes of different placement and scale look alike to the network.
    """

    def __init__(self, config: InitializerConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.network = InitializerNetwork(config)

    def predict(
        self,
        images: Float[Tensor, "view height width 3"],
        cameras: Cameras,
        near: float,
        far: float,
        depth_override: Optional[Float[Tensor, "view grid_height grid_width"]] = None,
    ) -> Prediction:
        """Gaussians plus the depths and footprints they were built from.

        Args:
            images: Context images in [0, 1].
            cameras: Their V pinhole cameras (nerfstudio `Cameras`, OpenGL camera-to-world).
            near: Lower bound of the scene's z-depth.
            far: Upper bound of the scene's z-depth.
            depth_override: z-depth per grid cell ([V, H / patch_size, W / patch_size]) used instead
                of the depth head, e.g. a known depth map.
        """
        views, height, width, _ = images.shape
        patch = self.config.patch_size
        if height % patch or width % patch:
            raise ValueError(f"image size {width}x{height} is not a multiple of patch_size {patch}")
        cameras = cameras.reshape((-1,)).to(images.device)
        if cameras.shape[0] != views:
            raise ValueError(f"{views} images but {cameras.shape[0]} cameras")
        if not (bool((cameras.width == width).all()) and bool((cameras.height == height).all())):
            raise ValueError(
                f"images are {width}x{height} but the cameras are not: rescale the cameras to the images "
                "(Cameras.rescale_output_resolution)"
            )
        pixels = pixel_rays(cameras, height, width)
        centre = pixels.origins.mean(0)
        embedding = plucker_embedding(pixels, centre, far).to(images.dtype)
        camera = camera_features(cameras, pixels, centre, far, height, width).to(images.dtype)
        sweep = None
        if self.config.cost_volume_planes:
            if images.shape[0] < 2:
                # Its depth head was trained as a correction of the matching depth: alone it is no depth.
                raise ValueError(
                    f"this initializer matches views in a cost volume and needs at least 2 input views, got {images.shape[0]}"
                )
            stride = patch * self.config.cost_volume_stride
            if height % stride or width % stride:
                raise ValueError(f"image size {width}x{height} is not a multiple of patch_size x cost_volume_stride ({stride})")
            intrinsics = torch.cat([cameras.fx, cameras.fy, cameras.cx, cameras.cy], dim=-1).reshape(-1, 4).to(images.dtype)
            sweep = SweepGeometry(pixel_rays(cameras, height, width, stride), intrinsics, (width, height), near, far)
        raw = self.network(images, embedding, camera, sweep)

        margin = self.config.border_cells
        grid = pixels if patch == 1 and not margin else pixel_rays(cameras, height, width, patch, margin)
        colors = images if patch == 1 else F.avg_pool2d(images.permute(0, 3, 1, 2), patch).permute(0, 2, 3, 1)
        if margin:
            raw, colors = pad_raw(raw, margin), _pad_cells(colors, margin)
            if depth_override is not None:
                depth_override = _pad_cells(depth_override, margin)
        return adapt(raw, grid, colors, near, far, self.config, depth_override=depth_override)

    def forward(
        self,
        images: Float[Tensor, "view height width 3"],
        cameras: Cameras,
        near: float,
        far: float,
        depth_override: Optional[Float[Tensor, "view grid_height grid_width"]] = None,
    ) -> Gaussians:
        """All views' Gaussians in world frame, concatenated in view order, with confidence.

        See `predict` for the arguments.
        """
        return self.predict(images, cameras, near, far, depth_override).gaussians


def _pad_cells(values: Float[Tensor, "view height width *rest"], margin: int) -> Float[Tensor, "view height2 width2 *rest"]:
    """Continue a per-cell tensor `margin` cells beyond each border by repeating its edge cells."""
    views, height, width = values.shape[:3]
    rest = values.shape[3:]
    flat = values.reshape(views, height, width, -1).permute(0, 3, 1, 2)
    padded = F.pad(flat, (margin, margin, margin, margin), mode="replicate").permute(0, 2, 3, 1)
    return padded.reshape(views, height + 2 * margin, width + 2 * margin, *rest)


def pad_raw(raw: RawGaussians, margin: int) -> RawGaussians:
    """Head outputs continued beyond the image borders: edge cells repeated along the outward rays."""
    return RawGaussians(**{
        name: None if value is None else _pad_cells(value, margin) for name, value in vars(raw).items()
    })
