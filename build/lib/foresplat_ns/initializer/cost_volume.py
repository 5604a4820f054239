"""Plane-sweep cost volume: how well each grid cell's features match the other views' at each depth.

For every view v, cell p and depth plane z_d, the point o_v + z_d · dir_v(p) is projected into every
other view u, u's features are sampled there, and their cosine similarity with v's features at p
is averaged over the views that see the point. Its soft-argmax over the planes is a depth that
comes from matching, not from colour priors: the network only has to learn to correct it.
"""

from __future__ import annotations

import math
from typing import Tuple

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from foresplat_ns.initializer.plucker import PixelRays


def plane_fractions(planes: int, dtype=torch.float32, device=None) -> Float[Tensor, "planes"]:
    """Disparity fractions (d + 0.5) / D of the planes, from far (0) to near (1), as `depth_from_logits`."""
    return (torch.arange(planes, dtype=dtype, device=device) + 0.5) / planes


def fraction_to_depth(fraction: Tensor, near: float, far: float) -> Tensor:
    """z-depth of a disparity fraction in [0, 1] between far and near."""
    return 1.0 / (1.0 / far + fraction * (1.0 / near - 1.0 / far))


def plane_sweep(
    features: Float[Tensor, "view channels height width"],
    rays: PixelRays,
    intrinsics: Float[Tensor, "view 4"],
    image_size: Tuple[int, int],
    near: float,
    far: float,
    planes: int,
) -> Tuple[Float[Tensor, "view planes height width"], Float[Tensor, "view planes height width"]]:
    """Mean cosine similarity with the other views at each depth plane, and how many views saw the point.

    Args:
        features: Per-cell features of every view on the grid of `rays`.
        rays: The grid's rays (no border cells).
        intrinsics: fx, fy, cx, cy of each view in pixels of the full image.
        image_size: (width, height) of the full image in pixels.
        near: z-depth of the nearest plane's bound.
        far: z-depth of the farthest plane's bound.
        planes: Number of depth planes, uniform in disparity.
    """
    views, channels, height, width = features.shape
    dtype, device = features.dtype, features.device
    unit = F.normalize(features, dim=1)
    depths = fraction_to_depth(plane_fractions(planes, dtype, device), near, far)
    # Points of every (view, plane, cell): [V, D, h, w, 3].
    points = rays.origins[:, None, None, None, :] + depths[None, :, None, None, None] * rays.directions[:, None]
    # Into every view's camera frame (OpenGL axes): [U, V, D, h, w, 3].
    local = torch.einsum("uji,uvdhwj->uvdhwi", rays.rotations, points[None] - rays.origins[:, None, None, None, None, :])
    z = -local[..., 2]
    fx, fy, cx, cy = (intrinsics[:, i].reshape(-1, 1, 1, 1, 1) for i in range(4))
    u = cx + fx * local[..., 0] / z.clamp_min(1e-6)
    v = cy - fy * local[..., 1] / z.clamp_min(1e-6)
    image_width, image_height = image_size
    grid = torch.stack([2.0 * u / image_width - 1.0, 2.0 * v / image_height - 1.0], dim=-1)
    inside = (z > 1e-6) & (grid.abs() <= 1.0).all(dim=-1)
    inside = inside & ~torch.eye(views, dtype=torch.bool, device=device)[:, :, None, None, None]
    sampled = F.grid_sample(
        unit, grid.reshape(views, views * planes * height, width, 2), mode="bilinear", padding_mode="zeros",
        align_corners=False,
    ).reshape(views, channels, views, planes, height, width)
    similarity = torch.einsum("ucvdhw,vchw->uvdhw", sampled, unit)
    seen = inside.to(dtype)
    count = seen.sum(dim=0)
    cost = (similarity * seen).sum(dim=0) / count.clamp_min(1.0)
    return cost, count


class CostVolume(nn.Module):
    """Matching features, the plane sweep, and a small network that turns costs into plane logits."""

    def __init__(self, channels: int, match_channels: int, planes: int, stride: int = 1):
        super().__init__()
        self.planes = planes
        self.stride = stride
        self.match = nn.Conv2d(channels, match_channels, 1)
        self.temperature = nn.Parameter(torch.tensor(math.log(10.0)))
        self.refine = nn.Sequential(
            nn.Conv2d(planes + 1, planes, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(planes, planes, 3, padding=1)
        )
        nn.init.zeros_(self.refine[-1].weight)
        nn.init.zeros_(self.refine[-1].bias)
        self.to_features = nn.Conv2d(planes, channels, 1)
        nn.init.zeros_(self.to_features.weight)
        nn.init.zeros_(self.to_features.bias)

    def forward(
        self,
        features: Float[Tensor, "view channels height width"],
        rays: PixelRays,
        intrinsics: Float[Tensor, "view 4"],
        image_size: Tuple[int, int],
        near: float,
        far: float,
    ) -> Tuple[Float[Tensor, "view channels height width"], Float[Tensor, "view height width"]]:
        """Features with the matching probabilities added, and the soft-argmax disparity fraction of each cell.

        `rays` are those of the sweep's grid, `stride` times coarser than the features'; its costs are
        upsampled to the features' grid.
        """
        matching = self.match(features)
        if self.stride > 1:
            matching = F.avg_pool2d(matching, self.stride)
        cost, count = plane_sweep(matching, rays, intrinsics, image_size, near, far, self.planes)
        seen = (count.amax(dim=1, keepdim=True) > 0).to(cost.dtype)
        if self.stride > 1:
            size = features.shape[-2:]
            cost = F.interpolate(cost, size=size, mode="bilinear", align_corners=False)
            seen = F.interpolate(seen, size=size, mode="nearest")
        logits = cost * self.temperature.exp() + self.refine(torch.cat([cost, seen], dim=1))
        probabilities = torch.softmax(logits, dim=1)
        fraction = (probabilities * plane_fractions(self.planes, cost.dtype, cost.device)[:, None, None]).sum(dim=1)
        return features + self.to_features(probabilities), fraction
