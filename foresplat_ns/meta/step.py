"""The meta step: from a prediction θ0 = f_φ(context) to a surrogate loss whose gradient in φ is the meta-gradient.

nerfstudio's trainer then runs backward and the optimiser step unchanged. Each mode only
changes the gradient that reaches θ0:

- ``zero-step``: the rendering loss of θ0 itself, on the target views (and, weighted, the
  context views). Its gradient is the ordinary feed-forward training signal.
- ``metagrad`` (ForeSplat): K inner refinement steps from θ0 (detached, splatfacto's optimiser,
  fixed topology, fresh state, on the context views and any extra refinement views of the batch);
  at sampled anchor steps s the outer-loss
  gradient a_s = ∇L_out(θ_s) is added to G = Σ w_s a_s, and the surrogate (θ0 · G).sum() hands
  exactly G to θ0. Cost: K + |S| render-and-backward passes; memory does not grow with K.
- ``ift`` (Diff3R): K inner steps of the proximal objective L_in + ½(θ − θ0)ᵀΛ(θ − θ0), Λ from the
  predicted confidence, approximate θ*; one PCG solve (H + Λ) u = ∇L_out(θ*) gives ∂θ0 = Λu and
  ∂λ = −u ⊙ (θ* − θ0), which reach the network through θ0 and the confidence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Literal, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from nerfstudio.cameras.cameras import Cameras

from foresplat_ns.data.scene_batch import SceneBatch
from foresplat_ns.gaussians import Gaussians
from foresplat_ns.meta.ift import IFTConfig, hessian_operator, hypergradient, squared_error_residual
from foresplat_ns.meta.inner import InnerLoop, InnerLoopConfig
from foresplat_ns.meta.losses import disparity_loss, photometric_loss, psnr
from foresplat_ns.meta.normalise import Normalisation
from foresplat_ns.meta.proximal import proximal_weights
from foresplat_ns.rendering.views import render_views

MetaMode = Literal["zero-step", "metagrad", "ift"]


@dataclass
class MetaConfig:
    """How the initializer's training signal is computed from each scene."""

    mode: MetaMode = "zero-step"
    """Training signal: 'zero-step' renders the prediction itself into the target views; 'metagrad' sends back
    the target-view gradients at anchor states of a short refinement from the prediction; 'ift' differentiates
    the solution of a proximal refinement implicitly (PCG solve) into the prediction and its confidence."""
    context_weight: float = 0.5
    """Weight of the context-view rendering loss beside the target-view loss (0 = targets only)."""
    ssim_lambda: float = 0.2
    """Weight of D-SSIM in the photometric loss, as splatfacto's `ssim_lambda`."""
    depth_weight: float = 1.0
    """Weight of a depth loss on scenes that have depth maps (the generated ones do; others train on colour
    only): the rendered depth's disparity error (`disparity_loss`) in the target views, and in the context
    views times `context_weight`. Geometry learnt from colour alone is what limits refinement from the
    prediction; 0 = photometric only."""
    background: Literal["random", "black", "white"] = "random"
    """Background behind the Gaussians while training; random (as splatfacto) rewards full coverage."""
    inner_steps: int = 20
    """MetaGrad and IFT: K, the inner refinement steps from the prediction."""
    num_anchors: int = 3
    """MetaGrad: anchor states sampled among steps 1..K (K is always one of them)."""
    anchor_sampling: Literal["uniform", "late"] = "late"
    """MetaGrad: anchors drawn uniformly from 1..K-1, or biased towards late steps (density ∝ s)."""
    anchor_steps: Tuple[int, ...] = ()
    """MetaGrad: fixed anchor steps in 1..K (K is always one of them), e.g. where the benchmark measures: with K=30 at
    10x the learning rate, steps 3 and 10 stand for about 30 and 100 refinement steps. Given, they replace the
    sampled anchors (num-anchors and anchor-sampling are ignored); empty = sample."""
    anchor_weights: Literal["equal", "linear"] = "equal"
    """MetaGrad: weights of the sampled anchors, equal or proportional to their step; normalised to sum to 1."""
    step0_anchor: bool = True
    """MetaGrad and IFT: also use step 0 (the zero-step loss of the prediction) as an anchor."""
    step0_weight: float = 0.5
    """MetaGrad and IFT: weight of the step-0 anchor; the refined states share 1 - step0_weight."""
    zero_step_groups: Tuple[str, ...] = ()
    """MetaGrad: parameter groups (Gaussians field names: means, log_scales, quats, logit_opacities, sh_dc, sh_rest)
    trained on the zero-step loss alone: their meta-gradient is the step-0 gradient with weight 1, the others' is
    MetaGrad's. Refinement repairs some groups within a few steps and others hardly at all; empty = none."""
    meta_every: int = 1
    """MetaGrad and IFT: compute the meta-gradient on every N-th step only and train on the zero-step loss on the
    others (1 = every step). A meta-step costs several zero-step steps; this spends part of a budget on each."""
    inner: InnerLoopConfig = field(default_factory=lambda: InnerLoopConfig(densify=False))
    """MetaGrad and IFT: the inner refinement (splatfacto's optimiser settings; learning-rate scale; no densification)."""
    ift: IFTConfig = field(default_factory=IFTConfig)
    """IFT: the proximal weights λ and the implicit-gradient solve."""


