"""`Gaussians` ↔ splatfacto's parameters, and rendering into nerfstudio cameras."""

import torch

from nerfstudio.cameras.cameras import Cameras
from nerfstudio.models.splatfacto import get_viewmat

from foresplat_ns.gaussians import Gaussians
from foresplat_ns.rendering.views import render_views, viewmats_from_cameras


def random_gaussians(n: int = 50, sh_degree: int = 3, seed: int = 0) -> Gaussians:
    g = torch.Generator().manual_seed(seed)
    quats = torch.randn(n, 4, generator=g)
    return Gaussians(
        means=torch.randn(n, 3, generator=g),
        log_scales=torch.randn(n, 3, generator=g) - 3,
        quats=quats / quats.norm(dim=-1, keepdim=True),
        logit_opacities=torch.randn(n, 1, generator=g),
        sh_dc=torch.randn(n, 3, generator=g),
        sh_rest=0.1 * torch.randn(n, (sh_degree + 1) ** 2 - 1, 3, generator=g),
        confidence=torch.rand(n, 1, generator=g),
    )


def test_round_trip_through_a_splatfacto_model_is_exact():
    from foresplat_ns.models.refine import ForesplatRefineModelConfig
    from nerfstudio.data.scene_box import SceneBox

    model = ForesplatRefineModelConfig(num_random=10).setup(
        scene_box=SceneBox(aabb=torch.tensor([[-1.0] * 3, [1.0] * 3])), num_train_data=1, metadata={}
    )
    original = random_gaussians()
    model.seed_from(original)
    # Read back through splatfacto's own accessors, which the exporter uses.
    back = Gaussians.from_splatfacto(
        {"means": model.means, "scales": model.scales, "quats": model.quats, "opacities": model.opacities,
         "features_dc": model.features_dc, "features_rest": model.features_rest},
        confidence=original.confidence,
    )
    for name in ("means", "log_scales", "quats", "logit_opacities", "sh_dc", "sh_rest"):
        assert torch.equal(getattr(back, name), getattr(original, name)), name
    state = {k[len("gauss_params."):]: v for k, v in model.state_dict().items() if k.startswith("gauss_params.")}
    assert torch.equal(Gaussians.from_splatfacto(state).means, original.means)
    assert original.sh_degree == 3 and original.num_gaussians == 50


def _cameras(n: int = 3) -> Cameras:
    g = torch.Generator().manual_seed(1)
    q = torch.linalg.qr(torch.randn(n, 3, 3, generator=g)).Q
    q = q * torch.sign(torch.det(q))[:, None, None]
    c2w = torch.cat([q, torch.randn(n, 3, 1, generator=g)], dim=-1)
    return Cameras(camera_to_worlds=c2w, fx=30.0, fy=32.0, cx=16.0, cy=15.0, width=32, height=30)


def test_viewmats_equal_splatfacto_get_viewmat():
    cameras = _cameras()
    assert torch.allclose(viewmats_from_cameras(cameras), get_viewmat(cameras.camera_to_worlds), atol=1e-6)


def test_render_views_composites_background():
    gaussians = random_gaussians(20)
    cameras = _cameras(2)
    background = torch.tensor([0.2, 0.4, 0.6])
    without = render_views(gaussians, cameras)
    with_bg = render_views(gaussians, cameras, background)
    assert with_bg.rgb.shape == (2, 30, 32, 3)
    assert torch.allclose(with_bg.rgb, without.rgb + (1 - without.alpha) * background, atol=1e-6)
