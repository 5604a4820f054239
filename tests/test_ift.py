"""IFT hypergradients against closed forms and finite differences of the solved inner problem."""

import pytest
import torch

from nerfstudio.cameras.cameras import Cameras

from foresplat_ns.gaussians import SPLATFACTO_KEYS, Gaussians
from foresplat_ns.meta.ift import IFTConfig, hessian_product, hypergradient
from foresplat_ns.meta.proximal import proximal_weights
from foresplat_ns.meta.inner import SPLATFACTO_LRS, InnerLoop, InnerLoopConfig
from foresplat_ns.rendering.views import render_views

F64 = torch.float64


def test_quadratic_inner_problem_matches_closed_form():
    """L_in = ½θᵀHθ − bᵀθ: θ* = (H + Λ)⁻¹(b + Λθ0), differentiated by autograd through a dense solve."""
    g = torch.Generator().manual_seed(0)
    n = 10  # 4 Gaussians x ("means": 2, "sh_dc": 0.5 each) flattened: groups of 8 and 2 entries
    q = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=F64)).Q
    h = q @ torch.diag(torch.logspace(-2, 1, n, dtype=F64)) @ q.T
    b, t = torch.randn(n, generator=g, dtype=F64), torch.randn(n, generator=g, dtype=F64)
    theta0 = torch.randn(n, generator=g, dtype=F64).requires_grad_(True)
    lam_gauss = {"means": (0.1 + torch.rand(4, 1, generator=g, dtype=F64)), "sh_dc": (0.1 + torch.rand(2, 1, generator=g, dtype=F64))}
    lam_leaf = {k: v.clone().requires_grad_(True) for k, v in lam_gauss.items()}

    def split(x):
        return {"means": x[:8].reshape(4, 2), "sh_dc": x[8:].reshape(2, 1)}

    def join(d):
        return torch.cat([d["means"].reshape(-1), d["sh_dc"].reshape(-1)])

    lam_full = join({"means": lam_leaf["means"].expand(4, 2), "sh_dc": lam_leaf["sh_dc"]})
    theta_star = torch.linalg.solve(h + torch.diag(lam_full), b + lam_full * theta0)
    outer = 0.5 * ((theta_star - t) ** 2).sum()
    expected_theta0, *expected_lambda = torch.autograd.grad(outer, [theta0, lam_leaf["means"], lam_leaf["sh_dc"]])

    config = IFTConfig(cg_iterations=200, cg_rtol=1e-13, damping=0.0)
    star = theta_star.detach()
    result = hypergradient(
        lambda v: split(h @ join(v)), split(star - t), lam_gauss, split(star), split(theta0.detach()), config
    )
    assert result.info.converged
    assert torch.allclose(join(result.theta0), expected_theta0, rtol=1e-9, atol=1e-11)
    assert torch.allclose(result.lambdas["means"], expected_lambda[0], rtol=1e-9, atol=1e-11)
    assert torch.allclose(result.lambdas["sh_dc"], expected_lambda[1], rtol=1e-9, atol=1e-11)


def _quadratic(n=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=F64)).Q
    h = q @ torch.diag(torch.logspace(-2, 1, n, dtype=F64)) @ q.T
    b, t, theta0 = (torch.randn(n, generator=g, dtype=F64) for _ in range(3))
    return g, h, b, t, theta0


@pytest.mark.parametrize("group_scale", [1.0, 0.0])
def test_horizon_joins_lambda_in_the_closed_form(group_scale):
    """With Λ_K, θ* = (H + Λ + Λ_K)⁻¹(b + (Λ + Λ_K)θ0): ∂L/∂θ0 and ∂L/∂λ by autograd through a dense solve.

    A group scale of 0 (no proximal term on the group) leaves Λ_K alone to hold the solve.
    """
    g, h, b, t, theta0 = _quadratic(seed=4)
    theta0.requires_grad_(True)
    lam = {"means": group_scale * (0.01 + 0.1 * torch.rand(5, 1, generator=g, dtype=F64))}
    lam_leaf = lam["means"].clone().requires_grad_(True)
    horizon = {"means": 0.5 * torch.rand(5, 2, generator=g, dtype=F64)}
    held = (lam_leaf.expand(5, 2) + horizon["means"]).reshape(-1)
    theta_star = torch.linalg.solve(h + torch.diag(held), b + held * theta0)
    outer = 0.5 * ((theta_star - t) ** 2).sum()
    expected_theta0, expected_lambda = torch.autograd.grad(outer, [theta0, lam_leaf])

    split = lambda x: {"means": x.reshape(5, 2)}  # noqa: E731
    star = theta_star.detach()
    config = IFTConfig(cg_iterations=200, cg_rtol=1e-13, damping=0.0)
    result = hypergradient(
        lambda v: split(h @ v["means"].reshape(-1)), split(star - t), lam, split(star), split(theta0.detach()),
        config, horizon=horizon,
    )
    assert result.info.converged
    assert torch.allclose(result.theta0["means"].reshape(-1), expected_theta0, rtol=1e-9, atol=1e-11)
    assert torch.allclose(result.lambdas["means"], expected_lambda, rtol=1e-9, atol=1e-11)


