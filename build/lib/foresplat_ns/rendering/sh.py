"""Real spherical harmonics with gsplat 1.4.0's basis, signs and constants (degrees 0 to 4)."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

SH_C0 = 0.2820947917738781
SH_C1 = 0.48860251190292
MAX_SH_DEGREE = 4


def num_sh_bases(degree: int) -> int:
    """Number of coefficients used by an SH expansion of ``degree``."""
    return (degree + 1) ** 2


def eval_sh(
    degree: int, dirs: Float[Tensor, "*batch 3"], coeffs: Float[Tensor, "*batch K 3"]
) -> Float[Tensor, "*batch 3"]:
    """Evaluates SH colours like gsplat's ``spherical_harmonics`` (before its ``+0.5``).

    Args:
        degree: Degree to use; only the first ``(degree + 1) ** 2`` coefficients are read.
        dirs: View directions (need not be normalised).
        coeffs: SH coefficients per colour channel.

    Returns:
        The raw SH sum per channel.
    """
    if not 0 <= degree <= MAX_SH_DEGREE:
        raise ValueError(f"sh_degree must be in [0, {MAX_SH_DEGREE}], got {degree}")
    if coeffs.shape[-2] < num_sh_bases(degree):
        needed = num_sh_bases(degree)
        raise ValueError(f"SH degree {degree} needs {needed} coefficients, got {coeffs.shape[-2]}")
    result = SH_C0 * coeffs[..., 0, :]
    if degree < 1:
        return result
    # Clamping keeps the (never rendered) Gaussian sitting exactly on a camera centre finite.
    d = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-20)
    x, y, z = (t[..., None] for t in d.unbind(-1))
    result = result + SH_C1 * (-y * coeffs[..., 1, :] + z * coeffs[..., 2, :] - x * coeffs[..., 3, :])
    if degree < 2:
        return result
    z2 = z * z
    f_tmp0b = -1.092548430592079 * z
    f_c1 = x * x - y * y
    f_s1 = 2.0 * x * y
    basis2 = [
        0.5462742152960395 * f_s1,
        f_tmp0b * y,
        0.9461746957575601 * z2 - 0.3153915652525201,
        f_tmp0b * x,
        0.5462742152960395 * f_c1,
    ]
    result = result + sum(b * coeffs[..., 4 + i, :] for i, b in enumerate(basis2))
    if degree < 3:
        return result
    f_tmp0c = -2.285228997322329 * z2 + 0.4570457994644658
    f_tmp1b = 1.445305721320277 * z
    f_c2 = x * f_c1 - y * f_s1
    f_s2 = x * f_s1 + y * f_c1
    p_sh12 = z * (1.865881662950577 * z2 - 1.119528997770346)
    basis3 = [
        -0.5900435899266435 * f_s2,
        f_tmp1b * f_s1,
        f_tmp0c * y,
        p_sh12,
        f_tmp0c * x,
        f_tmp1b * f_c1,
        -0.5900435899266435 * f_c2,
    ]
    result = result + sum(b * coeffs[..., 9 + i, :] for i, b in enumerate(basis3))
    if degree < 4:
        return result
    f_tmp0d = z * (-4.683325804901025 * z2 + 2.007139630671868)
    f_tmp1c = 3.31161143515146 * z2 - 0.47308734787878
    f_tmp2b = -1.770130769779931 * z
    f_c3 = x * f_c2 - y * f_s2
    f_s3 = x * f_s2 + y * f_c2
    p_sh6 = basis2[2]
    basis4 = [
        0.6258357354491763 * f_s3,
        f_tmp2b * f_s2,
        f_tmp1c * f_s1,
        f_tmp0d * y,
        1.984313483298443 * z * p_sh12 - 1.006230589874905 * p_sh6,
        f_tmp0d * x,
        f_tmp1c * f_c1,
        f_tmp2b * f_c2,
        0.6258357354491763 * f_c3,
    ]
    return result + sum(b * coeffs[..., 16 + i, :] for i, b in enumerate(basis4))


def sh_to_rgb(
    degree: int,
    means: Float[Tensor, "N 3"],
    coeffs: Float[Tensor, "*cams N K 3"],
    cam_centres: Float[Tensor, "C 3"],
) -> Float[Tensor, "C N 3"]:
    """Per-camera colours from SH, viewed along ``means - camera centre``.

    Applies gsplat's ``clamp_min(sh + 0.5, 0)`` so the result matches its rendered colours.
    """
    dirs = means[None, :, :] - cam_centres[:, None, :]  # [C, N, 3]
    if coeffs.dim() == 3:
        coeffs = coeffs[None].expand(cam_centres.shape[0], -1, -1, -1)
    return torch.clamp_min(eval_sh(degree, dirs, coeffs) + 0.5, 0.0)


__all__ = ["MAX_SH_DEGREE", "SH_C0", "SH_C1", "eval_sh", "num_sh_bases", "sh_to_rgb"]
