"""Tests of the CPU Gaussian rasteriser against independent truths."""

from __future__ import annotations

import importlib
import math
import sys

import pytest
import torch

from foresplat_ns.rendering import eval_sh, rasterize, rasterize_dense, uses_gsplat

F64 = torch.float64


def _camera(f: float, cx: float, cy: float, dtype=F64) -> torch.Tensor:
    return torch.tensor([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]], dtype=dtype)


def _look_at(eye: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """OpenCV world-to-camera matrix of a camera at ``eye`` looking at ``target``."""
    fwd = target - eye
    fwd = fwd / fwd.norm()
    up = torch.tensor([0.0, -1.0, 0.0], dtype=eye.dtype)
    right = torch.linalg.cross(up, fwd)
    right = right / right.norm()
    down = torch.linalg.cross(fwd, right)
    rot = torch.stack([right, down, fwd])  # rows: camera axes in world coordinates
    view = torch.eye(4, dtype=eye.dtype)
    view[:3, :3] = rot
    view[:3, 3] = -rot @ eye
    return view


def _random_case(seed: int, dtype=F64) -> dict:
    """A small random scene exercising the awkward cases."""
    g = torch.Generator().manual_seed(seed)
    n = 40
    C = 1 + seed % 3
    width, height = 23 + seed % 5, 17 + seed % 4
    tile_size = (4, 8, 16)[seed % 3]
    f = 18.0
    z = 1.0 + 5.0 * torch.rand(n, generator=g, dtype=dtype)
    z[:3] = torch.tensor([-1.0, 0.005, 12.0], dtype=dtype)  # behind, inside near, beyond far
    z[3:6] = 3.0 + 1e-3 * torch.arange(3, dtype=dtype)  # nearly equal depths, overlapping
    xy = (torch.rand(n, 2, generator=g, dtype=dtype) * 2 - 1) * 0.7 * z.abs()[:, None]
    xy[3:6] = 0.05 * torch.randn(3, 2, generator=g, dtype=dtype)
    means = torch.cat([xy, z[:, None]], dim=1)
    # About 1.5 px standard deviation on screen, some much larger.
    scales = 1.5 * torch.exp(torch.randn(n, 3, generator=g, dtype=dtype) * 0.7) * z.abs()[:, None] / f
    quats = torch.randn(n, 4, generator=g, dtype=dtype)
    opacities = torch.rand(n, generator=g, dtype=dtype) * 0.98 + 0.01
    sh_degree = (None, 0, 1, 2, 3)[seed % 5]
    if sh_degree is None:
        colors = torch.rand(n, 3, generator=g, dtype=dtype)
    else:
        colors = 0.5 * torch.randn(n, 16, 3, generator=g, dtype=dtype)
    eyes = [torch.zeros(3, dtype=dtype)] + [
        torch.randn(3, generator=g, dtype=dtype) * torch.tensor([1.0, 0.5, 0.5], dtype=dtype) for _ in range(C - 1)
    ]
    target = torch.tensor([0.0, 0.0, 3.0], dtype=dtype)
    viewmats = torch.stack([_look_at(e, target + e * torch.tensor([1.0, 1.0, 0.0], dtype=dtype)) for e in eyes])
    Ks = torch.stack([_camera(f + 3 * c, width / 2 + c, height / 2 - 0.5 * c, dtype) for c in range(C)])
    return dict(
        means=means,
        quats=quats,
        scales=scales,
        opacities=opacities,
        colors=colors,
        viewmats=viewmats,
        Ks=Ks,
        width=width,
        height=height,
        far_plane=8.0,
        sh_degree=sh_degree,
        tile_size=tile_size,
        render_mode=("RGB", "RGB+ED", "RGB+D", "D", "ED")[seed % 5],
        rasterize_mode=("classic", "antialiased")[(seed // 2) % 2],
        backgrounds=torch.rand(C, 3, generator=g, dtype=dtype) if seed % 4 == 1 else None,
    )


_PARAMS = ("means", "quats", "scales", "opacities", "colors")


def _render_with_grads(fn, case: dict, seed: int):
    inputs = {k: (v.clone().requires_grad_() if k in _PARAMS else v) for k, v in case.items()}
    colors, alphas, meta = fn(**inputs)
    meta["means2d"].retain_grad()
    g = torch.Generator().manual_seed(1000 + seed)
    loss = (colors * torch.randn(colors.shape, generator=g, dtype=colors.dtype)).sum()
    loss = loss + (alphas * torch.randn(alphas.shape, generator=g, dtype=alphas.dtype)).sum()
    loss.backward()
    grads = {k: inputs[k].grad for k in _PARAMS}
    grads["means2d"] = meta["means2d"].grad
    return colors, alphas, meta, grads


@pytest.mark.parametrize("seed", range(20))
def test_tiles_equal_dense_reference(seed):
    case = _random_case(seed)
    c_t, a_t, m_t, g_t = _render_with_grads(rasterize, case, seed)
    c_d, a_d, m_d, g_d = _render_with_grads(rasterize_dense, case, seed)
    assert a_t.max() > 0.2, "the scene should cover some pixels"
    torch.testing.assert_close(c_t, c_d, atol=1e-9, rtol=0)
    torch.testing.assert_close(a_t, a_d, atol=1e-9, rtol=0)
    for k in g_t:
        torch.testing.assert_close(g_t[k], g_d[k], atol=1e-8, rtol=1e-8, msg=lambda m: f"grad {k}: {m}")
    torch.testing.assert_close(m_t["radii"], m_d["radii"])
    culled = case["means"][:, 2] < 0.01
    culled |= case["means"][:, 2] > case["far_plane"]
    assert (m_t["radii"][:, culled] == 0).all()


@pytest.mark.parametrize("seed", [0, 6, 13])
def test_runs_cutting_through_tiles_carry_transmittance(seed, monkeypatch):
    from foresplat_ns.rendering import tiles

    from foresplat_ns.rendering import dense

    monkeypatch.setattr(tiles, "DEFAULT_PAIR_BUDGET", 37)  # many runs, most ending inside a tile
    case = _random_case(seed)
    # A stack of big, nearly opaque Gaussians in front of the view centre stops pixels early.
    stack = slice(6, 12)
    jitter = torch.randn(6, 3, generator=torch.Generator().manual_seed(seed), dtype=F64)
    case["means"][stack] = torch.tensor([0.0, 0.0, 2.0], dtype=F64) + 0.1 * jitter
    case["scales"][stack] = 0.4
    case["opacities"][stack] = 0.95
    c_t, a_t, _, g_t = _render_with_grads(rasterize, case, seed)
    c_d, a_d, _, g_d = _render_with_grads(rasterize_dense, case, seed)
    monkeypatch.setattr(dense, "TRANSMITTANCE_EPS", 0.0)
    assert not torch.equal(rasterize_dense(**case)[0], c_d.detach()), "some pixels should stop early"
    torch.testing.assert_close(c_t, c_d, atol=1e-9, rtol=0)
    torch.testing.assert_close(a_t, a_d, atol=1e-9, rtol=0)
    for k in g_t:
        torch.testing.assert_close(g_t[k], g_d[k], atol=1e-8, rtol=1e-8, msg=lambda m: f"grad {k}: {m}")


@pytest.mark.parametrize("seed", [3, 8])
def test_tiles_equal_dense_reference_float32(seed):
    case = {k: (v.float() if torch.is_tensor(v) else v) for k, v in _random_case(seed).items()}
    c_t, a_t, _, g_t = _render_with_grads(rasterize, case, seed)
    c_d, a_d, _, g_d = _render_with_grads(rasterize_dense, case, seed)
    torch.testing.assert_close(c_t, c_d, atol=1e-5, rtol=0)
    torch.testing.assert_close(a_t, a_d, atol=1e-5, rtol=0)
    for k in g_t:
        if g_d[k] is None:  # colours are unused in depth-only modes
            assert g_t[k] is None
            continue
        scale = max(1.0, g_d[k].abs().max().item())
        torch.testing.assert_close(g_t[k], g_d[k], atol=1e-5 * scale, rtol=0, msg=lambda m: f"grad {k}: {m}")


def _single_gaussian(opacity=0.8, scale=0.4, z=4.0, f=20.0, cx=10.3, cy=7.6):
    means = torch.tensor([[0.0, 0.0, z]], dtype=F64)
    quats = torch.tensor([[0.3, -0.2, 0.5, 0.1]], dtype=F64)  # irrelevant for an isotropic Gaussian
    scales = torch.full((1, 3), scale, dtype=F64)
    opacities = torch.tensor([opacity], dtype=F64)
    colors = torch.tensor([[0.9, 0.4, 0.1]], dtype=F64)
    return means, quats, scales, opacities, colors, torch.eye(4, dtype=F64)[None], _camera(f, cx, cy)[None]


@pytest.mark.parametrize("mode", ["classic", "antialiased"])
@pytest.mark.parametrize("fn", [rasterize, rasterize_dense])
def test_isotropic_gaussian_matches_closed_form(mode, fn):
    opacity, scale, z, f, cx, cy, W, H = 0.8, 0.4, 4.0, 20.0, 10.3, 7.6, 21, 16
    args = _single_gaussian(opacity, scale, z, f, cx, cy)
    bg = torch.tensor([[0.1, 0.2, 0.3]], dtype=F64)
    colors, alphas, meta = fn(*args, W, H, backgrounds=bg, rasterize_mode=mode)

    var_px = (f * scale / z) ** 2  # isotropic world covariance seen head-on
    var = var_px + 0.3  # gsplat's screen-space dilation
    opac = opacity * (var_px / var if mode == "antialiased" else 1.0)  # sqrt(det ratio) in 2D
    jj, ii = torch.meshgrid(torch.arange(W, dtype=F64), torch.arange(H, dtype=F64), indexing="xy")
    r2 = (jj + 0.5 - cx) ** 2 + (ii + 0.5 - cy) ** 2
    alpha = torch.clamp(opac * torch.exp(-0.5 * r2 / var), max=0.999)
    alpha = torch.where(alpha >= 1 / 255, alpha, torch.zeros_like(alpha))
    expected = alpha[..., None] * args[4][0] + (1 - alpha[..., None]) * bg[0]
    torch.testing.assert_close(alphas[0, ..., 0], alpha, atol=1e-12, rtol=0)
    torch.testing.assert_close(colors[0], expected, atol=1e-12, rtol=0)
    assert (alpha == 0).any() and (alpha > 0.5).any()
    torch.testing.assert_close(meta["means2d"][0, 0], torch.tensor([cx, cy], dtype=F64))
    torch.testing.assert_close(meta["conics"][0, 0], torch.tensor([1 / var, 0.0, 1 / var], dtype=F64))
    # Opacity-aware radius: alpha < 1/255 beyond sqrt(2 ln(255 opacity) var).
    assert meta["radii"][0, 0].item() == math.ceil(math.sqrt(2 * math.log(255 * opac) * var))


def test_depth_modes_of_a_single_gaussian():
    args = _single_gaussian(z=4.0)
    colors, alphas, _ = rasterize(*args, 21, 16, render_mode="RGB+ED")
    ed = colors[..., 3:4]
    inside = alphas > 0
    torch.testing.assert_close(ed[inside], torch.full_like(ed[inside], 4.0))
    d, alphas_d, _ = rasterize(*args, 21, 16, render_mode="D")
    torch.testing.assert_close(d, 4.0 * alphas_d)
    assert colors.shape == (1, 16, 21, 4) and d.shape == (1, 16, 21, 1)


@pytest.mark.parametrize("fn", [rasterize, rasterize_dense])
def test_nearer_gaussian_dominates_and_swapping_depths_swaps(fn):
    means = torch.tensor([[0.0, 0.0, 3.0], [0.05, 0.0, 5.0]], dtype=F64)
    quats = torch.tensor([[1.0, 0.0, 0.0, 0.0]] * 2, dtype=F64)
    scales = torch.tensor([[0.3] * 3, [0.5] * 3], dtype=F64)
    opacities = torch.tensor([0.9, 0.9], dtype=F64)
    colors = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=F64)
    view, K = torch.eye(4, dtype=F64)[None], _camera(20.0, 8.0, 8.0)[None]

    def centre(m):
        rgb, alpha, meta = fn(m, quats, scales, opacities, colors, view, K, 16, 16)
        return rgb[0, 7, 7], alpha[0, 7, 7, 0], meta

    rgb, alpha, meta = centre(means)
    assert rgb[0] > 5 * rgb[2]
    # Closed form at the pixel centre (7.5, 7.5): red in front of blue.
    a = []
    for i, (x, _, z) in enumerate(means.tolist()):
        # s^2 J J^T with J = [[f/z, 0, -f x/z^2], [0, f/z, 0]], then the 0.3 dilation.
        var_u = (20.0 * scales[i, 0].item() / z) ** 2 * (1 + (x / z) ** 2) + 0.3
        var_v = (20.0 * scales[i, 0].item() / z) ** 2 + 0.3
        u = 20.0 * x / z + 8.0
        a.append(0.9 * math.exp(-0.5 * ((u - 7.5) ** 2 / var_u + (8.0 - 7.5) ** 2 / var_v)))
    torch.testing.assert_close(rgb, torch.tensor([a[0], 0.0, (1 - a[0]) * a[1]], dtype=F64))
    torch.testing.assert_close(alpha, torch.tensor(1 - (1 - a[0]) * (1 - a[1]), dtype=F64))

    swapped = means.clone()
    swapped[:, 2] = means.flip(0)[:, 2]
    rgb2, _, _ = centre(swapped)
    assert rgb2[2] > 5 * rgb2[0]


def test_stops_before_transmittance_reaches_threshold():
    # Three identical opaque Gaussians: 0.999 alpha each leaves T = 1e-3, then 1e-6 <= 1e-4,
    # so the second one is not composited (gsplat's exclusive stop) and neither is the third.
    n = 3
    means = torch.tensor([[0.0, 0.0, 3.0 + i] for i in range(n)], dtype=F64)
    quats = torch.tensor([[1.0, 0.0, 0.0, 0.0]] * n, dtype=F64)
    scales = torch.full((n, 3), 2.0, dtype=F64)
    colors = torch.eye(3, dtype=F64)
    for fn in (rasterize, rasterize_dense):
        rgb, alpha, _ = fn(means, quats, scales, torch.ones(n, dtype=F64), colors, torch.eye(4, dtype=F64)[None],
                           _camera(10.0, 4.5, 4.5)[None], 8, 8)  # fmt: skip
        torch.testing.assert_close(rgb[0, 4, 4], torch.tensor([0.999, 0.0, 0.0], dtype=F64))
        torch.testing.assert_close(alpha[0, 4, 4, 0], torch.tensor(0.999, dtype=F64))


@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence:UserWarning")
def test_mean_projects_where_nerfstudio_camera_ray_points():
    from nerfstudio.cameras.cameras import Cameras

    g = torch.Generator().manual_seed(0)
    W, H, fx, fy, cx, cy = 40, 30, 35.0, 33.0, 19.2, 15.7
    axis = torch.randn(3, generator=g, dtype=F64)
    angle = 0.4
    skew = torch.tensor([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]], dtype=F64)
    rot = torch.linalg.matrix_exp(angle * skew / axis.norm())
    c2w = torch.eye(4, dtype=F64)
    c2w[:3, :3], c2w[:3, 3] = rot, torch.tensor([0.3, -0.2, 1.1], dtype=F64)
    cams = Cameras(
        camera_to_worlds=c2w[None, :3, :4].float(), fx=fx, fy=fy, cx=cx, cy=cy, width=W, height=H
    )
    rays = cams.generate_rays(camera_indices=0)
    viewmat = torch.linalg.inv(c2w @ torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=F64)))
    K = torch.tensor([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=F64)

    point = (c2w[:3, 3] + 2.5 * (rot @ torch.tensor([0.15, 0.1, -1.0], dtype=F64)))[None]
    dirs = rays.directions.double().reshape(-1, 3)
    to_point = point - rays.origins.double().reshape(-1, 3)
    cos = (dirs * to_point).sum(-1) / (dirs.norm(dim=-1) * to_point.norm(dim=-1))
    best_i, best_j = divmod(int(cos.argmax()), W)

    rgb, alpha, meta = rasterize(
        point, torch.tensor([[1.0, 0, 0, 0]], dtype=F64), torch.full((1, 3), 0.01, dtype=F64),
        torch.ones(1, dtype=F64), torch.ones(1, 3, dtype=F64), viewmat[None], K[None], W, H,
    )  # fmt: skip
    u, v = meta["means2d"][0, 0].tolist()
    assert (math.floor(v), math.floor(u)) == (best_i, best_j)
    peak_i, peak_j = divmod(int(alpha[0, ..., 0].argmax()), W)
    assert (peak_i, peak_j) == (best_i, best_j)
    # The ray through the pixel centre (j + 0.5, i + 0.5) projects back onto that centre.
    on_ray = rays.origins[best_i, best_j].double() + 3.0 * rays.directions[best_i, best_j].double()
    _, _, meta2 = rasterize(on_ray[None], *[t for t in (
        torch.tensor([[1.0, 0, 0, 0]], dtype=F64), torch.full((1, 3), 0.01, dtype=F64),
        torch.ones(1, dtype=F64), torch.ones(1, 3, dtype=F64))], viewmat[None], K[None], W, H)  # fmt: skip
    torch.testing.assert_close(
        meta2["means2d"][0, 0], torch.tensor([best_j + 0.5, best_i + 0.5], dtype=F64), atol=2e-4, rtol=0
    )


def _smooth_scene():
    """Large, half-transparent Gaussians: every pixel sees every Gaussian with 1/255 < alpha < 0.999."""
    g = torch.Generator().manual_seed(7)
    n = 4
    means = torch.randn(n, 3, generator=g, dtype=F64) * 0.3 + torch.tensor([0.0, 0.0, 3.0], dtype=F64)
    quats = torch.randn(n, 4, generator=g, dtype=F64)
    scales = torch.rand(n, 3, generator=g, dtype=F64) + 1.5
    opacities = torch.rand(n, generator=g, dtype=F64) * 0.4 + 0.3
    colors = torch.rand(n, 3, generator=g, dtype=F64)
    cams = (torch.eye(4, dtype=F64)[None], _camera(10.0, 6.0, 5.0)[None])
    return (means, quats, scales, opacities, colors), cams


def test_gradcheck_float64():
    params, (view, K) = _smooth_scene()
    params = tuple(p.clone().requires_grad_() for p in params)

    def render(*p):
        rgb, alpha, _ = rasterize(*p, view, K, 12, 10, render_mode="RGB+ED", tile_size=4)
        return rgb, alpha

    assert torch.autograd.gradcheck(render, params, eps=1e-6, atol=1e-6)


def test_gradcheck_float64_spherical_harmonics():
    params, _ = _smooth_scene()
    g = torch.Generator().manual_seed(3)
    params = tuple(p[:2] for p in params)
    sh = 0.3 * torch.randn(2, 16, 3, generator=g, dtype=F64)
    view = _look_at(torch.tensor([0.4, -0.3, 0.2], dtype=F64), torch.tensor([0.0, 0.0, 3.0], dtype=F64))[None]
    K = _camera(6.0, 4.0, 3.0)[None]
    inputs = (params[0].clone().requires_grad_(), sh.requires_grad_())

    def render(means, coeffs):
        return rasterize(means, *params[1:4], coeffs, view, K, 8, 6, sh_degree=3)[0]

    assert torch.autograd.gradcheck(render, inputs, eps=1e-6, atol=1e-6)


def _loss(params, view, K):
    rgb, alpha, _ = rasterize(*params, view, K, 12, 10, tile_size=8)
    w = torch.linspace(-1.0, 1.0, rgb.numel(), dtype=F64).reshape(rgb.shape)
    return (rgb * w).sum() + (alpha**2).sum()


def test_double_backward_matches_finite_differences_of_the_gradient():
    params, (view, K) = _smooth_scene()
    g = torch.Generator().manual_seed(11)
    direction = tuple(torch.randn(p.shape, generator=g, dtype=F64) for p in params)

    def grad_at(ps, create_graph=False):
        ps = tuple(p.detach().clone().requires_grad_() for p in ps)
        return ps, torch.autograd.grad(_loss(ps, view, K), ps, create_graph=create_graph)

    ps, grads = grad_at(params, create_graph=True)
    gv = sum((gr * d).sum() for gr, d in zip(grads, direction))
    hvp = torch.autograd.grad(gv, ps)
    eps = 1e-5
    _, g_plus = grad_at(tuple(p + eps * d for p, d in zip(params, direction)))
    _, g_minus = grad_at(tuple(p - eps * d for p, d in zip(params, direction)))
    for h, gp, gm in zip(hvp, g_plus, g_minus):
        torch.testing.assert_close(h, (gp - gm) / (2 * eps), atol=1e-6, rtol=1e-5)


def test_forward_mode_jvp_matches_central_difference():
    params, (view, K) = _smooth_scene()
    g = torch.Generator().manual_seed(5)
    tangents = tuple(torch.randn(p.shape, generator=g, dtype=F64) for p in params)

    def render(*p):
        rgb, alpha, _ = rasterize(*p, view, K, 12, 10, tile_size=8, render_mode="RGB+ED")
        return torch.cat([rgb, alpha], dim=-1)

    _, jvp_out = torch.func.jvp(render, params, tangents)
    eps = 1e-6
    plus = render(*(p + eps * t for p, t in zip(params, tangents)))
    minus = render(*(p - eps * t for p, t in zip(params, tangents)))
    torch.testing.assert_close(jvp_out, (plus - minus) / (2 * eps), atol=1e-7, rtol=1e-6)


def test_means2d_gradient_is_the_pixel_space_gradient():
    # Head-on isotropic Gaussian on the optical axis: moving the world mean by dx moves the
    # pixel mean by fx dx / z and leaves the 2D covariance unchanged to first order.
    means, quats, scales, opacities, colors, view, K = _single_gaussian(z=4.0, f=20.0, cx=10.0, cy=8.0)
    means = means.clone().requires_grad_()
    extra = torch.tensor([[0.0, 0.0, -1.0]], dtype=F64)  # behind the camera: culled
    rgb, alpha, meta = rasterize(torch.cat([means, extra]), quats.repeat(2, 1), scales.repeat(2, 1),
                                 opacities.repeat(2), colors.repeat(2, 1), view, K, 21, 16, absgrad=True)  # fmt: skip
    meta["means2d"].retain_grad()
    w = torch.linspace(0.0, 1.0, 21, dtype=F64)
    (rgb[..., 0] * w).sum().backward()
    grad2d = meta["means2d"].grad
    assert grad2d.shape == (1, 2, 2)
    assert grad2d[0, 0].abs().sum() > 0 and (grad2d[0, 1] == 0).all()
    torch.testing.assert_close(means.grad[0, :2], grad2d[0, 0] * 20.0 / 4.0)
    assert meta["radii"].dtype == torch.int32 and meta["radii"].tolist()[0][1] == 0
    assert meta["radii"][0, 0] > 0
    absgrad = meta["means2d"].absgrad
    assert absgrad.shape == (1, 2, 2)
    assert (absgrad >= grad2d.abs() - 1e-12).all() and absgrad[0, 0, 0] > grad2d[0, 0, 0].abs()


def test_meta_has_what_gsplat_default_strategy_reads():
    case = _random_case(2)
    _, _, meta = rasterize(**case)
    C, N = case["viewmats"].shape[0], case["means"].shape[0]
    assert meta["gaussian_ids"] is None and meta["camera_ids"] is None
    assert (meta["width"], meta["height"], meta["n_cameras"]) == (case["width"], case["height"], C)
    assert meta["tile_size"] == case["tile_size"]
    assert meta["means2d"].shape == (C, N, 2) and meta["radii"].shape == (C, N)
    assert meta["depths"].shape == (C, N) and meta["conics"].shape == (C, N, 3)
    assert meta["opacities"].shape == (C, N)
    assert meta["isect_offsets"].shape == (C, meta["tile_height"], meta["tile_width"])
    assert int(meta["tiles_per_gauss"].sum()) == meta["flatten_ids"].numel()
    visible = meta["radii"] > 0
    assert ((meta["tiles_per_gauss"] > 0) == visible).all()


def test_spherical_harmonics_basis_is_orthonormal():
    # Real SH are orthonormal on the sphere; integrate with a Fibonacci lattice.
    n = 40000
    k = torch.arange(n, dtype=F64) + 0.5
    z = 1 - 2 * k / n
    phi = math.pi * (1 + 5**0.5) * k
    r = torch.sqrt(1 - z * z)
    dirs = torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], dim=-1)
    one_hot = torch.eye(25, dtype=F64)[:, None, :, None].expand(25, n, 25, 1)  # basis i as coefficients
    basis = eval_sh(4, dirs.expand(25, n, 3), one_hot)[..., 0].T  # [n, 25]
    gram = basis.T @ basis * (4 * math.pi / n)
    torch.testing.assert_close(gram, torch.eye(25, dtype=F64), atol=2e-3, rtol=0)
    # Degree 1 in gsplat's ordering and signs: (-y, z, -x) * sqrt(3 / 4pi).
    c1 = math.sqrt(3 / (4 * math.pi))
    torch.testing.assert_close(basis[:, 1:4], c1 * torch.stack([-dirs[:, 1], dirs[:, 2], -dirs[:, 0]], -1))


