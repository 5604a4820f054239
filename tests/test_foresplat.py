"""`ns-train foresplat`: a training step, resuming, checkpoints, seeding splatfacto from the network."""

import copy
import dataclasses
import shutil

import numpy as np
import pytest
import torch
import yaml

from nerfstudio.engine.optimizers import Optimizers

from foresplat_ns.gaussians import SPLATFACTO_KEYS
from foresplat_ns.initializer import InitializerConfig
from foresplat_ns.models.checkpoints import CheckpointError, load_initializer_weights, resolve_checkpoint
from foresplat_ns.scenes.cli import ScenesConfig, main

SMALL = InitializerConfig(channels=(8, 16, 32), attention_layers=1, attention_heads=2, patch_size=2, sh_degree=1)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenes")
    main(ScenesConfig(out=root, num_scenes=3, num_eval=1, views=8, resolution=32, seed=2, supersample=1, workers=1))
    return root


def small_config(data, output_dir, steps, spec=None):
    from foresplat_ns.method_configs import foresplat

    config = copy.deepcopy((spec or foresplat).config)
    config.pipeline.datamanager.data = data
    config.pipeline.datamanager.resolution = 32
    config.pipeline.datamanager.num_context = 2
    config.pipeline.datamanager.num_target = 2
    config.pipeline.model.initializer = copy.deepcopy(SMALL)
    config.pipeline.model.num_random = 50
    config.pipeline.num_eval_batches = 1
    config.max_num_iterations = steps
    config.optimizers["initializer"]["scheduler"].warmup_steps = 0  # full learning rate from the first step
    config.steps_per_save = 2
    config.steps_per_eval_image = 0
    config.steps_per_eval_all_images = 0
    config.vis = "tensorboard"
    config.logging.local_writer.enable = False
    config.machine.device_type = "cpu"
    config.output_dir = output_dir
    config.timestamp = "run"
    return config


def test_one_step_changes_weights_and_lowers_loss(scenes, tmp_path):
    config = small_config(scenes, tmp_path, 1)
    torch.manual_seed(0)
    pipeline = config.pipeline.setup(device="cpu", test_mode="val")
    assert len(pipeline.datamanager.train_scenes) == 2
    optimizers = Optimizers(config.optimizers, pipeline.get_param_groups())
    before = {k: v.clone() for k, v in pipeline.model.initializer.state_dict().items()}
    _, losses, metrics = pipeline.get_train_loss_dict(step=0)
    losses["meta_surrogate"].backward()
    optimizers.optimizer_step_all()
    optimizers.zero_grad_all()
    changed = [k for k, v in pipeline.model.initializer.state_dict().items() if not torch.equal(v, before[k])]
    unchanged = sorted(set(before) - set(changed))
    assert len(changed) > 0.9 * len(before), unchanged
    _, after, _ = pipeline.get_train_loss_dict(step=0)  # same scene, views and background
    assert after["meta_surrogate"] < losses["meta_surrogate"]
    assert {"target_psnr", "context_psnr", "num_gaussians"} <= set(metrics)
    # The generated scenes have depth maps: by default the depth loss is added and logged.
    assert metrics["target_disparity_error"] > 0 and metrics["context_disparity_error"] > 0

    pipeline.config.meta.depth_weight = 0.0
    _, photometric, metrics = pipeline.get_train_loss_dict(step=0)
    assert "target_disparity_error" not in metrics
    assert photometric["meta_surrogate"] < after["meta_surrogate"]


def test_bad_architecture_settings_stop_with_one_line(scenes, tmp_path):
    config = small_config(scenes, tmp_path, 1)
    config.pipeline.model.initializer.cost_volume_planes = 8
    config.pipeline.model.initializer.cost_volume_stride = 3  # 32 px is not a multiple of 2 x 3
    with pytest.raises(SystemExit, match=r"^foresplat: image size 32x32 is not a multiple of .*resolution"):
        config.pipeline.setup(device="cpu", test_mode="val")
    config.pipeline.model.initializer.cost_volume_stride = 0
    with pytest.raises(SystemExit, match=r"^foresplat: --pipeline.model.initializer: .*cost_volume_stride positive"):
        config.pipeline.setup(device="cpu", test_mode="val")
    config = small_config(scenes, tmp_path, 1)
    config.pipeline.meta.meta_every = 0
    with pytest.raises(SystemExit, match=r"^foresplat: --pipeline.meta.meta-every must be at least 1"):
        config.pipeline.setup(device="cpu", test_mode="val")
    config = small_config(scenes, tmp_path, 1)
    config.pipeline.meta.inner_steps, config.pipeline.meta.anchor_steps = 5, (2, 6)
    with pytest.raises(SystemExit, match=r"^foresplat: --pipeline.meta.anchor-steps must lie in 1..5 .*got \[2, 6\]$"):
        config.pipeline.setup(device="cpu", test_mode="val")


