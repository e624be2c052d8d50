"""One measurement in a fresh process: ``python -m benchmarks.worker '<json job>'``.

The orchestrator (``python -m benchmarks``) starts one worker per engine and round, so no
engine pays for another's heap (the cycle collector's full collections walk every tracked
object of the process). The worker prints one JSON line: the measurement, or an ``error``.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import traceback
from typing import Any

from .timing import clock

__all__ = ["rss_bytes", "run_job"]


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/statm (Linux)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover - not Linux: peak RSS is the best we have
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _moons(job: dict[str, Any]) -> dict[str, Any]:
    from . import data, moons

    prob = data.problem(job.get("n_samples", 100))
    step = moons.setup(job["engine"], prob)
    losses: list[float] = []
    times: list[float] = []
    for k in range(job["steps"]):
        t = clock()
        losses.append(step(k))
        times.append(clock() - t)
    out: dict[str, Any] = {"losses": losses, "times": times}
    if job["engine"] == "deltagrad":
        out["model"] = moons.fused_model_name()
    return out


def _chain(job: dict[str, Any]) -> dict[str, Any]:
    from . import chain

    steps = job["steps"]
    fwd, backward, keep = chain.ENGINES[job["engine"]](steps)
    bwds: list[float] = []
    y = dx = 0.0
    for _ in range(job.get("backward_repeats", 1)):
        dt, y, dx = backward()
        bwds.append(dt)
    del keep
    return {"forward": fwd, "backward": bwds, "y": y, "dx": dx, "steps": steps}


def _memory(job: dict[str, Any]) -> dict[str, Any]:
    from . import chain

    steps = job["steps"]
    build = chain.ENGINES[job["engine"]]
    build(10)  # import the engine and warm its code paths before the baseline reading
    gc.collect()
    before = rss_bytes()
    _, backward, keep = build(steps)
    after_forward = rss_bytes()
    out: dict[str, Any] = {"before": before, "forward": after_forward, "steps": steps}
    try:
        _, y, dx = backward()
        out.update(after_backward=rss_bytes(), y=y, dx=dx)
    except RecursionError:
        out["backward_error"] = "RecursionError"
    del keep
    return out


def _draw(job: dict[str, Any]) -> dict[str, Any]:
    from . import draw_bench  # type: ignore[attr-defined]

    t = clock()
    res = draw_bench.run(job["nodes"])
    dt = clock() - t
    return {"seconds": dt, "result": res if isinstance(res, int | float | str | dict) else None}


def _compile(job: dict[str, Any]) -> dict[str, Any]:
    from . import compile_ladder

    return compile_ladder.compile_job(job["graph"])


def _walk(job: dict[str, Any]) -> dict[str, Any]:
    from . import compile_ladder

    return compile_ladder.walk_job(job["steps"])


JOBS = {
    "moons": _moons,
    "chain": _chain,
    "memory": _memory,
    "draw": _draw,
    "compile": _compile,
    "walk": _walk,
}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job dict in this process and return its JSON-able result."""
    if job.get("gc") == "off":
        gc.disable()
    try:
        return JOBS[job["kind"]](job)
    except RecursionError:
        return {"error": "RecursionError"}
    except Exception as e:  # reported in the table, never hidden
        return {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}


def main(argv: list[str]) -> int:
    job = json.loads(argv[1])
    print(json.dumps(run_job(job)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
