"""The clock every benchmark reads.

CPU time of the process by default (``time.process_time``): on a shared machine, wall time
also counts the time other processes hold the core, which is noise here. ``BENCH_CLOCK=wall``
switches to ``time.perf_counter``. Torch's scalar and batched workloads are single-threaded
at these sizes, so CPU time and wall time agree on an idle machine.
"""

from __future__ import annotations

import os
import time

__all__ = ["CLOCK_NAME", "clock"]

CLOCK_NAME = "wall" if os.environ.get("BENCH_CLOCK") == "wall" else "cpu"
clock = time.perf_counter if CLOCK_NAME == "wall" else time.process_time