def test_horizon_approximates_the_unrolled_refinement():
    """K preconditioned descent steps from θ0 (Adam with its second moment frozen: step lr/√v) on a quadratic,
    differentiated by unrolling, against the implicit gradient with Λ_K = √v/(K·lr) and without it (Λ small)."""
    g, h, b, t, theta0 = _quadratic(seed=5)
    k, lr = 30, 0.02
    root_v = 0.5 + torch.rand(10, generator=g, dtype=F64)  # √v per parameter: steps lr/√v in [0.013, 0.04]
    step = lr / root_v
    lam = torch.full((10,), 1e-4, dtype=F64)  # a weak proximal term, as the learned λ is

    leaf = theta0.clone().requires_grad_(True)
    theta = leaf
    for _ in range(k):
        theta = theta - step * (h @ theta - b + lam * (theta - leaf))
    (unrolled,) = torch.autograd.grad(0.5 * ((theta - t) ** 2).sum(), leaf)
    star = theta.detach()

    def implicit(horizon):
        split = lambda x: {"means": x.reshape(5, 2)}  # noqa: E731
        config = IFTConfig(cg_iterations=200, cg_rtol=1e-13, damping=0.0)
        result = hypergradient(
            lambda v: split(h @ v["means"].reshape(-1)), split(star - t), {"means": lam[::2].reshape(5, 1)},
            split(star), split(theta0), config, horizon=None if horizon is None else split(horizon),
        )
        return result.theta0["means"].reshape(-1)

    def error(x):
        return float((x - unrolled).norm() / unrolled.norm())

    with_horizon, without = implicit(root_v / (k * lr)), implicit(None)
    assert error(with_horizon) < 0.15, error(with_horizon)
    assert error(without) > 0.9, error(without)  # the converged solve hands back almost nothing
    assert torch.nn.functional.cosine_similarity(with_horizon, unrolled, dim=0) > 0.99


def _small_refinement(seed: int, n: int):
    """n float32 Gaussians, two 10x10 cameras and two random images: a start for a few inner-loop steps."""
    g = torch.Generator().manual_seed(seed)
    quats = torch.randn(n, 4, generator=g)
    start = Gaussians(
        means=torch.randn(n, 3, generator=g) * 0.25, log_scales=torch.full((n, 3), -1.8),
        quats=quats / quats.norm(dim=-1, keepdim=True), logit_opacities=torch.zeros(n, 1),
        sh_dc=torch.randn(n, 3, generator=g), sh_rest=torch.zeros(n, 15, 3),
    )
    c2w = torch.eye(4)[:3][None].repeat(2, 1, 1)
    c2w[:, 2, 3] = 2.0
    c2w[1, 0, 3] = 0.3
    cameras = Cameras(camera_to_worlds=c2w, fx=10.0, fy=10.0, cx=5.0, cy=5.0, width=10, height=10)
    return start, torch.rand(2, 10, 10, 3, generator=g), cameras


def test_inner_loop_horizon_weights_follow_adams_moments():
    """Zero before a step; after t steps √v̂/(t·lr) with v̂ Adam's bias-corrected second moment and lr the
    group's current (scheduled) rate."""
    start, images, cameras = _small_refinement(seed=6, n=5)
    loop = InnerLoop(InnerLoopConfig(background="black", lr_scale=3.0), start, images, cameras)
    assert all(torch.count_nonzero(w) == 0 for w in loop.horizon_weights().values())
    loop.run(4)
    for name in KEYS:
        key = SPLATFACTO_KEYS[name]
        state = loop.optimizers[key].state[loop.params[key]]
        lr = loop.optimizers[key].param_groups[0]["lr"]
        expected = (state["exp_avg_sq"] / (1 - 0.999**4)).sqrt() / (4 * lr)
        assert torch.allclose(loop.horizon_weights()[name], expected)
        assert float(loop.horizon_weights()[name].max()) > 0
    assert loop.optimizers["means"].param_groups[0]["lr"] < 3.0 * SPLATFACTO_LRS["means"]  # scheduled


