"""`foresplat-refine`: splatfacto that renders through our rasteriser, on the CPU as well as CUDA."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Type, Union

import torch
from torch import Tensor

from nerfstudio.cameras.cameras import Cameras
from nerfstudio.models.splatfacto import RGB2SH, SH2RGB, SplatfactoModel, SplatfactoModelConfig, get_viewmat
from nerfstudio.utils.rich_utils import CONSOLE

from foresplat_ns.compat import make_lpips
from foresplat_ns.gaussians import SPLATFACTO_KEYS, Gaussians
from foresplat_ns.meta.proximal import hold_scale, proximal_penalty
from foresplat_ns.rendering import rasterize


@dataclass
class ForesplatRefineModelConfig(SplatfactoModelConfig):
    """Splatfacto with a renderer that also runs on the CPU; everything else is splatfacto's."""

    _target: Type = field(default_factory=lambda: ForesplatRefineModel)
    """Target class to instantiate."""
    tile_size: int = 16
    """Tile size in pixels of the rasteriser (CPU and CUDA)."""
    initializer_checkpoint: Optional[Path] = None
    """A `ns-train foresplat` run folder or checkpoint file: predict the scene's Gaussians from the training
    (context) views with that network and start refinement from all of their attributes. None: splatfacto's own
    initialisation (the scene's point cloud, else random)."""
    initializer_proximal: bool = True
    """When the initializer was meta-trained with IFT, keep its proximal term ½ Σ λ (θ − θ_start)² in refinement,
    the inner objective it was trained for. False refines with splatfacto's loss alone; our benchmarks
    (docs/results/ROUNDS.md, rounds 9 and 12) measured that as better from about step 100 on."""
    initializer_proximal_lambda: Optional[float] = None
    """Refine from any initializer's prediction with a fixed proximal term ½ λ s_g (θ − θ_start)², λ this value
    and s_g IFT's default scale of each group, replacing a term learned with IFT. With initializer-proximal-groups
    sh_dc sh_rest (colours only) and 1.46e-5, zero-step networks gained 0.45 dB at 1000 steps with 4 views
    (README, round 30). None: only IFT-trained initializers keep their own term."""
    initializer_proximal_groups: Optional[Tuple[str, ...]] = None
    """Keep the proximal term (learned or fixed) on these parameter groups only (means, log_scales, quats,
    logit_opacities, sh_dc, sh_rest). None: every group."""
    initializer_proximal_hold: Optional[int] = None
    """Steps for which the proximal term keeps its full λ; at a later step t it is λ · hold / t, falling as the
    pull of t Adam steps does (as foresplat-bench's --proximal-hold). None: the full λ at every step."""
    initializer_views: Optional[int] = 8
    """At most this many training views (evenly spaced) are the network's input; every training view still
    supervises refinement. None gives it all of them (the number of Gaussians grows with it, and a cost
    volume's memory with its square)."""
    initializer_opacity_views: Optional[int] = None
    """The initializer's opacities are corrected when it sees another number of views than it was trained with
    (see `initializer-views`): each opacity a becomes 1 - (1 - a)^(n / N) for N views and n counted as calibrated.
    None: n is the run's own (its context views per training step); 0: no correction."""
    num_downscales: int = 0
    """Train at 1/2^d resolution first (splatfacto uses 2, for large captures); 0 trains at full resolution
    from the start, which short refinements of small images need."""


@contextlib.contextmanager
def _offline_lpips():
    """Let splatfacto build LPIPS only when its weights are cached; otherwise it gets None."""
    import torchmetrics.image.lpip as lpip_module

    original = lpip_module.LearnedPerceptualImagePatchSimilarity
    lpip_module.LearnedPerceptualImagePatchSimilarity = lambda *args, **kwargs: make_lpips()
    try:
        yield
    finally:
        lpip_module.LearnedPerceptualImagePatchSimilarity = original


