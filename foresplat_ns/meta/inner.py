"""The inner loop: splatfacto's refinement of a scene's Gaussians, as plain tensors.

Same optimiser (Adam per parameter group with splatfacto's learning rates, eps and the means
schedule), same loss (L1 + D-SSIM), one view per step in a shuffled order, same order of
operations as nerfstudio's trainer (backward, optimiser step, scheduler, densification).
Meta-training unrolls it and the benchmark measures it; `ns-train foresplat-refine` runs the
same settings through nerfstudio's own trainer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Literal, Optional

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from nerfstudio.cameras.cameras import Cameras

from foresplat_ns.gaussians import SPLATFACTO_KEYS, Gaussians
from foresplat_ns.meta.losses import photometric_loss
from foresplat_ns.meta.proximal import hold_scale, proximal_penalty
from foresplat_ns.rendering.views import render_views

# Splatfacto's per-group Adam learning rates (nerfstudio 1.1.5 method config), eps 1e-15.
SPLATFACTO_LRS = {
    "means": 1.6e-4,
    "scales": 0.005,
    "quats": 0.001,
    "opacities": 0.05,
    "features_dc": 0.0025,
    "features_rest": 0.0025 / 20,
}
MEANS_LR_FINAL = 1.6e-6
MEANS_LR_STEPS = 30000


@dataclass
class InnerLoopConfig:
    """How a scene's Gaussians are refined (splatfacto's settings unless changed)."""

    lr_scale: float = 1.0
    """Multiplier of every learning rate."""
    densify: bool = False
    """Run splatfacto's densification and pruning (gsplat's DefaultStrategy with splatfacto's thresholds)."""
    ssim_lambda: float = 0.2
    """Weight of D-SSIM in the loss, as splatfacto."""
    background: Literal["random", "black", "white"] = "random"
    """Background while refining; splatfacto's default is random."""
    sh_schedule: Literal["splatfacto", "full"] = "full"
    """'splatfacto' raises the SH degree by one every 1000 steps from 0; 'full' uses every band given."""
    proximal_hold: Optional[int] = None
    """Steps for which a proximal term keeps its full λ; at a later step t it is λ · hold / t, falling as the pull
    of t Adam steps does (IFT's horizon weight). None: the full λ at every step."""


def _schedule_lr(step: int) -> float:
    """Splatfacto's exponential decay of the means learning rate, as a factor of the initial rate."""
    t = min(step / MEANS_LR_STEPS, 1.0)
    return math.exp(t * math.log(MEANS_LR_FINAL / SPLATFACTO_LRS["means"]))


