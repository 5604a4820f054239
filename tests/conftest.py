"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest

from foresplat_ns.data.scene_folder import Scene, find_scenes, load_scene
from foresplat_ns.scenes.cli import ScenesConfig, main


@pytest.fixture(scope="session")
def generated_scene(tmp_path_factory):
    """A function that writes one procedural scene (views, resolution, seed) and loads it at that resolution."""

    def make(views: int, resolution: int, seed: int) -> Scene:
        out = tmp_path_factory.mktemp(f"scene_{views}v_{resolution}px_{seed}")
        main(ScenesConfig(out=out, num_scenes=1, num_eval=0, views=views, resolution=resolution, seed=seed, workers=1, supersample=1))
        return load_scene(find_scenes(out)[0], resolution=resolution)

    return make
