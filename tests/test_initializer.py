"""The initializer: geometry against nerfstudio's rays, valid outputs, a sensible untrained render,
gradients, view-order equivariance and determinism."""

from __future__ import annotations

import math

import pytest
import torch

import foresplat_ns.initializer as initializer_package
from foresplat_ns.data.scene_folder import find_scenes, load_scene
from foresplat_ns.initializer import Initializer, InitializerConfig, RawGaussians, adapt
from foresplat_ns.initializer.adapter import SH_C0
from foresplat_ns.initializer.plucker import pixel_rays
from foresplat_ns.scenes.cli import ScenesConfig, main
from nerfstudio.models.splatfacto import get_viewmat

RESOLUTION = 32
CONTEXT = [0, 1, 2, 3]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    out = tmp_path_factory.mktemp("initializer_scene")
    main(
        ScenesConfig(
            out=out, num_scenes=1, num_eval=0, views=8, resolution=RESOLUTION, seed=1, workers=1, supersample=1
        )
    )
    return load_scene(find_scenes(out)[0], resolution=RESOLUTION)


@pytest.fixture(scope="module")
def context(scene):
    index = torch.tensor(CONTEXT)
    return scene.images[index], scene.cameras[index], scene.near, scene.far, scene.depths[index]


def _network(seed: int = 0, **overrides) -> Initializer:
    torch.manual_seed(seed)
    return Initializer(InitializerConfig(**overrides))


def _rasterize():
    try:
        from foresplat_ns.rendering import rasterize
    except ImportError as error:
        pytest.skip(f"foresplat_ns.rendering.rasterize is not importable yet: {error}")
    return rasterize


def _render(gaussians, cameras, size: int):
    """RGB of the Gaussians in nerfstudio cameras, through splatfacto's own view matrices."""
    rasterize = _rasterize()
    render, _, _ = rasterize(
        means=gaussians.means,
        quats=gaussians.quats,
        scales=torch.exp(gaussians.log_scales),
        opacities=torch.sigmoid(gaussians.logit_opacities).squeeze(-1),
        colors=gaussians.colors(),
        viewmats=get_viewmat(cameras.camera_to_worlds),
        Ks=cameras.get_intrinsics_matrices(),
        width=size,
        height=size,
        sh_degree=gaussians.sh_degree,
        render_mode="RGB+ED",
    )
    return render[..., :3]


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return -10.0 * math.log10(float(((a - b) ** 2).mean()))


def test_public_api():
    expected = {"Initializer", "InitializerConfig", "Prediction", "RawGaussians", "adapt"}
    assert set(initializer_package.__all__) == expected
    assert isinstance(InitializerConfig(channels=(8, 16), attention_heads=2).setup(), Initializer)
    with pytest.raises(ValueError, match="patch_size"):
        Initializer(InitializerConfig(channels=(8, 16), attention_heads=2, patch_size=4))
    with pytest.raises(ValueError, match="power of two"):
        Initializer(InitializerConfig(patch_size=3))


def test_mismatched_cameras_are_rejected(context):
    images, cameras, near, far, _ = context
    net = _network(channels=(8, 16), attention_heads=2)
    with pytest.raises(ValueError, match="cameras"):
        net(images[:, :16, :16], cameras, near, far)
    with pytest.raises(ValueError, match="cameras"):
        net(images, cameras[:2], near, far)