@dataclass
class MetaStepResult:
    """What one meta step hands to nerfstudio's trainer."""

    surrogate: Tensor
    """Scalar whose gradient with respect to the network is the meta-gradient."""
    metrics: Dict[str, Tensor]
    """Detached figures to log."""


def training_background(config: MetaConfig, step: int, device: torch.device) -> Tensor:
    """The background colour of a step; random colours depend on the step only, so a resumed run repeats them."""
    if config.background == "random":
        return torch.rand(3, generator=torch.Generator().manual_seed(step)).to(device)
    return torch.full((3,), 1.0 if config.background == "white" else 0.0, device=device)


def scene_loss(
    gaussians: Gaussians, batch: SceneBatch, config: MetaConfig, background: Optional[Tensor] = None
) -> tuple[Tensor, Dict[str, Tensor]]:
    """Photometric loss of Gaussians on a batch's target views, plus weighted context views.

    With `depth_weight` > 0 and depth maps in the batch, each view set's loss adds the weighted disparity error.
    """
    target = render_views(gaussians, batch.target_cameras, background)
    loss_target = photometric_loss(target.rgb, batch.target_images, config.ssim_lambda)
    metrics = {"target_loss": loss_target.detach(), "target_psnr": psnr(target.rgb.detach(), batch.target_images)}
    use_depth = config.depth_weight > 0 and batch.target_depths is not None and batch.context_depths is not None
    if use_depth:
        error = disparity_loss(target.depth, target.alpha, batch.target_depths, batch.near)
        metrics["target_disparity_error"] = error.detach()
        loss_target = loss_target + config.depth_weight * error
    loss = loss_target
    if config.context_weight > 0:
        context = render_views(gaussians, batch.context_cameras, background)
        loss_context = photometric_loss(context.rgb, batch.context_images, config.ssim_lambda)
        metrics["context_loss"] = loss_context.detach()
        metrics["context_psnr"] = psnr(context.rgb.detach(), batch.context_images)
        if use_depth:
            error = disparity_loss(context.depth, context.alpha, batch.context_depths, batch.near)
            metrics["context_disparity_error"] = error.detach()
            loss_context = loss_context + config.depth_weight * error
        loss = loss + config.context_weight * loss_context
    return loss, metrics


def sample_anchors(config: MetaConfig, rng: np.random.Generator) -> List[Tuple[int, float]]:
    """(step, weight) of each anchor: K always, further steps fixed or sampled from 1..K-1, optionally step 0."""
    k = config.inner_steps
    if k == 0:
        return [(0, 1.0)]
    candidates = np.arange(1, k)
    extra = min(max(config.num_anchors - 1, 0), len(candidates))
    if config.anchor_steps:
        if not all(1 <= s <= k for s in config.anchor_steps):
            raise ValueError(f"--pipeline.meta.anchor-steps must lie in 1..{k} (the inner steps), got {list(config.anchor_steps)}")
        steps = sorted(set(config.anchor_steps) | {k})
    elif extra:
        p = candidates / candidates.sum() if config.anchor_sampling == "late" else None
        steps = sorted(rng.choice(candidates, size=extra, replace=False, p=p).tolist()) + [k]
    else:
        steps = [k]
    raw = np.array(steps, dtype=float) if config.anchor_weights == "linear" else np.ones(len(steps))
    share = 1.0 - config.step0_weight if config.step0_anchor else 1.0
    anchors = [(int(s), float(w)) for s, w in zip(steps, share * raw / raw.sum())]
    if config.step0_anchor:
        anchors.insert(0, (0, config.step0_weight))
    return anchors


