"""The plugin registers its methods with nerfstudio and leaves nerfstudio's own methods intact."""

import subprocess
import sys

from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.plugins.registry import discover_methods
from nerfstudio.plugins.types import MethodSpecification


def test_entry_point_yields_method_specification():
    from importlib.metadata import entry_points

    points = entry_points(group="nerfstudio.method_configs")
    for name in ("foresplat", "foresplat-refine", "foresplat-metagrad"):
        assert name in points.names
        spec = points[name].load()
        assert isinstance(spec, MethodSpecification)
        assert spec.config.method_name == name


def test_discover_methods_finds_ours():
    methods, descriptions = discover_methods()
    assert isinstance(methods["foresplat-refine"], TrainerConfig)
    assert descriptions["foresplat-refine"]
    from foresplat_ns.models.refine import ForesplatRefineModelConfig

    assert isinstance(methods["foresplat-refine"].pipeline.model, ForesplatRefineModelConfig)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_plugin_first_then_nerfstudio_has_no_circular_import():
    # Import order of a user script that imports us before nerfstudio's method list.
    result = _run(
        "import foresplat_ns.method_configs\n"
        "from nerfstudio.configs.method_configs import all_methods\n"
        "assert 'foresplat-refine' in all_methods and 'splatfacto' in all_methods\n"
        "print('ok')"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Could not entry point" not in result.stdout + result.stderr


def test_builtin_defaults_unchanged():
    """Our configs must not change a built-in method's defaults (e.g. via tyro's dataparser union)."""
    result = _run(
        "from nerfstudio.configs.method_configs import all_methods\n"
        "from nerfstudio.configs.dataparser_configs import all_dataparsers\n"
        "from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig\n"
        "d = all_methods['splatfacto'].pipeline.datamanager.dataparser\n"
        "assert d == NerfstudioDataParserConfig(load_3D_points=True), d\n"
        "assert d.eval_mode == 'fraction'\n"
        "builtin = NerfstudioDataParserConfig()\n"
        "assert all_dataparsers['nerfstudio-data'] == builtin\n"
        "assert all_methods['foresplat'].pipeline.model.__class__.__name__ == 'ForesplatModelConfig'\n"
        "from importlib.metadata import entry_points\n"
        "assert not [e for e in entry_points(group='nerfstudio.dataparser_configs') if e.value.startswith('foresplat_ns')]\n"
        "print('ok')"
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_ns_train_help_lists_method():
    result = subprocess.run(["ns-train", "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "foresplat-refine" in result.stdout
    assert "splatfacto" in result.stdout


def test_methods_default_to_the_device_torch_can_use():
    """Without a GPU, `ns-train foresplat` must not start on nerfstudio's default cuda device."""
    import torch

    from foresplat_ns.method_configs import foresplat, foresplat_metagrad, foresplat_refine

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    for spec in (foresplat, foresplat_metagrad, foresplat_refine):
        assert spec.config.machine.device_type == expected
