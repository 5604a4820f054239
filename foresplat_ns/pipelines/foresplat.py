"""`ns-train foresplat`: train the initializer across scenes with nerfstudio's own trainer.

Each step: one `SceneBatch`, the network's prediction θ0 from its context views, and the
meta step's surrogate loss. nerfstudio's trainer then does backward, the optimiser and
scheduler steps, checkpoints, logging and the viewer, unchanged.
"""

from __future__ import annotations

import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Literal, Optional, Type

import numpy as np
import torch
from torch.cuda.amp.grad_scaler import GradScaler
from torch.nn import Parameter

from nerfstudio.data.scene_box import SceneBox
from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackAttributes, TrainingCallbackLocation
from nerfstudio.pipelines.base_pipeline import Pipeline, VanillaPipelineConfig
from nerfstudio.utils.rich_utils import CONSOLE
from pytorch_msssim import ssim

from foresplat_ns.compat import require_device
from foresplat_ns.data.datamanager import SceneFolderDataManager, SceneFolderDataManagerConfig
from foresplat_ns.data.scene_batch import SceneBatch, camera_distances, choose_views, make_batch
from foresplat_ns.meta.losses import psnr
from foresplat_ns.meta.step import MetaConfig, meta_step, scene_loss
from foresplat_ns.models.foresplat import ForesplatModel, ForesplatModelConfig
from foresplat_ns.rendering.views import render_views


@dataclass
class ForesplatPipelineConfig(VanillaPipelineConfig):
    """Meta-training of the feed-forward initializer across a folder of scenes."""

    _target: Type = field(default_factory=lambda: ForesplatPipeline)
    """Target class to instantiate."""
    datamanager: SceneFolderDataManagerConfig = field(default_factory=SceneFolderDataManagerConfig)
    """Scenes, working resolution and context/target views per step."""
    model: ForesplatModelConfig = field(default_factory=ForesplatModelConfig)
    """The initializer network (and the preview scene it shows)."""
    meta: MetaConfig = field(default_factory=MetaConfig)
    """Training signal of the initializer: the meta-training mode and its options."""
    num_eval_batches: int = 8
    """Held-out batches averaged by `ns-eval` and the periodic all-images evaluation."""
    train_minutes: Optional[float] = None
    """Stop training (with a final checkpoint) after this many minutes of wall-clock time, e.g. to compare
    meta-training modes at equal cost. None: run --max-num-iterations steps."""
    decay_over_budget: bool = False
    """With --pipeline.train-minutes: the initializer's learning rate decays exponentially with elapsed wall-clock
    time and reaches its scheduler's lr_final when the budget ends (warm-up steps unchanged), so modes of
    different step costs end equally annealed. False keeps the step-based schedule, under which a short run stays
    near its initial rate (in 25-minute fine-tunes that gave the better predictions; docs/results/ROUNDS.md, round 6)."""
    require_checkpoint: bool = False
    """Stop at start-up unless --pipeline.model.initializer-checkpoint names a trained run: the fine-tuning presets
    (`ns-train foresplat-metagrad`) continue a zero-step network, as ForeSplat fine-tunes a feed-forward model."""


def _clock() -> float:
    """Seconds of a monotonic wall clock (the training budget's)."""
    return time.monotonic()


def budget_decay(
    base: Callable[[int], float], warmup_steps: int, ratio: float, seconds: float, elapsed: Callable[[], float]
) -> Callable[[int], float]:
    """A learning-rate multiplier: `base`'s warm-up ramp by steps, times ratio^(elapsed / seconds) (clamped at 1)."""

    def multiplier(step: int) -> float:
        ramp = base(step) if step < warmup_steps else 1.0
        return ramp * ratio ** min(max(elapsed(), 0.0) / seconds, 1.0)

    return multiplier


def _decay_over_budget(attributes: TrainingCallbackAttributes, seconds: float, elapsed: Callable[[], float]) -> None:
    """Make the initializer's scheduler reach its lr_final when the wall-clock budget ends."""
    scheduler = attributes.optimizers.schedulers.get("initializer") if attributes.optimizers else None
    settings = attributes.trainer.config.optimizers["initializer"].get("scheduler") if attributes.trainer else None
    lr_final = getattr(settings, "lr_final", None)
    if not isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR) or lr_final is None:
        raise SystemExit(
            "foresplat: --pipeline.decay-over-budget needs the initializer's exponential-decay scheduler with an "
            "lr_final; set --pipeline.decay-over-budget False to keep another schedule"
        )
    ratio = lr_final / scheduler.base_lrs[0]
    scheduler.lr_lambdas = [budget_decay(scheduler.lr_lambdas[0], settings.warmup_steps, ratio, seconds, elapsed)]


