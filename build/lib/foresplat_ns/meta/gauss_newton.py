"""Matrix-free Gauss-Newton products (JᵀJ + Λ) v of a rendering residual, for the IFT solve."""

from __future__ import annotations

from typing import Callable, Dict, Literal

import torch
from torch import Tensor

TensorDict = Dict[str, Tensor]
ProductMode = Literal["forward", "finite-difference"]


def jacobian_vector(
    residual: Callable[[TensorDict], Tensor], theta: TensorDict, v: TensorDict, mode: ProductMode, eps: float = 1e-3
) -> Tensor:
    """J v of the residual at θ: forward-mode AD, or a central difference of two evaluations (any renderer)."""
    if mode == "forward":
        return torch.func.jvp(residual, (theta,), (v,))[1]
    # The step is `eps` along the unit direction, whatever the scale of v (CG's directions vary widely).
    norm = torch.sqrt(sum((v[k] ** 2).sum() for k in theta))
    step = eps / norm.clamp_min(1e-30)
    plus = residual({k: theta[k] + step * v[k] for k in theta})
    minus = residual({k: theta[k] - step * v[k] for k in theta})
    return (plus - minus) / (2.0 * step)


def gauss_newton_product(
    residual: Callable[[TensorDict], Tensor],
    theta: TensorDict,
    v: TensorDict,
    damping: TensorDict | None = None,
    mode: ProductMode = "forward",
    eps: float = 1e-3,
) -> TensorDict:
    """(JᵀJ + Λ) v with J the Jacobian of `residual` at θ and Λ = diag(`damping`) (zero when None).

    JᵀJ is the Gauss-Newton matrix of ½||residual||², positive semi-definite, so with Λ > 0 the
    product is that of an SPD matrix, as conjugate gradient needs.
    """
    theta = {k: t.detach() for k, t in theta.items()}
    jv = jacobian_vector(residual, theta, v, mode, eps).detach()
    _, pullback = torch.func.vjp(residual, theta)
    (jtjv,) = pullback(jv)
    if damping is None:
        return jtjv
    return {k: jtjv[k] + damping[k] * v[k] for k in jtjv}


def gauss_newton_diagonal(
    residual: Callable[[TensorDict], Tensor], theta: TensorDict, samples: int = 4, seed: int = 0
) -> TensorDict:
    """An unbiased, never negative estimate of diag(JᵀJ): the mean of (Jᵀs)² over random signs s.

    E[(Jᵀs)_i²] = Σ_p J_pi² for independent ±1 entries of s; each sample costs one backward
    pass through the same forward pass.
    """
    theta = {k: t.detach() for k, t in theta.items()}
    value, pullback = torch.func.vjp(residual, theta)
    generator = torch.Generator().manual_seed(seed)
    total = {k: torch.zeros_like(t) for k, t in theta.items()}
    for _ in range(samples):
        signs = (torch.randint(0, 2, value.shape, generator=generator).to(value) * 2 - 1)
        (grads,) = pullback(signs)
        total = {k: total[k] + grads[k] ** 2 for k in total}
    return {k: t / max(samples, 1) for k, t in total.items()}
