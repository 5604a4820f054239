"""The plane-sweep cost volume: its best plane against the generated depth maps, and the initializer with it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from foresplat_ns.initializer import Initializer, InitializerConfig
from foresplat_ns.initializer.cost_volume import fraction_to_depth, plane_fractions, plane_sweep
from foresplat_ns.initializer.plucker import pixel_rays

RESOLUTION = 48
PLANES = 48


@pytest.fixture(scope="module")
def scene(generated_scene):
    return generated_scene(views=12, resolution=RESOLUTION, seed=5)


def _descriptors(images: torch.Tensor) -> torch.Tensor:
    """5x5 patches of each pixel minus their mean: a hand-made matching feature, [V, 75, H, W]."""
    x = images.permute(0, 3, 1, 2)
    patches = F.unfold(x, 5, padding=2).reshape(x.shape[0], 75, x.shape[2], x.shape[3])
    return patches - patches.mean(dim=1, keepdim=True)


def test_best_plane_is_the_true_depth(scene):
    """With patch descriptors as features, the best plane of most cells is the generator's depth, within two planes."""
    views = torch.tensor([0, 1, 2, 3])
    images, cameras, depths = scene.images[views], scene.cameras[views], scene.depths[views]
    rays = pixel_rays(cameras, RESOLUTION, RESOLUTION)
    intrinsics = torch.cat([cameras.fx, cameras.fy, cameras.cx, cameras.cy], dim=-1).reshape(-1, 4)
    cost, count = plane_sweep(_descriptors(images), rays, intrinsics, (RESOLUTION, RESOLUTION), scene.near, scene.far, PLANES)
    assert cost.shape == count.shape == (4, PLANES, RESOLUTION, RESOLUTION)
    assert float(count.max()) == 3.0  # a point is seen by at most the other three views

    best = cost.argmax(dim=1)
    true_fraction = (1 / depths - 1 / scene.far) / (1 / scene.near - 1 / scene.far)
    true_plane = (true_fraction * PLANES - 0.5).round().clamp(0, PLANES - 1)
    seen = count[torch.arange(4)[:, None, None], true_plane.long(), torch.arange(RESOLUTION)[:, None], torch.arange(RESOLUTION)] > 0
    close = ((best - true_plane).abs() <= 2) & seen
    assert float(close.sum()) > 0.5 * float(seen.sum())  # chance is 5 / 48


def test_plane_depths_are_uniform_in_disparity():
    depths = fraction_to_depth(plane_fractions(4), near=1.0, far=5.0)
    disparities = 1.0 / depths
    assert torch.allclose(disparities.diff(), torch.full((3,), 0.8 / 4))
    assert float(depths[0]) < 5.0 and float(depths[-1]) > 1.0


def test_untrained_initializer_starts_at_the_matching_depth(scene):
    """With near-zero head outputs, each Gaussian sits at the cost volume's soft-argmax depth; outputs stay
    valid and permuting the views permutes the Gaussians."""
    views = torch.tensor([0, 1, 2, 3])
    images, cameras = scene.images[views], scene.cameras[views]
    torch.manual_seed(0)
    net = Initializer(InitializerConfig(patch_size=2, cost_volume_planes=16, offset_scale=0.0, head_init_std=0.0))
    with torch.no_grad():
        prediction = net.predict(images, cameras, scene.near, scene.far)
    fractions = (1 / prediction.depths - 1 / scene.far) / (1 / scene.near - 1 / scene.far)
    assert float(fractions.std()) > 1e-3  # the depth is no longer one constant
    g = prediction.gaussians
    assert torch.isfinite(g.means).all() and torch.allclose(g.quats.norm(dim=-1), torch.ones(g.num_gaussians))

    order = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        permuted = net(images[order], cameras[order], scene.near, scene.far)
    cells = RESOLUTION // 2 * RESOLUTION // 2
    reference = g.means.reshape(4, cells, 3)[order].reshape(-1, 3)
    assert torch.allclose(permuted.means, reference, atol=1e-4)

    with pytest.raises(ValueError, match="needs at least 2 input views, got 1"):  # one view: nothing to match
        net(images[:1], cameras[:1], scene.near, scene.far)