def outer_gradient(
    gaussians: Gaussians, batch: SceneBatch, config: MetaConfig, background: Tensor, targets_only: bool
) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
    """∇θ L_out(θ) for detached Gaussians θ, per parameter, with the loss's metrics.

    L_out is the target-view loss; with `targets_only` False it is the zero-step loss (plus context views).
    """
    leaf = gaussians.detach().map(lambda t: t.clone().requires_grad_(True))
    params = leaf.params()
    loss_config = replace(config, context_weight=0.0) if targets_only else config
    loss, metrics = scene_loss(leaf, batch, loss_config, background)
    grads = torch.autograd.grad(loss, list(params.values()))
    return dict(zip(params, grads)), metrics


def metagrad(
    config: MetaConfig, prediction: Gaussians, batch: SceneBatch, step: int
) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
    """G = Σ_s w_s ∇L_out(θ_s) over anchor states of K inner steps from the prediction, and metrics.

    `prediction` and `batch` must be in the frame the inner loop's learning rates assume (normalised).
    """
    background = training_background(config, step, prediction.means.device)
    anchors = dict(sample_anchors(config, np.random.default_rng([step, 7])))
    unknown = set(config.zero_step_groups) - set(prediction.params())
    if unknown:
        raise ValueError(
            f"--pipeline.meta.zero-step-groups: unknown group(s) {sorted(unknown)}; use {', '.join(prediction.params())}"
        )
    if config.zero_step_groups and 0 not in anchors:
        anchors[0] = 0.0  # the step-0 gradient is needed for those groups even without the step-0 anchor
    zero_step: Dict[str, Tensor] = {}
    images, cameras = batch.refinement_views()
    loop = InnerLoop(config.inner, prediction.detach(), images, cameras, seed=step)
    total: Dict[str, Tensor] = {}
    metrics: Dict[str, Tensor] = {}
    inner_seconds = 0.0
    for s in range(config.inner_steps + 1):
        if s > 0:
            begin = time.perf_counter()
            loop.step()
            inner_seconds += time.perf_counter() - begin
        if s in anchors:
            # Step 0 is the vanilla (zero-step) anchor; later anchors measure the held-out target views only.
            grads, m = outer_gradient(loop.gaussians(), batch, config, background, targets_only=s > 0)
            if s == 0:
                zero_step = grads
            for name, g in grads.items():
                total[name] = total.get(name, 0.0) + anchors[s] * g
            # Anchors are logged by rank (their steps vary from step to step).
            rank = sorted(anchors).index(s)
            metrics[f"anchor{rank}_target_loss"] = m["target_loss"]
            metrics[f"anchor{rank}_step"] = torch.tensor(float(s))
            if s == 0:
                metrics["target_psnr_step0"] = m["target_psnr"]
            if s == config.inner_steps:
                metrics["target_psnr_stepK"] = m["target_psnr"]
    for name in config.zero_step_groups:
        total[name] = zero_step[name]
    metrics["inner_seconds"] = torch.tensor(inner_seconds)
    metrics["num_anchors"] = torch.tensor(float(len(anchors)))
    return total, metrics


@dataclass
class ProximalProblem:
    """What the IFT solve needs after K proximal inner steps: θ*, ∇L_out(θ*), H v at θ* and diag(H)."""

    theta_star: Dict[str, Tensor]
    outer_grad: Dict[str, Tensor]
    target_metrics: Dict[str, Tensor]
    hessian: Callable[[Dict[str, Tensor]], Dict[str, Tensor]]
    diagonal: Optional[Dict[str, Tensor]]
    inner_seconds: float
    trajectory_grads: Dict[int, Dict[str, Tensor]] = field(default_factory=dict)
    """∇L_out(θ_s) on the target views at the requested inner steps s < K (first-order anchors)."""
    horizon: Optional[Dict[str, Tensor]] = None
    """The K steps' own proximal weight Λ_K (with `ift.horizon`), shaped like θ."""


