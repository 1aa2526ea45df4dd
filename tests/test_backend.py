"""Backend selection and `minifrcnn info`."""

import json
import subprocess
import sys

import pytest

import minifrcnn.layers as reference
from minifrcnn.backend import BACKENDS, available_backends, default_backend, get_backend, system_info
from minifrcnn.cli import main

LAYER_FUNCTIONS = reference.__all__


def test_numpy_backend_is_the_reference():
    ops = get_backend("numpy")
    assert ops.name == "numpy"
    for fn in LAYER_FUNCTIONS:
        assert getattr(ops, fn) is getattr(reference, fn)


@pytest.mark.parametrize("name", ["numpy", "numba"])
def test_a_backend_has_exactly_the_layer_functions(name):
    if name not in available_backends():
        pytest.skip(f"backend {name} cannot run here")
    assert set(vars(get_backend(name))) == set(LAYER_FUNCTIONS) | {"name"}


def test_numba_is_the_default_where_numba_is_installed():
    pytest.importorskip("numba")
    assert default_backend() == "numba"
    assert get_backend().name == "numba"


def test_numba_backend_swaps_in_the_cpu_kernels_only_for_the_heavy_layers():
    pytest.importorskip("numba")
    import minifrcnn.numba_cpu as numba_cpu

    ops = get_backend("numba")
    for layer in ("conv2d", "maxpool2d", "roi_pool", "linear", "factored_linear"):
        for suffix in ("_forward", "_backward"):
            assert getattr(ops, layer + suffix) is getattr(numba_cpu, layer + suffix)
    for fn in ("relu_forward", "multitask_loss", "dropout_forward"):
        assert getattr(ops, fn) is getattr(reference, fn)


def test_unknown_backend_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"backend must be one of numpy, numba, cuda, got 'tensorflow'"):
        get_backend("tensorflow")


def test_unavailable_backend_says_why():
    if "cuda" in available_backends():
        pytest.skip("a GPU is visible here")
    with pytest.raises(ValueError, match=r"backend 'cuda' cannot run here: "):
        get_backend("cuda")


def test_system_info_has_every_section():
    info = system_info()
    assert set(info) == {"versions", "backends", "gpu", "threads"}
    assert info["versions"]["numpy"] != "not installed"
    assert set(BACKENDS) <= set(info["backends"])
    assert info["backends"]["numpy"] == "available"
    assert info["backends"]["default"] == default_backend()
    assert "cpu cores" in info["threads"]


def test_info_command_prints_sections_and_json(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for section in ("versions:", "backends:", "gpu:", "threads:"):
        assert section in out
    assert main(["info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["backends"]["numpy"] == "available"


def test_info_help():
    completed = subprocess.run([sys.executable, "-m", "minifrcnn", "info", "--help"],
                               capture_output=True, text=True)
    assert completed.returncode == 0
    assert "--json" in completed.stdout
