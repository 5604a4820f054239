"""Tests of the procedural scene generator and its nerfstudio / Blender writers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from foresplat_ns.scenes import (
    Material,
    Primitive,
    generate_scene,
    raycast,
    read_depth,
    read_ply,
    write_scene_blender,
    write_scene_nerfstudio,
)
from foresplat_ns.scenes.cli import ScenesConfig, main
from foresplat_ns.scenes.textures import Texture

SMALL = dict(views=6, resolution=32, num_points=500)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _config(out: Path, **kwargs) -> ScenesConfig:
    base = dict(out=out, num_scenes=3, views=4, resolution=24, num_points=300, workers=1)
    base.update(kwargs)
    return ScenesConfig(**base)


def _sphere_hit(origins: np.ndarray, dirs: np.ndarray, center: np.ndarray, radius: float) -> np.ndarray:
    """Nearest positive root of |o + t d - c| = r for unit d (nan where missed)."""
    oc = origins - center
    b = np.sum(oc * dirs, axis=-1)
    disc = b**2 - (np.sum(oc * oc, axis=-1) - radius**2)
    with np.errstate(invalid="ignore"):
        return -b - np.sqrt(disc)


@pytest.fixture(scope="module")
def ns_scene(tmp_path_factory):
    """A mixed-layout scene with per-view intrinsics, written and parsed by nerfstudio."""
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    scene = generate_scene(3, seed=7, **SMALL)
    path = tmp_path_factory.mktemp("ns") / "scene_0003"
    write_scene_nerfstudio(scene, path)
    parser = NerfstudioDataParserConfig(
        data=path,
        orientation_method="none",
        center_method="none",
        auto_scale_poses=False,
        scale_factor=1.0,
        eval_mode="all",
        load_3D_points=True,
    ).setup()
    outputs = parser.get_dataparser_outputs(split="train")
    return scene, path, outputs


def test_generator_is_deterministic(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    main(_config(a, seed=3))
    main(_config(b, seed=3))
    main(_config(c, seed=4))
    files_a, files_b, files_c = _files(a), _files(b), _files(c)
    assert any(k.endswith(".png") for k in files_a) and any(k.endswith("transforms.json") for k in files_a)
    assert files_a == files_b
    assert files_a.keys() == files_c.keys()
    differing = [k for k in files_a if k.endswith(".png") and files_a[k] != files_c[k]]
    assert len(differing) > 0.9 * sum(k.endswith(".png") for k in files_a)

    s1 = generate_scene(5, seed=11, **SMALL)
    s2 = generate_scene(5, seed=11, **SMALL)
    np.testing.assert_array_equal(s1.images, s2.images)
    np.testing.assert_array_equal(s1.c2w, s2.c2w)
    # Scene i depends on (seed, i) only, not on which other scenes are generated.
    assert not np.array_equal(s1.images, generate_scene(6, seed=11, **SMALL).images)


def test_raycast_matches_analytic_sphere():
    rng = np.random.default_rng(0)
    center, radius = np.array([0.3, -0.2, 0.9]), 0.7
    tex = Texture(kind="checker", palette=np.ones((2, 3)))
    sphere = Primitive("sphere", center, np.eye(3), np.full(3, radius), Material(tex))
    box = Primitive("box", np.array([5.0, 5.0, 5.0]), np.eye(3), np.full(3, 0.5), Material(tex))
    origins = np.array([0.0, 0.0, 4.0]) + rng.normal(0, 0.3, size=(2000, 3))
    target = center + rng.normal(0, 0.6, size=(2000, 3))
    dirs = target - origins
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)

    hits = raycast(origins, dirs, [sphere, box])
    expected = _sphere_hit(origins, dirs, center, radius)
    hit = np.isfinite(expected)
    assert 200 < hit.sum() < 1990
    np.testing.assert_allclose(hits.t[hit], expected[hit], rtol=1e-9, atol=1e-9)
    assert np.all(hits.prim_id[hit] == 0) and np.all(hits.prim_id[~hit] == -1)
    normals = (origins[hit] + expected[hit, None] * dirs[hit] - center) / radius
    np.testing.assert_allclose(hits.normals[hit], normals, atol=1e-9)

    # A box and a capped cylinder along known axes.
    cyl = Primitive("cylinder", np.array([0.0, 0.0, 1.0]), np.eye(3), np.array([0.5, 0.5, 1.0]), Material(tex))
    o = np.array([[0.0, 0.0, 5.0], [3.0, 0.0, 1.2], [5.0, 5.0, 9.0]])
    d = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    h = raycast(o, d, [cyl, box])
    np.testing.assert_allclose(h.t, [3.0, 2.5, 3.5])
    np.testing.assert_allclose(h.normals, [[0, 0, 1], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    assert list(h.prim_id) == [0, 0, 1]


def test_rendered_depth_matches_analytic_sphere(ns_scene):
    """Depth maps hold z-depth: along a pixel ray, t_sphere / |d_cam| for pixels that see a sphere."""
    scene, path, outputs = ns_scene
    cameras = outputs.cameras
    spheres = [(k, p) for k, p in enumerate(scene.content.primitives) if p.kind == "sphere"]
    assert spheres
    checked = 0
    for view in range(scene.num_views):
        rays = cameras.generate_rays(camera_indices=view)
        o = rays.origins.numpy().astype(np.float64)
        d = rays.directions.numpy().astype(np.float64)
        norm = rays.metadata["directions_norm"].numpy()[..., 0].astype(np.float64)
        depth = read_depth(path / f"depths/frame_{view:05d}.png")
        for k, sphere in spheres:
            mask = np.pad(scene.prim_ids[view] == k, 1)
            # Stay off silhouettes, where float32 vs float64 rays may disagree on the object.
            inner = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
            t = _sphere_hit(o, d, sphere.center, float(sphere.size[0]))
            assert np.all(np.isfinite(t[inner]))
            z = t / norm
            np.testing.assert_allclose(depth[inner], z[inner], atol=2e-3, rtol=1e-4)
            checked += int(inner.sum())
    assert checked > 20


def test_cameras_consistent_with_nerfstudio(ns_scene):
    from nerfstudio.data.utils.data_utils import get_depth_image_from_path

    scene, path, outputs = ns_scene
    cameras = outputs.cameras
    meta = json.loads((path / "transforms.json").read_text())
    assert meta["camera_model"] == "OPENCV" and meta["foresplat"]["depth_type"] == "z"
    assert len(cameras) == scene.num_views
    np.testing.assert_allclose(cameras.fx.numpy()[:, 0], scene.intrinsics[:, 0], rtol=1e-6)
    np.testing.assert_allclose(cameras.cy.numpy()[:, 0], scene.intrinsics[:, 3], rtol=1e-6)
    np.testing.assert_allclose(cameras.camera_to_worlds.numpy(), scene.c2w[:, :3, :4], atol=1e-6)

    objects = scene.content.ids_of(("sphere", "box", "cylinder"))
    for view in range(scene.num_views):
        rays = cameras.generate_rays(camera_indices=view)
        o = rays.origins.numpy().reshape(-1, 3).astype(np.float64)
        d = rays.directions.numpy().reshape(-1, 3).astype(np.float64)
        norm = rays.metadata["directions_norm"].numpy().reshape(-1).astype(np.float64)
        depth = get_depth_image_from_path(
            outputs.metadata["depth_filenames"][view],
            scene.height,
            scene.width,
            scale_factor=outputs.metadata["depth_unit_scale_factor"] * outputs.dataparser_scale,
        ).numpy()
        depth = depth.reshape(-1).astype(np.float64)
        unprojected = o + d * (depth * norm)[:, None]
        truth = raycast(o, d, scene.content.primitives)
        true_points = truth.points
        err = np.linalg.norm(unprojected - true_points, axis=1)
        # Quantisation of the 16-bit millimetre depth, scaled by the ray length.
        tol = 1e-3 * norm + 1e-4 * depth
        assert np.mean(err <= tol) > 0.98, f"view {view}: {np.mean(err <= tol):.3f}"
        on_object = np.isin(scene.prim_ids[view].reshape(-1), objects)
        assert np.mean(truth.prim_id[on_object] == scene.prim_ids[view].reshape(-1)[on_object]) > 0.97

    # Object centres project (nerfstudio's pinhole model, OpenGL poses) onto pixels that do not see
    # anything behind the object; usually they see the object itself.
    c2w = cameras.camera_to_worlds.numpy().astype(np.float64)
    seen = 0
    for k, prim in enumerate(scene.content.primitives):
        if prim.kind != "sphere":
            continue
        for view in range(scene.num_views):
            p_cam = (prim.center - c2w[view, :, 3]) @ c2w[view, :, :3]
            if p_cam[2] >= 0:
                continue
            u = cameras.fx[view, 0].item() * p_cam[0] / -p_cam[2] + cameras.cx[view, 0].item()
            v = -cameras.fy[view, 0].item() * p_cam[1] / -p_cam[2] + cameras.cy[view, 0].item()
            col, row = int(np.floor(u)), int(np.floor(v))
            if not (0 <= col < scene.width and 0 <= row < scene.height):
                continue
            front = -p_cam[2] - prim.size[0]
            assert scene.depths[view, row, col] < -p_cam[2]
            if scene.prim_ids[view, row, col] == k:
                seen += 1
                assert scene.depths[view, row, col] >= front - 1e-3
    assert seen > 0


def test_point_cloud_loads(ns_scene):
    from plyfile import PlyData

    scene, path, outputs = ns_scene
    ply = PlyData.read(str(path / "points3D.ply"))
    vertex = ply["vertex"]
    assert vertex.count == len(scene.points) == 500
    names = [p.name for p in vertex.properties]
    assert names == ["x", "y", "z", "red", "green", "blue"]
    assert vertex["red"].dtype == np.uint8
    xyz = np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1)
    np.testing.assert_allclose(xyz, scene.points)

    ns_xyz = outputs.metadata["points3D_xyz"].numpy()
    ns_rgb = outputs.metadata["points3D_rgb"].numpy()
    assert ns_xyz.shape == (500, 3)
    np.testing.assert_allclose(ns_xyz, scene.points, atol=1e-5)
    np.testing.assert_allclose(ns_rgb.astype(int), scene.colors.astype(int), atol=1)
    own_xyz, own_rgb = read_ply(path / "points3D.ply")
    np.testing.assert_array_equal(own_rgb, scene.colors)

    # Points lie on visible surfaces near the objects, never on the far sky dome.
    dome = [p for p in scene.content.primitives if p.kind == "skydome"]
    if dome:
        dist = np.linalg.norm(own_xyz - dome[0].center, axis=1)
        assert dist.max() < 0.99 * dome[0].size[0]
    assert own_xyz[:, 2].min() > -0.05


def test_train_eval_split_is_disjoint(tmp_path):
    out = tmp_path / "ds"
    summary = main(_config(out, num_scenes=5, num_eval=2, views=2, resolution=16))
    train = {p.name for p in (out / "train").iterdir()}
    evals = {p.name for p in (out / "eval").iterdir()}
    assert train == set(summary["train"]) and evals == set(summary["eval"])
    assert len(train) == 3 and len(evals) == 2 and not train & evals
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["train"] == sorted(train) and manifest["eval"] == sorted(evals)
    for split, names in (("train", train), ("eval", evals)):
        for name in names:
            meta = json.loads((out / split / name / "transforms.json").read_text())["foresplat"]
            assert f"scene_{meta['index']:04d}" == name and meta["seed"] == 0
            assert 0 < meta["near"] < meta["far"]
            assert meta["layout"] in ("orbit", "forward")


def test_blender_variant_reads_in_nerfstudio(tmp_path):
    from nerfstudio.data.dataparsers.blender_dataparser import BlenderDataParserConfig

    scene = generate_scene(2, seed=1, views=9, resolution=32, num_points=200, shared_intrinsics=True, aspect=1.25)
    write_scene_blender(scene, tmp_path / "bl", holdout_every=4)
    parser = BlenderDataParserConfig(data=tmp_path / "bl").setup()
    sizes = {}
    for split in ("train", "val", "test"):
        outputs = parser.get_dataparser_outputs(split=split)
        sizes[split] = len(outputs.image_filenames)
        assert all(Path(f).exists() for f in outputs.image_filenames)
        cams = outputs.cameras
        np.testing.assert_allclose(cams.fx.numpy(), scene.intrinsics[0, 0], rtol=1e-5)
        assert int(cams.width[0]) == scene.width == 40 and int(cams.height[0]) == scene.height == 32
    assert sizes == {"train": 6, "val": 3, "test": 3}

    train = parser.get_dataparser_outputs(split="train")
    np.testing.assert_allclose(train.cameras.camera_to_worlds.numpy()[0], scene.c2w[1, :3, :4], atol=1e-6)
    from PIL import Image

    rgba = np.asarray(Image.open(train.image_filenames[0]))
    assert rgba.shape == (32, 40, 4) and np.all(rgba[..., 3] == 255)
    np.testing.assert_array_equal(rgba[..., :3], scene.images_uint8[1])

    with pytest.raises(ValueError):
        write_scene_blender(generate_scene(2, seed=1, views=2, resolution=16), tmp_path / "bad")


def test_shared_intrinsics_and_npy_depth(tmp_path):
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
    from nerfstudio.data.utils.data_utils import get_depth_image_from_path

    scene = generate_scene(4, seed=2, views=3, resolution=20, num_points=100, shared_intrinsics=True)
    write_scene_nerfstudio(scene, tmp_path / "s", depth_format="npy")
    meta = json.loads((tmp_path / "s" / "transforms.json").read_text())
    assert meta["fl_x"] == scene.intrinsics[0, 0] and "fl_x" not in meta["frames"][0]
    assert meta["foresplat"]["depth_unit_scale_factor"] == 1.0
    outputs = (
        NerfstudioDataParserConfig(
            data=tmp_path / "s",
            orientation_method="none",
            center_method="none",
            auto_scale_poses=False,
            eval_mode="all",
            depth_unit_scale_factor=1.0,
        )
        .setup()
        .get_dataparser_outputs("train")
    )
    np.testing.assert_allclose(outputs.cameras.cx.numpy(), 10.0)
    depth = get_depth_image_from_path(outputs.metadata["depth_filenames"][1], 20, 20, 1.0).numpy()[..., 0]
    np.testing.assert_array_equal(depth, scene.depths[1])


def test_cli_blender_format(tmp_path):
    out = tmp_path / "bl"
    main(_config(out, num_scenes=2, views=3, resolution=16, format="blender"))
    folder = out / "train" / "scene_0000"
    for split in ("train", "val", "test"):
        assert (folder / f"transforms_{split}.json").exists()
    with pytest.raises(SystemExit):
        main(_config(out, num_scenes=2, views=3, resolution=16, format="blender"))


def test_scene_content_variety():
    kinds, layouts, backgrounds, textures = set(), set(), set(), set()
    for i in range(12):
        scene = generate_scene(i, seed=0, views=2, resolution=8, supersample=1, num_points=10)
        objects = scene.content.objects
        assert 3 <= len(objects) <= 8
        kinds |= {o.kind for o in objects}
        textures |= {o.material.texture.kind for o in objects}
        layouts.add(scene.layout)
        backgrounds.add(scene.background)
        fov = np.degrees(2 * np.arctan(0.5 * scene.width / scene.intrinsics[:, 0]))
        assert np.all((fov > 35) & (fov < 80))
        # Cameras sit above the ground, outside every object, looking towards the objects.
        for c2w in scene.c2w:
            eye, forward = c2w[:3, 3], -c2w[:3, 2]
            assert eye[2] > 0.1
            to_center = scene.content.center - eye
            assert forward @ to_center / np.linalg.norm(to_center) > 0.9
            for o in objects:
                assert np.linalg.norm(eye - o.center) > o.bounding_radius * 0.99
        assert np.allclose(scene.c2w[:, :3, :3].transpose(0, 2, 1) @ scene.c2w[:, :3, :3], np.eye(3), atol=1e-9)
    assert kinds == {"sphere", "box", "cylinder"}
    assert layouts == {"orbit", "forward"} and backgrounds == {"sky", "room"}
    assert len(textures) >= 4
