"""benchmarks/bench_grading.py --quick: grades the instructor notebooks' relu solution in a worker
and writes its report to a temporary folder, never over the committed results."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_mode_grades_and_reports():
    results = ROOT / "benchmarks" / "results" / "grading.md"
    before = results.read_text()
    completed = subprocess.run([sys.executable, "benchmarks/bench_grading.py", "--quick"],
                               cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert "| relu | 203 |" in completed.stdout
    assert "written to" in completed.stdout and str(results.parent) not in completed.stdout
    assert results.read_text() == before
