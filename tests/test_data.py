"""The multi-scene data layer: finding scenes, loading two formats, view selection, bad input."""

import json
import shutil

import numpy as np
import pytest
import torch

from foresplat_ns.data.datamanager import SceneFolderDataManagerConfig
from foresplat_ns.data.scene_batch import camera_distances, choose_views, sample_batch
from foresplat_ns.data.scene_folder import SceneDataError, find_scenes, load_scene
from foresplat_ns.scenes.cli import ScenesConfig, main

VIEWS = 10


def _generate(out, fmt, **kwargs):
    config = ScenesConfig(
        out=out, num_scenes=3, num_eval=1, views=VIEWS, resolution=32, seed=5, supersample=1,
        format=fmt, shared_intrinsics=True, workers=1, num_points=300, **kwargs,
    )
    main(config)
    return out


@pytest.fixture(scope="module")
def nerfstudio_root(tmp_path_factory):
    return _generate(tmp_path_factory.mktemp("ns"), "nerfstudio")


@pytest.fixture(scope="module")
def blender_root(tmp_path_factory):
    return _generate(tmp_path_factory.mktemp("blender"), "blender")


def test_find_scenes_keeps_train_and_eval_apart(nerfstudio_root):
    train = find_scenes(nerfstudio_root, "train")
    evals = find_scenes(nerfstudio_root, "eval")
    assert [e.name for e in train] == ["scene_0000", "scene_0001"]
    assert [e.name for e in evals] == ["scene_0002"]
    assert all(e.format == "nerfstudio" for e in train + evals)
    assert len(find_scenes(nerfstudio_root, "all")) == 3


def test_two_formats_load_the_same_scene(nerfstudio_root, blender_root):
    ns = load_scene(find_scenes(nerfstudio_root)[0], resolution=32)
    bl = load_scene(find_scenes(blender_root)[0], resolution=32)
    assert ns.num_views == bl.num_views == VIEWS
    assert ns.images.shape == (VIEWS, 32, 32, 3) and bl.images.shape == (VIEWS, 32, 32, 3)
    # Blender spreads views over train/val/test: match views by camera pose.
    ns_c2w, bl_c2w = ns.cameras.camera_to_worlds, bl.cameras.camera_to_worlds
    match = [int(torch.argmin((ns_c2w - m).abs().flatten(1).sum(1))) for m in bl_c2w]
    assert sorted(match) == list(range(VIEWS))
    assert torch.allclose(bl_c2w, ns_c2w[match], atol=1e-5)
    assert torch.allclose(bl.cameras.fx, ns.cameras.fx[match], rtol=1e-4)
    assert torch.allclose(bl.images, ns.images[match], atol=1.5 / 255)
    assert ns.depths is not None and ns.points is not None and ns.points.shape[1] == 3
    assert 0 < ns.near < ns.far


def test_rescaling_scales_intrinsics(nerfstudio_root):
    full = load_scene(find_scenes(nerfstudio_root)[0], resolution=32)
    half = load_scene(find_scenes(nerfstudio_root)[0], resolution=16)
    assert half.images.shape == (VIEWS, 16, 16, 3)
    for name in ("fx", "fy", "cx", "cy"):
        assert torch.allclose(getattr(half.cameras, name), getattr(full.cameras, name) / 2, rtol=1e-5)
    # Box filtering: a 2x2 block mean of the full-resolution image.
    block_mean = full.images.reshape(VIEWS, 16, 2, 16, 2, 3).mean(dim=(2, 4))
    assert torch.allclose(half.images, block_mean, atol=1e-5)
    assert half.depths.shape == (VIEWS, 16, 16)


def test_view_choice_is_disjoint_and_near():
    rng = np.random.default_rng(0)
    # Cameras on a circle looking at the origin: neighbours in index are neighbours in space.
    from nerfstudio.cameras.cameras import Cameras

    angles = torch.linspace(0, 2 * torch.pi, 25)[:-1]
    eye = torch.stack([3 * torch.cos(angles), 3 * torch.sin(angles), torch.zeros_like(angles)], -1)
    back = eye / eye.norm(dim=-1, keepdim=True)  # OpenGL: the camera looks along -z
    up = torch.tensor([0.0, 0.0, 1.0]).expand(24, 3)
    right = torch.cross(up, back, dim=-1)
    c2w = torch.cat([torch.stack([right, up, back], -1), eye[..., None]], -1)
    cams = Cameras(camera_to_worlds=c2w, fx=20.0, fy=20.0, cx=16.0, cy=16.0, width=32, height=32)
    for _ in range(20):
        context, target = choose_views(camera_distances(cams), 4, 3, rng)
        assert len(context) == 4 and len(target) == 3 and not set(context) & set(target)
        ring = lambda a, b: min(abs(a - b), 24 - abs(a - b))  # noqa: E731
        assert max(min(ring(t, c) for c in context) for t in target) <= 4
        assert max(ring(a, b) for a in context for b in context) <= 3


