"""The inner loop takes exactly the steps nerfstudio's trainer takes with foresplat-refine's optimisers."""

import torch

from nerfstudio.cameras.cameras import Cameras
from nerfstudio.engine.optimizers import Optimizers

from foresplat_ns.gaussians import Gaussians
from foresplat_ns.meta.inner import InnerLoop, InnerLoopConfig, splatfacto_start
from foresplat_ns.meta.losses import photometric_loss
from foresplat_ns.rendering.views import render_views


def _setup():
    g = torch.Generator().manual_seed(0)
    points = torch.randn(300, 3, generator=g) * 0.3
    start = splatfacto_start(points, torch.randint(0, 256, (300, 3), generator=g))
    c2w = torch.eye(4)[:3].repeat(3, 1, 1)
    c2w[:, :3, 3] = torch.tensor([[0.0, 0.0, 2.0], [0.3, 0.0, 2.0], [-0.3, 0.1, 2.0]])
    cameras = Cameras(camera_to_worlds=c2w, fx=30.0, fy=30.0, cx=16.0, cy=16.0, width=32, height=32)
    images = torch.rand(3, 32, 32, 3, generator=g)
    return start, images, cameras


def test_inner_loop_matches_nerfstudio_optimizers():
    start, images, cameras = _setup()
    loop = InnerLoop(InnerLoopConfig(background="black"), start, images, cameras, seed=3)
    views = []
    original_next = loop._next_view
    loop._next_view = lambda: views.append(original_next()) or views[-1]
    loop.run(5)

    # The same five steps through nerfstudio's own optimisers and schedulers, as its trainer runs them.
    params = {k: torch.nn.Parameter(v.detach().clone()) for k, v in start.to_splatfacto().items()}
    # nerfstudio's own splatfacto method config, not ours: the settings must be splatfacto's.
    from nerfstudio.configs.method_configs import method_configs

    optimizers = Optimizers(method_configs["splatfacto"].optimizers, {k: [p] for k, p in params.items()})
    for step, view in enumerate(views):
        renders = render_views(Gaussians.from_splatfacto(params), cameras[view : view + 1], torch.zeros(3), sh_degree=3)
        photometric_loss(renders.rgb.clamp(0, 1), images[view : view + 1]).backward()
        optimizers.optimizer_step_all()
        optimizers.scheduler_step_all(step)
        optimizers.zero_grad_all()
    for key, value in loop.gaussians().to_splatfacto().items():
        assert torch.allclose(value, params[key].detach(), atol=1e-6, rtol=1e-5), key
    assert not torch.equal(loop.gaussians().means, start.means)


def test_densification_changes_the_count():
    start, images, cameras = _setup()
    config = InnerLoopConfig(densify=True, background="black")
    loop = InnerLoop(config, start, images, cameras)
    loop.strategy.refine_start_iter, loop.strategy.refine_every = 2, 3
    loop.strategy.grow_grad2d = 1e-7
    loop.strategy.pause_refine_after_reset = 0
    loop.run(8)
    assert loop.gaussians().num_gaussians != start.num_gaussians
