"""Shared test settings.

Hypothesis profiles: "default" for a developer's run, "ci" (chosen when CI=true) with the same
number of examples but derandomised, so a CI run is repeatable. No deadline: the first call of a
layer pays NumPy's warm-up, and timing is the benchmarks' business, not the tests'.
"""

import os
import time

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "default")


class _CompileClock:
    """Adds up the wall time Numba spends compiling during the run (cache misses only: a kernel
    loaded from the on-disk cache fires no compile event), counting nested compilations once."""

    def __init__(self):
        self.seconds = 0.0
        self.count = 0
        self._depth = 0
        self._start = 0.0

    def listener(self):
        from numba.core import event

        clock = self

        class Listener(event.Listener):
            def on_start(self, ev):
                if clock._depth == 0:
                    clock._start = time.perf_counter()
                clock._depth += 1

            def on_end(self, ev):
                clock._depth -= 1
                if clock._depth == 0:
                    clock.seconds += time.perf_counter() - clock._start
                    clock.count += 1

        return Listener()


_compile_clock = _CompileClock()


def pytest_configure(config):
    try:
        from numba.core import event
    except ImportError:
        return
    event.register("numba:compile", _compile_clock.listener())


def pytest_terminal_summary(terminalreporter):
    """Say how long Numba compiled: a warm second run should spend only a few seconds on it."""
    terminalreporter.write_line(
        f"Numba compiled {_compile_clock.count} functions in {_compile_clock.seconds:.1f} s "
        "(kernels found in the on-disk cache are not compiled again)"
    )


@pytest.fixture
def run_notebook(record_property, capsys):
    """execute(notebook, folder, timeout, label): run an nbformat notebook top to bottom in a fresh
    "python3" kernel whose working directory is `folder` (nbclient raises CellExecutionError,
    naming the cell, on any error); its time is printed and recorded, not tested."""
    from nbclient import NotebookClient

    def execute(notebook, folder, timeout, label):
        client = NotebookClient(notebook, kernel_name="python3", timeout=timeout,
                                resources={"metadata": {"path": str(folder)}})
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
        record_property("execution_seconds", round(seconds, 1))
        with capsys.disabled():
            print(f"\n{label} executed in {seconds:.1f} s (reported, not tested)")

    return execute