KEYS = ["means", "log_scales", "logit_opacities", "sh_dc"]


def _tiny_scene():
    """Four Gaussians seen by two 8x8 context cameras and one target camera, float64.

    The problem is smooth where it is solved: every Gaussian's cut-off ellipse lies outside the
    images, depths are far apart (no reordering), colours stay in (0, 1), alphas below the clamp.
    """
    g = torch.Generator().manual_seed(1)
    n = 4
    quats = torch.randn(n, 4, generator=g, dtype=F64)
    means = 0.15 * torch.randn(n, 3, generator=g, dtype=F64)
    means[:, 2] = torch.tensor([-0.45, -0.15, 0.15, 0.45], dtype=F64)
    base = Gaussians(
        means=means,
        log_scales=torch.full((n, 3), -0.2, dtype=F64) + 0.1 * torch.randn(n, 3, generator=g, dtype=F64),
        quats=quats / quats.norm(dim=-1, keepdim=True),
        logit_opacities=-0.5 + 0.3 * torch.randn(n, 1, generator=g, dtype=F64),
        sh_dc=0.5 * torch.randn(n, 3, generator=g, dtype=F64),
        sh_rest=torch.zeros(n, 0, 3, dtype=F64),
    )

    def camera(x):
        c2w = torch.eye(4, dtype=F64)[:3][None].clone()
        c2w[0, 0, 3], c2w[0, 2, 3] = x, 3.0
        return Cameras(camera_to_worlds=c2w, fx=8.0, fy=8.0, cx=4.0, cy=4.0, width=8, height=8)

    context = [camera(-0.2), camera(0.2)]
    target_camera = camera(0.0)
    truth = base.replace(sh_dc=base.sh_dc + 0.2 * torch.randn(n, 3, generator=g, dtype=F64),
                         means=base.means + 0.02 * torch.randn(n, 3, generator=g, dtype=F64))
    black = torch.zeros(3, dtype=F64)
    with torch.no_grad():
        context_images = [render_views(truth, c, black).rgb for c in context]
        target_image = render_views(truth, target_camera, black).rgb

    def residual_on(cams, images):
        def residual(theta):
            gaussians = base.replace(**theta)
            return torch.cat([(render_views(gaussians, c, black).rgb - im).reshape(-1) for c, im in zip(cams, images)])
        return residual

    theta0 = {k: getattr(base, k).clone() for k in KEYS}
    return residual_on(context, context_images), residual_on([target_camera], [target_image]), theta0, truth


def _flat(d):
    return torch.cat([d[k].reshape(-1) for k in KEYS])


def _unflat(x, like):
    out, i = {}, 0
    for k in KEYS:
        out[k] = x[i : i + like[k].numel()].reshape(like[k].shape)
        i += like[k].numel()
    return out


def _solve_inner(residual, theta0, lam):
    """argmin ½||r(θ)||² + ½Σλ(θ − θ0)² by Newton's method with dense Hessians (float64, gradient < 1e-10)."""
    lam_full = _flat({k: lam[k].expand_as(theta0[k]) for k in KEYS})
    x0 = _flat(theta0)

    def objective(x):
        return 0.5 * (residual(_unflat(x, theta0)) ** 2).sum() + 0.5 * (lam_full * (x - x0) ** 2).sum()

    # Damped Newton: Levenberg-Marquardt damping μ and a decrease test keep it safe on this non-convex loss.
    x, mu = x0.clone(), 1e-3
    for _ in range(40):
        grad = torch.autograd.functional.jacobian(objective, x)
        if grad.norm() < 1e-10:
            break
        hessian = torch.autograd.functional.hessian(objective, x)
        value = objective(x)
        while True:
            candidate = x - torch.linalg.solve(hessian + mu * torch.eye(len(x), dtype=F64), grad)
            if objective(candidate) <= value:
                x, mu = candidate, max(mu / 10, 1e-15)
                break
            mu *= 10
    assert grad.norm() < 1e-10, "the inner problem did not converge"
    return _unflat(x, theta0)