def _train(config):
    from nerfstudio.scripts.train import _set_random_seed

    _set_random_seed(config.machine.seed)  # as ns-train does before building the trainer
    config.save_config()
    trainer = config.setup(local_rank=0, world_size=1)
    trainer.setup()
    trainer.train()
    return trainer


def test_resume_continues_the_same_run(scenes, tmp_path):
    straight = _train(small_config(scenes, tmp_path / "straight", 6))
    first = _train(small_config(scenes, tmp_path / "resumed", 3))
    resumed_config = small_config(scenes, tmp_path / "resumed", 3)
    resumed_config.load_dir = first.checkpoint_dir
    resumed = _train(resumed_config)
    assert resumed._start_step == 3
    final = lambda t: torch.load(resolve_checkpoint(t.checkpoint_dir), map_location="cpu")  # noqa: E731
    a, b = final(straight), final(resumed)
    assert a["step"] == b["step"] == 5
    keys = [k for k in a["pipeline"] if k.startswith("_model.initializer.")]
    assert keys
    for key in keys:
        assert torch.allclose(a["pipeline"][key], b["pipeline"][key], atol=1e-6), key


def test_bad_checkpoints_say_what_is_wrong(scenes, tmp_path):
    from foresplat_ns.initializer import Initializer

    trainer = _train(small_config(scenes, tmp_path / "run", 1))
    run_dir = trainer.checkpoint_dir.parent
    net = Initializer(copy.deepcopy(SMALL))
    assert load_initializer_weights(net, copy.deepcopy(SMALL), run_dir).suffix == ".ckpt"
    # Border cells change no weight: a checkpoint loads with another number of them (e.g. to fine-tune).
    bordered = copy.deepcopy(SMALL)
    bordered.border_cells = 3
    load_initializer_weights(Initializer(bordered), bordered, run_dir)

    other = InitializerConfig(channels=(8, 16, 32), attention_layers=1, attention_heads=2, patch_size=1, sh_degree=1)
    with pytest.raises(CheckpointError, match="patch_size=2 .checkpoint. vs 1") as info:
        load_initializer_weights(Initializer(other), other, run_dir)
    assert "--pipeline.model.initializer.patch-size 2" in str(info.value)  # names the fix
    assert "--pipeline.model.initializer.channels 8 16 32" not in str(info.value)  # only what differs
    corrupt_run = tmp_path / "corrupt"
    shutil.copytree(run_dir, corrupt_run)
    corrupt = next((corrupt_run / "nerfstudio_models").glob("*.ckpt"))
    corrupt.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt or not a nerfstudio checkpoint") as info:
        load_initializer_weights(net, SMALL, corrupt)
    assert "\n" not in str(info.value)
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_checkpoint(tmp_path / "missing")

    # Through the refine method: a one-line exit, not a traceback.
    from foresplat_ns.method_configs import foresplat_refine

    refine = copy.deepcopy(foresplat_refine.config)
    refine.pipeline.datamanager.data = next((scenes / "eval").iterdir())
    refine.pipeline.model.initializer_checkpoint = corrupt_run
    with pytest.raises(SystemExit, match="^foresplat: cannot read checkpoint"):
        refine.pipeline.setup(device="cpu", test_mode="val")


