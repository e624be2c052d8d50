"""``python -m benchmarks [--workload NAME]``: every engine side by side, as a markdown table.

Each measurement runs in its own process (``benchmarks.worker``); engines alternate round by
round so that a noisy neighbour hits all of them alike. Every engine's result is checked
against micrograd's (moons) or the hand-computed reference (chain) before its time counts.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from . import chain
from .timing import CLOCK_NAME

TOL = 1e-9
WORKLOADS = ("moons", "moons-nogc", "chain", "scaling", "memory", "draw", "compile", "walk")


def _has(module: str) -> bool:
    return importlib.util.find_spec(f"benchmarks.{module}") is not None


def run_worker(job: dict[str, Any], timeout: float = 1800.0) -> dict[str, Any]:
    """Run one job in a fresh interpreter and return its JSON result (or an ``error``)."""
    cmd = [sys.executable, "-m", "benchmarks.worker", json.dumps(job)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=root, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"worker exit {proc.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _fmt_t(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms" if seconds >= 0.01 else f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} us"


def _rotate(items: Sequence[str], r: int) -> list[str]:
    r %= max(len(items), 1)
    return list(items[r:]) + list(items[:r])


# ---------------------------------------------------------------------------------------------
# moons


# steps per process (the first not timed); others 12. The sub-millisecond steps run 60, so
# that one process's dozen ~0.1 ms steps are not at the mercy of one stall of the machine.
MOONS_STEPS = {"micrograd": 3, "torch-scalar": 3} | dict.fromkeys(
    ("deltagrad-compiled", "deltagrad-compiled-grad", "torch-batched", "numpy"), 60
)


def moons_engines(gc_off: bool) -> list[str]:
    if gc_off:
        return ["deltagrad", "deltagrad-exact", "micrograd", "torch-scalar"]
    names = ["deltagrad", "deltagrad-exact"]
    if _has("compile_bench"):
        names += ["deltagrad-compiled", "deltagrad-compiled-grad"]
    return [*names, "micrograd", "torch-scalar", "torch-batched", "python", "numpy"]


def bench_moons(args: argparse.Namespace, gc_off: bool) -> tuple[str, dict[str, float]]:
    engines = [e for e in moons_engines(gc_off) if not args.engines or e in args.engines]
    if "micrograd" not in engines:
        engines.append("micrograd")  # the reference every loss is checked against
    n_samples = 8 if args.quick else 100
    rounds = 1 if args.quick else args.rounds
    results: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
    for r in range(rounds):
        for e in _rotate(engines, r):
            steps = 2 if args.quick else MOONS_STEPS.get(e, 12) + 1
            job = {"kind": "moons", "engine": e, "steps": steps, "n_samples": n_samples}
            if gc_off:
                job["gc"] = "off"
            res = run_worker(job)
            shown = res.get("error") or _fmt_t(statistics.median(res["times"][1:] or res["times"]))
            _log(f"moons{' (gc off)' if gc_off else ''} round {r} {e}: {shown}")
            results[e].append(res)
    ref = next((x["losses"] for x in results["micrograd"] if "losses" in x), None)
    medians: dict[str, float] = {}
    rows = []
    for e in engines:
        runs = [x for x in results[e] if "losses" in x]
        errors = [x["error"] for x in results[e] if "error" in x]
        if not runs:
            rows.append((e, None, None, None, f"error: {errors[0] if errors else '?'}"))
            continue
        times = [t for x in runs for t in (x["times"][1:] or x["times"])]
        if ref is None:
            check = "no micrograd reference"
            ok = False
        else:
            diff = max(abs(a - b) for x in runs for a, b in zip(x["losses"], ref))
            ok = diff <= TOL
            check = f"ok ({diff:.0e})" if ok else f"MISMATCH {diff:.1e}: time not counted"
        med = statistics.median(times)
        if ok:
            medians[e] = med
        rows.append((e, med, min(times), max(times), check))
        if e == "deltagrad":
            rows[-1] = (f"{e} ({runs[0].get('model', '')})", *rows[-1][1:])
    mg = medians.get("micrograd")
    lines = [
        "| engine | median / step | min-max | speed-up (micrograd / engine) "
        "| loss = micrograd's (1e-9) |",
        "|---|---|---|---|---|",
    ]
    for name, med, lo, hi, check in rows:
        if med is None or lo is None or hi is None:
            lines.append(f"| {name} | | | | {check} |")
            continue
        base = name.split(" (")[0]
        ratio = ""
        if mg and base in medians:
            r = mg / med
            ratio = f"{r:.1f}x" if r >= 1.0 else f"{r:.2f}x (slower)"
        lines.append(
            f"| {name} | {_fmt_t(med)} | {_fmt_t(lo)} - {_fmt_t(hi)} | {ratio} | {check} |"
        )
    title = "cycle collector off (gc.disable())" if gc_off else "default settings (gc on)"
    head = (
        f"### moons step, {title}\n\n{n_samples} points, MLP 2-16-16-1 relu, hinge + 1e-4 L2, "
        f"forward + backward + SGD; {rounds} rounds, engines alternating, one process each; "
        f"first step of each process not timed; {CLOCK_NAME} time.\n\n"
    )
    return head + "\n".join(lines) + "\n", medians


# ---------------------------------------------------------------------------------------------
# chain


def _check_chain(res: dict[str, Any]) -> tuple[bool, str]:
    y, d = chain.reference(res["steps"])
    ey = abs(res["y"] - y) / max(abs(y), 1.0)
    ed = abs(res["dx"] - d) / max(abs(d), 1e-300)
    ok = ey <= TOL and ed <= TOL
    return ok, (f"ok ({max(ey, ed):.0e})" if ok else f"MISMATCH y {ey:.1e} dx {ed:.1e}")


def bench_chain(args: argparse.Namespace) -> tuple[str, dict[str, float]]:
    big = 100 if args.quick else 1_000_000
    plan = [
        ("deltagrad", big),
        ("deltagrad", 300),
        ("micrograd", 300),
        ("micrograd", 1000),
        ("torch-scalar", big if args.full else (100 if args.quick else 100_000)),
        ("python", big),
    ]
    rounds = 1 if args.quick else max(2, args.rounds - 2)
    got: dict[tuple[str, int], list[dict[str, Any]]] = {p: [] for p in plan}
    for r in range(rounds):
        for i in _rotate([str(i) for i in range(len(plan))], r):
            e, steps = plan[int(i)]
            reps = 1 if steps >= 100_000 else 5
            res = run_worker(
                {"kind": "chain", "engine": e, "steps": steps, "backward_repeats": reps}
            )
            _log(f"chain round {r} {e} {steps}: {res.get('error') or 'done'}")
            got[(e, steps)].append(res)
    lines = [
        "| engine | steps (op nodes) | forward us/node | backward us/node | "
        "total us/node (min-max) | result check |",
        "|---|---|---|---|---|---|",
    ]
    totals: dict[str, float] = {}
    for e, steps in plan:
        runs = [x for x in got[(e, steps)] if "forward" in x]
        n = steps * chain.NODES_PER_STEP
        if not runs:
            errs = [x.get("error", "?") for x in got[(e, steps)]]
            lines.append(f"| {e} | {steps} ({n}) | | | | {errs[0] if errs else '?'} |")
            continue
        ok, check = _check_chain(runs[0])
        fw = [x["forward"] / n * 1e6 for x in runs]
        bw = [b / n * 1e6 for x in runs for b in x["backward"]]
        tot = [(x["forward"] + statistics.median(x["backward"])) / n * 1e6 for x in runs]
        f, b, t = statistics.median(fw), statistics.median(bw), statistics.median(tot)
        if ok:
            totals[f"{e}@{steps}"] = t
        lines.append(
            f"| {e} | {steps} ({n}) | {f:.2f} | {b:.2f} | {t:.2f} ({min(tot):.2f}-{max(tot):.2f})"
            f" | {check} |"
        )
    head = (
        "### deep chain y = relu(0.9999 y + 0.01)\n\n"
        "Per op node: time / (3 * steps) (mul, add, relu; constants not counted). "
        f"Default settings (gc on); forward and backward timed separately; {CLOCK_NAME} time.\n\n"
    )
    return head + "\n".join(lines) + "\n", totals


# ---------------------------------------------------------------------------------------------
# scaling


def bench_scaling(args: argparse.Namespace) -> tuple[str, dict[str, float]]:
    sizes = [300, 3_000] if args.quick else [1_000, 10_000, 100_000, 1_000_000]
    engines = ["deltagrad", "python", "torch-scalar", "micrograd"]
    limit = {"torch-scalar": 100_000, "micrograd": 1_000}
    rounds = 1 if args.quick else 3
    per: dict[tuple[str, int], list[float]] = {}
    errors: dict[tuple[str, int], str] = {}
    for r in range(rounds):
        for e in _rotate(engines, r):
            for n in sizes:
                if n > limit.get(e, 10**9):
                    continue
                steps = max(1, n // chain.NODES_PER_STEP)
                reps = max(3, min(200, 300_000 // n))
                res = run_worker(
                    {"kind": "chain", "engine": e, "steps": steps, "backward_repeats": reps}
                )
                if "backward" not in res:
                    errors[(e, n)] = res.get("error", "?")
                    continue
                ok, check = _check_chain(res)
                if not ok:
                    errors[(e, n)] = check
                    continue
                nodes = steps * chain.NODES_PER_STEP
                per.setdefault((e, n), []).extend(b / nodes * 1e9 for b in res["backward"])
        _log(f"scaling round {r} done")
    head_cols = " | ".join(f"{n:.0e} nodes" for n in sizes)
    lines = [
        f"| engine | {head_cols} | ratio largest / smallest |",
        "|---" * (len(sizes) + 2) + "|",
    ]
    ratios: dict[str, float] = {}
    for e in engines:
        cells = []
        meds: list[float] = []
        for n in sizes:
            if (e, n) in per:
                m = statistics.median(per[(e, n)])
                meds.append(m)
                cells.append(f"{m:.0f} ns")
            elif (e, n) in errors:
                cells.append(errors[(e, n)])
            else:
                cells.append("not run")
        ratio = ""
        if len(meds) >= 2 and (e, sizes[0]) in per:
            ratios[e] = meds[-1] / meds[0]
            ratio = f"{ratios[e]:.2f}x (at {sizes[len(meds) - 1]:.0e})"
        lines.append(f"| {e} | {' | '.join(cells)} | {ratio} |")
    head = (
        "### scaling: backward time per op node (chain, median of repeats)\n\n"
        "torch-scalar only up to 1e5 nodes (time); micrograd's recursive topological sort "
        "fails beyond about 1000 nodes at the default recursion limit.\n\n"
    )
    return head + "\n".join(lines) + "\n", ratios


# ---------------------------------------------------------------------------------------------
# memory


def bench_memory(args: argparse.Namespace) -> tuple[str, dict[str, float]]:
    nodes = 3_000 if args.quick else 1_000_000
    steps = -(-nodes // chain.NODES_PER_STEP)
    engines = ["deltagrad", "micrograd", "torch-scalar", "python"]
    lines = [
        "| engine | op nodes | bytes/node after forward | bytes/node after backward | check |",
        "|---|---|---|---|---|",
    ]
    out: dict[str, float] = {}
    for e in engines:
        res = run_worker({"kind": "memory", "engine": e, "steps": steps})
        n = steps * chain.NODES_PER_STEP
        if "forward" not in res:
            lines.append(f"| {e} | {n} | | | {res.get('error', '?')} |")
            continue
        fwd = (res["forward"] - res["before"]) / n
        if "after_backward" in res:
            bwd = (res["after_backward"] - res["before"]) / n
            ok, check = _check_chain(res)
            bcell = f"{bwd:.0f}"
            if ok:
                out[e] = bwd
        else:
            bcell, check = "", f"backward: {res.get('backward_error')}"
        lines.append(f"| {e} | {n} | {fwd:.0f} | {bcell} | {check} |")
        _log(f"memory {e}: done")
    head = (
        "### memory per op node (chain of ~1e6 op nodes)\n\n"
        "RSS (/proc/self/statm) after building the chain minus RSS before, divided by the "
        "number of op nodes (3 per step); then the same after `backward()` (now with every "
        "gradient stored). Default settings, one fresh process per engine. micrograd also "
        "makes 2 constant Values per step (counted in its bytes, not in its nodes); `python` is "
        "the hand-written loop's saved pre-activations (a lower bound).\n\n"
    )
    return head + "\n".join(lines) + "\n", out


# ---------------------------------------------------------------------------------------------
# draw


def bench_draw(args: argparse.Namespace) -> tuple[str, dict[str, float]]:
    if not _has("draw_bench"):
        return "### draw\n\nbenchmarks/draw_bench.py is not present yet.\n", {}
    sizes = [100] if args.quick else [1_000, 10_000]
    head = "| nodes | draw_graph | with highlight | collapsed | us per node | DOT bytes |"
    lines = [head, "|---|---|---|---|---|---|"]
    for n in sizes:
        res = run_worker({"kind": "draw", "nodes": n})
        r = res.get("result")
        if isinstance(r, dict):  # building the Digraph only (no layout program), median
            lines.append(
                f"| {r['nodes']} | {r['draw_s'] * 1e3:.1f} ms | {r['highlight_s'] * 1e3:.1f} ms "
                f"| {r['collapsed_s'] * 1e3:.1f} ms | {r['us_per_node']:.2f} | {r['dot_bytes']} |"
            )
        else:
            lines.append(f"| {n} | {res.get('error')} | | | | |")
    return "### draw (benchmarks/draw_bench.py)\n\n" + "\n".join(lines) + "\n", {}


# ---------------------------------------------------------------------------------------------
# compile and walk (benchmarks/compile_ladder.py)


def bench_compile(args: argparse.Namespace) -> tuple[str, dict[str, float]]:
    graphs = ["mlp-1e3", "chain-1e3"] if args.quick else ["mlp-1e3", "mlp-1e4", "mlp-1e5"]
    if not args.quick:
        graphs += ["chain-1e4", "chain-1e5"]
    lines = [
        "| graph | nodes | compile | one interpreted pass (fwd + bwd) | passes-equivalent "
        "| compile us/node |",
        "|---|---|---|---|---|---|",
    ]
    found: dict[str, float] = {}
    for name in graphs:
        res = run_worker({"kind": "compile", "graph": name}, timeout=3600.0)
        _log(f"compile {name}: {res.get('error') or 'done'}")
        if "compile" not in res:
            lines.append(f"| {name} | | {res.get('error')} | | | |")
            continue
        n, c, p = res["nodes"], res["compile"], res["pass"]
        found[f"{name}:passes"] = c / p
        found[f"{name}:per_node"] = c / n
        lines.append(
            f"| {name} | {n} | {_fmt_t(c)} | {_fmt_t(p)} | {c / p:.1f} | {c / n * 1e6:.1f} |"
        )
    big_text = _compiled_moons_large(args, found)
    head = (
        "### compile: autograd.compile against interpreted passes of the same graph\n\n"
        "mlp-1eK: the one-sample hinge + 1e-4 L2 loss graph of MLP(2, [w, w, 1]) (fused dot "
        "neurons, relu) with about 10^K nodes; chain-1eK: y = relu(w y + 0.01), 10^K steps. "
        f"Best of 5 (1 above 5e4 nodes), one process per graph; {CLOCK_NAME} time. "
        "Target: passes-equivalent <= 10, us/node at 1e5 within 1.5x of 1e3.\n\n"
    )
    return head + "\n".join(lines) + "\n\n" + big_text, found


def _compiled_moons_large(args: argparse.Namespace, found: dict[str, float]) -> str:
    """The compiled moons step at 10^4 samples against numpy (and torch-batched): the issue's
    "within 1.2x of hand-written numpy" there. Losses checked against numpy's (micrograd
    would take minutes per step at this size)."""
    n_samples = 200 if args.quick else 10_000
    rounds = 1 if args.quick else 3
    # numpy first: the reference the others' losses are checked against
    engines = ["numpy", "deltagrad-compiled", "deltagrad-compiled-grad", "torch-batched"]
    results: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
    for r in range(rounds):
        for e in _rotate(engines, r):
            job = {"kind": "moons", "engine": e, "steps": 3 if args.quick else 9}
            job["n_samples"] = n_samples
            res = run_worker(job)
            _log(f"moons {n_samples} samples round {r} {e}: {res.get('error') or 'done'}")
            results[e].append(res)
    ref = next((x["losses"] for x in results["numpy"] if "losses" in x), None)
    lines = [
        "| engine | median / step | ratio to numpy | loss = numpy's (1e-9) |",
        "|---|---|---|---|",
    ]
    med: dict[str, float] = {}
    for e in engines:
        runs = [x for x in results[e] if "losses" in x]
        if not runs or ref is None:
            lines.append(f"| {e} | | | error: {results[e][0].get('error', '?')} |")
            continue
        diff = max(abs(a - b) for x in runs for a, b in zip(x["losses"], ref))
        med[e] = statistics.median(t for x in runs for t in (x["times"][1:] or x["times"]))
        check = f"ok ({diff:.0e})" if diff <= TOL else f"MISMATCH {diff:.1e}: not counted"
        if diff > TOL:
            del med[e]
            lines.append(f"| {e} | | | {check} |")
            continue
        lines.append(
            f"| {e} | {_fmt_t(med[e])} | {med[e] / med.get('numpy', med[e]):.2f}x | {check} |"
        )
    if "deltagrad-compiled" in med and "numpy" in med:
        found[f"moons-{n_samples}:compiled/numpy"] = med["deltagrad-compiled"] / med["numpy"]
    head = (
        f"#### compiled moons step at {n_samples} samples\n\n"
        f"{rounds} rounds, engines alternating, one process each; {CLOCK_NAME} time. "
        "Target: compiled <= 1.2x numpy.\n\n"
    )
    return head + "\n".join(lines) + "\n"


def bench_walk(args: argparse.Namespace) -> tuple[str, dict[str, float]]:
    sizes = [1_000] if args.quick else [1_000, 1_000_000]
    lines = [
        "| chain nodes | backward() | topological_order | ratio | Graph(root) | ratio |",
        "|---|---|---|---|---|---|",
    ]
    found: dict[str, float] = {}
    for n in sizes:
        res = run_worker({"kind": "walk", "steps": n // 3})
        _log(f"walk {n}: {res.get('error') or 'done'}")
        if "backward" not in res:
            lines.append(f"| {n} | {res.get('error')} | | | | |")
            continue
        b, t, g = res["backward"], res["topological_order"], res["Graph"]
        found[f"topo@{n}"], found[f"graph@{n}"] = t / b, g / b
        lines.append(
            f"| {res['nodes']} | {_fmt_t(b)} | {_fmt_t(t)} | {t / b:.2f}x | {_fmt_t(g)} "
            f"| {g / b:.2f}x |"
        )
    head = (
        "### walk: topological_order and Graph against backward (chain)\n\n"
        f"Best of 5 (3 at 1e6), one process per size; {CLOCK_NAME} time. Target <= 1.5x.\n\n"
    )
    return head + "\n".join(lines) + "\n", found


# ---------------------------------------------------------------------------------------------


def _targets(found: dict[str, dict[str, float]]) -> str:
    lines = ["### targets (issues 4, 10, 16)\n", "| target | measured | met |", "|---|---|---|"]
    for workload, e, need, label in [
        ("moons", "deltagrad", 15.0, "moons step, fused dot MLP >= 15x micrograd"),
        ("moons", "deltagrad-exact", 8.0, "moons step, micrograd's graph >= 8x micrograd"),
        ("moons", "deltagrad", 25.0, "moons step, fused dot MLP >= 25x micrograd (issue 16)"),
        ("moons", "deltagrad-exact", 20.0, "moons step, micrograd's graph >= 20x (issue 16)"),
        (
            "moons-nogc",
            "deltagrad-exact",
            4.0,
            "moons step, micrograd's graph, cycle collector off >= 4x (issue 16)",
        ),
    ]:
        m = found.get(workload, {})
        mg = m.get("micrograd")
        if mg and e in m:
            r = mg / m[e]
            lines.append(f"| {label} | {r:.1f}x | {'yes' if r >= need else 'NO'} |")
    mem = found.get("memory", {}).get("deltagrad")
    if mem is not None:
        lines.append(
            f"| <= 200 bytes per op node (1e6 nodes, after backward) | {mem:.0f} B | "
            f"{'yes' if mem <= 200 else 'NO'} |"
        )
    ch = {k: v for k, v in found.get("chain", {}).items() if k.startswith("deltagrad@")}
    big = max(ch, key=lambda k: int(k.split("@")[1]), default=None)
    if big is not None:
        t = ch[big]
        lines.append(
            f"| chain ({big.split('@')[1]} steps) <= 1.5 us per op node fwd + bwd | {t:.2f} us "
            f"| {'yes' if t <= 1.5 else 'NO'} |"
        )
    sc = found.get("scaling", {}).get("deltagrad")
    if sc is not None:
        lines.append(
            f"| backward per node, 1e6 vs 1e3 nodes <= 1.6x | {sc:.2f}x | "
            f"{'yes' if sc <= 1.6 else 'NO'} |"
        )
    cp = found.get("compile", {})
    for key, v in cp.items():
        if key.endswith(":passes"):
            lines.append(
                f"| compile {key.split(':')[0]} <= 10 interpreted passes | {v:.1f} | "
                f"{'yes' if v <= 10 else 'NO'} |"
            )
    for key, v in cp.items():
        if key.endswith(":compiled/numpy"):
            n = key.split(":")[0].split("-")[1]
            lines.append(
                f"| compiled moons step at {n} samples <= 1.2x numpy | {v:.2f}x | "
                f"{'yes' if v <= 1.2 else 'NO'} |"
            )
    a, b = cp.get("mlp-1e3:per_node"), cp.get("mlp-1e5:per_node")
    if a and b:
        lines.append(
            f"| compile per node, 1e5 vs 1e3 nodes <= 1.5x | {b / a:.2f}x | "
            f"{'yes' if b / a <= 1.5 else 'NO'} |"
        )
    for key, v in found.get("walk", {}).items():
        what, n = key.split("@")
        lines.append(
            f"| {'topological_order' if what == 'topo' else 'Graph'} <= 1.5x backward at {n} "
            f"nodes | {v:.2f}x | {'yes' if v <= 1.5 else 'NO'} |"
        )
    m = found.get("moons", {})
    if "deltagrad-compiled" in m and "numpy" in m:
        r = m["deltagrad-compiled"] / m["numpy"]
        lines.append(
            f"| compiled moons step <= 1.5x numpy | {r:.2f}x | {'yes' if r <= 1.5 else 'NO'} |"
        )
    if "deltagrad-compiled" in m and "torch-batched" in m:
        r = m["deltagrad-compiled"] / m["torch-batched"]
        lines.append(
            f"| compiled moons step <= 0.3x torch-batched | {r:.2f}x | "
            f"{'yes' if r <= 0.3 else 'NO'} |"
        )
    if "deltagrad-compiled-grad" in m and "numpy" in m:  # not a target: how far .grad costs
        r = m["deltagrad-compiled-grad"] / m["numpy"]
        lines.append(f"| (compiled step through .grad, for comparison: vs numpy) | {r:.2f}x | |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("--workload", choices=("all", *WORKLOADS), default="all")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    ap.add_argument("--engines", type=lambda s: s.split(","), default=None)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks that all runs")
    ap.add_argument("--full", action="store_true", help="torch-scalar chain at 1e6 steps too")
    ap.add_argument("--out", help="also write the markdown to this file")
    args = ap.parse_args(argv)
    chosen = WORKLOADS if args.workload == "all" else (args.workload,)
    parts = []
    found: dict[str, dict[str, float]] = {}
    for w in chosen:
        if w == "moons":
            text, found["moons"] = bench_moons(args, gc_off=False)
        elif w == "moons-nogc":
            text, found["moons-nogc"] = bench_moons(args, gc_off=True)
        elif w == "chain":
            text, found["chain"] = bench_chain(args)
        elif w == "scaling":
            text, found["scaling"] = bench_scaling(args)
        elif w == "memory":
            text, found["memory"] = bench_memory(args)
        elif w == "compile":
            text, found["compile"] = bench_compile(args)
        elif w == "walk":
            text, found["walk"] = bench_walk(args)
        else:
            text, _ = bench_draw(args)
        parts.append(text)
        print(text, flush=True)
    parts.append(_targets(found))
    print(parts[-1])
    shown = f" --workload {args.workload}" if args.workload != "all" else ""
    stamp = (
        f"Command: `python -m benchmarks{shown}`"
        f" ({datetime.date.today()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, {CLOCK_NAME} time, load {os.getloadavg()[0]:.2f} at the end).\n"
    )
    if args.out:
        with open(args.out, "w") as f:
            f.write(stamp + "\n" + "\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
