"""nerfstudio DataManager over a folder of scenes, yielding one `SceneBatch` per step."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Literal, Optional, Tuple, Type, Union

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch.nn import Parameter

from nerfstudio.cameras.cameras import Cameras
from nerfstudio.data.datamanagers.base_datamanager import DataManager, DataManagerConfig
from nerfstudio.data.datasets.base_dataset import InputDataset
from nerfstudio.utils.rich_utils import CONSOLE

from foresplat_ns.data.scene_batch import SceneBatch, sample_batch
from foresplat_ns.data.scene_folder import Scene, SceneDataError, find_scenes, load_scene, parse_scene


@dataclass
class SceneFolderDataManagerConfig(DataManagerConfig):
    """Many scenes, one per step: context views in, target views held out."""

    _target: Type = field(default_factory=lambda: SceneFolderDataManager)
    """Target class to instantiate."""
    data: Optional[Path] = None
    """Folder of scenes (nerfstudio, Blender or COLMAP format, any depth below). With `train/` and `eval/`
    inside, training uses `train/` only. None: built-in procedurally generated scenes."""
    resolution: int = 64
    """Working resolution: every image is rescaled so its longer side has this many pixels."""
    num_context: int = 4
    """Context views per step (network input and refinement supervision)."""
    num_target: int = 4
    """Target views per step (held-out supervision of the prediction)."""
    num_refine: int = 0
    """MetaGrad and IFT: extra views per step that supervise the inner refinement beside the context views but are
    not network input, as `foresplat-refine` refines on views its network does not see (drawn near the targets).
    0 = the inner loop refines on the context views only. Zero-step training does not use them."""
    seed: int = 0
    """Seed of the scene and view choice; step s always gives the same batch."""
    max_scenes: Optional[int] = None
    """Use at most this many scenes of each split (the first ones, sorted by path)."""


class SceneFolderDataManager(DataManager):
    """Loads every scene once at the working resolution and samples a `SceneBatch` per step."""

    config: SceneFolderDataManagerConfig

    def __init__(
        self,
        config: SceneFolderDataManagerConfig,
        device: Union[torch.device, str] = "cpu",
        test_mode: Literal["test", "val", "inference"] = "val",
        world_size: int = 1,
        local_rank: int = 0,
        **kwargs,
    ):
        self.config = config
        self.device = device
        self.test_mode = test_mode
        self.train_scenes: List[Scene] = []
        self.eval_scenes: List[Scene] = []
        super().__init__()
        if test_mode != "inference":
            self.setup_train()
            self.setup_eval()

    def setup_train(self):
        self.train_scenes = self._load("train")
        self.train_dataset = self._dataset(self.train_scenes[0])

    def setup_eval(self):
        self.eval_scenes = self._load("eval")
        self.eval_dataset = self._dataset(self.eval_scenes[0])

    def _load(self, split: Literal["train", "eval"]) -> List[Scene]:
        try:
            return load_scenes(self.get_datapath(), split, self.config)
        except SceneDataError as error:
            # One line, no traceback: the message names the problem and its fix.
            raise SystemExit(f"foresplat: {error}") from None

    @staticmethod
    def _dataset(scene: Scene) -> InputDataset:
        """nerfstudio's dataset of one scene, for the viewer's camera frustums and the trainer's checks."""
        return InputDataset(parse_scene(scene.entry)[0])

    def preview_scene(self) -> Scene:
        """The scene the viewer shows: the first held-out scene."""
        return (self.eval_scenes or self.train_scenes)[0]

    def next_train(self, step: int) -> Tuple[SceneBatch, Dict]:
        self.train_count += 1
        batch = sample_batch(
            self.train_scenes, self.config.num_context, self.config.num_target, self.config.seed, step,
            self.config.num_refine,
        )
        return batch.to(self.device), {}

    def next_eval(self, step: int) -> Tuple[SceneBatch, Dict]:
        self.eval_count += 1
        seed = self.config.seed + 1_000_003
        batch = sample_batch(
            self.eval_scenes, self.config.num_context, self.config.num_target, seed, step, self.config.num_refine
        )
        return batch.to(self.device), {}

    def next_eval_image(self, step: int) -> Tuple[Cameras, Dict]:
        batch, _ = self.next_eval(step)
        return batch.target_cameras[0:1], {"image": batch.target_images[0], "scene_batch": batch}

    def get_train_rays_per_batch(self) -> int:
        scene = self.train_scenes[0]
        return self.config.num_target * scene.images.shape[1] * scene.images.shape[2]

    def get_eval_rays_per_batch(self) -> int:
        return self.get_train_rays_per_batch()

    def get_datapath(self) -> Path:
        if self.config.data is not None:
            return Path(self.config.data)
        from foresplat_ns.data.builtin import builtin_scenes

        return builtin_scenes()

    def get_param_groups(self) -> Dict[str, List[Parameter]]:
        return {}


def load_scenes(root: Path, split: Literal["train", "eval"], config: SceneFolderDataManagerConfig) -> List[Scene]:
    """Load a split of a scene folder, checking each scene has enough views.

    A folder without `train/`/`eval/` serves both splits with the same scenes.
    """
    entries = find_scenes(root, split)
    if config.max_scenes is not None:
        entries = entries[: config.max_scenes]
    scenes = []
    columns = (TextColumn(f"loading {split} scenes"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=CONSOLE, transient=True) as progress:
        for entry in progress.track(entries):
            scene = load_scene(entry, config.resolution)
            needed = config.num_context + config.num_target + config.num_refine
            if scene.num_views < needed:
                refine = f" + {config.num_refine} refinement" if config.num_refine else ""
                raise SceneDataError(
                    f"scene {entry.path} has {scene.num_views} views but {config.num_context} context + "
                    f"{config.num_target} target{refine} = {needed} are needed: lower --num-context/--num-target"
                    f"{'/--num-refine' if refine else ''} or remove the scene"
                )
            scenes.append(scene)
    CONSOLE.log(f"foresplat: {len(scenes)} {split} scenes from {root}")
    return scenes
