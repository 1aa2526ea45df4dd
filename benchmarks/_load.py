"""A competing load for the benchmarks: busy Python processes, one per core, started and stopped
by the benchmark itself.

    with CompetingLoad() as load:          # len(os.sched_getaffinity(0)) busy processes
        ...time something...
    load.cpu_share                         # share of the CPUs they took meanwhile

Each process is a plain Python loop that never sleeps: another user's job on the same machine.
The processes stop when the `with` block ends, however it ends (an exception, Ctrl-C), and each
also stops on its own within a fraction of a second once the process that started it is gone, so
even a benchmark killed with SIGKILL leaves nothing spinning behind it.
"""

import os
import signal
import subprocess
import sys
import time

# The child's whole program. It watches its parent: a loop of a million additions takes about
# 30 ms, and when its parent dies the child is re-parented and getppid() changes.
_BUSY_LOOP = """
import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(1_000_000):
        pass
"""


def default_count():
    """One busy process per core this process may run on."""
    return len(os.sched_getaffinity(0))


def _cpu_seconds(pid):
    """User + system CPU seconds process `pid` has run so far (Linux /proc), or None."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")   # utime, stime


class CompetingLoad:
    """Context manager: `count` busy Python processes while the block runs.

    After the block, `cpu_share` is the share of all the CPUs' time the processes took while they
    ran (about count / cores when they got their fair share), or None where /proc is missing.
    """

    def __init__(self, count=None):
        self.count = default_count() if count is None else count
        self.processes = []
        self.cpu_share = None
        self._started = self._cpu_before = None

    def start(self):
        for _ in range(self.count):
            self.processes.append(subprocess.Popen(
                [sys.executable, "-c", _BUSY_LOOP, str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self._started = time.perf_counter()
        self._cpu_before = [_cpu_seconds(p.pid) for p in self.processes]
        return self

    def stop(self):
        """Stop every process (SIGTERM, then SIGKILL after 5 s) and wait for it."""
        if not self.processes:
            return
        cpu_after = [_cpu_seconds(p.pid) for p in self.processes]
        if self._cpu_before is not None and None not in cpu_after + self._cpu_before:
            wall = time.perf_counter() - self._started
            busy = sum(a - b for a, b in zip(cpu_after, self._cpu_before))
            self.cpu_share = busy / (wall * os.cpu_count())
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()               # the ones that did start
            raise

    def __exit__(self, *exc_info):
        self.stop()
        return False