def test_refine_starts_from_the_prediction(scenes, tmp_path):
    from foresplat_ns.method_configs import foresplat_refine
    from foresplat_ns.models.checkpoints import load_initializer

    trainer = _train(small_config(scenes, tmp_path / "run", 2))
    run_dir = trainer.checkpoint_dir.parent
    refine = copy.deepcopy(foresplat_refine.config)
    refine.pipeline.datamanager.data = next((scenes / "eval").iterdir())
    refine.pipeline.model.initializer_checkpoint = run_dir
    pipeline = refine.pipeline.setup(device="cpu", test_mode="val")
    expected = pipeline.predict_training_scene(run_dir)
    model = pipeline.model
    assert model.num_points == expected.num_gaussians == min(8, len(pipeline.datamanager.train_dataset)) * 16 * 16
    assert torch.equal(model.means, expected.means)
    assert torch.equal(model.opacities, expected.logit_opacities)
    assert torch.equal(model.features_rest[:, :3], expected.sh_rest)
    assert torch.all(model.features_rest[:, 3:] == 0)
    initializer, config, _, resolution = load_initializer(run_dir)
    assert dataclasses.replace(config, opacity_views=None) == SMALL and resolution == 32
    # Opacities count as calibrated for the run's 2 context views per step, unless told otherwise.
    assert config.opacity_views == 2 and load_initializer(run_dir, opacity_views=0)[1].opacity_views == 0

    # foresplat-bench's start sees the same evenly spread views as foresplat-refine.
    from foresplat_ns.benchmark.run import BenchConfig, parse_start, select_views
    from foresplat_ns.data.scene_folder import find_scenes, load_scene

    scene = load_scene(find_scenes(scenes, "eval")[0], 32)
    batch = select_views(scene, 0, BenchConfig(num_context=5, num_target=2))
    start = parse_start(f"net={run_dir}", network_views=3)
    views = torch.tensor([0, 2, 4])
    with torch.no_grad():
        expected = initializer.eval()(batch.context_images[views], batch.context_cameras[views], batch.near, batch.far)
    predicted = start.make(batch, scene)
    assert torch.equal(predicted.means, expected.means)
    assert torch.equal(predicted.logit_opacities, expected.logit_opacities)
    # 3 views where training gave 2: one layer of the corrected opacities passes 2/3 of the layers' light.
    plain = parse_start(f"net={run_dir}", network_views=3, opacity_views=0).make(batch, scene)
    assert torch.equal(plain.means, expected.means)
    a, b = torch.sigmoid(plain.logit_opacities.double()), torch.sigmoid(predicted.logit_opacities.double())
    assert torch.allclose((1 - b) ** 3, (1 - a) ** 2, atol=1e-6)


def test_export_of_a_foresplat_run_writes_the_preview_prediction(scenes, tmp_path):
    from plyfile import PlyData

    from nerfstudio.scripts.exporter import ExportGaussianSplat

    trainer = _train(small_config(scenes, tmp_path / "run", 2))
    config_path = trainer.checkpoint_dir.parent / "config.yml"
    ExportGaussianSplat(load_config=config_path, output_dir=tmp_path / "export").main()
    vertex = PlyData.read(str(tmp_path / "export" / "splat.ply"))["vertex"]
    preview = trainer.pipeline.model.gauss_params
    # 2 context views of 32x32, one Gaussian per 2x2 patch; SH degree 1 gives 3 rest bands x 3 colours.
    assert vertex.count == preview["means"].shape[0] == 2 * 16 * 16
    assert len([p for p in vertex.properties if p.name.startswith("f_rest_")]) == 9
    assert np.allclose(np.sort(vertex["x"]), np.sort(preview["means"][:, 0].numpy()), atol=1e-6)