def test_cpu_tensors_never_reach_gsplat(monkeypatch):
    # A None entry makes any import of gsplat fail; CPU rendering must not need it.
    for name in [m for m in sys.modules if m == "gsplat" or m.startswith("gsplat.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "gsplat", None)
    monkeypatch.setitem(sys.modules, "gsplat.rendering", None)
    args = _single_gaussian()
    assert not uses_gsplat(args[0])
    rgb, alpha, _ = rasterize(*args, 21, 16, packed=True, sparse_grad=True, absgrad=True)
    assert alpha.max() > 0.5


def test_cuda_branch_forwards_every_argument(monkeypatch):
    import types

    entry = importlib.import_module("foresplat_ns.rendering.rasterize")

    calls = {}
    fake = types.ModuleType("gsplat.rendering")
    fake.rasterization = lambda **kw: calls.update(kw) or ("colors", "alphas", {})
    monkeypatch.setitem(sys.modules, "gsplat", types.ModuleType("gsplat"))
    monkeypatch.setitem(sys.modules, "gsplat.rendering", fake)
    monkeypatch.setattr(entry, "uses_gsplat", lambda means: True)
    args = _single_gaussian()
    out = entry.rasterize(*args, 21, 16, sh_degree=None, packed=False, absgrad=True, rasterize_mode="antialiased")
    assert out == ("colors", "alphas", {})
    assert calls["packed"] is False and calls["absgrad"] is True and calls["rasterize_mode"] == "antialiased"
    assert calls["width"] == 21 and calls["height"] == 16 and calls["tile_size"] == 16
    assert calls["means"] is args[0] and calls["Ks"] is args[6]


def test_empty_and_fully_culled_scenes():
    args = list(_single_gaussian())
    args[0] = torch.tensor([[0.0, 0.0, -2.0]], dtype=F64)
    for fn in (rasterize, rasterize_dense):
        rgb, alpha, meta = fn(*args, 9, 7)
        assert rgb.abs().sum() == 0 and alpha.abs().sum() == 0 and meta["radii"].sum() == 0
        empty = [a[:0] for a in args[:5]] + args[5:]
        rgb, alpha, _ = fn(*empty, 9, 7, backgrounds=torch.ones(1, 3, dtype=F64))
        assert (rgb == 1).all() and (alpha == 0).all()


def test_rejects_unsupported_cpu_options():
    args = _single_gaussian()
    with pytest.raises(NotImplementedError):
        rasterize(*args, 9, 7, camera_model="fisheye")
    with pytest.raises(TypeError):
        rasterize(*args, 9, 7, not_a_gsplat_option=1)


def test_per_camera_features_and_explicit_covariances():
    case = _random_case(4)
    C, N = case["viewmats"].shape[0], case["means"].shape[0]
    case.update(sh_degree=None, render_mode="RGB+ED", backgrounds=torch.rand(C, 5, dtype=F64))
    case["colors"] = torch.rand(C, N, 5, generator=torch.Generator().manual_seed(4), dtype=F64)
    c_t, a_t, _, g_t = _render_with_grads(rasterize, case, 4)
    c_d, a_d, _, g_d = _render_with_grads(rasterize_dense, case, 4)
    assert c_t.shape == (C, case["height"], case["width"], 6)
    torch.testing.assert_close(c_t, c_d, atol=1e-9, rtol=0)
    torch.testing.assert_close(g_t["colors"], g_d["colors"], atol=1e-9, rtol=0)
    # gsplat's covars keyword replaces quats and scales.
    from foresplat_ns.rendering.projection import covariance_3d

    covars = covariance_3d(case["quats"], case["scales"])
    c_cov, a_cov, _ = rasterize(**{**case, "quats": None, "scales": None}, covars=covars)
    torch.testing.assert_close(c_cov, c_t.detach(), atol=1e-12, rtol=0)
