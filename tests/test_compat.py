"""Checkpoints holding numpy scalars load under torch's weights_only default once nerfstudio sees the plugin."""

import subprocess
import sys

import numpy as np
import torch

LOAD = (
    "import sys, torch\n"
    "{setup}\n"
    "state = torch.load(sys.argv[1], map_location='cpu')\n"
    "assert state['optimizers']['means']['param_groups'][0]['lr'] == 1.6e-4\n"
    "print('loaded')"
)


def _save_checkpoint_like_nerfstudio(path):
    # nerfstudio's schedulers leave numpy.float64 learning rates in the optimiser state.
    state = {
        "step": np.int64(7),
        "pipeline": {"w": torch.ones(2)},
        "optimizers": {"means": {"param_groups": [{"lr": np.float64(1.6e-4), "initial_lr": np.float32(1.6e-4)}]}},
        "schedulers": {"means": {"_last_lr": [np.float64(1.6e-4)], "base_lrs": np.array([1.0])}},
    }
    torch.save(state, path)


def _load(path, setup):
    return subprocess.run(
        [sys.executable, "-c", LOAD.format(setup=setup), str(path)], capture_output=True, text=True, timeout=300
    )


def test_numpy_checkpoint_fails_without_plugin_and_loads_with_it(tmp_path):
    path = tmp_path / "step-000000007.ckpt"
    _save_checkpoint_like_nerfstudio(path)
    bare = _load(path, "pass")
    assert bare.returncode != 0 and "weights_only" in bare.stderr.lower()
    # Any nerfstudio command that loads checkpoints builds the method list, which imports the plugin.
    fixed = _load(path, "import nerfstudio.configs.method_configs")
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert "loaded" in fixed.stdout


def test_require_device_names_the_fix_when_no_gpu(monkeypatch):
    import pytest
    import torch

    from foresplat_ns.compat import require_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="--machine.device-type cpu"):
        require_device("cuda")
    with pytest.raises(SystemExit, match="no GPU"):
        require_device("cuda:0")
    require_device("cpu")  # the CPU is always there
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    require_device("cuda")