def test_true_depth_places_gaussians_on_the_surface(context):
    """With the depth head replaced by the scene's depth maps and no offset, every mean is the
    surface point nerfstudio's own rays reach at that pixel."""
    images, cameras, near, far, depths = context
    net = _network(offset_scale=0.0)
    with torch.no_grad():
        gaussians = net(images, cameras, near, far, depth_override=depths)
    means = gaussians.means.reshape(len(CONTEXT), RESOLUTION, RESOLUTION, 3)

    for view in range(len(CONTEXT)):
        bundle = cameras.generate_rays(camera_indices=view)  # [H, W] rays through pixel centres
        axis = -cameras.camera_to_worlds[view, :, 2]  # nerfstudio cameras look along -z
        cos = (bundle.directions * axis).sum(-1, keepdim=True)
        surface = bundle.origins + bundle.directions * depths[view, ..., None] / cos
        assert torch.allclose(means[view], surface, atol=1e-4 * far), f"view {view}"

    # The same points project back onto their pixel centres through splatfacto's view matrix.
    viewmats, ks = get_viewmat(cameras.camera_to_worlds), cameras.get_intrinsics_matrices()
    camera_points = torch.einsum("vij,vhwj->vhwi", viewmats[:, :3, :3], means) + viewmats[:, None, None, :3, 3]
    pixels = torch.einsum("vij,vhwj->vhwi", ks, camera_points)
    pixels = pixels[..., :2] / pixels[..., 2:]
    rows, cols = torch.meshgrid(torch.arange(RESOLUTION) + 0.5, torch.arange(RESOLUTION) + 0.5, indexing="ij")
    assert torch.allclose(pixels, torch.stack([cols, rows], -1).expand_as(pixels), atol=1e-3)
    assert torch.allclose(camera_points[..., 2], depths, rtol=1e-5, atol=1e-5)


def test_offsets_stay_within_their_bound(context):
    images, cameras, near, far, depths = context
    net = _network(offset_scale=1.5)
    with torch.no_grad():
        for head in net.network.heads.heads.values():
            head.weight.mul_(1e4)  # saturate every raw output
        prediction = net.predict(images, cameras, near, far, depth_override=depths)
    rays = pixel_rays(cameras, RESOLUTION, RESOLUTION)
    on_ray = rays.origins[:, None, None] + depths[..., None] * rays.directions
    distance = (prediction.gaussians.means.reshape(on_ray.shape) - on_ray).norm(dim=-1)
    footprint = depths / rays.focal[:, None, None]
    assert torch.all(distance <= 1.5 * math.sqrt(3) * footprint * (1 + 1e-4))
    assert distance.max() > 0.5 * footprint.min()


