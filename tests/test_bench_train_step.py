"""benchmarks/bench_train_step.py on the tiny model, one timed step per variant, without PyTorch:
the results have the promised structure and the per-layer stopwatch accounts for the whole step."""

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest

from minifrcnn.model import CONFIGS

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train_step.py"


@pytest.fixture(scope="module")
def bench():
    """The benchmark, imported from its file: benchmarks/ is not a package."""
    spec = importlib.util.spec_from_file_location("bench_train_step", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_breakdown_covers_the_step_and_skips_frozen_backward(bench):
    config = dataclasses.replace(CONFIGS["tiny"], frozen=("conv1_1",))
    result = bench.measure_train_step(config, samples=1, use_torch=False, direct_samples=1)

    assert set(result["step_ms"]) == {"minifrcnn", "minifrcnn, timed layers", "1 image, 1 RoI"}
    assert "minifrcnn_vs_pytorch" not in result
    batch = result["batch"]
    assert batch["images"][:2] == [2, 3]
    assert 0 < batch["foreground"] <= 32 and batch["foreground"] < batch["rois"] <= 128
    assert result["frozen"] == ["conv1_1"]

    rows = {row["layer"]: row for row in result["breakdown"]}
    assert list(rows) == ["conv1_1", "pool1", "conv2_1", "roi_pool", "fc6", "fc7", "heads",
                          "loss", "update", "other"]
    # The frozen bottom gets no backward pass at all, not even the pool above it.
    assert rows["conv1_1"]["backward_ms"] is None and rows["pool1"]["backward_ms"] is None
    for layer in ("conv2_1", "roi_pool", "fc6", "fc7", "heads"):
        assert rows[layer]["forward_ms"] > 0 and rows[layer]["backward_ms"] > 0
    # One sample: the rows, "other" included, add up to exactly the timed step.
    assert sum(row["total_ms"] for row in rows.values()) == pytest.approx(
        result["step_ms"]["minifrcnn, timed layers"])
    assert sum(row["percent"] for row in rows.values()) == pytest.approx(100)

    fast, direct, extrapolated = result["hierarchical"]
    assert fast["step_ms"] == result["step_ms"]["minifrcnn"] and fast["step_ratio"] == 1
    assert direct["minibatch"] == f"N={batch['rois']} images, 1 RoI each"
    assert extrapolated["step_ms"] == pytest.approx(batch["rois"] * result["step_ms"]["1 image, 1 RoI"])
    for regime in (direct, extrapolated):
        assert regime["step_ratio"] == pytest.approx(regime["step_ms"] / fast["step_ms"])
        assert regime["trunk_ratio"] == pytest.approx(regime["trunk_ms"] / fast["trunk_ms"])
        assert regime["trunk_ms"] > 0


def test_main_writes_markdown_json_and_chart(bench, tmp_path, capsys):
    assert bench.main(["--config", "tiny", "--samples", "1", "--direct-samples", "0", "--no-torch",
                       "--train-all", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "train_step.json").read_text())
    assert result["config"] == "tiny" and result["samples"] == 1 and result["frozen"] == []
    text = (tmp_path / "train_step.md").read_text()
    assert "| layer | forward ms | backward ms | total ms | % of step |" in text
    assert "| conv1_1 |" in text and "x (N=1 image, R=1 RoI) |" in text
    assert len(result["hierarchical"]) == 2           # no direct measurement asked for
    assert (tmp_path / "train_step.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert text in capsys.readouterr().out


def test_load_mode_times_the_same_variants_again(bench):
    result = bench.measure_train_step("tiny", samples=1, use_torch=False, direct_samples=0,
                                      load=True)
    loaded = result["loaded"]
    assert loaded["processes"] >= 1
    assert set(loaded["step_ms"]) == set(result["step_ms"])
    layers = [row["layer"] for row in result["breakdown"]]
    assert [row["layer"] for row in loaded["breakdown"]] == layers
    assert all(ms > 0 for ms in loaded["step_ms"].values())
    text = bench.markdown(result)
    assert "| variant | idle ms | loaded ms | loaded / idle |" in text
    assert "| conv1_1 |" in text.split("Under load")[1]


def test_iteration_breakdown_adds_up(bench):
    from minifrcnn import train as train_module
    from minifrcnn.data import transforms

    step, resize = train_module.train_step, transforms.resize
    result = bench.measure_iteration(images=2, warmup=2, iters=3)
    # The stopwatch wrappers are gone afterwards.
    assert train_module.train_step is step and transforms.resize is resize
    assert result["iterations"] == 3
    settings = result["settings"]
    assert settings["config"] == "small" and settings["flip"] and settings["shuffle_colours"]
    rows = {row["part"]: row for row in result["breakdown"]}
    assert rows["train_step"]["calls"] == 1 and rows["get_minibatch"]["calls"] == 1
    assert rows["  resize"]["calls"] == 2                  # N = 2 images per minibatch
    # The top-level parts add up to the whole iteration, the indented ones to get_minibatch.
    top = [row["ms"] for part, row in rows.items() if not part.startswith(" ")]
    inside = [row["ms"] for part, row in rows.items() if part.startswith(" ")]
    assert sum(top) == pytest.approx(result["iteration_ms"]["mean"])
    assert sum(inside) == pytest.approx(rows["get_minibatch"]["ms"])
    assert result["iteration_vs_bare"] == pytest.approx(
        result["iteration_ms"]["mean"] / result["bare_step_ms"]["mean"])
    assert rows["train_step"]["ms"] > 0 and result["bare_step_ms"]["mean"] > 0
    assert "| part of the iteration | ms | calls |" in bench.iteration_markdown(result)