class ForesplatRefineModel(SplatfactoModel):
    """Splatfacto whose rendering goes through `foresplat_ns.rendering.rasterize`."""

    config: ForesplatRefineModelConfig
    trains_gaussians = True
    """Whether splatfacto's optimisers and densification act on `gauss_params`."""

    def populate_modules(self):
        # Splatfacto moves seed colours to CUDA unconditionally: hand it the points only and
        # set the colours here, on whatever device the model lives.
        seed_colors = None
        if self.seed_points is not None and not self.config.random_init and self.seed_points[1].shape[0] > 0:
            seed_colors = self.seed_points[1]
            self.seed_points = (self.seed_points[0], seed_colors[:0])
        with _offline_lpips():
            super().populate_modules()
        if self.lpips is None:
            CONSOLE.log(
                "[yellow]LPIPS skipped: torchvision's AlexNet weights are not in the torch hub cache "
                "(this machine is offline); PSNR and SSIM are still computed."
            )
        if seed_colors is not None:
            self._set_colors(seed_colors.float() / 255.0)

    def seed_from(self, gaussians: Gaussians, proximal: Optional[Dict[str, Tensor]] = None) -> None:
        """Start from these Gaussians (all attributes, world frame) instead of splatfacto's initialisation.

        `proximal` (λ per `Gaussians` field, [N, 1]) adds ½ Σ λ (θ − θ_start)² to the loss, as the IFT
        meta-training's inner objective did, until densification changes the set of Gaussians.
        """
        params = gaussians.to(self.device).detach().to_splatfacto()
        rest = params["features_rest"]
        wanted = self.features_rest.shape[1]
        if rest.shape[1] < wanted:  # higher SH bands than predicted start at zero
            rest = torch.cat([rest, rest.new_zeros(rest.shape[0], wanted - rest.shape[1], 3)], dim=1)
        params["features_rest"] = rest[:, :wanted]
        if self.config.sh_degree == 0:  # splatfacto then keeps colour logits instead of SH
            params["features_dc"] = torch.logit(SH2RGB(params["features_dc"]).clamp(0.0, 1.0), eps=1e-6)
        for name, value in params.items():
            self.gauss_params[name] = torch.nn.Parameter(value.clone().contiguous())
        # The predicted view-dependent colour is part of the start: render every SH band from step 0.
        self.full_sh_from_start = True
        self.proximal = None
        if proximal is not None and self.config.sh_degree > 0:
            weights = {SPLATFACTO_KEYS[name]: w.detach().to(self.device) for name, w in proximal.items()}
            anchor = {name: p.detach().clone() for name, p in self.gauss_params.items()}
            self.proximal = (anchor, weights)

    def get_loss_dict(self, outputs, batch, metrics_dict=None) -> Dict[str, Tensor]:
        losses = super().get_loss_dict(outputs, batch, metrics_dict)
        proximal = getattr(self, "proximal", None)
        if proximal is not None and self.training:
            anchor, weights = proximal
            if self.means.shape[0] != anchor["means"].shape[0]:
                self.proximal = None  # densification changed the Gaussians: nothing to be near any more
            else:
                scale = hold_scale(self.step + 1, self.config.initializer_proximal_hold)
                losses["proximal_loss"] = scale * proximal_penalty(self.gauss_params, anchor, weights)
        return losses

    def _set_colors(self, rgb: Tensor) -> None:
        """Seed colours the way splatfacto does: SH DC (rest zero), or logits without SH."""
        if self.config.sh_degree > 0:
            dc = RGB2SH(rgb)
        else:
            dc = torch.logit(rgb, eps=1e-10)
        self.gauss_params["features_dc"] = torch.nn.Parameter(dc)
        self.gauss_params["features_rest"] = torch.nn.Parameter(torch.zeros_like(self.features_rest))

    def get_outputs(self, camera: Cameras) -> Dict[str, Union[Tensor, List]]:
        if not isinstance(camera, Cameras):
            raise TypeError(f"get_outputs needs a Cameras, got {type(camera).__name__}")
        if self.training and self.trains_gaussians:
            assert camera.shape[0] == 1, "splatfacto trains on one camera at a time"
            camera_to_world = self.camera_optimizer.apply_to_camera(camera)
        else:
            camera_to_world = camera.camera_to_worlds

        keep = None
        if self.crop_box is not None and not self.training:
            keep = self.crop_box.within(self.means).squeeze()
            if keep.sum() == 0:
                return self.get_empty_outputs(int(camera.width.item()), int(camera.height.item()), self.background_color)
        params = {name: (p if keep is None else p[keep]) for name, p in self.gauss_params.items()}

        downscale = self._get_downscale_factor()
        camera.rescale_output_resolution(1 / downscale)
        viewmat = get_viewmat(camera_to_world)
        K = camera.get_intrinsics_matrices().to(self.device)
        W, H = int(camera.width.item()), int(camera.height.item())
        self.last_size = (H, W)
        camera.rescale_output_resolution(downscale)

        if self.config.rasterize_mode not in ("antialiased", "classic"):
            raise ValueError(f"unknown rasterize_mode {self.config.rasterize_mode!r}: use 'classic' or 'antialiased'")
        render_mode = "RGB+ED" if (self.config.output_depth_during_training or not self.training) else "RGB"

        colors, sh_degree = self._colors_and_degree(params)
        render, alpha, self.info = rasterize(
            means=params["means"],
            quats=params["quats"],
            scales=torch.exp(params["scales"]),
            opacities=torch.sigmoid(params["opacities"]).squeeze(-1),
            colors=colors,
            viewmats=viewmat,
            Ks=K,
            width=W,
            height=H,
            near_plane=0.01,
            far_plane=1e10,
            sh_degree=sh_degree,
            render_mode=render_mode,
            tile_size=self.config.tile_size,
            packed=False,
            sparse_grad=False,
            absgrad=self.strategy.absgrad,
            rasterize_mode=self.config.rasterize_mode,
        )
        if self.training and self.trains_gaussians:
            self.strategy.step_pre_backward(self.gauss_params, self.optimizers, self.strategy_state, self.step, self.info)

        background = self._get_background_color()
        rgb = torch.clamp(render[..., :3] + (1 - alpha) * background, 0.0, 1.0)
        if self.config.use_bilateral_grid and self.training and camera.metadata and "cam_idx" in camera.metadata:
            rgb = self._apply_bilateral_grid(rgb, camera.metadata["cam_idx"], H, W)

        depth = None
        if render_mode == "RGB+ED":
            # Empty pixels get the farthest rendered depth instead of 0, as splatfacto does.
            depth = torch.where(alpha > 0, render[..., 3:4], render[..., 3:4].detach().max()).squeeze(0)
        if background.shape[0] == 3 and not self.training:
            background = background.expand(H, W, 3)
        return {"rgb": rgb.squeeze(0), "depth": depth, "accumulation": alpha.squeeze(0), "background": background}

    def _colors_and_degree(self, params: Dict[str, Tensor]) -> Tuple[Tensor, Union[int, None]]:
        """SH coefficients and the degree splatfacto's schedule has reached, or plain RGB without SH."""
        colors = torch.cat((params["features_dc"][:, None, :], params["features_rest"]), dim=1)
        if self.config.sh_degree > 0:
            if getattr(self, "full_sh_from_start", False):
                return colors, self.config.sh_degree
            return colors, min(self.step // self.config.sh_degree_interval, self.config.sh_degree)
        return torch.sigmoid(colors).squeeze(1), None

    def get_image_metrics_and_images(self, outputs, batch):
        if self.lpips is not None:
            return super().get_image_metrics_and_images(outputs, batch)
        # Without LPIPS weights, compute the others and leave LPIPS out rather than report a wrong number.
        self.lpips = lambda *args: torch.tensor(float("nan"))
        try:
            metrics, images = super().get_image_metrics_and_images(outputs, batch)
        finally:
            self.lpips = None
        metrics.pop("lpips", None)
        metrics.pop("cc_lpips", None)
        return metrics, images
