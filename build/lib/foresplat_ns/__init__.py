"""foresplat_ns: predict-then-refine 3D Gaussian Splatting for nerfstudio."""

from foresplat_ns.compat import allow_numpy_in_checkpoints

__version__ = "0.1.0"

allow_numpy_in_checkpoints()
