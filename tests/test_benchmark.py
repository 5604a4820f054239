"""foresplat-bench: step schedule, view split, written figures against the saved renders, bad starts."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from foresplat_ns.benchmark.cli import BenchCommand, run
from foresplat_ns.benchmark.report import headline, markdown_table, mean_curves, steps_to_reach
from foresplat_ns.benchmark.run import BenchConfig, StartError, parse_start, select_views
from foresplat_ns.data.scene_folder import find_scenes, load_scene
from foresplat_ns.scenes.cli import ScenesConfig, main

STEPS = [0, 3, 7]


def _script(name: str):
    """A script of benchmarks/ loaded as a module."""
    import importlib.util
    import sys
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(name, Path(__file__).parent.parent / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench_scenes")
    main(ScenesConfig(out=root, num_scenes=3, num_eval=2, views=10, resolution=32, seed=4, supersample=1, workers=1))
    return root


@pytest.fixture(scope="module")
def results(scenes, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_out")
    run(BenchCommand(scenes=scenes, out=out, starts=["splatfacto,random"], steps=[7, 0, 3], resolution=32,
                     num_context=3, num_target=2, num_random=500, threads=1))
    return out


def test_records_exactly_the_listed_steps(results):
    records = json.loads((results / "results.json").read_text())["records"]
    assert {r["scene"] for r in records} == {"scene_0001", "scene_0002"}  # the eval split only
    for scene in ("scene_0001", "scene_0002"):
        for start in ("splatfacto", "random"):
            steps = [r["step"] for r in records if r["scene"] == scene and r["start"] == start]
            assert steps == STEPS
    assert (results / "table.md").read_text().count("| splatfacto |") == 3  # PSNR, disparity error, headline
    assert all(r["disparity_error"] > 0 for r in records)  # generated scenes have depth maps
    assert (results / "psnr_vs_steps.png").stat().st_size > 1000
    # The outputs say which protocol produced them.
    settings = json.loads((results / "results.json").read_text())["settings"]
    assert settings["num_context"] == 3 and settings["holdout_every"] is None and settings["steps"] == [7, 0, 3]
    assert (results / "table.md").read_text().startswith("Protocol: 3 context views around a seeded centre view, 2 targets")


def test_train_split_refines_the_meta_training_scenes(scenes, tmp_path, capsys):
    run(BenchCommand(scenes=scenes, split="train", out=tmp_path, starts=["random"], steps=[0], resolution=32,
                     num_context=3, num_target=2, num_random=200, threads=1, save_renders=False))
    records = json.loads((tmp_path / "results.json").read_text())["records"]
    assert {r["scene"] for r in records} == {"scene_0000"}
    assert (tmp_path / "table.md").read_text().startswith("Protocol: meta-training scenes; ")
    # Without a terminal (a log file), each refinement reports one line with its last PSNR.
    assert f"1/1 scene_0000 / random: {records[-1]['psnr']:.2f} dB at step 0" in capsys.readouterr().out


def test_context_and_target_views_never_overlap(scenes):
    config = BenchConfig(num_context=4, num_target=3)
    for index, entry in enumerate(find_scenes(scenes, "all")):
        scene = load_scene(entry, 32)
        batch = select_views(scene, index, config)
        assert len(batch.context_indices) == 4 and len(batch.target_indices) == 3
        assert not set(batch.context_indices) & set(batch.target_indices)
        again = select_views(scene, index, config)
        assert again.context_indices == batch.context_indices and again.target_indices == batch.target_indices


def test_holdout_split_is_foresplat_refines(scenes):
    """Every n-th view (view 0 first) is a target and all others context, as nerfstudio's interval split."""
    scene = load_scene(find_scenes(scenes, "eval")[0], 32)
    batch = select_views(scene, 0, BenchConfig(holdout_every=4))
    assert batch.target_indices == [0, 4, 8]
    assert batch.context_indices == [1, 2, 3, 5, 6, 7, 9]


def test_written_psnr_equals_psnr_of_saved_renders(results, scenes):
    records = json.loads((results / "results.json").read_text())["records"]
    for record in records:
        strip = np.asarray(Image.open(results / "renders" / record["scene"] / record["start"] / f"step_{record['step']:05d}.png"))
        strip = strip.astype(np.float64) / 255.0
        h = strip.shape[0] // 2
        targets, renders = strip[:h], strip[h:]
        mse = np.mean((renders - targets) ** 2)
        # The PNGs are 8-bit: allow their rounding (at most 1/510 per channel).
        assert abs(-10 * np.log10(mse) - record["psnr"]) < 0.05, record