def proximal_problem(
    config: MetaConfig,
    theta0: Gaussians,
    weights: Dict[str, Tensor],
    batch: SceneBatch,
    seed: int,
    background: Tensor,
    trajectory_steps: Tuple[int, ...] = (),
) -> ProximalProblem:
    """Runs K proximal inner steps from `theta0` on the refinement views and sets up the products with H at θ*.

    At each step in `trajectory_steps` (in 1..K-1) the target-view gradient of the state is kept as well.
    """
    images, cameras = batch.refinement_views()
    proximal = {k: w.detach() for k, w in weights.items()}
    loop = InnerLoop(config.inner, theta0, images, cameras, seed=seed, proximal=proximal)
    trajectory: Dict[int, Dict[str, Tensor]] = {}
    inner_seconds = 0.0
    for s in range(1, config.inner_steps + 1):
        begin = time.perf_counter()
        loop.step()
        inner_seconds += time.perf_counter() - begin
        if s in trajectory_steps:
            trajectory[s], _ = outer_gradient(loop.gaussians(), batch, config, background, targets_only=True)
    refined = loop.gaussians()
    outer, metrics = outer_gradient(refined, batch, config, background, targets_only=True)
    theta_star = refined.params()
    residual = squared_error_residual(*subset_views(images, cameras, config.ift.hessian_views, seed=seed), background)
    hessian, diagonal = hessian_operator(residual, theta_star, config.ift, seed=seed)
    horizon = loop.horizon_weights() if config.ift.horizon else None
    return ProximalProblem(theta_star, outer, metrics, hessian, diagonal, inner_seconds, trajectory, horizon)


def ift(
    config: MetaConfig, prediction: Gaussians, weights: Dict[str, Tensor], batch: SceneBatch, step: int
) -> Tuple[Dict[str, Tensor], Dict[str, Tensor], Dict[str, Tensor]]:
    """∂L/∂θ0 and ∂L/∂λ by the implicit function theorem at K proximal inner steps from the prediction.

    `weights` are λ per group ([N, 1]); with `step0_anchor` the zero-step gradient is blended in with
    `step0_weight`; with `ift.first_order_anchors` MetaGrad's first-order gradients at sampled states of the
    proximal trajectory are too, and the implicit gradient takes anchor K's weight. `prediction` and `batch` must be
    in the inner loop's (normalised) frame.
    """
    background = training_background(config, step, prediction.means.device)
    theta0 = prediction.detach()
    k = config.inner_steps
    if k < 1:
        raise ValueError("--pipeline.meta.mode ift needs --pipeline.meta.inner-steps of 1 or more (θ* is K steps away)")
    # Without first-order anchors only step 0 (optional) and K, where the implicit gradient stands.
    anchor_config = config if config.ift.first_order_anchors else replace(config, num_anchors=1, anchor_steps=())
    anchors = dict(sample_anchors(anchor_config, np.random.default_rng([step, 7])))
    trajectory_steps = tuple(s for s in anchors if 0 < s < k)
    begin = time.perf_counter()
    problem = proximal_problem(config, theta0, weights, batch, step, background, trajectory_steps)
    result = hypergradient(
        problem.hessian,
        problem.outer_grad,
        weights,
        problem.theta_star,
        theta0.params(),
        config.ift,
        problem.diagonal,
        horizon=problem.horizon,
    )
    ift_seconds = time.perf_counter() - begin - problem.inner_seconds
    inner_seconds, m = problem.inner_seconds, problem.target_metrics

    d_theta0, d_lambda = result.theta0, result.lambdas
    metrics = {
        "anchorK_target_loss": m["target_loss"],
        "target_psnr_stepK": m["target_psnr"],
        "cg_iterations": torch.tensor(float(result.info.iterations)),
        "cg_relative_residual": torch.tensor(result.info.relative_residual),
        "inner_seconds": torch.tensor(inner_seconds),
        "ift_seconds": torch.tensor(ift_seconds),
        "lambda_mean": torch.exp(torch.log(weights["means"].detach()).mean()),
        "lambda_sh_dc": torch.exp(torch.log(weights["sh_dc"].detach()).mean()),
        "implicit_passed_means": passed_fraction(d_theta0["means"], problem.outer_grad["means"]),
        "implicit_passed_sh_dc": passed_fraction(d_theta0["sh_dc"], problem.outer_grad["sh_dc"]),
    }
    if problem.horizon is not None:
        metrics["horizon_means_median"] = problem.horizon["means"].median()
    share = anchors.get(k, 0.0)
    d_theta0 = {name: share * g for name, g in d_theta0.items()}
    d_lambda = {name: share * g for name, g in d_lambda.items()}
    for s, grads in problem.trajectory_grads.items():
        d_theta0 = {name: d_theta0[name] + anchors[s] * grads[name] for name in d_theta0}
    if 0 in anchors:
        zero, m0 = outer_gradient(theta0, batch, config, background, targets_only=False)
        d_theta0 = {name: d_theta0[name] + anchors[0] * zero[name] for name in d_theta0}
        metrics["target_psnr_step0"] = m0["target_psnr"]
    metrics["num_anchors"] = torch.tensor(float(len(anchors)))
    return d_theta0, d_lambda, metrics


