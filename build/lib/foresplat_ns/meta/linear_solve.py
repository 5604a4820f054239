"""Preconditioned conjugate gradient on dicts of tensors, for the IFT hypergradient's A u = b."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch
from torch import Tensor

TensorDict = Dict[str, Tensor]


@dataclass
class SolveInfo:
    """How a solve went."""

    iterations: int
    """Iterations run (matrix-vector products after the initial residual)."""
    relative_residual: float
    """||b - A x|| / ||b|| at the end."""
    converged: bool
    """Whether the residual met the tolerance before `maxiter`."""


def _dot(a: TensorDict, b: TensorDict) -> Tensor:
    return sum((a[k] * b[k]).sum() for k in a)


def _axpy(alpha: Tensor, x: TensorDict, y: TensorDict) -> TensorDict:
    """alpha * x + y."""
    return {k: alpha * x[k] + y[k] for k in x}


def solve_cg(
    matvec: Callable[[TensorDict], TensorDict],
    b: TensorDict,
    precond: Optional[Callable[[TensorDict], TensorDict]] = None,
    maxiter: int = 50,
    rtol: float = 1e-6,
    atol: float = 0.0,
    x0: Optional[TensorDict] = None,
    callback: Optional[Callable[[int, TensorDict, float], None]] = None,
) -> tuple[TensorDict, SolveInfo]:
    """Solve A x = b for symmetric positive-definite A given only as `matvec`.

    Args:
        matvec: x -> A x on dicts of tensors shaped like `b`.
        b: Right-hand side.
        precond: x -> M^-1 x, an SPD approximation of A's inverse (e.g. Jacobi); None for plain CG.
        maxiter: Bound on the iterations (matrix-vector products).
        rtol: Stop when ||r|| <= max(rtol * ||b||, atol).
        atol: Absolute residual tolerance.
        x0: Initial guess (zeros by default).
        callback: Called after every iteration with (iteration, x, relative residual), for diagnostics.

    Returns:
        The solution and a `SolveInfo`. The stopping test reads one scalar per iteration, the only
        synchronisation the loop needs.
    """
    precond = precond or (lambda r: r)
    x = {k: torch.zeros_like(v) for k, v in b.items()} if x0 is None else {k: v.clone() for k, v in x0.items()}
    r = b if x0 is None else _axpy(torch.tensor(-1.0), matvec(x), b)
    b_norm = float(torch.sqrt(_dot(b, b)))
    threshold = max(rtol * b_norm, atol)
    z = precond(r)
    p = z
    rz = _dot(r, z)
    iterations = 0
    r_norm = float(torch.sqrt(_dot(r, r)))
    while r_norm > threshold and iterations < maxiter:
        ap = matvec(p)
        alpha = rz / _dot(p, ap)
        x = _axpy(alpha, p, x)
        r = _axpy(-alpha, ap, r)
        iterations += 1
        r_norm = float(torch.sqrt(_dot(r, r)))
        if callback is not None:
            callback(iterations, x, r_norm / b_norm if b_norm > 0 else 0.0)
        if r_norm <= threshold:
            break
        z = precond(r)
        rz_new = _dot(r, z)
        p = _axpy(rz_new / rz, p, z)
        rz = rz_new
    relative = r_norm / b_norm if b_norm > 0 else 0.0
    return x, SolveInfo(iterations=iterations, relative_residual=relative, converged=r_norm <= threshold)


def cosine(a: TensorDict, b: TensorDict) -> float:
    """Cosine between two dicts of tensors seen as one vector each (nan when one is zero)."""
    norm = float(torch.sqrt(_dot(a, a) * _dot(b, b)))
    return float(_dot(a, b)) / norm if norm > 0 else float("nan")


def jacobi(diagonal: TensorDict) -> Callable[[TensorDict], TensorDict]:
    """The preconditioner x -> x / diag(A), from a positive estimate of A's diagonal."""
    return lambda r: {k: r[k] / diagonal[k] for k in r}
