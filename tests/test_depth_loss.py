"""The depth loss: its closed form, rendered depth against the generated depth maps, frame invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from foresplat_ns.data.scene_batch import camera_distances, choose_views, make_batch
from foresplat_ns.initializer import Initializer, InitializerConfig
from foresplat_ns.meta.losses import disparity_loss
from foresplat_ns.meta.normalise import Normalisation
from foresplat_ns.meta.step import MetaConfig, scene_loss
from foresplat_ns.rendering.views import render_views

RESOLUTION = 32


@pytest.fixture(scope="module")
def scene(generated_scene):
    return generated_scene(views=8, resolution=RESOLUTION, seed=3)


def test_closed_form():
    """Pixels below the coverage threshold or without a true depth are ignored."""
    near = 0.5
    z_hat = torch.tensor([1.0, 2.0, 4.0, 3.0]).reshape(1, 2, 2)
    alpha = torch.tensor([1.0, 0.8, 0.6, 0.2]).reshape(1, 2, 2, 1)
    true = torch.tensor([2.0, 2.0, float("inf"), 1.0]).reshape(1, 2, 2)
    loss = disparity_loss(z_hat[..., None], alpha, true, near)
    expected = (abs(near / 1.0 - near / 2.0) + abs(near / 2.0 - near / 2.0)) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    nothing = disparity_loss(z_hat[..., None], torch.full_like(alpha, 0.1), true, near)
    assert float(nothing) == 0.0


def test_rendered_plane_gives_the_analytic_error(scene):
    """A fronto-parallel plane of Gaussians at z-depth 2 renders depth 2 wherever it covers, even semi-transparent:
    against a true depth of 2 the loss is 0, against 2.5 it is near · (1/2 − 1/2.5)."""
    images, cameras = scene.images[:1], scene.cameras[:1]
    torch.manual_seed(0)
    net = Initializer(InitializerConfig(offset_scale=0.0, opacity_init=0.3, scale_init=0.3))
    plane = torch.full((1, RESOLUTION, RESOLUTION), 2.0)
    with torch.no_grad():
        renders = render_views(net(images, cameras, 0.5, 10.0, depth_override=plane), cameras)
    assert 0.5 < float(renders.alpha.mean()) < 0.999  # expected depth is normalised by alpha
    assert float(disparity_loss(renders.depth, renders.alpha, plane, 0.5)) == pytest.approx(0.0, abs=1e-5)
    expected = 0.5 * (1 / 2.0 - 1 / 2.5)
    assert float(disparity_loss(renders.depth, renders.alpha, plane * 1.25, 0.5)) == pytest.approx(expected, rel=1e-4)


def test_true_depth_scores_better_than_a_wrong_one(scene):
    """On a generated scene, Gaussians at the generator's depth beat the same Gaussians 25% too far by a wide margin
    (blending with nearer neighbours keeps the first above zero)."""
    views = torch.arange(4)
    images, cameras, depths = scene.images[views], scene.cameras[views], scene.depths[views]
    torch.manual_seed(0)
    net = Initializer(InitializerConfig(offset_scale=0.0, opacity_init=0.99))

    def error(scale: float) -> float:
        with torch.no_grad():
            renders = render_views(net(images, cameras, scene.near, scene.far, depth_override=depths * scale), cameras)
        return float(disparity_loss(renders.depth, renders.alpha, depths, scene.near))

    assert error(1.0) < 0.6 * error(1.25)
    assert error(1.0) < 0.6 * error(0.8)


def test_normalisation_keeps_the_loss(scene):
    """The inner loop's normalised frame scales depth maps with the scene: the loss is unchanged."""
    context, target = choose_views(camera_distances(scene.cameras), 3, 2, np.random.default_rng(0))
    batch = make_batch(scene, context, target)
    torch.manual_seed(0)
    with torch.no_grad():
        gaussians = Initializer(InitializerConfig())(batch.context_images, batch.context_cameras, batch.near, batch.far)
    config = MetaConfig(depth_weight=1.0)
    black = torch.zeros(3)
    loss, metrics = scene_loss(gaussians, batch, config, black)
    norm = Normalisation.of_batch(batch)
    assert abs(norm.scale - 1.0) > 0.05  # the check means something only if the frame changes
    loss_norm, metrics_norm = scene_loss(norm.gaussians(gaussians), norm.batch(batch), config, black)
    assert metrics["target_disparity_error"] > 0
    for name in ("target_disparity_error", "context_disparity_error"):
        assert float(metrics_norm[name]) == pytest.approx(float(metrics[name]), rel=1e-4)
    assert float(loss_norm) == pytest.approx(float(loss), rel=1e-4)
    photometric, _ = scene_loss(gaussians, batch, MetaConfig(depth_weight=0.0), black)
    assert float(loss) > float(photometric)
