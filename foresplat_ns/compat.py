"""Fixes for running nerfstudio 1.1.5 on this stack (torch 2.14, offline machines)."""

from __future__ import annotations

import numpy as np
import torch


def require_device(device: str) -> None:
    """Stop with a one-line error when a CUDA device is asked for and torch sees no GPU."""
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"foresplat: device {device} was asked for but torch finds no GPU; run with --machine.device-type cpu")


def allow_numpy_in_checkpoints() -> None:
    """Allow-list the numpy types nerfstudio checkpoints contain.

    torch >= 2.6 loads with ``weights_only=True``; nerfstudio stores optimiser and
    scheduler state holding ``numpy.float64`` learning rates, so every ``ns-export``,
    ``ns-eval`` and ``--load-dir`` would fail without this.
    """
    # Imported explicitly: under numpy 1.26 ``np.core.multiarray`` is not always bound.
    import numpy.core.multiarray as multiarray

    dtype_classes = [
        getattr(np.dtypes, name)
        for name in dir(np.dtypes)
        if name.endswith("DType") and isinstance(getattr(np.dtypes, name), type)
    ]
    torch.serialization.add_safe_globals(
        [multiarray.scalar, multiarray._reconstruct, np.ndarray, np.dtype, *dtype_classes]
    )


def lpips_weights_cached() -> bool:
    """True when torchvision's AlexNet weights (LPIPS's backbone) are already in the torch hub cache."""
    import os

    from torchvision.models import AlexNet_Weights

    filename = os.path.basename(AlexNet_Weights.IMAGENET1K_V1.url)
    return os.path.isfile(os.path.join(torch.hub.get_dir(), "checkpoints", filename))


def make_lpips():
    """torchmetrics' LPIPS when its weights are cached, else None (it would download them and crash offline)."""
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    if not lpips_weights_cached():
        return None
    return LearnedPerceptualImagePatchSimilarity(normalize=True)
