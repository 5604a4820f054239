"""IFT meta-gradient (Diff3R): implicit differentiation through the solution of a proximal refinement.

The inner problem is θ* = argmin_θ L_in(θ) + ½ (θ − θ0)ᵀ Λ (θ − θ0) with Λ = diag(λ) from the
network's per-Gaussian confidence. Its stationarity condition ∇L_in(θ*) + Λ(θ* − θ0) = 0 gives,
with A = H + Λ and u = A⁻¹ ∇L_out(θ*):

    ∂L_out/∂θ0 = Λ u,        ∂L_out/∂λ_i = −u_i (θ*_i − θ0_i).

H is the Gauss-Newton matrix JᵀJ of the refinement views' squared-error residuals, estimated on a
subset of them (`hessian_views`), or, for tests, the exact Hessian of that loss; its products need
no matrix (`gauss_newton.py`), and A u = b is solved by preconditioned conjugate gradient
(`linear_solve.py`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Literal, Optional, Tuple

import torch
from jaxtyping import Float
from torch import Tensor

from nerfstudio.cameras.cameras import Cameras

from foresplat_ns.gaussians import SPLATFACTO_KEYS, Gaussians
from foresplat_ns.meta.gauss_newton import GaussNewton, gauss_newton_product
from foresplat_ns.meta.inner import SPLATFACTO_LRS
from foresplat_ns.meta.linear_solve import SolveInfo, jacobi, solve_cg
from foresplat_ns.meta.proximal import expand
from foresplat_ns.rendering.views import render_views

TensorDict = Dict[str, Tensor]
DEFAULT_GROUP_SCALES = {name: SPLATFACTO_LRS["scales"] / SPLATFACTO_LRS[key] for name, key in SPLATFACTO_KEYS.items()}
HessianMode = Literal["forward", "finite-difference", "exact"]


@dataclass
class IFTConfig:
    """The proximal inner objective and the implicit-gradient solve."""

    lambda_min: float = 1e-6
    """Proximal weight λ of a Gaussian with confidence 0 (free to move), before the group's scale."""
    lambda_max: float = 1e-2
    """Proximal weight λ of a Gaussian with confidence 1 (held at its prediction); λ is log-linear in between.
    Equal to lambda_min, λ is fixed and the confidence head unused."""
    start_confidence: Optional[float] = 0.1
    """When IFT fine-tunes a run that was not trained with IFT (--pipeline.model.initializer-checkpoint), whose
    confidence head never learned, reset that head so every Gaussian starts at this confidence in (0, 1); λ then
    starts at lambda_min·(lambda_max/lambda_min)^c times the group's scale (0.1 with the defaults: 2.5e-6 before
    the scale). None keeps the loaded head (confidence about 0.5: λ about 1e-4 before the scale; refinement with
    the proximal term then stalls, 3 dB behind at 500 steps in the benchmark). IFT-trained runs keep their head."""
    confidence_gradient: Literal["network", "head"] = "network"
    """Where ∂L/∂λ trains: 'network' (Diff3R) through the confidence head into the features every head shares;
    'head' the confidence head alone, on detached features, so that learning λ cannot move the predicted Gaussians."""
    group_scales: Dict[str, float] = field(default_factory=lambda: dict(DEFAULT_GROUP_SCALES))
    """Multiplier of λ per parameter group (means, log_scales, quats, logit_opacities, sh_dc, sh_rest); by default
    inversely proportional to splatfacto's learning rate of the group, so λ weighs each group's typical move alike."""
    product: HessianMode = "forward"
    """Products with H: Gauss-Newton JᵀJv with Jv by 'forward' mode (CPU renderer) or 'finite-difference'
    (two renders, any renderer); 'exact' uses the true Hessian of the squared-error loss (double backward)."""
    fd_epsilon: float = 1e-3
    """Step of the central difference in 'finite-difference' mode."""
    cg_iterations: int = 10
    """Largest number of conjugate-gradient iterations (products with A) per meta step."""
    cg_rtol: float = 1e-3
    """Relative residual at which conjugate gradient stops."""
    damping: float = 1e-6
    """Added to Λ in A = H + Λ + damping, for a well-conditioned solve."""
    hessian_views: Optional[int] = 4
    """Views of the refinement set whose residuals the products with H use: a random subset, fixed for the whole
    solve (H of the mean loss over all views, estimated); None: every refinement view. Each product renders them."""
    diagonal_samples: int = 4
    """Random-sign samples of diag(JᵀJ) for the Jacobi preconditioner, one backward pass each (Hutchinson
    samples in 'exact' mode); 0 preconditions by Λ only."""
    horizon: bool = False
    """Beyond Diff3R: treat the K inner steps as the truncated refinement they are. K Adam steps move a parameter
    about K·lr at most, which holds it as a proximal term of weight √v̂/(K·lr) would (v̂: Adam's second moment at
    step K); that weight joins Λ in the solve and in ∂L/∂θ0 = (Λ + Λ_K) u. Without it the solve treats θ* as
    converged, and Λ(H + Λ)⁻¹ passes little of the target gradient where the proximal term is weak. Refinement is
    unchanged (the proximal term keeps Λ alone)."""
    first_order_anchors: bool = False
    """Beyond Diff3R: also send back MetaGrad's first-order target-view gradients at anchor states of the proximal
    inner trajectory before step K, drawn as MetaGrad draws them (--pipeline.meta.num-anchors, anchor-sampling,
    anchor-steps, anchor-weights); the implicit gradient at θ* takes anchor K's weight. The implicit gradient speaks
    for the refined solution, the anchors for the early steps of refinement. False: the implicit gradient alone
    (beside the step-0 anchor)."""


