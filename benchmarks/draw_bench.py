"""How long :func:`autograd.draw_graph` takes to build the Digraph of a large graph.

The graph is a scoped network like ``nn``'s (layers of neurons, each one fused ``dot`` node
and a ``tanh``, parameters created inside the neuron's scope), grown until it has
``n_nodes`` Values, then summed into one root and back-propagated, so the heat map, the
clusters and a highlighted first-layer weight all have real work to do. Only building the
DOT text is timed (no layout: that is Graphviz's job and grows faster than linearly).

The issue's budget: a 10,000-node graph in under 1 s, and linear growth.
"""

from __future__ import annotations

import re
import time
from typing import Any

FAN_IN = 8
WIDTH = 16


def build(n_nodes: int) -> tuple[Any, Any]:
    """A back-propagated scoped network with about ``n_nodes`` Values; ``(root, weight)``.

    Each neuron adds FAN_IN + 3 Values (weights, bias, z, a); layers are WIDTH neurons wide
    and each neuron reads FAN_IN outputs of the previous layer.
    """
    import autograd as ag

    xs = [ag.Value(0.1 * (i % 7) - 0.3, f"x{i}") for i in range(WIDTH)]
    count = len(xs)
    layer = 0
    first_weight = None
    outs: list[Any] = []
    while count < n_nodes - 2:
        outs = []
        with ag.scope(f"layer{layer}"):
            for j in range(WIDTH):
                if count >= n_nodes - 2:
                    break
                with ag.scope(f"neuron{j}"):
                    ws = [ag.Value(0.05 * ((i + j) % 5 - 2), f"w{i}") for i in range(FAN_IN)]
                    b = ag.Value(0.01 * j, "b")
                    ins = [xs[(j + i) % len(xs)] for i in range(FAN_IN)]
                    z = ag.dot(ws, ins, b)
                    z.label = "z"
                    a = z.tanh()
                    a.label = "a"
                if first_weight is None:
                    first_weight = ws[0]
                outs.append(a)
                count += FAN_IN + 3
        xs = outs
        layer += 1
    root = ag.sum(xs)
    root.label = "L"
    root.backward()
    return root, first_weight


def _best(fn: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(n_nodes: int = 10_000) -> dict[str, Any]:
    """Time ``draw_graph`` on a graph of about ``n_nodes`` Values.

    Returns:
        ``nodes`` (Values in the graph), ``draw_s`` (best of 3, every node drawn),
        ``highlight_s`` (the same with a first-layer weight highlighted),
        ``collapsed_s`` (``max_nodes`` below the size: neurons collapsed), ``us_per_node``,
        ``dot_bytes`` and ``under_1s_per_10k`` (draw_s scaled to 10,000 nodes, < 1 s).
    """
    import autograd as ag

    root, weight = build(n_nodes)
    nodes = len(ag.topological_order(root))
    draw_s = _best(lambda: ag.draw_graph(root, max_nodes=None), 3)
    highlight_s = _best(lambda: ag.draw_graph(root, highlight=weight, max_nodes=None), 3)
    collapsed_s = _best(lambda: ag.draw_graph(root, max_nodes=nodes - 1), 3)
    source = ag.draw_graph(root, highlight=weight, max_nodes=None).source
    return {
        "nodes": nodes,
        "draw_s": round(draw_s, 4),
        "highlight_s": round(highlight_s, 4),
        "collapsed_s": round(collapsed_s, 4),
        "us_per_node": round(draw_s / nodes * 1e6, 2),
        "dot_bytes": len(source.encode("utf-8")),
        "under_1s_per_10k": draw_s / nodes * 10_000 < 1.0,
    }


def _renderers() -> dict[str, str]:
    """The renderers on this machine, by name: ``dot`` and ``graphviz-pure``."""
    import shutil
    import sys
    from pathlib import Path

    found = {}
    dot = shutil.which("dot")
    pure = shutil.which("graphviz-pure") or shutil.which(
        "graphviz-pure", path=str(Path(sys.executable).parent)
    )
    if dot:
        found["dot"] = dot
    if pure:
        found["graphviz-pure"] = pure
    return found


def render_times(
    sizes: tuple[int, ...] = (100, 1_000, 10_000), timeout: float = 120.0
) -> list[dict[str, Any]]:
    """Wall time of laying out and writing the SVG of each size, with each renderer, as drawn
    by default (``max_nodes`` = ``autograd.draw.MAX_NODES``: larger graphs collapse their
    neurons, then chains, then layers) and uncollapsed (``max_nodes=None``).

    Returns:
        One row per (size, renderer, default or uncollapsed): ``nodes``, ``renderer``,
        ``max_nodes``, ``drawn`` (DOT node statements), ``svg_s`` (``None`` on timeout or
        crash, with ``error``), ``size_pt`` (the SVG's width x height).
    """
    import subprocess

    import autograd as ag
    from autograd.draw import MAX_NODES

    rows: list[dict[str, Any]] = []
    for n in sizes:
        root, _ = build(n)
        nodes = len(ag.topological_order(root))
        default = ag.draw_graph(root, max_nodes=MAX_NODES).source
        for max_nodes in (MAX_NODES, None):
            source = default if max_nodes else ag.draw_graph(root, max_nodes=None).source
            if max_nodes is None and source == default:
                continue  # nothing collapsed by default
            drawn = len(re.findall(r"^\t[vog]\d+ \[", source, flags=re.M))
            for name, path in _renderers().items():
                row: dict[str, Any] = {
                    "nodes": nodes,
                    "renderer": name,
                    "max_nodes": max_nodes,
                    "drawn": drawn,
                }
                t = time.perf_counter()
                try:
                    proc = subprocess.run(
                        [path, "-Tsvg"],
                        input=source.encode(),
                        capture_output=True,
                        timeout=timeout,
                        check=False,
                    )
                    row["svg_s"] = round(time.perf_counter() - t, 2)
                    size = re.search(rb'<svg width="(\d+)pt" height="(\d+)pt"', proc.stdout)
                    if size:
                        row["size_pt"] = f"{int(size[1])} x {int(size[2])}"
                    if proc.returncode != 0:
                        row["svg_s"], row["error"] = None, f"exit {proc.returncode}"
                except subprocess.TimeoutExpired:
                    row["svg_s"], row["error"] = None, f"timeout {timeout:g} s"
                rows.append(row)
                print(row, flush=True)
    return rows


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["render"]:
        render_times()
    else:
        for n in (1_000, 10_000):
            print(run(n))