def test_batches_are_deterministic(nerfstudio_root):
    scenes = [load_scene(e, 32) for e in find_scenes(nerfstudio_root)]
    a = sample_batch(scenes, 3, 2, seed=1, step=7)
    b = sample_batch(scenes, 3, 2, seed=1, step=7)
    assert (a.scene, a.context_indices, a.target_indices) == (b.scene, b.context_indices, b.target_indices)
    assert torch.equal(a.context_images, b.context_images)
    picks = {tuple(sample_batch(scenes, 3, 2, seed=1, step=s).context_indices) for s in range(10)}
    assert len(picks) > 1
    assert torch.equal(a.context_images[0], scenes[[s.name for s in scenes].index(a.scene)].images[a.context_indices[0]])


def test_refinement_views_are_extra_and_leave_the_split_unchanged(nerfstudio_root):
    scenes = [load_scene(e, 32) for e in find_scenes(nerfstudio_root)]
    for step in range(5):
        plain = sample_batch(scenes, 3, 2, seed=1, step=step)
        extra = sample_batch(scenes, 3, 2, seed=1, step=step, num_refine=3)
        assert plain.refine_indices is None and plain.refinement_views()[0] is plain.context_images
        assert (extra.scene, extra.context_indices, extra.target_indices) == (plain.scene, plain.context_indices, plain.target_indices)
        added = extra.refine_indices[3:]
        assert extra.refine_indices[:3] == extra.context_indices and len(set(added)) == 3
        assert not set(added) & (set(extra.context_indices) | set(extra.target_indices))
        scene = scenes[[s.name for s in scenes].index(extra.scene)]
        images, cameras = extra.refinement_views()
        assert torch.equal(images, scene.images[torch.tensor(extra.refine_indices)])
        assert torch.equal(cameras.camera_to_worlds, scene.cameras.camera_to_worlds[torch.tensor(extra.refine_indices)])
    # Every view left over is a refinement view: 10 views = 3 + 2 + 5.
    full = sample_batch(scenes, 3, 2, seed=1, step=0, num_refine=VIEWS - 5)
    assert sorted(full.refine_indices + full.target_indices) == list(range(VIEWS))
    with pytest.raises(SceneDataError, match="--num-refine"):
        sample_batch(scenes, 3, 2, seed=1, step=0, num_refine=VIEWS - 4)


def test_datamanager_yields_scene_batches(nerfstudio_root):
    dm = SceneFolderDataManagerConfig(data=nerfstudio_root, resolution=32, num_context=3, num_target=2).setup()
    assert [s.name for s in dm.train_scenes] == ["scene_0000", "scene_0001"]
    assert [s.name for s in dm.eval_scenes] == ["scene_0002"]
    batch, _ = dm.next_train(0)
    assert batch.context_images.shape == (3, 32, 32, 3) and batch.target_images.shape == (2, 32, 32, 3)
    assert batch.context_cameras.shape == (3,) and batch.target_cameras.shape == (2,)
    assert batch.scene in ("scene_0000", "scene_0001")
    eval_batch, _ = dm.next_eval(0)
    assert eval_batch.scene == "scene_0002"


def _one_line_exit(config):
    with pytest.raises(SystemExit) as info:
        config.setup()
    message = str(info.value)
    assert "\n" not in message and message.startswith("foresplat: ")
    return message


def test_bad_inputs_give_one_clear_line(tmp_path, nerfstudio_root):
    cfg = lambda data, **kw: SceneFolderDataManagerConfig(data=data, resolution=32, **kw)  # noqa: E731
    assert "does not exist" in _one_line_exit(cfg(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    assert "is empty" in _one_line_exit(cfg(tmp_path / "empty"))
    (tmp_path / "junk" / "sub").mkdir(parents=True)
    (tmp_path / "junk" / "sub" / "notes.txt").write_text("hello")
    assert "no scene found" in _one_line_exit(cfg(tmp_path / "junk"))
    assert "views but" in _one_line_exit(cfg(nerfstudio_root, num_context=8, num_target=4))
    assert "--num-refine" in _one_line_exit(cfg(nerfstudio_root, num_context=4, num_target=4, num_refine=4))

    scene = tmp_path / "broken" / "scene"
    shutil.copytree(nerfstudio_root / "train" / "scene_0000", scene)
    frame = json.loads((scene / "transforms.json").read_text())["frames"][0]["file_path"]
    (scene / frame).unlink()
    assert "is missing" in _one_line_exit(cfg(tmp_path / "broken"))
    (scene / frame).write_bytes(b"not a png")
    assert "unreadable" in _one_line_exit(cfg(tmp_path / "broken"))
    from PIL import Image

    Image.new("RGB", (20, 12)).save(scene / frame)
    assert "but its camera says" in _one_line_exit(cfg(tmp_path / "broken"))
    (scene / "transforms.json").write_text("{not json")
    assert "cannot read scene" in _one_line_exit(cfg(tmp_path / "broken"))


def test_scene_data_error_is_value_error():
    with pytest.raises(SceneDataError):
        find_scenes("/nonexistent/foresplat")
