"""benchmarks/bench_svd_solvers.py --quick: every candidate on every matrix, errors no better than
the optimum, the library's gesdd at the optimum, one chosen candidate per matrix, and the child
process machinery's two other outcomes (over the limit, failed). No timing is asserted."""

import json
import multiprocessing
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_svd_solvers  # noqa: E402


def test_quick_run_writes_every_candidate_and_one_choice_per_matrix(tmp_path, capsys):
    out = tmp_path / "out"
    assert bench_svd_solvers.main(["--quick", "--out", str(out)]) == 0
    results = json.loads((out / "svd_solvers.json").read_text())
    table = (out / "svd_solvers.md").read_text()
    assert (out / "svd_solvers.png").stat().st_size > 0
    candidates = list(bench_svd_solvers.CANDIDATES)
    assert list(results["candidates"]) == candidates
    assert [m["matrix"] for m in results["matrices"]] == [
        "synthetic 256x1024", "fc6 small (trained)", "fc7 small (trained)"]
    for m in results["matrices"]:
        rows = {r["candidate"]: r for r in m["rows"]}
        assert list(rows) == candidates
        for r in rows.values():
            if r["error"] is not None:
                # No rank-t matrix beats the truncation (Eckart-Young); float32 rounding aside.
                assert r["error"] >= m["optimum"] * (1 - 1e-5)
                assert r["excess_percent"] >= -1e-3
            else:
                assert r["status"] != "ok" and r["note"]
        assert rows["gesdd (library)"]["status"] == "ok"
        assert abs(rows["gesdd (library)"]["excess_percent"]) < 1e-3
        chosen = [r for r in rows.values() if r["chosen"]]
        assert len(chosen) == 1 and chosen[0]["candidate"] == m["chosen"]
        assert chosen[0]["excess_percent"] <= 1
        assert m["verdict"].startswith(m["matrix"])
        assert f"### {m['matrix']}" in table
    for name in candidates:
        assert f"| {name} |" in table
    assert table.count("**chosen**") == len(results["matrices"])
    printed = capsys.readouterr().out
    assert "wrote" in printed and "chosen" in printed


def test_a_run_over_the_limit_is_stopped_and_a_failure_keeps_its_message(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, np.random.default_rng(0).standard_normal((64, 96)).astype(np.float32))
    context = multiprocessing.get_context()
    # svds needs k < min(out, in): the error text is recorded instead of a time.
    failed = bench_svd_solvers.run_candidate(context, path, "svds arpack", 64, False, 2, 30)
    assert failed["status"] == "failed" and failed["times"] == []
    assert "k < min(out, in)" in failed["note"]
    # A limit no SVD of a 400 x 400 matrix meets: stopped in the first run, not repeated.
    big = tmp_path / "big.npy"
    np.save(big, np.random.default_rng(1).standard_normal((400, 400)).astype(np.float32))
    over = bench_svd_solvers.run_candidate(context, big, "gesvd", 8, False, 3, 1e-4)
    assert over["status"] == "over limit" and over["times"] == [] and over["error"] is None