def squared_error_residual(
    images: Float[Tensor, "views height width 3"], cameras: Cameras, background: Tensor, sh_degree: Optional[int] = None
) -> Callable[[TensorDict], Tensor]:
    """θ -> r(θ) with ½||r||² the mean squared error of the renders of θ on these views."""
    scale = math.sqrt(2.0 / images.numel())

    def residual(params: TensorDict) -> Tensor:
        rendered = render_views(Gaussians(**params), cameras, background, sh_degree=sh_degree).rgb
        return ((rendered - images) * scale).reshape(-1)

    return residual


def hessian_product(
    residual: Callable[[TensorDict], Tensor], theta: TensorDict, v: TensorDict, mode: HessianMode, eps: float
) -> TensorDict:
    """H v of ½||r(θ)||²: Gauss-Newton JᵀJv ('forward', 'finite-difference') or exact (double backward)."""
    if mode != "exact":
        return gauss_newton_product(residual, theta, v, mode=mode, eps=eps)
    leaf = {k: t.detach().requires_grad_(True) for k, t in theta.items()}
    loss = 0.5 * (residual(leaf) ** 2).sum()
    grads = torch.autograd.grad(loss, list(leaf.values()), create_graph=True)
    dot = sum((g * v[k]).sum() for g, k in zip(grads, leaf))
    return dict(zip(leaf, torch.autograd.grad(dot, list(leaf.values()))))


def hessian_operator(
    residual: Callable[[TensorDict], Tensor], theta: TensorDict, config: "IFTConfig", seed: int = 0
) -> Tuple[Callable[[TensorDict], TensorDict], Optional[TensorDict]]:
    """v -> H v at θ, and diag(H) for the Jacobi preconditioner (None with `diagonal_samples` 0).

    The Gauss-Newton modes build the pullback of the residual once for every product and the diagonal.
    """
    samples = config.diagonal_samples
    if config.product == "exact":
        matvec = lambda v: hessian_product(residual, theta, v, "exact", 0.0)  # noqa: E731
        return matvec, (hutchinson_diagonal(matvec, theta, samples, seed) if samples > 0 else None)
    operator = GaussNewton(residual, theta, config.product, config.fd_epsilon)
    return operator.product, (operator.diagonal(samples, seed) if samples > 0 else None)


