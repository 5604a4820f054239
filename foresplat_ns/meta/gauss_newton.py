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


class GaussNewton:
    """JᵀJ of a residual at a fixed θ: products and a diagonal estimate that share one forward pass for Jᵀ.

    A solve makes many products at the same θ; each costs J v (forward mode or two renders) and one
    backward pass, not another forward pass for the pullback.
    """

    def __init__(
        self, residual: Callable[[TensorDict], Tensor], theta: TensorDict, mode: ProductMode = "forward", eps: float = 1e-3
    ):
        self.residual = residual
        self.theta = {k: t.detach() for k, t in theta.items()}
        self.mode = mode
        self.eps = eps
        self.value, self._pullback = torch.func.vjp(residual, self.theta)

    def product(self, v: TensorDict) -> TensorDict:
        """JᵀJ v."""
        jv = jacobian_vector(self.residual, self.theta, v, self.mode, self.eps).detach()
        (jtjv,) = self._pullback(jv)
        return jtjv

    def diagonal(self, samples: int = 4, seed: int = 0) -> TensorDict:
        """An unbiased, never negative estimate of diag(JᵀJ): the mean of (Jᵀs)² over random signs s.

        E[(Jᵀs)_i²] = Σ_p J_pi² for independent ±1 entries of s; each sample costs one backward pass.
        """
        generator = torch.Generator().manual_seed(seed)
        total = {k: torch.zeros_like(t) for k, t in self.theta.items()}
        for _ in range(samples):
            signs = torch.randint(0, 2, self.value.shape, generator=generator).to(self.value) * 2 - 1
            (grads,) = self._pullback(signs)
            total = {k: total[k] + grads[k] ** 2 for k in total}
        return {k: t / max(samples, 1) for k, t in total.items()}


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
    product is that of an SPD matrix, as conjugate gradient needs. One product; a solve uses `GaussNewton`.
    """
    jtjv = GaussNewton(residual, theta, mode, eps).product(v)
    if damping is None:
        return jtjv
    return {k: jtjv[k] + damping[k] * v[k] for k in jtjv}


def gauss_newton_diagonal(
    residual: Callable[[TensorDict], Tensor], theta: TensorDict, samples: int = 4, seed: int = 0
) -> TensorDict:
    """diag(JᵀJ) estimated from `samples` random-sign backward passes (`GaussNewton.diagonal`)."""
    return GaussNewton(residual, theta).diagonal(samples, seed)
