"""The "compile" and "walk" workloads: how compile and graph walks grow with the graph.

* ``compile``: ``autograd.compile`` of MLP loss graphs (about 10^3, 10^4, 10^5 nodes) and of a
  10^5-step chain, against one interpreted forward + backward pass of the same graph:
  compile time, passes-equivalent (compile / pass; target <= 10) and time per node.
* ``walk``: ``topological_order(root)`` and ``Graph(root)`` against ``root.backward()`` on the
  chain at 10^3 and 10^6 nodes (target <= 1.5x backward).
"""

from __future__ import annotations

import gc
import itertools
import random
from collections.abc import Callable
from typing import Any

import autograd
from autograd import Value

from .timing import clock

__all__ = ["MLP_WIDTHS", "compile_job", "walk_job"]

#: Hidden widths whose MLP(2, [w, w, 1]) hinge + L2 loss graph has about 10^3, 10^4, 10^5 nodes.
MLP_WIDTHS = {"mlp-1e3": 20, "mlp-1e4": 67, "mlp-1e5": 219}


def mlp_graph(width: int) -> tuple[Callable[[], Value], list[Value]]:
    """``build() -> loss`` for one sample of MLP(2, [width, width, 1]) (fused dot neurons,
    relu, hinge, 1e-4 L2 penalty), and its input leaves [x1, x2, y]."""
    rng = random.Random(1)
    sizes = [2, width, width, 1]
    layers = [
        [([Value(rng.uniform(-1, 1)) for _ in range(a)], Value(0.0)) for _ in range(b)]
        for a, b in itertools.pairwise(sizes)
    ]
    params = [p for layer in layers for ws, b in layer for p in (*ws, b)]
    x1, x2, y = Value(0.3, label="x1"), Value(-0.2, label="x2"), Value(1.0, label="y")

    def build() -> Value:
        h: list[Value] = [x1, x2]
        for li, layer in enumerate(layers):
            zs = [autograd.dot(ws, h, b) for ws, b in layer]
            h = zs if li == len(layers) - 1 else [z.relu() for z in zs]
        hinge = (1.0 - y * h[0]).relu()
        return hinge + 1e-4 * autograd.sum([p * p for p in params])

    return build, [x1, x2, y]


def chain_graph(steps: int) -> tuple[Callable[[], Value], list[Value]]:
    """``build() -> y_n`` of the benchmark chain y = relu(0.9999 y + 0.01), from input x."""
    x = Value(0.5, label="x")
    w = Value(0.9999, label="w")

    def build() -> Value:
        v = x
        for _ in range(steps):
            v = (w * v + 0.01).relu()
        return v

    return build, [x]


def _graph(name: str) -> tuple[Callable[[], Value], list[Value]]:
    if name.startswith("chain-"):
        return chain_graph(int(float(name.split("-")[1])))
    return mlp_graph(MLP_WIDTHS[name])


def _best(f: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = clock()
        f()
        times.append(clock() - t)
    return min(times)


def compile_job(name: str) -> dict[str, Any]:
    """Compile time and one interpreted pass (forward + backward) of graph ``name``."""
    build, inputs = _graph(name)
    root = build()
    n = len(autograd.topological_order(root))
    big = n > 50_000
    reps = 1 if big else 5  # small graphs: a few ms each, so best of 5 against the noise

    def one_pass() -> None:
        build().backward()

    pass_s = _best(one_pass, reps)
    gc.collect()
    compile_s = _best(lambda: autograd.compile(root, inputs), reps)
    return {"nodes": n, "compile": compile_s, "pass": pass_s}


def walk_job(steps: int) -> dict[str, Any]:
    """topological_order, Graph and backward on the chain of ``steps`` steps."""
    build, _ = chain_graph(steps)
    root = build()
    reps = 3 if steps >= 100_000 else 5  # 1e6 nodes: ~0.5 s a pass; one pass was too noisy
    return {
        "nodes": 3 * steps,
        "backward": _best(root.backward, reps),
        "topological_order": _best(lambda: autograd.topological_order(root), reps),
        "Graph": _best(lambda: autograd.Graph(root), reps),
    }
