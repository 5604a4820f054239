"""Finding and loading a trained initializer from a `ns-train foresplat` run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import torch
import yaml

from foresplat_ns.initializer import Initializer, InitializerConfig

PREFIX = "_model.initializer."
WEIGHT_FREE_FIELDS = ("border_cells", "opacity_views")
"""Initializer settings that change no weight: a checkpoint may be loaded with other values."""


class CheckpointError(ValueError):
    """An initializer checkpoint that is missing, unreadable or does not match, in one line."""


def resolve_checkpoint(path: Path) -> Path:
    """The checkpoint file named by `path`: a .ckpt file, a run folder, or its nerfstudio_models folder.

    In a folder the latest step is taken.
    """
    path = Path(path)
    if path.is_file():
        return path
    for folder in (path / "nerfstudio_models", path):
        if folder.is_dir():
            ckpts = sorted(folder.glob("step-*.ckpt"))
            if ckpts:
                return ckpts[-1]
    if not path.exists():
        raise CheckpointError(f"initializer checkpoint {path} does not exist: pass a `ns-train foresplat` run folder or .ckpt file")
    raise CheckpointError(f"no step-*.ckpt in {path}: pass a `ns-train foresplat` run folder or .ckpt file")


def _run_config(ckpt: Path):
    """The run's saved TrainerConfig (config.yml beside nerfstudio_models/), or None."""
    config_file = ckpt.parent.parent / "config.yml"
    if not config_file.is_file():
        return None
    try:
        run = yaml.load(config_file.read_text(), Loader=yaml.Loader)
    except Exception as error:
        raise CheckpointError(f"cannot read {config_file} ({type(error).__name__}): pass a `ns-train foresplat` run") from None
    # Imported here: pipelines.foresplat imports models.foresplat, which imports this module.
    from foresplat_ns.pipelines.foresplat import ForesplatPipelineConfig

    if not isinstance(getattr(run, "pipeline", None), ForesplatPipelineConfig):
        raise CheckpointError(
            f"{config_file.parent} is a `{getattr(run, 'method_name', '?')}` run, which trains no initializer: "
            "pass a `ns-train foresplat` (or foresplat-metagrad) run"
        )
    return run


def initializer_state(ckpt: Path) -> dict:
    """The initializer's weights in a foresplat checkpoint."""
    try:
        loaded = torch.load(ckpt, map_location="cpu")
    except Exception as error:
        raise CheckpointError(f"cannot read checkpoint {ckpt} ({type(error).__name__}): the file is corrupt or not a nerfstudio checkpoint") from None
    pipeline = loaded.get("pipeline", {}) if isinstance(loaded, dict) else {}
    state = {k[len(PREFIX):]: v for k, v in pipeline.items() if k.startswith(PREFIX)}
    if not state:
        raise CheckpointError(f"checkpoint {ckpt} holds no initializer: it was not written by `ns-train foresplat`")
    return state


def load_initializer_weights(initializer: Initializer, config: InitializerConfig, path: Path) -> Path:
    """Load a checkpoint's weights into `initializer`; a different architecture is a clear error."""
    ckpt = resolve_checkpoint(path)
    state = initializer_state(ckpt)
    run = _run_config(ckpt)
    if run is not None:
        saved = run.pipeline.model.initializer
        names = [
            k for k in vars(config)
            if k not in WEIGHT_FREE_FIELDS and k != "_target" and getattr(saved, k, None) != getattr(config, k)
        ]
        if names:
            diffs = [f"{k}={getattr(saved, k, None)!r} (checkpoint) vs {getattr(config, k)!r}" for k in names]
            fix = " ".join(f"--pipeline.model.initializer.{k.replace('_', '-')} {_flag(getattr(saved, k, None))}" for k in names)
            raise CheckpointError(f"checkpoint {ckpt} has another initializer architecture: {', '.join(diffs)}; to use it, pass {fix}")
    try:
        initializer.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise CheckpointError(f"checkpoint {ckpt} does not match this initializer: {first[1].strip() if len(first) > 1 else first[0]}") from None
    return ckpt


def _flag(value) -> str:
    """A config value as tyro reads it on the command line."""
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value)
    return str(value)


def load_initializer(path: Path, opacity_views: Optional[int] = None) -> Tuple[Initializer, InitializerConfig, Path, int]:
    """An initializer rebuilt from a run's config.yml and loaded with its checkpoint's weights.

    Its `opacity_views` (the input views its opacities are calibrated for) is `opacity_views` if given (0: no
    correction), else the run's own setting, else the run's context views per step.

    Returns the network, its config, the checkpoint file and the working resolution it was trained at.
    """
    ckpt = resolve_checkpoint(path)
    run = _run_config(ckpt)
    if run is None:
        raise CheckpointError(f"no config.yml beside {ckpt.parent}: pass the `ns-train foresplat` run folder, whose config names the architecture")
    config = run.pipeline.model.initializer
    if opacity_views is not None:
        config.opacity_views = opacity_views
    elif getattr(config, "opacity_views", None) is None:  # runs calibrate their opacities for their context views
        config.opacity_views = int(run.pipeline.datamanager.num_context)
    initializer = Initializer(config)
    load_initializer_weights(initializer, config, ckpt)
    return initializer, config, ckpt, int(run.pipeline.datamanager.resolution)


def trained_proximal(path: Path):
    """The `IFTConfig` whose proximal term a run's initializer was meta-trained with, or None (not `ift`).

    Refinement from that initializer's prediction then uses the same proximal term.
    """
    run = _run_config(resolve_checkpoint(path))
    meta = getattr(getattr(run, "pipeline", None), "meta", None)
    if meta is None or getattr(meta, "mode", None) != "ift":
        return None
    return meta.ift