def test_tiny_scene_hypergradient_matches_finite_differences():
    residual_in, residual_out, theta0, _ = _tiny_scene()
    g = torch.Generator().manual_seed(2)
    lam = {k: 0.01 + 0.1 * torch.rand(4, 1, generator=g, dtype=F64) for k in KEYS}

    def outer_loss(t0, l):
        star = _solve_inner(residual_in, t0, l)
        return 0.5 * float((residual_out(star) ** 2).sum())

    star = _solve_inner(residual_in, theta0, lam)
    leaf = {k: v.clone().requires_grad_(True) for k, v in star.items()}
    loss = 0.5 * (residual_out(leaf) ** 2).sum()
    outer = dict(zip(leaf, torch.autograd.grad(loss, list(leaf.values()))))
    config = IFTConfig(product="exact", cg_iterations=500, cg_rtol=1e-13, damping=0.0)
    result = hypergradient(
        lambda v: hessian_product(residual_in, star, v, "exact", 0.0), outer, lam, star, theta0, config
    )
    assert result.info.converged

    eps = 1e-6
    for trial in range(2):
        v = {k: torch.randn(t.shape, generator=g, dtype=F64) for k, t in theta0.items()}
        plus = outer_loss({k: theta0[k] + eps * v[k] for k in KEYS}, lam)
        minus = outer_loss({k: theta0[k] - eps * v[k] for k in KEYS}, lam)
        numeric = (plus - minus) / (2 * eps)
        analytic = float(sum((result.theta0[k] * v[k]).sum() for k in KEYS))
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-9)

        w = {k: torch.randn(t.shape, generator=g, dtype=F64) for k, t in lam.items()}
        plus = outer_loss(theta0, {k: lam[k] + eps * w[k] for k in KEYS})
        minus = outer_loss(theta0, {k: lam[k] - eps * w[k] for k in KEYS})
        numeric = (plus - minus) / (2 * eps)
        analytic = float(sum((result.lambdas[k] * w[k]).sum() for k in KEYS))
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_gauss_newton_hypergradient_equals_exact_at_a_perfect_fit():
    """Starting at the Gaussians that rendered the views, θ* = θ0 with zero residual, where JᵀJ is the Hessian."""
    residual_in, residual_out, _, truth = _tiny_scene()
    star = {k: getattr(truth, k).clone() for k in KEYS}
    assert float(residual_in(star).abs().max()) < 1e-12
    g = torch.Generator().manual_seed(4)
    lam = {k: 1e-3 + 1e-2 * torch.rand(4, 1, generator=g, dtype=F64) for k in KEYS}
    # An outer gradient that is not zero (the target here is another view's noisy copy).
    outer = {k: torch.randn(t.shape, generator=g, dtype=F64) for k, t in star.items()}
    config = IFTConfig(cg_iterations=500, cg_rtol=1e-12, damping=0.0)
    results = {
        mode: hypergradient(lambda v, m=mode: hessian_product(residual_in, star, v, m, 1e-5), outer, lam, star, star, config)
        for mode in ("exact", "forward", "finite-difference")
    }
    exact = _flat(results["exact"].theta0)
    assert torch.allclose(_flat(results["forward"].theta0), exact, rtol=1e-6, atol=1e-9)
    assert torch.allclose(_flat(results["finite-difference"].theta0), exact, rtol=1e-3, atol=1e-6)


def test_proximal_weights_are_bounded_and_monotone():
    config = IFTConfig(lambda_min=1e-4, lambda_max=1.0, group_scales={"means": 10.0})
    confidence = torch.tensor([[0.0], [0.5], [1.0]])
    weights = proximal_weights(confidence, config)
    assert torch.allclose(weights["sh_dc"].flatten(), torch.tensor([1e-4, 1e-2, 1.0]), rtol=1e-5)
    assert torch.allclose(weights["means"], 10.0 * weights["sh_dc"])