def test_headline_counts_steps_to_reach_the_reference():
    records = [
        {"scene": "a", "start": "ref", "step": s, "psnr": p} for s, p in [(0, 10.0), (10, 12.0), (100, 14.0)]
    ] + [{"scene": "a", "start": "new", "step": s, "psnr": p} for s, p in [(0, 11.0), (10, 14.5), (100, 15.0)]]
    figures = headline(records, "ref")
    assert figures["ref"]["steps_to_reach"] == 100 and figures["new"]["steps_to_reach"] == 10
    assert figures["new"]["ratio_to_reference"] == pytest.approx(0.1)
    assert steps_to_reach({0: 1.0, 5: 2.0}, 3.0) is None


def test_merged_runs_with_different_steps_average_only_complete_steps():
    def record(scene, start, step, psnr):
        return {"scene": scene, "start": start, "step": step, "psnr": psnr, "ssim": 0.5, "num_gaussians": 10, "refine_seconds": 1.0}

    # "old" was recorded at 0/10/100 on scene a and at 0/100 on scene b (two runs merged); "new" at 0/100 on both.
    records = [record("a", "old", s, p) for s, p in [(0, 10.0), (10, 11.0), (100, 14.0)]]
    records += [record("b", "old", s, p) for s, p in [(0, 12.0), (100, 16.0)]]
    records += [record(scene, "new", s, p) for scene in "ab" for s, p in [(0, 11.0), (100, 15.5)]]
    assert mean_curves(records) == {"old": {0: 11.0, 100: 15.0}, "new": {0: 11.0, 100: 15.5}}
    table = markdown_table(records, "old")
    assert "| old | 11.00 / 0.500 | - | 15.00 / 0.500 |" in table and "| new | 11.00 / 0.500 | - | 15.50 / 0.500 |" in table


def test_a_start_that_cannot_load_says_so(tmp_path):
    with pytest.raises(StartError, match="start mine: initializer checkpoint .* does not exist"):
        parse_start(f"mine={tmp_path / 'nothing'}")
    with pytest.raises(StartError, match="unknown start 'bogus'"):
        parse_start("bogus")


def test_refinement_improves_on_the_splatfacto_start(results):
    records = json.loads((results / "results.json").read_text())["records"]
    for scene in ("scene_0001", "scene_0002"):
        by_step = {r["step"]: r["psnr"] for r in records if r["scene"] == scene and r["start"] == "splatfacto"}
        assert by_step[7] > by_step[0]


def test_frustum_mask_matches_nerfstudio_projection():
    from nerfstudio.cameras.cameras import Cameras

    from foresplat_ns.benchmark.run import in_any_frustum

    c2w = torch.eye(4)[:3][None]  # at the origin, looking along -z
    camera = Cameras(camera_to_worlds=c2w, fx=10.0, fy=10.0, cx=8.0, cy=8.0, width=16, height=16)
    # Half-width of the view at depth 1 is cx / fx = 0.8.
    points = torch.tensor([[0.0, 0.0, -1.0], [0.79, 0.0, -1.0], [0.81, 0.0, -1.0], [0.0, -0.79, -1.0], [0.0, 0.0, 1.0]])
    assert in_any_frustum(points, camera).tolist() == [True, True, False, True, False]


