"""benchmarks/bench_svd_forward.py --quick: the staged forward matched model.forward, every stage
and target is reported, and the files are written. The PyTorch assertions run only where torch
and torchvision are installed; the rest passes without them."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_svd_forward.py"
STAGES = ["conv trunk", "roi_pool", "fc6", "fc7", "heads"]
TARGETS = {"a_minifrcnn_vs_pytorch", "b_svd_fc_speedup", "c_svd_whole_cut"}


@pytest.fixture(scope="module")
def bench():
    """The benchmark, imported from its file: benchmarks/ is not a package."""
    spec = importlib.util.spec_from_file_location("bench_svd_forward", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(bench, tmp_path_factory):
    """main(["--quick", "--out", tmp]) once for the module: (out folder, json, md, stdout)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("svd_forward")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert bench.main(["--quick", "--out", str(out)]) == 0
    result = json.loads((out / "svd_forward.json").read_text())
    return out, result, (out / "svd_forward.md").read_text(), printed.getvalue()


def test_quick_run_writes_every_stage_and_target(quick_run):
    out, result, text, printed = quick_run
    assert (out / "svd_forward.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["config"] == "small" and result["input"] == [1, 3, 224, 299]
    assert result["rois"] == 200 and result["classes"] == 21
    assert result["ranks"] == {"fc6": 64, "fc7": 16} and result["compress_s"] > 0

    # The script asserts that the staged forward equals model.forward; it records the match.
    assert set(result["staged_check"]) == {"minifrcnn", "minifrcnn + SVD"}
    for check in result["staged_check"].values():
        assert max(check.values()) <= 1e-4
    assert result["stages"] == STAGES
    for label in ("minifrcnn", "minifrcnn + SVD"):
        variant = result["variants"][label]
        assert list(variant["stage_ms"]) == STAGES
        assert all(ms > 0 for ms in variant["stage_ms"].values())
        assert variant["fc_ms"] > 0 and 0 < variant["fc_share"] < 1
        assert variant["whole_ms"] >= sum(variant["stage_ms"].values()) * 0.999
    header = "| variant | " + " | ".join(f"{s} ms" for s in STAGES)
    assert header in text and "| minifrcnn + SVD |" in text

    # The three targets, each with a status; (b) and (c) always have a value.
    targets = result["targets"]
    assert set(targets) == TARGETS
    for key in ("b_svd_fc_speedup", "c_svd_whole_cut"):
        assert isinstance(targets[key]["value"], float)
        assert targets[key]["status"] in ("PASS", "MISS")
    plain, svd = result["variants"]["minifrcnn"], result["variants"]["minifrcnn + SVD"]
    assert targets["b_svd_fc_speedup"]["value"] == pytest.approx(plain["fc_ms"] / svd["fc_ms"])
    assert targets["c_svd_whole_cut"]["value"] == pytest.approx(
        1 - svd["whole_ms"] / plain["whole_ms"])
    for key, target in targets.items():
        assert f"target ({key[0]})" in printed and target["status"] in printed
        assert f"| ({key[0]}) " in text

    # The sweep: every R up to 200, both minifrcnn variants, the trunk shared.
    rows = result["sweep"]["rows"]
    assert [(r["rois"], r["variant"]) for r in rows] == [
        (count, label) for count in (1, 10, 100, 200) for label in ("minifrcnn", "minifrcnn + SVD")]
    for row in rows:
        assert row["whole_ms"] > result["sweep"]["trunk_ms"] > 0
        assert row["fc_share"] == pytest.approx(row["fc_ms"] / row["whole_ms"])
    assert text in printed


def test_quick_run_pytorch_variants(quick_run):
    pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    _, result, text, _ = quick_run
    assert result["torch_note"] is None
    for label in ("pytorch", "pytorch + SVD"):
        assert list(result["variants"][label]["stage_ms"]) == STAGES
        check = result["pytorch_check"][label]
        assert check["max_rel_diff_cls_score"] <= 1e-3 and check["max_rel_diff_bbox_pred"] <= 1e-3
        assert f"{label} agrees with minifrcnn" in text
    target = result["targets"]["a_minifrcnn_vs_pytorch"]
    assert target["value"] == pytest.approx(result["variants"]["minifrcnn"]["whole_ms"]
                                            / result["variants"]["pytorch"]["whole_ms"])
    assert target["status"] in ("PASS", "MISS")


def test_without_torch_the_pytorch_variants_are_skipped(bench, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)           # import torch raises ImportError
    result = bench.measure_svd_forward("tiny", (40, 48), 12, {"fc6": 4, "fc7": 2}, samples=1,
                                       sweep_samples=1)
    assert set(result["variants"]) == {"minifrcnn", "minifrcnn + SVD"}
    assert result["pytorch_check"] == {}
    assert "PyTorch variants skipped" in result["torch_note"]
    assert "PyTorch variants skipped" in capsys.readouterr().out
    target = result["targets"]["a_minifrcnn_vs_pytorch"]
    assert target["value"] is None and target["status"] == "SKIP"
    assert [r["rois"] for r in result["sweep"]["rows"]] == [1, 1, 10, 10, 12, 12]
    assert "| (a) minifrcnn whole forward / PyTorch's | <= 1.3 | - | SKIP |" in \
        bench.markdown(result)
