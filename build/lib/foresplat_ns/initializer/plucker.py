"""Camera rays of a pixel grid and their Plücker embedding, in nerfstudio's camera convention."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

from nerfstudio.cameras.cameras import Cameras


@dataclass
class PixelRays:
    """One ray per cell of a (possibly coarser than pixel) grid, per view, in world frame."""

    origins: Float[Tensor, "view 3"]
    """Camera centres."""
    directions: Float[Tensor, "view height width 3"]
    """Ray directions scaled to unit length along the optical axis: `origin + z * direction` is the
    point at z-depth `z`."""
    rotations: Float[Tensor, "view 3 3"]
    """Camera-to-world rotations (OpenGL axes: x right, y up, looking along -z)."""
    focal: Float[Tensor, "view"]
    """Geometric mean of fx and fy in pixels."""
    patch_size: int
    """Pixels per grid cell along each axis."""

    @property
    def unit_directions(self) -> Float[Tensor, "view height width 3"]:
        return F.normalize(self.directions, dim=-1)

    def footprint(self, depth: Float[Tensor, "view height width *rest"]) -> Float[Tensor, "view height width *rest"]:
        """World size of one grid cell at a z-depth: depth * patch_size / focal."""
        focal = self.focal.reshape(-1, *([1] * (depth.dim() - 1)))
        return depth * self.patch_size / focal


def pixel_rays(cameras: Cameras, height: int, width: int, patch_size: int = 1, margin: int = 0) -> PixelRays:
    """Rays through the centres of the `patch_size` cells of a `height` x `width` image.

    Pixel (i, j) has its centre at (j + 0.5, i + 0.5), as nerfstudio's `generate_rays`; a cell of
    `patch_size` pixels has its centre at the middle of its pixels.

    Args:
        cameras: V pinhole cameras (nerfstudio, OpenGL camera-to-world).
        height: Image height in pixels; divisible by `patch_size`.
        width: Image width in pixels; divisible by `patch_size`.
        patch_size: Pixels per grid cell along each axis.
        margin: Extra cells beyond each border, continuing the grid outside the image.
    """
    c2w = cameras.camera_to_worlds.reshape(-1, 3, 4)
    dtype, device = c2w.dtype, c2w.device
    fx, fy = cameras.fx.reshape(-1, 1, 1).to(dtype), cameras.fy.reshape(-1, 1, 1).to(dtype)
    cx, cy = cameras.cx.reshape(-1, 1, 1).to(dtype), cameras.cy.reshape(-1, 1, 1).to(dtype)
    v = (torch.arange(-margin, height // patch_size + margin, dtype=dtype, device=device) + 0.5) * patch_size
    u = (torch.arange(-margin, width // patch_size + margin, dtype=dtype, device=device) + 0.5) * patch_size
    v, u = torch.meshgrid(v, u, indexing="ij")
    # OpenGL camera frame: image y grows downwards, camera y upwards; the camera looks along -z.
    local = torch.stack(
        torch.broadcast_tensors((u - cx) / fx, -(v - cy) / fy, -torch.ones_like(fx * u)), dim=-1
    )
    rotations = c2w[:, :, :3]
    directions = torch.einsum("vij,vhwj->vhwi", rotations, local)
    return PixelRays(
        origins=c2w[:, :, 3],
        directions=directions,
        rotations=rotations,
        focal=torch.sqrt(fx * fy).reshape(-1),
        patch_size=patch_size,
    )


def plucker_embedding(
    rays: PixelRays, centre: Float[Tensor, "3"], scale: float
) -> Float[Tensor, "view height width 6"]:
    """Plücker coordinates (d, o x d) of each ray, with positions in a normalised scene frame.

    Origins are taken relative to `centre` and divided by `scale`, so the moment does not depend
    on where the world origin is or on the scene's units.

    Args:
        rays: The rays.
        centre: Origin of the normalised frame (e.g. the mean camera centre).
        scale: Scene scale (e.g. the far bound).
    """
    d = rays.unit_directions
    o = ((rays.origins - centre) / scale)[:, None, None, :].expand_as(d)
    return torch.cat([d, torch.linalg.cross(o, d, dim=-1)], dim=-1)


def camera_features(
    cameras: Cameras, rays: PixelRays, centre: Float[Tensor, "3"], scale: float, height: int, width: int
) -> Float[Tensor, "view 16"]:
    """Per-view pose and intrinsics in the normalised scene frame, as input of a camera embedding.

    Returns the camera-to-world rotation (9), the normalised centre (3) and fx/W, fy/H, cx/W, cy/H (4).
    """
    dtype = rays.origins.dtype
    intrinsics = torch.cat(
        [cameras.fx / width, cameras.fy / height, cameras.cx / width, cameras.cy / height], dim=-1
    ).reshape(-1, 4)
    return torch.cat(
        [rays.rotations.reshape(-1, 9), (rays.origins - centre) / scale, intrinsics.to(dtype)], dim=-1
    )