def test_mixed_start_takes_exactly_the_chosen_groups(scenes):
    from foresplat_ns.benchmark.run import Start

    module = _script("mixed_start")
    a = parse_start("splatfacto", seed=1)
    scene = load_scene(find_scenes(scenes, "eval")[0], 32)
    batch = select_views(scene, 0, BenchConfig(num_context=3, num_target=2))
    ga = a.make(batch, scene)
    # B: A's Gaussians with every field changed, so that each field tells where it came from.
    b = Start("b", lambda batch, scene: ga.map(lambda t: t + 1.0))
    gb = b.make(batch, scene)
    shape = module.mixture(a, b, "shape").make(batch, scene)
    for name in ga.params():
        source = gb if name in ("log_scales", "quats", "logit_opacities") else ga
        assert torch.equal(getattr(shape, name), getattr(source, name)), name
    shifted = module.mixture(a, b, "opacity-offset").make(batch, scene)
    assert torch.allclose(shifted.logit_opacities, ga.logit_opacities + 1.0)
    assert torch.equal(shifted.means, ga.means)
    fixed = module.mixture(a, b, "opacity-shift=-0.5").make(batch, scene)
    assert torch.allclose(fixed.logit_opacities, ga.logit_opacities - 0.5)
    # Two stacked copies of the powered opacity let through what one original lets through: (1 - a')^2 = 1 - a.
    powered = module.mixture(a, b, "opacity-power=0.5").make(batch, scene)
    original, halved = torch.sigmoid(ga.logit_opacities.double()), torch.sigmoid(powered.logit_opacities.double())
    assert torch.allclose((1 - halved) ** 2, 1 - original, atol=1e-6)
    extreme = module.stacked_opacity_logits(torch.tensor([-30.0, 0.0, 30.0]), 0.5)
    assert torch.isfinite(extreme).all() and extreme[0] < -30.0 and extreme[2] < 30.0
    with pytest.raises(SystemExit, match="unknown group"):
        module.mixture(a, b, "colours")


def test_proximal_groups_zero_the_term_outside_them():
    from foresplat_ns.benchmark.cli import restrict_proximal
    from foresplat_ns.benchmark.run import Start
    from foresplat_ns.meta.ift import IFTConfig
    from foresplat_ns.meta.proximal import proximal_weights

    config = IFTConfig(lambda_min=1e-5, lambda_max=1e-3)
    start = Start("ift", lambda batch, scene: None, proximal=config)
    kept = restrict_proximal(start, ["means", "sh_dc"])
    confidence = torch.rand(7, 1)
    full, restricted = proximal_weights(confidence, config), proximal_weights(confidence, kept.proximal)
    for name, weight in restricted.items():
        expected = full[name] if name in ("means", "sh_dc") else torch.zeros_like(full[name])
        assert torch.equal(weight, expected), name
    assert full["log_scales"].min() > 0 and config.group_scales == IFTConfig().group_scales  # the run's own is untouched
    assert restrict_proximal(Start("zero-step", start.make), ["means"]).proximal is None
    with pytest.raises(StartError, match="unknown parameter group"):
        restrict_proximal(start, ["colours"])


def test_fixed_proximal_term_reaches_any_start(results, scenes, tmp_path):
    from foresplat_ns.benchmark.cli import fixed_proximal, restrict_proximal
    from foresplat_ns.benchmark.run import Start
    from foresplat_ns.meta.ift import DEFAULT_GROUP_SCALES
    from foresplat_ns.meta.proximal import proximal_weights

    start = fixed_proximal(Start("zero-step", lambda batch, scene: None), 2e-5)
    colours = restrict_proximal(start, ["sh_dc", "sh_rest"])
    for confidence in (torch.rand(5, 1), torch.zeros(5, 1)):  # the confidence is not read
        weights, kept = proximal_weights(confidence, start.proximal), proximal_weights(confidence, colours.proximal)
        for name, scale in DEFAULT_GROUP_SCALES.items():
            assert torch.allclose(weights[name], torch.full((5, 1), 2e-5 * scale), rtol=1e-6), name
            assert torch.equal(kept[name], weights[name] if name.startswith("sh_") else torch.zeros(5, 1)), name
    with pytest.raises(StartError, match="positive"):
        fixed_proximal(start, 0.0)
    with pytest.raises(StartError, match="choose one"):
        run(BenchCommand(scenes=scenes, out=tmp_path, proximal=False, proximal_lambda=1e-4))
    # A strong term changes refinement of a start that has no confidence, never its step-0 figures.
    out = tmp_path / "fixed"
    run(BenchCommand(scenes=scenes, out=out, starts=["splatfacto"], steps=[7, 0, 3], resolution=32, num_context=3,
                     num_target=2, threads=1, proximal_lambda=1.0))
    held = {(r["scene"], r["step"]): r["psnr"] for r in json.loads((out / "results.json").read_text())["records"]}
    free = {(r["scene"], r["step"]): r["psnr"] for r in json.loads((results / "results.json").read_text())["records"]
            if r["start"] == "splatfacto"}
    assert held.keys() == free.keys()
    assert all(held[key] == free[key] for key in held if key[1] == 0)
    assert all(abs(held[key] - free[key]) > 1e-4 for key in held if key[1] == 7)
    assert "fixed proximal term (λ 1 times the group scales)" in (out / "table.md").read_text()