@pytest.mark.parametrize(
    "patch_size, per_pixel, sh_degree, saturate",
    [(1, 1, 3, False), (2, 2, 1, False), (1, 1, 3, True), (4, 3, 0, True)],
)
def test_outputs_are_valid(context, patch_size, per_pixel, sh_degree, saturate):
    """Shapes, unit quaternions, bounded scales, depths in [near, far] and confidence in (0, 1),
    also when every raw output is pushed far into saturation."""
    images, cameras, near, far, _ = context
    net = _network(
        patch_size=patch_size, gaussians_per_pixel=per_pixel, sh_degree=sh_degree, scale_min=0.2, scale_max=3.0
    )
    with torch.no_grad():
        if saturate:
            for head in net.network.heads.heads.values():
                head.weight.mul_(1e4)
        prediction = net.predict(images, cameras, near, far)
    g = prediction.gaussians
    views, cells = len(CONTEXT), (RESOLUTION // patch_size) ** 2
    n = views * cells * per_pixel
    rest = (sh_degree + 1) ** 2 - 1
    assert g.means.shape == (n, 3) and g.log_scales.shape == (n, 3) and g.quats.shape == (n, 4)
    assert g.logit_opacities.shape == (n, 1) and g.sh_dc.shape == (n, 3) and g.sh_rest.shape == (n, rest, 3)
    assert g.confidence.shape == (n, 1) and g.sh_degree == sh_degree
    for name, value in g.params().items():
        assert torch.isfinite(value).all(), name
    assert torch.allclose(g.quats.norm(dim=-1), torch.ones(n), atol=1e-5)

    depths = prediction.depths
    assert depths.shape == (views, RESOLUTION // patch_size, RESOLUTION // patch_size, per_pixel)
    assert depths.min() >= near * (1 - 1e-6) and depths.max() <= far * (1 + 1e-6)
    focal = torch.sqrt(cameras.fx * cameras.fy).reshape(views, 1, 1, 1)
    footprint = (depths * patch_size / focal).reshape(n, 1)
    scales = torch.exp(g.log_scales)
    assert torch.all(scales >= 0.2 * footprint * (1 - 1e-4)) and torch.all(scales <= 3.0 * footprint * (1 + 1e-4))
    assert torch.all(g.confidence > 0) and torch.all(g.confidence < 1)
    if saturate:  # the bounds are reached, not merely respected
        assert scales.max() / footprint.max() > 2.9 or scales.min() / footprint.min() < 0.21

    # Depth along the optical axis of each ray point (the mean minus its bounded offset).
    offset_bound = prediction.footprints.reshape(n) * net.config.offset_scale
    centres = cameras.camera_to_worlds[:, :, 3].repeat_interleave(cells * per_pixel, 0)
    axes = -cameras.camera_to_worlds[:, :, 2].repeat_interleave(cells * per_pixel, 0)
    z = ((g.means - centres) * axes).sum(-1)
    assert torch.all((z - depths.reshape(n)).abs() <= offset_bound * (1 + 1e-4))


def test_without_confidence_head(context):
    images, cameras, near, far, _ = context
    with torch.no_grad():
        gaussians = _network(confidence_head=False)(images, cameras, near, far)
    assert gaussians.confidence is None


def test_zero_raw_outputs_give_the_initial_values(context):
    """The adapter's neutral point: input colours, identity rotation, initial scale and opacity."""
    images, cameras, near, far, _ = context
    config = InitializerConfig(scale_init=0.7, opacity_init=0.8, confidence_init=0.3)
    grid = (len(CONTEXT), RESOLUTION, RESOLUTION, 1)
    zeros = lambda *shape: torch.zeros(*grid, *shape)  # noqa: E731
    raw = RawGaussians(
        depth=zeros(), offset=zeros(3), scale=zeros(3), rotation=zeros(4), opacity=zeros(),
        sh_dc=zeros(3), sh_rest=zeros(15, 3), confidence=zeros(),
    )
    rays = pixel_rays(cameras, RESOLUTION, RESOLUTION)
    prediction = adapt(raw, rays, images, near, far, config)
    g = prediction.gaussians
    assert torch.allclose(SH_C0 * g.sh_dc + 0.5, images.reshape(-1, 3), atol=1e-6)
    assert torch.allclose(g.quats, torch.tensor([1.0, 0.0, 0.0, 0.0]).expand_as(g.quats))
    assert torch.allclose(torch.exp(g.log_scales), 0.7 * prediction.footprints.reshape(-1, 1).expand(-1, 3), rtol=1e-5)
    assert torch.allclose(torch.sigmoid(g.logit_opacities), torch.full_like(g.logit_opacities, 0.8))
    assert torch.allclose(g.confidence, torch.full_like(g.confidence, 0.3), atol=1e-4)
    assert torch.all(g.sh_rest == 0)
    # Half-way between near and far in disparity.
    assert torch.allclose(prediction.depths, torch.full_like(prediction.depths, 2.0 / (1.0 / near + 1.0 / far)))


def test_untrained_network_renders_its_input(context):
    """The untrained network's Gaussians rendered into the context views resemble the images.

    Each pixel's Gaussian carries its pixel's colour and projects onto its pixel centre, so a
    view's own Gaussians render a slightly blurred copy of its image. Measured on this scene:
    23.6-25.2 dB (20.7-27.4 dB over 16 views of 4 generated scenes), against 15.9-16.8 dB for
    the image's mean colour. All views' Gaussians together add the other views' Gaussians at the
    untrained depth as ghosts: 18.9-20.0 dB here, about 3 dB above the mean colour (on other
    scenes the ghosts can cost more, which is what training the depth head is for).
    """
    images, cameras, near, far, _ = context
    views = len(CONTEXT)
    net = _network()
    with torch.no_grad():
        gaussians = net(images, cameras, near, far)
        together = _render(gaussians, cameras, RESOLUTION).clamp(0, 1)
        per_view = gaussians.num_gaussians // views
        own = [
            _render(gaussians.map(lambda t: t[v * per_view : (v + 1) * per_view]), cameras[v : v + 1], RESOLUTION)[0]
            for v in range(views)
        ]
    for view in range(views):
        flat = _psnr(images[view].mean((0, 1), keepdim=True).expand_as(images[view]), images[view])
        own_psnr = _psnr(own[view].clamp(0, 1), images[view])
        together_psnr = _psnr(together[view], images[view])
        assert own_psnr > 21.0 and own_psnr > flat + 5.0, f"view {view}: {own_psnr:.1f} dB (mean colour {flat:.1f} dB)"
        assert together_psnr > 17.0 and together_psnr > flat + 1.5, f"view {view}: {together_psnr:.1f} dB"


def test_gradients_reach_every_parameter(context):
    """A rendering loss (plus a confidence term, which the renderer does not see) reaches every weight."""
    images, cameras, near, far, _ = context
    net = _network()
    gaussians = net(images[:2], cameras[:2], near, far)
    rendered = _render(gaussians, cameras[:1], RESOLUTION)
    loss = ((rendered[0] - images[0]) ** 2).mean() + 1e-3 * gaussians.confidence.mean()
    loss.backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, f"no gradient reaches {missing}"


def test_detached_confidence_trains_its_head_alone(context):
    """With the confidence head on detached features (IFT's confidence_gradient 'head'), a loss on the confidence
    reaches that head only; the prediction is the same either way."""
    images, cameras, near, far, _ = context
    grads = {}
    for detach in (False, True):
        net = _network()
        net.network.heads.detach_confidence = detach
        gaussians = net(images[:2], cameras[:2], near, far)
        gaussians.confidence.square().sum().backward()
        grads[detach] = {name: p.grad for name, p in net.named_parameters()}
        if detach:
            assert torch.equal(gaussians.means, reference.means) and torch.equal(gaussians.confidence, reference.confidence)
        reference = gaussians
    head = [name for name in grads[True] if ".heads.heads.confidence." in name]
    assert len(head) == 2  # weight and bias
    for name in head:
        assert torch.equal(grads[True][name], grads[False][name]), name
    shared = [name for name, g in grads[False].items() if g is not None and torch.any(g != 0) and name not in head]
    assert shared, "the confidence loss should reach the shared features when they are not detached"
    assert all(grads[True][name] is None or not torch.any(grads[True][name] != 0) for name in shared)


def test_permuting_views_permutes_gaussians(context):
    images, cameras, near, far, _ = context
    net = _network()
    order = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        reference = net(images, cameras, near, far)
        permuted = net(images[order], cameras[order], near, far)
    views = len(CONTEXT)
    for name, value in reference.params().items():
        expected = value.reshape(views, -1, *value.shape[1:])[order].reshape(value.shape)
        assert torch.allclose(getattr(permuted, name), expected, atol=1e-4, rtol=1e-4), name
    expected = reference.confidence.reshape(views, -1, 1)[order].reshape(-1, 1)
    assert torch.allclose(permuted.confidence, expected, atol=1e-5)


def test_deterministic_for_a_fixed_seed(context):
    images, cameras, near, far, _ = context
    with torch.no_grad():
        first = _network(seed=7)(images, cameras, near, far)
        second = _network(seed=7)(images, cameras, near, far)
        other = _network(seed=8)(images, cameras, near, far)
    for name in first.params():
        assert torch.equal(getattr(first, name), getattr(second, name)), name
    assert not torch.equal(first.sh_rest, other.sh_rest)


@pytest.mark.parametrize("patch_size", [1, 2])
def test_border_cells_continue_the_grid_beyond_the_image(context, patch_size):
    """Inside the image the Gaussians are those without a border; the extra ring continues the edge
    cells' depths along rays that project onto the cell centres outside the image."""
    images, cameras, near, far, _ = context
    margin, views, grid = 2, len(CONTEXT), RESOLUTION // patch_size
    plain = _network(patch_size=patch_size)
    bordered = _network(patch_size=patch_size, border_cells=margin)
    with torch.no_grad():
        inner = plain.predict(images, cameras, near, far)
        outer = bordered.predict(images, cameras, near, far)
    size = grid + 2 * margin
    assert outer.gaussians.num_gaussians == views * size * size
    means = outer.gaussians.means.reshape(views, size, size, 3)
    assert torch.allclose(means[:, margin:-margin, margin:-margin], inner.gaussians.means.reshape(views, grid, grid, 3), atol=1e-6)
    depths = outer.depths[..., 0]
    assert torch.equal(depths[:, :margin, margin:-margin], depths[:, margin : margin + 1, margin:-margin].expand(-1, margin, -1))
    assert torch.equal(depths[:, margin:-margin, -margin:], depths[:, margin:-margin, -margin - 1 : -margin].expand(-1, -1, margin))

    # With no offset, every mean projects onto its cell's centre, outside the image for the ring.
    centred = _network(patch_size=patch_size, border_cells=margin, offset_scale=0.0)
    with torch.no_grad():
        means = centred(images, cameras, near, far).means.reshape(views, size, size, 3)
    viewmats, ks = get_viewmat(cameras.camera_to_worlds), cameras.get_intrinsics_matrices()
    camera_points = torch.einsum("vij,vhwj->vhwi", viewmats[:, :3, :3], means) + viewmats[:, None, None, :3, 3]
    pixels = torch.einsum("vij,vhwj->vhwi", ks, camera_points)
    pixels = pixels[..., :2] / pixels[..., 2:]
    centres = (torch.arange(-margin, grid + margin) + 0.5) * patch_size
    rows, cols = torch.meshgrid(centres, centres, indexing="ij")
    assert torch.allclose(pixels, torch.stack([cols, rows], -1).expand_as(pixels), atol=1e-3)


def test_opacities_are_corrected_for_more_views_than_calibrated(context):
    images, cameras, near, far, _ = context
    net = _network(opacity_views=None).eval()
    with torch.no_grad():
        plain = net(images, cameras, near, far)
        net.config.opacity_views = 4  # as many views as given: no correction at all
        same = net(images, cameras, near, far)
        net.config.opacity_views = 2  # calibrated for 2 views, given 4
        corrected = net(images, cameras, near, far)
    assert torch.equal(same.logit_opacities, plain.logit_opacities)
    for name in ("means", "log_scales", "quats", "sh_dc", "sh_rest"):
        assert torch.equal(getattr(corrected, name), getattr(plain, name)), name
    # Four layers of the corrected opacity pass what two layers of the calibrated one pass.
    a, b = torch.sigmoid(plain.logit_opacities.double()), torch.sigmoid(corrected.logit_opacities.double())
    assert torch.allclose((1 - b) ** 4, (1 - a) ** 2, atol=1e-6)
    assert (b < a).all()


def test_rendered_layers_stack_as_the_correction_assumes():
    """The premise, checked on the rasteriser: N co-located layers of the corrected opacity render the alpha of n
    layers of the original (front-to-back compositing multiplies transmittances)."""
    from foresplat_ns.initializer.adapter import stacked_opacity_logits

    rasterize = _rasterize()
    size, n, views = 8, 2, 5
    logit = torch.tensor([0.7])

    def alpha(layers: int, logits: torch.Tensor) -> torch.Tensor:
        z = torch.linspace(2.0, 2.2, layers)
        means = torch.stack([torch.zeros(layers), torch.zeros(layers), z], dim=-1)  # on the optical axis
        _, alphas, _ = rasterize(
            means=means, quats=torch.tensor([[1.0, 0.0, 0.0, 0.0]]).expand(layers, 4),
            scales=torch.full((layers, 3), 50.0), opacities=torch.sigmoid(logits).expand(layers),
            colors=torch.ones(layers, 3), viewmats=torch.eye(4)[None],
            Ks=torch.tensor([[[10.0, 0.0, size / 2], [0.0, 10.0, size / 2], [0.0, 0.0, 1.0]]]), width=size, height=size,
        )
        return alphas[0, size // 2, size // 2, 0]

    original, corrected = alpha(n, logit), alpha(views, stacked_opacity_logits(logit, n / views))
    assert abs(float(original) - (1 - (1 - torch.sigmoid(logit).item()) ** n)) < 1e-3  # wide Gaussians: weight ~1
    assert abs(float(corrected) - float(original)) < 1e-4