class InnerLoop:
    """Refines one scene's Gaussians on its context views; a fresh optimiser state per scene."""

    def __init__(
        self,
        config: InnerLoopConfig,
        start: Gaussians,
        images: Float[Tensor, "views height width 3"],
        cameras: Cameras,
        seed: int = 0,
        proximal: Optional[Dict[str, Tensor]] = None,
    ):
        """Args:
            config: Refinement settings.
            start: Initial Gaussians (copied; the refinement never changes them).
            images: Context images in [0, 1].
            cameras: Their cameras.
            seed: Seed of the view order and random backgrounds.
            proximal: λ per parameter group ([N, 1] each, `Gaussians` field names): adds
                ½ Σ λ (θ − θ_start)² to the loss (IFT-trained initializers); None for none.
        """
        self.config = config
        self.images = images
        self.cameras = cameras
        self.params: Dict[str, torch.nn.Parameter] = {
            key: torch.nn.Parameter(value.detach().clone()) for key, value in start.to_splatfacto().items()
        }
        self.anchor, self.proximal = None, None
        if proximal is not None:
            self.anchor = {key: p.detach().clone() for key, p in self.params.items()}
            self.proximal = {SPLATFACTO_KEYS[name]: w.detach().to(images.device) for name, w in proximal.items()}
        self.optimizers = {
            key: torch.optim.Adam([p], lr=SPLATFACTO_LRS[key] * config.lr_scale, eps=1e-15)
            for key, p in self.params.items()
        }
        self.step_count = 0
        self.rng = np.random.default_rng(seed)
        self.order: list = []
        self.strategy = None
        if config.densify:
            self.strategy, self.strategy_state = _splatfacto_strategy(len(images))

    def gaussians(self) -> Gaussians:
        """The current Gaussians (detached)."""
        return Gaussians.from_splatfacto({k: p.detach() for k, p in self.params.items()})

    def _next_view(self) -> int:
        # A fresh random order of the views each epoch, as nerfstudio's full-image datamanager.
        if not self.order:
            self.order = self.rng.permutation(len(self.images)).tolist()
        return self.order.pop()

    def _sh_degree(self) -> Optional[int]:
        full = int(round(math.sqrt(self.params["features_rest"].shape[1] + 1))) - 1
        if self.config.sh_schedule == "full":
            return full
        return min(self.step_count // 1000, full)

    def step(self) -> float:
        """One refinement step on one context view; returns its loss."""
        view = self._next_view()
        background = _background(self.config.background, self.rng, self.images.device)
        gaussians = Gaussians.from_splatfacto(self.params)
        absgrad = self.strategy is not None and self.strategy.absgrad
        renders = render_views(
            gaussians, self.cameras[view : view + 1], background, sh_degree=self._sh_degree(), absgrad=absgrad
        )
        if self.strategy is not None:
            self.strategy.step_pre_backward(self.params, self.optimizers, self.strategy_state, self.step_count, renders.meta)
        # Splatfacto clamps its rendered colours before the loss.
        loss = photometric_loss(renders.rgb.clamp(0.0, 1.0), self.images[view : view + 1], self.config.ssim_lambda)
        if self.proximal is not None:
            if len(self.params["means"]) != len(self.anchor["means"]):
                self.proximal = None  # densification changed the topology: no anchor to be near
            else:
                scale = hold_scale(self.step_count + 1, self.config.proximal_hold)
                loss = loss + scale * proximal_penalty(self.params, self.anchor, self.proximal)
        loss.backward()
        for optimizer in self.optimizers.values():
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        self.step_count += 1
        for group in self.optimizers["means"].param_groups:
            group["lr"] = SPLATFACTO_LRS["means"] * self.config.lr_scale * _schedule_lr(self.step_count)
        if self.strategy is not None:
            self.strategy.step_post_backward(
                self.params, self.optimizers, self.strategy_state, self.step_count - 1, renders.meta, packed=False
            )
        return float(loss.detach())

    def horizon_weights(self) -> Dict[str, Tensor]:
        """The proximal weight these steps act as, per parameter (`Gaussians` names): √v̂ / (t · lr).

        t Adam steps move a parameter by about t·lr at most, as far as a proximal term ½ w (θ − θ_start)² of this
        weight lets a gradient of Adam's typical size √v̂ (its bias-corrected second moment) pull it. Zero before
        the first step and where a parameter never had a gradient.
        """
        weights = {}
        for name, key in SPLATFACTO_KEYS.items():
            param, optimizer = self.params[key], self.optimizers[key]
            state = optimizer.state.get(param, {})
            if not state:
                weights[name] = torch.zeros_like(param.detach())
                continue
            steps = float(state["step"])
            beta2 = optimizer.param_groups[0]["betas"][1]
            second = state["exp_avg_sq"] / (1.0 - beta2**steps)
            weights[name] = second.sqrt() / (steps * optimizer.param_groups[0]["lr"])
        return weights

    def run(self, steps: int) -> None:
        """Run `steps` refinement steps."""
        for _ in range(steps):
            self.step()


def _background(kind: str, rng: np.random.Generator, device) -> Tensor:
    if kind == "random":
        return torch.tensor(rng.random(3), dtype=torch.float32, device=device)
    return torch.full((3,), 1.0 if kind == "white" else 0.0, device=device)


def _splatfacto_strategy(num_views: int):
    """gsplat's DefaultStrategy with splatfacto's default thresholds (SplatfactoModelConfig)."""
    from gsplat.strategy import DefaultStrategy  # pure PyTorch; no CUDA code is touched

    from nerfstudio.models.splatfacto import SplatfactoModelConfig

    c = SplatfactoModelConfig()
    strategy = DefaultStrategy(
        prune_opa=c.cull_alpha_thresh,
        grow_grad2d=c.densify_grad_thresh,
        grow_scale3d=c.densify_size_thresh,
        grow_scale2d=c.split_screen_size,
        prune_scale3d=c.cull_scale_thresh,
        prune_scale2d=c.cull_screen_size,
        refine_scale2d_stop_iter=c.stop_screen_size_at,
        refine_start_iter=c.warmup_length,
        refine_stop_iter=c.stop_split_at,
        reset_every=c.reset_alpha_every * c.refine_every,
        refine_every=c.refine_every,
        pause_refine_after_reset=num_views + c.refine_every,
        absgrad=c.use_absgrad,
        revised_opacity=False,
        verbose=False,
    )
    return strategy, strategy.initialize_state(scene_scale=1.0)


def splatfacto_start(points: Tensor, colors: Tensor, sh_degree: int = 3, seed: int = 0) -> Gaussians:
    """Splatfacto's initialisation from a point cloud: 3-NN scales, random rotations, opacity 0.1, SH from colour."""
    from nerfstudio.models.splatfacto import RGB2SH, SplatfactoModel, random_quat_tensor

    torch.manual_seed(seed)
    distances, _ = SplatfactoModel.k_nearest_sklearn(None, points.float(), 3)
    avg = torch.from_numpy(distances).float().mean(dim=-1, keepdim=True)
    n = points.shape[0]
    return Gaussians(
        means=points.float().clone(),
        log_scales=torch.log(avg.repeat(1, 3)),
        quats=random_quat_tensor(n),
        logit_opacities=torch.logit(0.1 * torch.ones(n, 1)),
        sh_dc=RGB2SH(colors.float() / 255.0),
        sh_rest=torch.zeros(n, (sh_degree + 1) ** 2 - 1, 3),
    )


def random_start(lo: Tensor, hi: Tensor, count: int, sh_degree: int = 3, seed: int = 0) -> Gaussians:
    """Splatfacto's random initialisation (uniform means, random colours) inside the box [lo, hi]."""
    generator = torch.Generator().manual_seed(seed)
    means = lo + (hi - lo) * torch.rand(count, 3, generator=generator)
    colors = (torch.rand(count, 3, generator=generator) * 255.0).round()
    start = splatfacto_start(means, colors, sh_degree, seed)
    return start.replace(sh_dc=torch.rand(count, 3, generator=generator))