def test_lambda_spread_reads_quantiles_against_the_log_range():
    from foresplat_ns.meta.ift import IFTConfig

    module = _script("lambda_spread")
    trained = IFTConfig(lambda_min=1e-6, lambda_max=1e-2)
    # λ log-uniform over the whole range: its 10th and 90th percentiles span 80% of the log range.
    values = torch.exp(torch.linspace(math.log(1e-6), math.log(1e-2), 100001))
    s = module.spread(values, trained)
    assert s["p50"] == pytest.approx(1e-4, rel=1e-3) and s["share"] == pytest.approx(0.8, abs=1e-3)
    assert s["ratio"] == pytest.approx(10 ** (4 * 0.8), rel=1e-3)
    constant = module.spread(torch.full((50,), 3e-5), trained)
    assert constant["share"] == pytest.approx(0.0, abs=1e-9) and constant["ratio"] == pytest.approx(1.0)
    assert module.spread(torch.full((5,), 1e-4), IFTConfig(lambda_min=1e-4, lambda_max=1e-4))["share"] == 0.0


def _network_gradient(loss, params):
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)])


def test_meta_signal_parts_add_up_to_the_meta_step(scenes):
    """The parts meta_signal.py reports sum to the network gradient of `meta_step`'s IFT and MetaGrad surrogates."""
    from foresplat_ns.data.scene_batch import sample_batch
    from foresplat_ns.initializer import Initializer, InitializerConfig
    from foresplat_ns.meta.ift import IFTConfig
    from foresplat_ns.meta.step import MetaConfig, meta_step

    module = _script("meta_signal")
    scene = load_scene(find_scenes(scenes, "train")[0], 32)
    batch = sample_batch([scene], 2, 2, seed=0, step=3)
    torch.manual_seed(0)
    net = Initializer(InitializerConfig(channels=(8, 16, 32), attention_layers=1, attention_heads=2, patch_size=2, sh_degree=1))
    config = MetaConfig(
        mode="ift", inner_steps=3, step0_weight=0.3,
        ift=IFTConfig(lambda_min=1e-4, lambda_max=1e-1, cg_iterations=3, hessian_views=2, diagonal_samples=1),
    )
    out = module.signal_parts(net, config, batch, step=3)
    params = [p for p in net.parameters() if p.requires_grad]
    def predict():
        return net(batch.context_images, batch.context_cameras, batch.near, batch.far)

    expected = _network_gradient(meta_step(config, predict(), batch, 3).surrogate, params)
    parts = out["weights"]
    total = sum(parts[name] for name in module.PARTS["ift"])
    assert torch.allclose(total, expected, rtol=1e-4, atol=1e-3 * float(expected.abs().max()))
    assert all(float(parts[name].norm()) > 0 for name in (*module.PARTS["ift"], module.REFERENCE))
    # Λu = Λ(H + Λ)⁻¹g passes part of the target gradient g, never more than all of it in norm (Λ ≤ H + Λ).
    assert all(0 < r < 1.5 for r in out["passed"].values()), out["passed"]

    metagrad = MetaConfig(mode="metagrad", inner_steps=4, num_anchors=2, step0_weight=0.3)
    out = module.signal_parts(net, metagrad, batch, step=3)
    parts = out["weights"]
    expected = _network_gradient(meta_step(metagrad, predict(), batch, 3).surrogate, params)
    total = sum(parts[name] for name in module.PARTS["metagrad"])
    assert torch.allclose(total, expected, rtol=1e-4, atol=1e-3 * float(expected.abs().max()))
    zero = _network_gradient(meta_step(dataclasses.replace(metagrad, mode="zero-step"), predict(), batch, 3).surrogate, params)
    # The step-0 anchor is zero-step training's gradient (world frame, context views in) times its weight.
    assert torch.allclose(parts["step-0 anchor"], 0.3 * zero, rtol=1e-3, atol=1e-4 * float(zero.abs().max()))
    assert float(parts["refined anchors"].norm()) > 0
