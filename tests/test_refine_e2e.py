"""`ns-train foresplat-refine` on the CPU end to end: densification, PSNR, checkpoint, export, viewer."""

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from foresplat_ns.scenes.cli import ScenesConfig, main

STEPS = 200


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("refine")
    main(ScenesConfig(out=root / "scenes", num_scenes=1, num_eval=0, views=16, resolution=48, seed=3, workers=1))
    scene = next((root / "scenes" / "train").iterdir())
    command = [
        "ns-train", "foresplat-refine", "--data", str(scene), "--machine.device-type", "cpu",
        "--max-num-iterations", str(STEPS), "--steps-per-save", "100", "--steps-per-eval-all-images", "0",
        "--steps-per-eval-image", "0", "--vis", "tensorboard", "--output-dir", str(root / "outputs"),
        "--logging.local-writer.enable", "False",
        # Densify early so a short run exercises it: gradient statistics from step 0, refine every 50.
        "--pipeline.model.warmup-length", "50", "--pipeline.model.refine-every", "50",
        "--pipeline.model.densify-grad-thresh", "0.0001",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    config = next((root / "outputs").rglob("config.yml"))
    return config, result.stdout + result.stderr


def _pipeline(config_path: Path, load: bool):
    """The pipeline of a run, at its initialisation or at its latest checkpoint (in this process)."""
    import yaml

    from nerfstudio.utils.eval_utils import eval_load_checkpoint

    config = yaml.load(config_path.read_text(), Loader=yaml.Loader)
    config.load_dir = config.get_checkpoint_dir()
    torch.manual_seed(0)
    pipeline = config.pipeline.setup(device="cpu", test_mode="test")
    pipeline.eval()
    if load:
        eval_load_checkpoint(config, pipeline)  # torch.load with weights_only: needs our allow-list
    return pipeline


def test_training_densifies_and_psnr_rises(trained_run):
    config_path, log = trained_run
    start = _pipeline(config_path, load=False)
    end = _pipeline(config_path, load=True)
    # Splatfacto's DefaultStrategy ran on our CPU renderer's means2d gradients.
    assert end.model.num_points != start.model.num_points, log[-2000:]
    psnr_start = start.get_average_eval_image_metrics()["psnr"]
    psnr_end = end.get_average_eval_image_metrics()["psnr"]
    assert len(end.datamanager.eval_dataset) >= 1
    assert psnr_end > psnr_start + 1.0, (psnr_start, psnr_end)


def test_export_writes_standard_ply(trained_run, tmp_path):
    from plyfile import PlyData

    config_path, _ = trained_run
    result = subprocess.run(
        ["ns-export", "gaussian-splat", "--load-config", str(config_path), "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    ply = PlyData.read(str(tmp_path / "splat.ply"))
    names = {p.name for p in ply["vertex"].properties}
    standard = {"x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
                "rot_0", "rot_1", "rot_2", "rot_3"}
    assert standard <= names and "f_rest_0" in names
    model = _pipeline(config_path, load=True).model
    assert ply["vertex"].count == model.num_points
    xyz = np.stack([ply["vertex"][k] for k in "xyz"], -1)
    assert np.allclose(np.sort(xyz[:, 0]), np.sort(model.means[:, 0].detach().numpy()), atol=1e-5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_viewer_answers_on_its_port(trained_run):
    config_path, _ = trained_run
    port = _free_port()
    viewer = subprocess.Popen(
        [sys.executable, "-m", "nerfstudio.scripts.viewer.run_viewer", "--load-config", str(config_path),
         "--viewer.websocket-port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline, answer = time.time() + 240, None
        while time.time() < deadline and viewer.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    answer = response.status
                    break
            except OSError:
                time.sleep(1)
        assert viewer.poll() is None, viewer.stderr.read()[-3000:]
        assert answer == 200
    finally:
        viewer.terminate()
        viewer.wait(timeout=30)