def test_equal_lambda_bounds_fix_lambda():
    """lambda_min = lambda_max: λ is that value times the group scale at every confidence, with no gradient to it."""
    config = IFTConfig(lambda_min=1e-4, lambda_max=1e-4, group_scales={"means": 10.0})
    confidence = torch.tensor([[0.0], [0.3], [1.0]], requires_grad=True)
    weights = proximal_weights(confidence, config)
    assert torch.allclose(weights["means"].flatten(), torch.full((3,), 1e-3), rtol=1e-6)
    assert torch.allclose(weights["sh_dc"].flatten(), torch.full((3,), 1e-4), rtol=1e-6)
    (grad,) = torch.autograd.grad(sum(w.sum() for w in weights.values()), confidence)
    assert torch.count_nonzero(grad) == 0


def test_inner_loop_proximal_term():
    """λ = 0 is the plain refinement; a huge λ keeps every parameter within Adam's step of the start."""
    n = 6
    start, images, cameras = _small_refinement(seed=3, n=n)

    def refine(weight):
        proximal = None if weight is None else {k: torch.full((n, 1), weight) for k in start.params()}
        loop = InnerLoop(InnerLoopConfig(background="black"), start, images, cameras, seed=0, proximal=proximal)
        loop.run(30)
        return loop.gaussians()

    plain, zero, huge = refine(None), refine(0.0), refine(1e9)
    for name in start.params():
        assert torch.equal(getattr(plain, name), getattr(zero, name))
    for name in ("log_scales", "logit_opacities", "sh_dc"):
        lr = SPLATFACTO_LRS[SPLATFACTO_KEYS[name]]
        moved = float((getattr(plain, name) - getattr(start, name)).abs().max())
        held = float((getattr(huge, name) - getattr(start, name)).abs().max())
        assert moved > 5 * lr and held <= 2.5 * lr, (name, moved / lr, held / lr)


def test_proximal_hold_scales_lambda_by_hold_over_step():
    """With a hold of h, step t refines with λ · min(1, h / t): the same as a loop whose λ is set by hand before
    each step; a hold past the last step changes nothing, a short one changes the result."""
    n, hold, steps = 6, 3, 12
    start, images, cameras = _small_refinement(seed=4, n=n)
    base = {k: torch.full((n, 1), 50.0) for k in start.params()}

    def loop(hold_steps):
        config = InnerLoopConfig(background="black", proximal_hold=hold_steps)
        return InnerLoop(config, start, images, cameras, seed=0, proximal=base)

    held, late, full, by_hand = loop(hold), loop(steps), loop(None), loop(None)
    for t in range(1, steps + 1):
        factor = 1.0 if t <= hold else hold / t
        by_hand.proximal = {SPLATFACTO_KEYS[k]: w * factor for k, w in base.items()}
        by_hand.step()
    held.run(steps), late.run(steps), full.run(steps)
    for name in start.params():
        assert torch.allclose(getattr(held.gaussians(), name), getattr(by_hand.gaussians(), name), rtol=1e-6, atol=1e-7), name
        assert torch.equal(getattr(late.gaussians(), name), getattr(full.gaussians(), name)), name
    moved = {name: float((getattr(held.gaussians(), name) - getattr(full.gaussians(), name)).abs().max()) for name in start.params()}
    assert moved["means"] > 1e-5 and moved["sh_dc"] > 1e-5, moved


def test_hessian_view_subset_keeps_images_with_their_cameras():
    from foresplat_ns.meta.step import subset_views

    views = 7
    images = torch.arange(views, dtype=torch.float32)[:, None, None, None].expand(views, 2, 2, 3).clone()
    c2w = torch.eye(4)[:3].repeat(views, 1, 1)
    c2w[:, 0, 3] = torch.arange(views, dtype=torch.float32)  # camera i sits at x = i, as image i's value
    cameras = Cameras(camera_to_worlds=c2w, fx=2.0, fy=2.0, cx=1.0, cy=1.0, width=2, height=2)
    assert subset_views(images, cameras, None, seed=0)[0] is images
    assert subset_views(images, cameras, views, seed=0)[0] is images
    picks = set()
    for seed in range(6):
        sub_images, sub_cameras = subset_views(images, cameras, 3, seed=seed)
        ids = sub_images[:, 0, 0, 0]
        assert len(set(ids.tolist())) == 3
        assert torch.equal(ids, sub_cameras.camera_to_worlds[:, 0, 3])
        assert torch.equal(sub_images, subset_views(images, cameras, 3, seed=seed)[0])
        picks.add(tuple(ids.tolist()))
    assert len(picks) > 1
