"""Isolated memory measurement shared by the benchmarks that compare peak memory (kernels, distillm2).

torch's CPU allocations are invisible to tracemalloc, so each measured step runs in a fresh subprocess
(:func:`run_worker`: ``python -m benchmarks.bench_<name> --worker SPEC``) with glibc told to serve every allocation
above 64 KiB with mmap and to return it on free (:data:`MALLOC_ENV`), which makes the resident set track live
tensors; inside it, :class:`PeakRSS` measures the peak resident memory of a block.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


class PeakRSS:
    """Peak RSS during a block: exact ``VmHWM`` on Linux, else a thread sampling the RSS every millisecond.

    On Linux the kernel's high-water mark is reset by writing ``5`` to ``/proc/self/clear_refs`` on entry and read
    from ``/proc/self/status`` on exit (no sampling gaps). ``before`` is the RSS on entry, ``peak`` the peak.
    """

    def __init__(self):
        self.exact = os.path.exists("/proc/self/clear_refs")
        if self.exact:
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                self.exact = False

    @property
    def method(self) -> str:
        return "VmHWM" if self.exact else "rss-sampling-1ms"

    @staticmethod
    def _status(key: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        raise KeyError(key)

    @staticmethod
    def rss() -> int:
        try:
            return PeakRSS._status("VmRSS")
        except (OSError, KeyError):
            import psutil

            return psutil.Process().memory_info().rss

    def __enter__(self):
        if self.exact:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        self.before = self.rss()
        self.peak = self.before
        if not self.exact:
            self._stop = threading.Event()
            self._t = threading.Thread(target=self._sample, daemon=True)
            self._t.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.001)

    def __exit__(self, *exc):
        if self.exact:
            self.peak = max(self._status("VmHWM"), self.before)
        else:
            self._stop.set()
            self._t.join()
            self.peak = max(self.peak, self.rss())
        return False


def run_worker(module: str, spec: dict, env_defaults: dict[str, str] | None = None) -> dict:
    """Run ``module``'s worker on ``spec`` in a fresh interpreter (:data:`MALLOC_ENV` set; ``env_defaults`` fill
    variables the caller's environment leaves unset) and return the JSON it prints last."""
    env = {**(env_defaults or {}), **os.environ, **MALLOC_ENV}
    proc = subprocess.run([sys.executable, "-m", module, "--worker", json.dumps(spec)], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(worker: Callable[[dict], dict], run: Callable[..., dict]) -> None:
    """``__main__`` of a benchmark module: ``--worker SPEC`` runs one measurement, else the whole benchmark."""
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(worker(json.loads(sys.argv[2]))))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