class ForesplatPipeline(Pipeline):
    """Initializer training: one scene per step through the meta step."""

    config: ForesplatPipelineConfig
    datamanager: SceneFolderDataManager

    def __init__(
        self,
        config: ForesplatPipelineConfig,
        device: str,
        test_mode: Literal["test", "val", "inference"] = "val",
        world_size: int = 1,
        local_rank: int = 0,
        grad_scaler: Optional[GradScaler] = None,
    ):
        super().__init__()
        require_device(device)
        if world_size > 1:
            raise SystemExit("foresplat: multi-process training is not supported yet; run with --machine.num-devices 1")
        self.config = config
        if config.meta.mode == "ift" and not config.model.initializer.confidence_head:
            raise SystemExit(
                "foresplat: --pipeline.meta.mode ift needs the confidence that sets λ: "
                "drop --pipeline.model.initializer.confidence-head False"
            )
        if config.meta.meta_every < 1:
            raise SystemExit(f"foresplat: --pipeline.meta.meta-every must be at least 1 (1 = every step), got {config.meta.meta_every}")
        k, fixed = config.meta.inner_steps, list(config.meta.anchor_steps)
        if fixed and not all(1 <= s <= k for s in fixed):
            raise SystemExit(
                f"foresplat: --pipeline.meta.anchor-steps must lie in 1..{k} (--pipeline.meta.inner-steps), got {fixed}"
            )
        if test_mode == "val" and config.require_checkpoint and config.model.initializer_checkpoint is None:
            raise SystemExit(
                "foresplat: this preset fine-tunes a trained initializer: pass --pipeline.model.initializer-checkpoint RUN "
                "(the folder of an `ns-train foresplat` run)"
            )
        self.test_mode = test_mode
        self.datamanager = config.datamanager.setup(
            device=device, test_mode=test_mode, world_size=world_size, local_rank=local_rank
        )
        self.datamanager.to(device)
        self._model = config.model.setup(
            scene_box=SceneBox(aabb=torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])),
            num_train_data=1,
            metadata={},
            device=device,
            grad_scaler=grad_scaler,
            seed_points=None,
        )
        self.model.to(device)
        # Only training starts from another run's weights; evaluation and export load this run's own.
        if test_mode == "val" and config.model.initializer_checkpoint is not None:
            self.model.load_initializer_checkpoint()
            if config.meta.mode == "ift" and config.meta.ift.start_confidence is not None:
                self._restart_confidence(config.meta.ift.start_confidence)
        if config.meta.mode == "ift":
            self.model.initializer.network.heads.detach_confidence = config.meta.ift.confidence_gradient == "head"
            if config.meta.ift.confidence_gradient == "head":
                CONSOLE.log("foresplat: the λ gradient trains the confidence head alone (its features detached)")
        if test_mode != "inference":
            preview = self.preview_batch()
            try:
                self.model.set_preview(preview.context_images, preview.context_cameras, preview.near, preview.far)
            except ValueError as error:
                raise SystemExit(
                    f"foresplat: {error}: change --pipeline.datamanager.resolution or the initializer's patch/stride"
                ) from None

    def _restart_confidence(self, confidence: float) -> None:
        """Reset the confidence head of a fine-tuned checkpoint that was not trained with IFT (see `start_confidence`)."""
        from foresplat_ns.meta.proximal import proximal_weights
        from foresplat_ns.models.checkpoints import trained_proximal

        if not 0.0 < confidence < 1.0:
            raise SystemExit(
                f"foresplat: --pipeline.meta.ift.start-confidence {confidence} is outside (0, 1); pick e.g. 0.1, or None"
            )
        if trained_proximal(Path(self.config.model.initializer_checkpoint)) is not None:
            CONSOLE.log("foresplat: the checkpoint was trained with IFT: its confidence head is kept")
            return
        self.model.initializer.network.heads.reset_confidence(confidence, self.config.model.initializer.confidence_init)
        weights = proximal_weights(torch.tensor([[confidence]]), self.config.meta.ift)
        CONSOLE.log(
            f"foresplat: confidence head reset: every Gaussian starts at confidence {confidence:g} "
            f"(λ of means {float(weights['means']):.3g})"
        )

    @property
    def model(self) -> ForesplatModel:
        return typing.cast(ForesplatModel, self._model)

    def preview_batch(self) -> SceneBatch:
        """Context views of the preview scene, fixed for the whole run."""
        scene = self.datamanager.preview_scene()
        rng = np.random.default_rng(self.datamanager.config.seed)
        cfg = self.datamanager.config
        context, target = choose_views(camera_distances(scene.cameras), cfg.num_context, cfg.num_target, rng)
        return make_batch(scene, context, target).to(self.device)

    def get_train_loss_dict(self, step: int):
        batch, _ = self.datamanager.next_train(step)
        prediction = self.model.predict(batch.context_images, batch.context_cameras, batch.near, batch.far)
        result = meta_step(self.config.meta, prediction, batch, step)
        if not bool(torch.isfinite(result.surrogate)):
            raise SystemExit(
                f"foresplat: the training loss is not finite at step {step} (scene {batch.scene}): lower the learning "
                "rate (--optimizers.initializer.optimizer.lr) and resume from the last checkpoint with --load-dir"
            )
        metrics = dict(result.metrics)
        metrics["num_gaussians"] = torch.tensor(float(prediction.num_gaussians))
        return {}, {"meta_surrogate": result.surrogate}, metrics

    def forward(self):
        raise NotImplementedError

    @torch.no_grad()
    def _eval_prediction(self, step: int):
        batch, _ = self.datamanager.next_eval(step)
        prediction = self.model.predict(batch.context_images, batch.context_cameras, batch.near, batch.far)
        return batch, prediction

    def get_eval_loss_dict(self, step: int):
        self.eval()
        batch, prediction = self._eval_prediction(step)
        with torch.no_grad():
            black = torch.zeros(3, device=self.device)
            loss, metrics = scene_loss(prediction, batch, self.config.meta, black)
        self.train()
        return {}, {"meta_surrogate": loss}, metrics

    def get_eval_image_metrics_and_images(self, step: int):
        self.eval()
        batch, prediction = self._eval_prediction(step)
        with torch.no_grad():
            renders = render_views(prediction, batch.target_cameras, torch.zeros(3, device=self.device))
        gt, pred = batch.target_images[0], renders.rgb[0].clamp(0, 1)
        metrics = {"psnr": float(psnr(pred, gt)), "num_rays": gt.shape[0] * gt.shape[1]}
        self.train()
        return metrics, {"img": torch.cat([gt, pred], dim=1)}

    @torch.no_grad()
    def get_average_eval_image_metrics(
        self, step: Optional[int] = None, output_path: Optional[Path] = None, get_std: bool = False
    ):
        """Zero-step PSNR/SSIM of the prediction on the target views of fixed held-out batches."""
        self.eval()
        figures: Dict[str, List[float]] = {"psnr": [], "ssim": []}
        for index in range(self.config.num_eval_batches):
            batch, prediction = self._eval_prediction(index)
            renders = render_views(prediction, batch.target_cameras, torch.zeros(3, device=self.device))
            pred = renders.rgb.clamp(0, 1)
            figures["psnr"].append(float(psnr(pred, batch.target_images)))
            figures["ssim"].append(
                float(ssim(pred.permute(0, 3, 1, 2), batch.target_images.permute(0, 3, 1, 2), data_range=1.0))
            )
            if output_path is not None:
                from PIL import Image

                output_path.mkdir(parents=True, exist_ok=True)
                strip = torch.cat([torch.cat([g, p], 0) for g, p in zip(batch.target_images, pred)], 1)
                Image.fromarray((strip.cpu().numpy() * 255).round().astype(np.uint8)).save(
                    output_path / f"eval_{index:03d}_{batch.scene}.png"
                )
        self.train()
        metrics = {key: float(np.mean(values)) for key, values in figures.items()}
        if get_std:
            metrics.update({f"{key}_std": float(np.std(values)) for key, values in figures.items()})
        return metrics

    def load_pipeline(self, loaded_state: Dict[str, typing.Any], step: int) -> None:
        state = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in loaded_state.items()}
        self.model.update_to_step(step)
        self.load_state_dict(state)

    def get_training_callbacks(self, training_callback_attributes: TrainingCallbackAttributes) -> List[TrainingCallback]:
        callbacks = self.datamanager.get_training_callbacks(training_callback_attributes)
        callbacks += self.model.get_training_callbacks(training_callback_attributes)
        if self.config.train_minutes is not None:
            trainer, began = training_callback_attributes.trainer, _clock()
            budget = 60.0 * self.config.train_minutes

            def elapsed() -> float:
                return _clock() - began

            if self.config.decay_over_budget:
                _decay_over_budget(training_callback_attributes, budget, elapsed)

            def stop_when_out_of_time(step: int) -> None:
                if elapsed() > budget:
                    trainer.stop_training = True  # the trainer ends the loop and saves a final checkpoint

            callbacks.append(TrainingCallback([TrainingCallbackLocation.AFTER_TRAIN_ITERATION], stop_when_out_of_time))
        return callbacks

    def get_param_groups(self) -> Dict[str, List[Parameter]]:
        return {**self.datamanager.get_param_groups(), **self.model.get_param_groups()}
