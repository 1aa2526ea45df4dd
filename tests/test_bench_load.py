"""benchmarks/_load.py: the competing load starts its busy processes and stops every one of them,
when its block ends normally, when it ends with an exception, and when the benchmark that started
them dies without cleaning up. No timing is asserted."""

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def load_module():
    spec = importlib.util.spec_from_file_location("_load", BENCHMARKS / "_load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def alive(pid):
    """Whether process `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until_gone(pids, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


def test_one_process_per_core_by_default(load_module):
    assert load_module.CompetingLoad().count == len(os.sched_getaffinity(0))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")
def test_processes_run_inside_the_block_and_are_gone_after(load_module):
    with load_module.CompetingLoad(count=2) as load:
        processes = list(load.processes)
        assert len(processes) == 2
        assert all(p.poll() is None for p in processes)      # running, not finished
    assert load.processes == []
    assert all(p.poll() is not None for p in processes)      # stopped and waited for
    assert load.cpu_share is not None and load.cpu_share >= 0


def test_an_exception_in_the_block_still_stops_them(load_module):
    with pytest.raises(KeyboardInterrupt):
        with load_module.CompetingLoad(count=1) as load:
            processes = list(load.processes)
            raise KeyboardInterrupt                            # as Ctrl-C would
    assert all(p.poll() is not None for p in processes)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")
def test_they_stop_by_themselves_when_the_benchmark_is_killed(load_module):
    # A benchmark that starts the load, says which processes it started, and is killed with
    # SIGKILL: no `finally` runs, so the busy processes must notice on their own.
    script = ("import sys, time; sys.path.insert(0, sys.argv[1]); from _load import CompetingLoad; "
              "load = CompetingLoad(count=2).start(); "
              "print(*[p.pid for p in load.processes], flush=True); time.sleep(600)")
    benchmark = subprocess.Popen([sys.executable, "-c", script, str(BENCHMARKS)],
                                 stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(pid) for pid in benchmark.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
    finally:
        benchmark.send_signal(signal.SIGKILL)
        benchmark.wait()
        benchmark.stdout.close()
    assert wait_until_gone(pids) == []
