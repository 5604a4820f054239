"""MetaGrad: the surrogate hands θ0 exactly Σ w_s ∇L_out(θ_s); memory does not grow with K."""

import copy
import dataclasses

import numpy as np
import pytest
import torch

from foresplat_ns.data.scene_folder import find_scenes, load_scene
from foresplat_ns.data.scene_batch import choose_views, camera_distances, make_batch
from foresplat_ns.meta.inner import InnerLoop, InnerLoopConfig, splatfacto_start
from foresplat_ns.meta.normalise import Normalisation
from foresplat_ns.meta.step import MetaConfig, meta_step, sample_anchors, scene_loss, training_background
from foresplat_ns.scenes.cli import ScenesConfig, main


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("mg")
    main(ScenesConfig(out=root, num_scenes=1, num_eval=0, views=8, resolution=24, seed=6, supersample=1, workers=1, num_points=200))
    scene = load_scene(find_scenes(root)[0], 24)
    context, target = choose_views(camera_distances(scene.cameras), 3, 2, np.random.default_rng(0))
    return make_batch(scene, context, target), scene


def _prediction(scene):
    start = splatfacto_start(scene.points, scene.point_colors, sh_degree=1)
    return start.map(lambda t: t.clone().requires_grad_(True))


def _grads(theta0, surrogate):
    params = theta0.params()
    return dict(zip(params, torch.autograd.grad(surrogate, list(params.values()))))


def test_anchor_zero_only_is_the_zero_step_gradient(batch):
    b, scene = batch
    config = MetaConfig(mode="metagrad", inner_steps=4, num_anchors=0, step0_anchor=True, step0_weight=1.0)
    # num_anchors=0 still keeps K: give it weight 0 through step0_weight=1.
    assert sample_anchors(config, np.random.default_rng(0)) == [(0, 1.0), (4, 0.0)]
    theta0 = _prediction(scene)
    meta = _grads(theta0, meta_step(config, theta0, b, step=5).surrogate)

    zero = copy.deepcopy(config)
    zero.mode = "zero-step"
    norm = Normalisation.of_batch(b)
    reference_loss, _ = scene_loss(norm.gaussians(theta0), norm.batch(b), zero, training_background(zero, 5, "cpu"))
    reference = _grads(theta0, reference_loss)
    for name in meta:
        assert torch.allclose(meta[name], reference[name], atol=1e-7, rtol=1e-5), name


@pytest.mark.parametrize("step0_anchor", [True, False])
def test_zero_step_groups_take_the_zero_step_gradient(batch, step0_anchor):
    b, scene = batch
    plain = MetaConfig(mode="metagrad", inner_steps=4, num_anchors=2, step0_anchor=step0_anchor, step0_weight=0.25)
    groups = ("logit_opacities", "sh_dc", "sh_rest")
    mixed = dataclasses.replace(plain, zero_step_groups=groups)
    theta0 = _prediction(scene)
    got = _grads(theta0, meta_step(mixed, theta0, b, step=3).surrogate)
    meta = _grads(theta0, meta_step(plain, theta0, b, step=3).surrogate)
    zero = _grads(theta0, meta_step(dataclasses.replace(plain, mode="zero-step"), theta0, b, step=3).surrogate)
    for name in got:
        expected = zero[name] if name in groups else meta[name]
        assert torch.allclose(got[name], expected, atol=1e-7, rtol=1e-5), name
        # The two signals differ, so the check above can tell which one a group received.
        assert not torch.allclose(meta[name], zero[name], atol=1e-7, rtol=1e-3), name
    with pytest.raises(ValueError, match="unknown group"):
        meta_step(dataclasses.replace(plain, zero_step_groups=("colours",)), theta0, b, step=3)


