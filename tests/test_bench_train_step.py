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
