"""Scenes on disk → `SceneBatch`es: finding, loading and sampling context/target views."""

from foresplat_ns.data.scene_batch import SceneBatch, choose_views, sample_batch
from foresplat_ns.data.scene_folder import Scene, SceneDataError, SceneEntry, find_scenes, load_scene

__all__ = ["Scene", "SceneBatch", "SceneDataError", "SceneEntry", "choose_views", "find_scenes", "load_scene", "sample_batch"]