def test_fixed_anchor_steps_replace_sampling():
    config = MetaConfig(mode="metagrad", inner_steps=30, num_anchors=5, anchor_steps=(10, 3), step0_weight=0.25)
    assert sample_anchors(config, np.random.default_rng(0)) == [(0, 0.25), (3, 0.25), (10, 0.25), (30, 0.25)]
    linear = dataclasses.replace(config, anchor_weights="linear", anchor_steps=(30, 10))  # K given once only
    assert sample_anchors(linear, np.random.default_rng(1)) == [(0, 0.25), (10, 0.75 * 10 / 40), (30, 0.75 * 30 / 40)]
    with pytest.raises(ValueError, match=r"anchor-steps must lie in 1..30"):
        sample_anchors(dataclasses.replace(config, anchor_steps=(0, 3)), np.random.default_rng(0))


@pytest.mark.parametrize("num_refine,anchor_steps", [(0, ()), (2, ()), (0, (1, 3))])
def test_metagrad_equals_an_explicit_first_order_loop(batch, num_refine, anchor_steps):
    b, scene = batch
    refine = [v for v in range(scene.num_views) if v not in b.context_indices + b.target_indices][:num_refine]
    b = make_batch(scene, b.context_indices, b.target_indices, refine)
    config = MetaConfig(
        mode="metagrad", inner_steps=5, num_anchors=3, anchor_sampling="uniform", step0_weight=0.3, anchor_steps=anchor_steps
    )
    step = 11
    theta0 = _prediction(scene)
    meta = _grads(theta0, meta_step(config, theta0, b, step=step).surrogate)

    # Independent: unroll, keep every anchor state, one torch.autograd.grad per anchor, chain to θ0 by hand.
    norm = Normalisation.of_batch(b)
    nb = norm.batch(b)
    anchors = dict(sample_anchors(config, np.random.default_rng([step, 7])))
    background = training_background(config, step, "cpu")
    # The inner loop refines on the context views followed by the extra refinement views.
    views = torch.tensor(b.context_indices + refine)
    loop = InnerLoop(config.inner, norm.gaussians(theta0).detach(), scene.images[views], norm.cameras(scene.cameras[views]), seed=step)
    states = {0: loop.gaussians().map(torch.clone)}
    for s in range(1, config.inner_steps + 1):
        loop.step()
        states[s] = loop.gaussians().map(torch.clone)  # parameters change in place
    expected = {name: torch.zeros_like(v) for name, v in theta0.params().items()}
    for s, w in anchors.items():
        leaf = states[s].map(lambda t: t.clone().requires_grad_(True))
        loss_config = config if s == 0 else dataclasses.replace(config, context_weight=0.0)
        loss, _ = scene_loss(leaf, nb, loss_config, background)
        g = dict(zip(leaf.params(), torch.autograd.grad(loss, list(leaf.params().values()))))
        # θ_norm = (θ0 - c) * scale for means, + log(scale) for log-scales: the chain rule multiplies means by scale.
        for name in expected:
            expected[name] += w * g[name] * (norm.scale if name == "means" else 1.0)
    assert len(anchors) == 4 and config.inner_steps in anchors and 0 in anchors
    if anchor_steps:
        assert sorted(anchors) == [0, *anchor_steps, config.inner_steps]
    for name in meta:
        assert torch.allclose(meta[name], expected[name], atol=1e-7, rtol=1e-4), name


def test_meta_every_alternates_zero_step_and_meta_steps(batch):
    b, scene = batch
    every = dataclasses.replace(
        MetaConfig(mode="metagrad", inner_steps=3, num_anchors=2, step0_weight=0.25), meta_every=3
    )
    theta0 = _prediction(scene)
    zero = dataclasses.replace(every, mode="zero-step")
    for step in (3, 4, 5, 6):
        got = _grads(theta0, meta_step(every, theta0, b, step=step).surrogate)
        # Meta steps are every 3rd (3 and 6): exactly the MetaGrad gradient; the others: exactly the zero-step one.
        reference = dataclasses.replace(every, meta_every=1) if step % 3 == 0 else zero
        expected = _grads(theta0, meta_step(reference, theta0, b, step=step).surrogate)
        for name in got:
            assert torch.equal(got[name], expected[name]), (step, name)
    metagrad_grad = _grads(theta0, meta_step(every, theta0, b, step=3).surrogate)
    zero_grad = _grads(theta0, meta_step(zero, theta0, b, step=3).surrogate)
    assert not torch.allclose(metagrad_grad["means"], zero_grad["means"])  # the two kinds of step differ


