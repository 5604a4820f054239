"""`foresplat` model: the initializer network, shown to nerfstudio as a splatfacto model.

The network is what trains. `gauss_params` hold its current prediction for one fixed
preview scene, so the viewer shows that prediction live, and `ns-export gaussian-splat`
(which accepts only splatfacto models) exports it as a standard 3DGS PLY.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Type

import torch
from torch import Tensor
from torch.nn import Parameter

from nerfstudio.cameras.cameras import Cameras, CameraType
from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackAttributes, TrainingCallbackLocation

from foresplat_ns.gaussians import Gaussians
from foresplat_ns.initializer import Initializer, InitializerConfig
from foresplat_ns.models.refine import ForesplatRefineModel, ForesplatRefineModelConfig


@dataclass
class ForesplatModelConfig(ForesplatRefineModelConfig):
    """The feed-forward initializer, trained across scenes."""

    _target: Type = field(default_factory=lambda: ForesplatModel)
    """Target class to instantiate."""
    initializer: InitializerConfig = field(
        default_factory=lambda: InitializerConfig(patch_size=2, border_cells=4, cost_volume_planes=32)
    )
    """Architecture of the feed-forward network (one Gaussian per 2x2 pixels by default: a quarter of the
    rendering cost of pixel-aligned Gaussians, which matters on the CPU; four rings of border cells, so
    target views that see past the context views' edges have fewer holes; a 32-plane cost volume, whose
    matching depth makes the geometry, and so refinement from the prediction, better than colour alone)."""
    preview_every: int = 10
    """Refresh the preview scene's prediction (viewer, export) every this many steps."""
    num_random: int = 1000
    """Placeholder Gaussians before the first prediction."""


class ForesplatModel(ForesplatRefineModel):
    """Holds the initializer; `gauss_params` are its prediction for the preview scene."""

    config: ForesplatModelConfig
    trains_gaussians = False

    def populate_modules(self):
        super().populate_modules()
        try:
            self.initializer = Initializer(self.config.initializer)
        except ValueError as error:
            raise SystemExit(f"foresplat: --pipeline.model.initializer: {error}") from None
        for p in self.gauss_params.values():
            p.requires_grad_(False)
        # The preview scene's context views travel in the checkpoint, so the viewer and the
        # exporter can show a prediction without the training data.
        self.register_buffer("preview_images", torch.zeros(0, 1, 1, 3))
        self.register_buffer("preview_c2w", torch.zeros(0, 3, 4))
        self.register_buffer("preview_intrinsics", torch.zeros(0, 4))
        self.register_buffer("preview_depth_range", torch.zeros(2))

    def load_initializer_checkpoint(self) -> None:
        """Start from a trained initializer (`initializer_checkpoint`), e.g. to fine-tune it with MetaGrad."""
        from foresplat_ns.models.checkpoints import CheckpointError, load_initializer_weights

        try:
            load_initializer_weights(self.initializer, self.config.initializer, self.config.initializer_checkpoint)
        except CheckpointError as error:
            raise SystemExit(f"foresplat: {error}") from None
    def predict(self, images: Tensor, cameras: Cameras, near: float, far: float) -> Gaussians:
        """The initializer's Gaussians for a scene's context views."""
        return self.initializer(images, cameras, near, far)

    def set_preview(self, images: Tensor, cameras: Cameras, near: float, far: float) -> None:
        """Choose the scene the viewer and the exporter show, and predict it."""
        device = self.preview_images.device
        self.preview_images = images.to(device)
        self.preview_c2w = cameras.camera_to_worlds.reshape(-1, 3, 4).to(device)
        self.preview_intrinsics = torch.cat([cameras.fx, cameras.fy, cameras.cx, cameras.cy], -1).reshape(-1, 4).to(device)
        self.preview_depth_range = torch.tensor([near, far], device=device)
        self.refresh_preview()

    def preview_cameras(self) -> Cameras:
        """Cameras of the preview scene's context views."""
        k = self.preview_intrinsics
        h, w = self.preview_images.shape[1:3]
        return Cameras(
            camera_to_worlds=self.preview_c2w, fx=k[:, 0:1], fy=k[:, 1:2], cx=k[:, 2:3], cy=k[:, 3:4],
            width=w, height=h, camera_type=CameraType.PERSPECTIVE,
        )

    @torch.no_grad()
    def refresh_preview(self) -> None:
        """Replace `gauss_params` by the current prediction for the preview scene."""
        if self.preview_images.shape[0] == 0:
            return
        was_training = self.initializer.training
        self.initializer.eval()
        near, far = self.preview_depth_range.tolist()
        prediction = self.predict(self.preview_images, self.preview_cameras(), near, far)
        self.initializer.train(was_training)
        for name, value in prediction.to_splatfacto().items():
            self.gauss_params[name] = Parameter(value.detach().clone(), requires_grad=False)

    def load_state_dict(self, state_dict, **kwargs):  # type: ignore[override]
        # The preview scene's size is only known from the checkpoint.
        for name in ("preview_images", "preview_c2w", "preview_intrinsics"):
            if name in state_dict:
                setattr(self, name, torch.zeros_like(state_dict[name], device=self.preview_images.device))
        # Splatfacto resizes only the count; the prediction's SH degree may differ from sh_degree.
        for name in list(self.gauss_params):
            if f"gauss_params.{name}" in state_dict:
                self.gauss_params[name] = Parameter(torch.zeros_like(state_dict[f"gauss_params.{name}"]))
        super().load_state_dict(state_dict, **kwargs)
        for p in self.gauss_params.values():
            p.requires_grad_(False)

    def get_param_groups(self) -> Dict[str, List[Parameter]]:
        return {"initializer": list(self.initializer.parameters())}

    def get_training_callbacks(self, training_callback_attributes: TrainingCallbackAttributes) -> List[TrainingCallback]:
        return [
            TrainingCallback(
                [TrainingCallbackLocation.AFTER_TRAIN_ITERATION],
                lambda step: self.refresh_preview(),
                update_every_num_iters=self.config.preview_every,
            )
        ]

    def get_outputs(self, camera: Cameras):
        # Rendering the preview is never a splatfacto training step (no densification statistics).
        was_training = self.training
        self.train(False)
        try:
            return super().get_outputs(camera)
        finally:
            self.train(was_training)

    def _colors_and_degree(self, params: Dict[str, Tensor]):
        # The prediction's own SH degree, which the initializer config sets.
        colors = torch.cat((params["features_dc"][:, None, :], params["features_rest"]), dim=1)
        return colors, int(round(colors.shape[1] ** 0.5)) - 1