def passed_fraction(d_theta0: Tensor, outer_grad: Tensor) -> Tensor:
    """||∂L/∂θ0|| / ||∇L_out(θ*)|| of one group: how much of the target gradient at θ* reaches the prediction."""
    return d_theta0.detach().norm() / outer_grad.detach().norm().clamp_min(1e-30)


def subset_views(images: Tensor, cameras: Cameras, count: Optional[int], seed: int) -> Tuple[Tensor, Cameras]:
    """`count` of the views drawn at random (all of them when `count` is None or not smaller)."""
    if count is None or count >= len(images):
        return images, cameras
    keep = np.sort(np.random.default_rng([seed, 11]).choice(len(images), count, replace=False))
    index = torch.from_numpy(keep).to(images.device)
    return images[index], cameras[index]


def surrogate_loss(prediction: Gaussians, gradient: Dict[str, Tensor]) -> Tensor:
    """Σ (θ0 · G) over parameters: its gradient with respect to θ0 is exactly G."""
    params = prediction.params()
    return sum((params[name] * g.detach()).sum() for name, g in gradient.items())


def is_meta_step(config: MetaConfig, step: int) -> bool:
    """Whether `step` computes the meta-gradient (every `meta_every`-th step, counting from 0)."""
    if config.meta_every < 1:
        raise ValueError(f"--pipeline.meta.meta-every must be at least 1, got {config.meta_every}")
    return step % config.meta_every == 0


def meta_step(config: MetaConfig, prediction: Gaussians, batch: SceneBatch, step: int = 0) -> MetaStepResult:
    """The surrogate loss of one scene for the configured mode."""
    background = training_background(config, step, prediction.means.device)
    if config.mode == "zero-step" or not is_meta_step(config, step):
        loss, metrics = scene_loss(prediction, batch, config, background)
        return MetaStepResult(surrogate=loss, metrics=metrics)
    if config.mode == "metagrad":
        # Refine in nerfstudio's normalised frame, where splatfacto's learning rates apply.
        norm = Normalisation.of_batch(batch)
        theta0 = norm.gaussians(prediction)
        gradient, metrics = metagrad(config, theta0, norm.batch(batch), step)
        return MetaStepResult(surrogate=surrogate_loss(theta0, gradient), metrics=metrics)
    if config.mode == "ift":
        if prediction.confidence is None:
            raise ValueError("--pipeline.meta.mode ift needs the confidence head: set --pipeline.model.initializer.confidence-head True")
        norm = Normalisation.of_batch(batch)
        theta0 = norm.gaussians(prediction)
        weights = proximal_weights(prediction.confidence, config.ift)
        d_theta0, d_lambda, metrics = ift(config, theta0, weights, norm.batch(batch), step)
        through_lambda = sum((weights[k] * g.detach()).sum() for k, g in d_lambda.items())
        return MetaStepResult(surrogate=surrogate_loss(theta0, d_theta0) + through_lambda, metrics=metrics)
    raise ValueError(f"unknown meta-training mode {config.mode!r}")