def _peak_bytes(fn) -> int:
    with torch.profiler.profile(profile_memory=True) as prof:
        fn()
    # Replay every allocation (+) and free (-) in time order: the running sum's maximum is the peak.
    events = [e for e in prof.events() if e.self_cpu_memory_usage]
    total, peak = 0, 0
    for e in sorted(events, key=lambda e: e.time_range.start):
        total += e.self_cpu_memory_usage
        peak = max(peak, total)
    return peak


def test_memory_does_not_grow_with_k(batch):
    b, scene = batch
    peaks = {}
    for k in (2, 16):
        # With a zero learning rate every inner step renders the same state, so any growth would be
        # memory kept per step (with real steps, larger Gaussians make larger renders).
        config = MetaConfig(mode="metagrad", inner_steps=k, num_anchors=2, inner=InnerLoopConfig(lr_scale=0.0))
        theta0 = _prediction(scene)
        peaks[k] = _peak_bytes(lambda: meta_step(config, theta0, b, step=1).surrogate.backward())
    assert peaks[16] <= 1.1 * peaks[2], peaks


def test_ift_first_order_anchors_add_the_trajectory_gradients(batch):
    """IFT with first-order anchors: w0 ∇L(θ0) + Σ w_s ∇L_out(θ_s) on the proximal trajectory + w_K Λu, by hand."""
    from foresplat_ns.meta.ift import IFTConfig
    from foresplat_ns.meta.step import ift, outer_gradient

    b, scene = batch
    norm = Normalisation.of_batch(b)
    nb = norm.batch(b)
    theta0 = norm.gaussians(_prediction(scene)).detach()
    n = len(theta0.means)
    weights = {name: torch.full((n, 1), 1e-3) for name in theta0.params()}
    hybrid = MetaConfig(
        mode="ift", inner_steps=4, anchor_steps=(2,), step0_weight=0.2,
        ift=IFTConfig(cg_iterations=3, hessian_views=2, diagonal_samples=1, first_order_anchors=True),
    )
    step = 9
    anchors = dict(sample_anchors(hybrid, np.random.default_rng([step, 7])))
    assert anchors == pytest.approx({0: 0.2, 2: 0.4, 4: 0.4})
    got_theta0, got_lambda, metrics = ift(hybrid, theta0, weights, nb, step)
    assert float(metrics["num_anchors"]) == 3

    # The implicit part alone (no step-0 anchor, no trajectory anchors): Λu and -u(θ* - θ0) with weight 1.
    implicit = dataclasses.replace(hybrid, step0_anchor=False, ift=dataclasses.replace(hybrid.ift, first_order_anchors=False))
    lam_theta0, lam_lambda, _ = ift(implicit, theta0, weights, nb, step)
    background = training_background(hybrid, step, "cpu")
    zero, _ = outer_gradient(theta0, nb, hybrid, background, targets_only=False)
    # The state after 2 proximal steps, from an independent loop, and its target-view gradient by autograd.
    images, cameras = nb.refinement_views()
    loop = InnerLoop(hybrid.inner, theta0, images, cameras, seed=step, proximal=weights)
    loop.run(2)
    leaf = loop.gaussians().map(lambda t: t.clone().requires_grad_(True))
    loss, _ = scene_loss(leaf, nb, dataclasses.replace(hybrid, context_weight=0.0), background)
    trajectory = dict(zip(leaf.params(), torch.autograd.grad(loss, list(leaf.params().values()))))
    for name in got_theta0:
        expected = 0.2 * zero[name] + 0.4 * trajectory[name] + 0.4 * lam_theta0[name]
        assert torch.allclose(got_theta0[name], expected, atol=1e-9, rtol=1e-5), name
        assert torch.allclose(got_lambda[name], 0.4 * lam_lambda[name], atol=1e-12, rtol=1e-5), name
    assert float(trajectory["means"].abs().max()) > 0 and float(lam_theta0["means"].abs().max()) > 0
