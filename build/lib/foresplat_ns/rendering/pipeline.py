"""The CPU rendering pipeline shared by the tile rasteriser and the dense reference.

Argument checks, projection, SH colours, render modes, background and the ``meta`` dict
follow gsplat 1.4.0's ``rasterization``; only the compositing step is pluggable.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, Optional

import torch
from jaxtyping import Float
from torch import Tensor

from .projection import Projection, camera_centres, covariance_3d, project_gaussians
from .sh import sh_to_rgb

RenderMode = Literal["RGB", "D", "ED", "RGB+D", "RGB+ED"]
RENDER_MODES = ("RGB", "D", "ED", "RGB+D", "RGB+ED")

#: A compositor maps (projection, colours [C, N, D], width, height, options) to
#: (colours [C, H, W, D] without background, alphas [C, H, W, 1], extra meta entries).
Compositor = Callable[..., tuple[Tensor, Tensor, dict]]

# gsplat keywords that only change how the CUDA kernels run or store results.
_IGNORED_ON_CPU = ("packed", "sparse_grad", "channel_chunk")


def cpu_options(gsplat_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Validates the extra gsplat keywords for the CPU path and returns the ones it uses.

    ``packed``, ``sparse_grad`` and ``channel_chunk`` are accepted and ignored: the CPU path
    always returns gsplat's unpacked ``[C, N]`` layout.
    """
    opts: dict[str, Any] = {
        "absgrad": False,
        "rasterize_mode": "classic",
        "eps2d": 0.3,
        "radius_clip": 0.0,
        "covars": None,
    }
    for key, value in gsplat_kwargs.items():
        if key in opts:
            opts[key] = value
        elif key in _IGNORED_ON_CPU:
            continue
        elif key == "distributed":
            if value:
                raise NotImplementedError("distributed rasterization needs gsplat on CUDA")
        elif key == "camera_model":
            if value != "pinhole":
                raise NotImplementedError(f"CPU rasterisation supports camera_model='pinhole', got {value!r}")
        else:
            raise TypeError(f"rasterize() got an unexpected keyword argument {key!r}")
    return opts


def render_cpu(
    compositor: Compositor,
    means: Float[Tensor, "N 3"],
    quats: Optional[Float[Tensor, "N 4"]],
    scales: Optional[Float[Tensor, "N 3"]],
    opacities: Float[Tensor, "N"],
    colors: Tensor,
    viewmats: Float[Tensor, "C 4 4"],
    Ks: Float[Tensor, "C 3 3"],
    width: int,
    height: int,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    sh_degree: Optional[int] = None,
    backgrounds: Optional[Float[Tensor, "C D"]] = None,
    render_mode: RenderMode = "RGB",
    tile_size: int = 16,
    **gsplat_kwargs: Any,
) -> tuple[Float[Tensor, "C H W X"], Float[Tensor, "C H W 1"], dict]:
    """Renders with the given compositor; arguments and outputs as ``gsplat.rasterization``."""
    opts = cpu_options(gsplat_kwargs)
    N, C = means.shape[0], viewmats.shape[0]
    if render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode must be one of {RENDER_MODES}, got {render_mode!r}")
    if means.shape != (N, 3) or opacities.shape != (N,):
        raise ValueError(f"bad shapes: means {tuple(means.shape)}, opacities {tuple(opacities.shape)}")
    if viewmats.shape != (C, 4, 4) or Ks.shape != (C, 3, 3):
        raise ValueError(f"bad camera shapes: viewmats {tuple(viewmats.shape)}, Ks {tuple(Ks.shape)}")
    covars = opts["covars"]
    if covars is None:
        if quats is None or scales is None or quats.shape != (N, 4) or scales.shape != (N, 3):
            raise ValueError("quats [N, 4] and scales [N, 3] are required when covars is not given")
        covars = covariance_3d(quats, scales)
    elif covars.shape != (N, 3, 3):
        raise ValueError(f"covars must be [N, 3, 3], got {tuple(covars.shape)}")

    proj = project_gaussians(
        means,
        covars,
        opacities,
        viewmats,
        Ks,
        width,
        height,
        near_plane=near_plane,
        far_plane=far_plane,
        eps2d=opts["eps2d"],
        radius_clip=opts["radius_clip"],
        rasterize_mode=opts["rasterize_mode"],
    )
    feats = _colors_per_camera(colors, sh_degree, means, viewmats, N, C)

    if render_mode in ("RGB+D", "RGB+ED"):
        feats = torch.cat([feats, proj.depths[..., None]], dim=-1)
        if backgrounds is not None:
            backgrounds = torch.cat([backgrounds, backgrounds.new_zeros(C, 1)], dim=-1)
    elif render_mode in ("D", "ED"):
        feats = proj.depths[..., None]
        if backgrounds is not None:
            backgrounds = backgrounds.new_zeros(C, 1)

    render_colors, render_alphas, extra_meta = compositor(
        proj, feats, width, height, tile_size=tile_size, absgrad=opts["absgrad"]
    )
    if backgrounds is not None:
        render_colors = render_colors + (1.0 - render_alphas) * backgrounds[:, None, None, :]
    if render_mode in ("ED", "RGB+ED"):
        render_colors = torch.cat(
            [render_colors[..., :-1], render_colors[..., -1:] / render_alphas.clamp(min=1e-10)], dim=-1
        )
    meta = projection_meta(proj)
    meta.update(extra_meta)
    meta.update({"width": width, "height": height, "tile_size": tile_size, "n_cameras": C})
    return render_colors, render_alphas, meta


def projection_meta(proj: Projection) -> dict[str, Any]:
    """The projection entries of gsplat's ``meta`` (unpacked layout)."""
    return {
        "camera_ids": None,
        "gaussian_ids": None,
        "radii": proj.radii,
        "means2d": proj.means2d,
        "depths": proj.depths,
        "conics": proj.conics,
        "opacities": proj.opacities,
    }


def _colors_per_camera(
    colors: Tensor, sh_degree: Optional[int], means: Tensor, viewmats: Tensor, N: int, C: int
) -> Float[Tensor, "C N D"]:
    """Turns ``[N, D]``, ``[C, N, D]`` or SH ``[(C,) N, K, 3]`` colours into ``[C, N, D]``."""
    if sh_degree is None:
        if colors.dim() == 2 and colors.shape[0] == N:
            return colors[None].expand(C, -1, -1)
        if colors.dim() == 3 and colors.shape[:2] == (C, N):
            return colors
        raise ValueError(f"colors must be [N, D] or [C, N, D] without sh_degree, got {tuple(colors.shape)}")
    ok = (colors.dim() == 3 and colors.shape[0] == N and colors.shape[2] == 3) or (
        colors.dim() == 4 and colors.shape[:2] == (C, N) and colors.shape[3] == 3
    )
    if not ok:
        raise ValueError(f"SH colors must be [N, K, 3] or [C, N, K, 3], got {tuple(colors.shape)}")
    return sh_to_rgb(sh_degree, means, colors, camera_centres(viewmats))


__all__ = ["RENDER_MODES", "Compositor", "RenderMode", "cpu_options", "projection_meta", "render_cpu"]
