"""benchmarks/bench_svd_ranks.py --quick: the sweep, the fine-tuning and the files it writes."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_svd_ranks  # noqa: E402


def test_quick_sweep_writes_its_table_chart_and_numbers(tmp_path, capsys):
    out = tmp_path / "out"
    assert bench_svd_ranks.main(["--quick", "--work", str(tmp_path / "work"),
                                 "--out", str(out)]) == 0
    results = json.loads((out / "svd_ranks.json").read_text())
    base, squeezed = results["rows"]
    assert base["setting"] == "as trained" and base["fc6_error"] == 0
    assert squeezed["fc_params"] < base["fc_params"] / 10
    assert 0 < squeezed["fc6_error"] < 1 and 0 <= squeezed["mAP"] <= 1
    assert base["fc_speedup"] == 1 and squeezed["fc_speedup"] > 0
    assert results["finetune"]["mAP_before"] == squeezed["mAP"]
    assert 0 <= results["finetune"]["mAP_after"] <= 1
    table = (out / "svd_ranks.md").read_text()
    assert "| as trained |" in table and "Fine-tuning fc6 8, fc7 4" in table
    assert (out / "svd_ranks.png").stat().st_size > 0
    assert "wrote" in capsys.readouterr().out