def test_ift_run_trains_and_its_refinement_keeps_the_proximal_term(scenes, tmp_path):
    from foresplat_ns.benchmark.run import parse_start
    from foresplat_ns.method_configs import foresplat_refine

    config = small_config(scenes, tmp_path / "ift", 2)
    config.pipeline.meta.mode = "ift"
    config.pipeline.meta.inner_steps = 2
    config.pipeline.meta.ift.cg_iterations = 3
    torch.manual_seed(0)
    pipeline = config.pipeline.setup(device="cpu", test_mode="val")
    optimizers = Optimizers(config.optimizers, pipeline.get_param_groups())
    before = {k: v.clone() for k, v in pipeline.model.initializer.state_dict().items()}
    _, losses, metrics = pipeline.get_train_loss_dict(step=0)
    losses["meta_surrogate"].backward()
    optimizers.optimizer_step_all()
    changed = [k for k, v in pipeline.model.initializer.state_dict().items() if not torch.equal(v, before[k])]
    assert len(changed) > 0.9 * len(before)
    assert 1 <= metrics["cg_iterations"] <= 3 and metrics["ift_seconds"] > 0

    # Refinement from an IFT-trained initializer adds the same proximal term.
    run_dir = _train(config).checkpoint_dir.parent
    assert parse_start(f"ift={run_dir}").proximal == config.pipeline.meta.ift

    # Fine-tuning an IFT-trained run keeps its confidence head, whatever --pipeline.meta.ift.start-confidence says.
    from foresplat_ns.models.checkpoints import initializer_state

    again = copy.deepcopy(config)
    again.pipeline.model.initializer_checkpoint = run_dir
    again.pipeline.meta.ift.start_confidence = 0.2
    head = again.pipeline.setup(device="cpu", test_mode="val").model.initializer.network.heads.heads["confidence"]
    assert torch.equal(head.weight, initializer_state(resolve_checkpoint(run_dir))["network.heads.heads.confidence.weight"])
    refine = copy.deepcopy(foresplat_refine.config)
    refine.pipeline.datamanager.data = next((scenes / "eval").iterdir())
    refine.pipeline.model.initializer_checkpoint = run_dir
    refine_pipeline = refine.pipeline.setup(device="cpu", test_mode="val")
    model = refine_pipeline.model
    camera, batch = refine_pipeline.datamanager.next_train(0)

    def losses():
        model.eval()  # render without the trainer's densification hooks
        outputs = model.get_outputs(camera)
        model.train()
        return model.get_loss_dict(outputs, batch)

    assert float(losses()["proximal_loss"]) == 0.0
    _, weights = model.proximal
    with torch.no_grad():
        model.gauss_params["means"] += 0.01
    expected = 0.5 * float(weights["means"].sum()) * 3 * 0.01**2
    assert float(losses()["proximal_loss"]) == pytest.approx(expected, rel=1e-3)
    # --pipeline.model.initializer-proximal-hold 2: full λ for trainer steps 0 and 1, then λ · 2 / (step + 1).
    model.config.initializer_proximal_hold = 2
    for step, factor in ((1, 1.0), (7, 0.25)):
        model.step = step
        assert float(losses()["proximal_loss"]) == pytest.approx(factor * expected, rel=1e-3), step
    model.config.initializer_proximal_hold = None

    # --pipeline.model.initializer-proximal False: the same start, splatfacto's loss alone.
    refine.pipeline.model.initializer_proximal = False
    plain = refine.pipeline.setup(device="cpu", test_mode="val").model
    assert plain.proximal is None
    for name, value in plain.gauss_params.items():
        shift = 0.01 if name == "means" else 0.0
        assert torch.allclose(value, model.gauss_params[name] - shift, atol=1e-6)

    # --pipeline.model.initializer-proximal-lambda: a fixed term replaces the learned one, here on the colours only.
    from foresplat_ns.meta.ift import DEFAULT_GROUP_SCALES

    refine.pipeline.model.initializer_proximal = True
    refine.pipeline.model.initializer_proximal_lambda = 2e-3
    refine.pipeline.model.initializer_proximal_groups = ("sh_dc", "sh_rest")
    _, fixed = refine.pipeline.setup(device="cpu", test_mode="val").model.proximal
    for name, key in SPLATFACTO_KEYS.items():
        scale = DEFAULT_GROUP_SCALES[name] if name.startswith("sh_") else 0.0
        assert torch.allclose(fixed[key], torch.full_like(fixed[key], 2e-3 * scale), rtol=1e-6), name
    refine.pipeline.model.initializer_proximal_groups = ("colours",)
    with pytest.raises(SystemExit, match="unknown parameter group"):
        refine.pipeline.setup(device="cpu", test_mode="val")
    refine.pipeline.model.initializer_proximal_groups = None
    refine.pipeline.model.initializer_proximal_hold = 0
    with pytest.raises(SystemExit, match="proximal-hold must be at least 1"):
        refine.pipeline.setup(device="cpu", test_mode="val")
    refine.pipeline.model.initializer_proximal_hold = None

    # foresplat-bench refines with the term by default; --no-proximal refines as plain splatfacto.
    import json

    from foresplat_ns.benchmark.cli import BenchCommand, run

    psnr_at = {}
    for proximal, hold in ((True, None), (False, None), (True, 1)):
        out = tmp_path / f"bench-{proximal}-{hold}"
        run(BenchCommand(scenes=scenes, out=out, starts=[f"ift={run_dir}"], steps=[0, 5], resolution=32, num_context=3,
                         num_target=2, lr_scale=20.0, proximal=proximal, proximal_hold=hold, save_renders=False, threads=1))
        records = json.loads((out / "results.json").read_text())["records"]
        psnr_at[proximal, hold] = {r["step"]: r["psnr"] for r in records}
    assert psnr_at[True, None][0] == psnr_at[False, None][0] == psnr_at[True, 1][0]  # the same prediction
    assert psnr_at[True, None][5] != psnr_at[False, None][5]
    assert psnr_at[True, 1][5] not in (psnr_at[True, None][5], psnr_at[False, None][5])  # λ falls after step 1
    assert "held for 1 steps, then falling as 1/step" in (out / "table.md").read_text()


