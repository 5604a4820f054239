"""Differentiable Gaussian rasterisation with gsplat 1.4.0's conventions.

:func:`rasterize` mirrors ``gsplat.rasterization``: on CUDA it calls gsplat, on CPU it runs a
pure-PyTorch tile rasteriser that is twice differentiable and supports forward-mode AD.
:func:`rasterize_dense` is the dense (every pixel against every Gaussian) reference.
"""

from .dense import rasterize_dense
from .projection import Projection, project_gaussians
from .rasterize import rasterize, uses_gsplat
from .sh import eval_sh

__all__ = ["Projection", "eval_sh", "project_gaussians", "rasterize", "rasterize_dense", "uses_gsplat"]
