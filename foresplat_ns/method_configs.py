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

from foresplat_ns.meta.inner import MEANS_LR_FINAL, MEANS_LR_STEPS, SPLATFACTO_LRS
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


foresplat = MethodSpecification(
    config=TrainerConfig(
        method_name="foresplat",
        machine=default_machine(),
        steps_per_eval_image=100,
        steps_per_eval_batch=0,
        steps_per_save=500,
        steps_per_eval_all_images=1000,
        max_num_iterations=20000,
        mixed_precision=False,
        pipeline=ForesplatPipelineConfig(),
        optimizers={
            "initializer": {
                "optimizer": AdamOptimizerConfig(lr=3e-4, eps=1e-15, max_norm=1.0),
                "scheduler": ExponentialDecaySchedulerConfig(lr_final=3e-5, max_steps=20000, warmup_steps=200),
            },
        },
        viewer=ViewerConfig(num_rays_per_chunk=1 << 15),
        vis="viewer",
    ),
    description="Feed-forward initializer of splatfacto, trained across many scenes (foresplat_ns).",
)