def _preview_confidence(pipeline):
    model = pipeline.model
    near, far = model.preview_depth_range.tolist()
    with torch.no_grad():
        return model.predict(model.preview_images, model.preview_cameras(), near, far).confidence


def test_ift_fine_tune_restarts_a_confidence_head_zero_step_never_trained(scenes, tmp_path):
    from foresplat_ns.initializer.adapter import CONFIDENCE_EPS
    from foresplat_ns.meta.ift import IFTConfig
    from foresplat_ns.models.checkpoints import initializer_state

    run_dir = _train(small_config(scenes, tmp_path / "zero-step", 1)).checkpoint_dir.parent
    config = small_config(scenes, tmp_path / "ift", 1)
    config.pipeline.meta.mode = "ift"
    config.pipeline.model.initializer_checkpoint = run_dir
    config.pipeline.meta.ift.start_confidence = None  # keep the loaded head
    loaded = config.pipeline.setup(device="cpu", test_mode="val")
    spread = _preview_confidence(loaded)
    assert float(spread.std()) > 0  # the untrained head still varies with the features

    config.pipeline.meta.ift.start_confidence = 0.2
    pipeline = config.pipeline.setup(device="cpu", test_mode="val")
    expected = CONFIDENCE_EPS + (1 - 2 * CONFIDENCE_EPS) * 0.2
    assert torch.allclose(_preview_confidence(pipeline), torch.full_like(spread, expected), atol=1e-6)
    saved = initializer_state(resolve_checkpoint(run_dir))
    kept = [k for k in saved if not k.startswith("network.heads.heads.confidence.")]
    assert len(kept) == len(saved) - 2
    for name in kept:
        assert torch.equal(pipeline.model.initializer.state_dict()[name], saved[name]), name

    config.pipeline.meta.ift.start_confidence = IFTConfig().start_confidence  # the default restarts it
    default = _preview_confidence(config.pipeline.setup(device="cpu", test_mode="val"))
    assert IFTConfig().start_confidence == 0.1
    assert torch.allclose(default, torch.full_like(spread, CONFIDENCE_EPS + (1 - 2 * CONFIDENCE_EPS) * 0.1), atol=1e-6)

    config.pipeline.meta.ift.start_confidence = 1.5
    with pytest.raises(SystemExit, match="start-confidence 1.5 is outside"):
        config.pipeline.setup(device="cpu", test_mode="val")


