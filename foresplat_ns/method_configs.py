"""The methods this plugin registers with `ns-train` (entry points in pyproject.toml).

Import-light on purpose: nerfstudio imports this module while it builds its own method
list, so it must never import `nerfstudio.configs.method_configs` (a circular import).
"""

from __future__ import annotations

import torch
from nerfstudio.configs.base_config import MachineConfig, ViewerConfig
from nerfstudio.data.datamanagers.full_images_datamanager import FullImageDatamanagerConfig
from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.schedulers import ExponentialDecaySchedulerConfig
from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.plugins.types import MethodSpecification

from foresplat_ns.meta.inner import MEANS_LR_FINAL, MEANS_LR_STEPS, SPLATFACTO_LRS, InnerLoopConfig
from foresplat_ns.meta.step import MetaConfig
from foresplat_ns.models.refine import ForesplatRefineModelConfig
from foresplat_ns.pipelines.foresplat import ForesplatPipelineConfig
from foresplat_ns.pipelines.refine import ForesplatRefinePipelineConfig


def default_machine() -> MachineConfig:
    """CUDA when torch sees a GPU, else the CPU: nerfstudio's own default (cuda) fails at start-up without one."""
    return MachineConfig(device_type="cuda" if torch.cuda.is_available() else "cpu")


def splatfacto_optimizers(max_steps: int = MEANS_LR_STEPS) -> dict:
    """Splatfacto's per-group Adam settings and schedules (nerfstudio 1.1.5's values), shared with the inner loop."""
    adam = lambda key: AdamOptimizerConfig(lr=SPLATFACTO_LRS[key], eps=1e-15)  # noqa: E731
    groups = {key: {"optimizer": adam(key), "scheduler": None} for key in SPLATFACTO_LRS}
    groups["means"]["scheduler"] = ExponentialDecaySchedulerConfig(lr_final=MEANS_LR_FINAL, max_steps=max_steps)
    groups["camera_opt"] = {
        "optimizer": AdamOptimizerConfig(lr=1e-4, eps=1e-15),
        "scheduler": ExponentialDecaySchedulerConfig(lr_final=5e-7, max_steps=max_steps, warmup_steps=1000, lr_pre_warmup=0),
    }
    groups["bilateral_grid"] = {
        "optimizer": AdamOptimizerConfig(lr=2e-3, eps=1e-15),
        "scheduler": ExponentialDecaySchedulerConfig(lr_final=1e-4, max_steps=max_steps, warmup_steps=1000, lr_pre_warmup=0),
    }
    return groups


foresplat_refine = MethodSpecification(
    config=TrainerConfig(
        method_name="foresplat-refine",
        machine=default_machine(),
        steps_per_eval_image=100,
        steps_per_eval_batch=0,
        steps_per_save=2000,
        steps_per_eval_all_images=1000,
        max_num_iterations=30000,
        mixed_precision=False,
        pipeline=ForesplatRefinePipelineConfig(
            datamanager=FullImageDatamanagerConfig(
                # Every 8th view is held out (view 0 first), so even 2-view captures keep an evaluation view.
                dataparser=NerfstudioDataParserConfig(load_3D_points=True, eval_mode="interval", eval_interval=8),
                cache_images_type="uint8",
            ),
            model=ForesplatRefineModelConfig(),
        ),
        optimizers=splatfacto_optimizers(),
        viewer=ViewerConfig(num_rays_per_chunk=1 << 15),
        vis="viewer",
    ),
    description="Splatfacto refinement that runs on the CPU too (foresplat_ns rasteriser; gsplat on CUDA).",
)


def foresplat_trainer(
    method_name: str, pipeline: ForesplatPipelineConfig, lr: float, lr_final: float, warmup_steps: int, max_steps: int
) -> TrainerConfig:
    """`ns-train foresplat`'s trainer: one Adam optimiser for the initializer network, decaying from lr to lr_final."""
    return TrainerConfig(
        method_name=method_name,
        machine=default_machine(),
        steps_per_eval_image=100,
        steps_per_eval_batch=0,
        steps_per_save=500,
        steps_per_eval_all_images=1000,
        max_num_iterations=max_steps,
        mixed_precision=False,
        pipeline=pipeline,
        optimizers={
            "initializer": {
                "optimizer": AdamOptimizerConfig(lr=lr, eps=1e-15, max_norm=1.0),
                "scheduler": ExponentialDecaySchedulerConfig(lr_final=lr_final, max_steps=max_steps, warmup_steps=warmup_steps),
            },
        },
        viewer=ViewerConfig(num_rays_per_chunk=1 << 15),
        vis="viewer",
    )


foresplat = MethodSpecification(
    config=foresplat_trainer("foresplat", ForesplatPipelineConfig(), lr=3e-4, lr_final=3e-5, warmup_steps=200, max_steps=20000),
    description="Feed-forward initializer of splatfacto, trained across many scenes (foresplat_ns).",
)


def metagrad_pipeline() -> ForesplatPipelineConfig:
    """MetaGrad fine-tuning as measured best in the benchmark's 4-view protocol (README, Results): K=30 inner steps
    at 10x splatfacto's rates (about 300 refinement steps) with the anchor at K only, the zero-step loss as a step-0
    anchor of weight 0.25, 15 minutes of wall-clock with the rate annealed over them."""
    return ForesplatPipelineConfig(
        meta=MetaConfig(
            mode="metagrad", inner_steps=30, num_anchors=1, step0_weight=0.25,
            inner=InnerLoopConfig(densify=False, lr_scale=10.0),
        ),
        train_minutes=15.0,
        decay_over_budget=True,
        require_checkpoint=True,
    )


foresplat_metagrad = MethodSpecification(
    # 3x the rate a 35-minute zero-step run ends at (5.986e-5): MetaGrad makes a fifth of zero-step's updates.
    config=foresplat_trainer(
        "foresplat-metagrad", metagrad_pipeline(), lr=1.796e-4, lr_final=9e-5, warmup_steps=20, max_steps=1_000_000
    ),
    description="Fine-tunes a trained foresplat initializer with MetaGrad (ForeSplat) for 15 minutes; needs "
    "--pipeline.model.initializer-checkpoint.",
)