def hutchinson_diagonal(matvec: Callable[[TensorDict], TensorDict], like: TensorDict, samples: int, seed: int = 0) -> TensorDict:
    """diag(H) ≈ mean over Rademacher z of z ⊙ H z, clamped at zero (H is positive semi-definite)."""
    generator = torch.Generator().manual_seed(seed)
    total = {k: torch.zeros_like(t) for k, t in like.items()}
    for _ in range(samples):
        z = {k: (torch.randint(0, 2, t.shape, generator=generator).to(t) * 2 - 1) for k, t in like.items()}
        hz = matvec(z)
        total = {k: total[k] + z[k] * hz[k] for k in total}
    return {k: (t / max(samples, 1)).clamp_min(0.0) for k, t in total.items()}


@dataclass
class Hypergradient:
    """∂L_out/∂θ0 and ∂L_out/∂λ at the inner solution, and how the solve went."""

    theta0: TensorDict
    lambdas: TensorDict
    """Per Gaussian and group, shaped like λ ([N, 1])."""
    info: SolveInfo
    seconds: float


def hypergradient(
    hessian: Callable[[TensorDict], TensorDict],
    outer_grad: TensorDict,
    weights: TensorDict,
    theta_star: TensorDict,
    theta0: TensorDict,
    config: IFTConfig,
    diagonal: Optional[TensorDict] = None,
    callback: Optional[Callable[[int, TensorDict, float], None]] = None,
    horizon: Optional[TensorDict] = None,
) -> Hypergradient:
    """Solve (H + Λ) u = ∇L_out(θ*) by PCG; return Λu and −u ⊙ (θ* − θ0) summed per Gaussian and group.

    With `horizon` (Λ_K, shaped like θ) Λ + Λ_K stands for Λ in the solve and in Λu; ∂L/∂λ keeps its form.

    Args:
        hessian: v -> H v at θ*.
        outer_grad: ∇θ L_out(θ*).
        weights: λ per group, [N, 1] each (detached values are used).
        theta_star: The inner solution θ*.
        theta0: The prediction θ0.
        config: Solver settings.
        diagonal: An estimate of diag(H) for the Jacobi preconditioner; None: Λ only.
        callback: Passed to `solve_cg`: (iteration, u, relative residual) after every iteration.
        horizon: The truncated refinement's own proximal weight Λ_K per parameter (`InnerLoop.horizon_weights`).
    """
    begin = time.perf_counter()
    held = effective_weights(weights, outer_grad, horizon)
    lam = {k: held[k] + config.damping for k in outer_grad}
    def matvec(v: TensorDict) -> TensorDict:
        hv = hessian(v)
        return {k: hv[k] + lam[k] * v[k] for k in v}

    diag = {k: lam[k].expand_as(outer_grad[k]) + (0.0 if diagonal is None else diagonal[k]) for k in outer_grad}
    u, info = solve_cg(
        matvec, outer_grad, jacobi(diag), maxiter=config.cg_iterations, rtol=config.cg_rtol, callback=callback
    )
    d_theta0, d_lambda = implicit_gradients(u, weights, theta_star, theta0, horizon)
    return Hypergradient(d_theta0, d_lambda, info, time.perf_counter() - begin)


def effective_weights(weights: TensorDict, like: TensorDict, horizon: Optional[TensorDict] = None) -> TensorDict:
    """Λ (detached, [N, 1] per group) broadcast to each parameter of `like`, plus Λ_K where given."""
    held = {k: expand(weights[k].detach(), like[k]) for k in like}
    if horizon is None:
        return held
    return {k: held[k] + horizon[k] for k in like}


def implicit_gradients(
    u: TensorDict,
    weights: TensorDict,
    theta_star: TensorDict,
    theta0: TensorDict,
    horizon: Optional[TensorDict] = None,
) -> Tuple[TensorDict, TensorDict]:
    """Λu and −u ⊙ (θ* − θ0) summed per Gaussian and group, from a solution u of (H + Λ) u = ∇L_out(θ*).

    With `horizon` the first is (Λ + Λ_K) u, u solving (H + Λ + Λ_K) u = ∇L_out(θ*).
    """
    held = effective_weights(weights, u, horizon)
    d_theta0 = {k: held[k] * u[k] for k in u}
    d_lambda = {
        k: -(u[k] * (theta_star[k] - theta0[k])).reshape(u[k].shape[0], -1).sum(-1, keepdim=True) for k in u
    }
    return d_theta0, d_lambda