def test_metagrad_preset_fine_tunes_a_checkpoint_and_refuses_to_start_without_one(scenes, tmp_path):
    from foresplat_ns.method_configs import foresplat_metagrad
    from foresplat_ns.models.checkpoints import initializer_state

    config = small_config(scenes, tmp_path / "metagrad", 1, spec=foresplat_metagrad)
    assert config.pipeline.meta.mode == "metagrad" and config.pipeline.train_minutes == 15.0
    with pytest.raises(SystemExit, match="fine-tunes a trained initializer: pass --pipeline.model.initializer-checkpoint"):
        config.pipeline.setup(device="cpu", test_mode="val")

    run_dir = _train(small_config(scenes, tmp_path / "zero-step", 1)).checkpoint_dir.parent
    config.pipeline.model.initializer_checkpoint = run_dir
    pipeline = config.pipeline.setup(device="cpu", test_mode="val")
    saved = initializer_state(resolve_checkpoint(run_dir))
    for name, value in pipeline.model.initializer.state_dict().items():
        assert torch.equal(value, saved[name]), name
    _, losses, metrics = pipeline.get_train_loss_dict(step=0)
    # The preset's anchors: step 0 and K = 30, at 10x splatfacto's rates.
    assert metrics["num_anchors"] == 2 and metrics["anchor0_step"] == 0 and metrics["anchor1_step"] == 30
    assert config.pipeline.meta.inner.lr_scale == 10.0
    assert torch.isfinite(losses["meta_surrogate"])

    # Its runs are initializers that foresplat-refine and foresplat-bench load; a refine run is not.
    from foresplat_ns.initializer import Initializer
    from foresplat_ns.method_configs import foresplat_refine

    fine_tuned = _train(config).checkpoint_dir.parent
    assert fine_tuned.parent.name == "foresplat-metagrad"
    net = Initializer(copy.deepcopy(SMALL))
    load_initializer_weights(net, copy.deepcopy(SMALL), fine_tuned)
    state = initializer_state(resolve_checkpoint(fine_tuned))
    assert all(torch.equal(value, state[name]) for name, value in net.state_dict().items())
    not_an_initializer = tmp_path / "refine-run"
    shutil.copytree(fine_tuned, not_an_initializer)
    (not_an_initializer / "config.yml").write_text(yaml.dump(copy.deepcopy(foresplat_refine.config)))
    with pytest.raises(CheckpointError, match="`foresplat-refine` run, which trains no initializer"):
        load_initializer_weights(net, copy.deepcopy(SMALL), not_an_initializer)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_budget_decay_anneals_over_wall_clock_time(scenes, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from nerfstudio.engine.callbacks import TrainingCallbackAttributes

    import foresplat_ns.pipelines.foresplat as pipeline_module

    now = [100.0]
    monkeypatch.setattr(pipeline_module, "_clock", lambda: now[0])
    config = small_config(scenes, tmp_path, 10)
    config.pipeline.train_minutes = 2.0
    config.pipeline.decay_over_budget = True
    config.optimizers["initializer"]["scheduler"].warmup_steps = 4
    pipeline = config.pipeline.setup(device="cpu", test_mode="val")
    optimizers = Optimizers(config.optimizers, pipeline.get_param_groups())
    trainer = SimpleNamespace(config=config, stop_training=False)
    callbacks = pipeline.get_training_callbacks(TrainingCallbackAttributes(optimizers, None, pipeline, trainer))
    scheduler = optimizers.schedulers["initializer"]
    settings = config.optimizers["initializer"]
    lr_init, lr_final = settings["optimizer"].lr, settings["scheduler"].lr_final
    ratio = lr_final / lr_init
    assert settings["scheduler"].ramp == "cosine"
    pre = settings["scheduler"].lr_pre_warmup
    ramp = lambda step: pre + (lr_init - pre) * np.sin(0.5 * np.pi * step / 4)  # noqa: E731
    # (step, seconds since the start) -> expected rate: nerfstudio's warm-up ramp by steps, times the
    # exponential decay by time; 120 s is the whole budget.
    for step, seconds, expected in [
        (1, 0.0, ramp(1)),
        (2, 30.0, ramp(2) * ratio**0.25),
        (5, 60.0, lr_init * ratio**0.5),
        (6, 120.0, lr_final),
        (7, 500.0, lr_final),
    ]:
        now[0] = 100.0 + seconds
        while scheduler.last_epoch < step:
            scheduler.step()
        assert optimizers.optimizers["initializer"].param_groups[0]["lr"] == pytest.approx(expected, rel=1e-9)
    for callback in callbacks:
        callback.run_callback_at_location(7, pipeline_module.TrainingCallbackLocation.AFTER_TRAIN_ITERATION)
    assert trainer.stop_training

    config.pipeline.decay_over_budget = False  # the step-based schedule: barely below lr_init after 7 steps
    pipeline.config.decay_over_budget = False
    optimizers = Optimizers(config.optimizers, pipeline.get_param_groups())
    pipeline.get_training_callbacks(TrainingCallbackAttributes(optimizers, None, pipeline, trainer))
    for _ in range(7):
        optimizers.schedulers["initializer"].step()
    assert optimizers.optimizers["initializer"].param_groups[0]["lr"] > 0.99 * lr_init
