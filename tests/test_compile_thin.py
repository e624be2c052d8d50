"""autograd.compile's thin runs (autograd/_thin.py): long stretches of tiny levels (a chain)
run from index tables instead of generated code per node.

Reference: the interpreter, graph rebuilt per sample (sum over samples of d root / d param),
as in tests/test_compile.py; and the batched program by levels (thin runs switched off) for
the same graph.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest

import autograd
from autograd import Value, _batched

RTOL = 1e-10
ATOL = 1e-10

Build = Callable[[Sequence[Value]], Value]


def _close(got: Any, want: Any, what: str) -> None:
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=what)


@contextlib.contextmanager
def levels_only() -> Iterator[None]:
    """No thin runs: every group gets generated code (the backend before thin runs)."""
    saved = _batched.MIN_RUN
    _batched.MIN_RUN = 10**12
    try:
        yield
    finally:
        _batched.MIN_RUN = saved


def _interpret(
    build: Build, cols: list[list[float]], params: list[Value]
) -> tuple[np.ndarray, np.ndarray]:
    roots = []
    for p in params:
        p.grad = 0.0
    for s in range(len(cols[0])):
        root = build([Value(c[s]) for c in cols])
        roots.append(root.data)
        root.backward()
    grads = np.array([p.grad for p in params])
    for p in params:
        p.grad = 0.0
    return np.array(roots), grads


def _compiled(
    prog: autograd.Program, cols: list[list[float]], params: list[Value]
) -> tuple[np.ndarray, np.ndarray]:
    for p in params:
        p.grad = 0.0
    roots = prog.backward(*cols, reduction="sum")
    grads = np.array([p.grad for p in params])
    for p in params:
        p.grad = 0.0
    return roots, grads


def _runs(prog: autograd.Program) -> int:
    return sum(line.startswith("# _r") and "thin run" in line for line in prog.source.splitlines())


def _check(build: Build, n_in: int, params: list[Value], cols: list[list[float]]) -> int:
    """Compiled (thin runs and levels only) equals the interpreter; returns the run count."""
    want_roots, want_grads = _interpret(build, cols, params)
    inputs = [Value(0.0, label=f"x{j}") for j in range(n_in)]
    root = build(inputs)
    prog = autograd.compile(root, inputs)
    _close(prog.forward(*cols), want_roots, "forward: root per sample")
    roots, grads = _compiled(prog, cols, params)
    _close(roots, want_roots, "backward returns the roots")
    _close(grads, want_grads, "d sum(root) / d param")
    with levels_only():
        plain = autograd.compile(root, inputs)
    assert _runs(plain) == 0
    _close(plain.forward(*cols), prog.forward(*cols), "same forward by levels")
    return _runs(prog)


def test_long_chain_equals_interpreter_and_runs_from_tables() -> None:
    w = Value(0.9999, label="w")
    b = Value(0.01, label="b")

    def build(xs: Sequence[Value]) -> Value:
        v = xs[0]
        for k in range(3000):
            v = (w * v + (b if k % 3 else 0.01)).relu()
        return v

    assert _check(build, 1, [w, b], [[0.5, -0.2, 1.5]]) == 1
    x = Value(0.0, label="x")
    prog = autograd.compile(build([x]), [x])
    assert len(prog._batched_lines) < 40, "no code written per node"


def test_mlp_then_a_long_chain_of_unary_ops() -> None:
    """Wide levels (fused neurons) first, then a thin run of unary ops on the network output,
    with the run's last node read by a wide consumer again (a sum with the penalty)."""
    import random

    rng = random.Random(3)
    layers = [
        [
            ([Value(rng.uniform(-1, 1)) for _ in range(a)], Value(rng.uniform(-0.1, 0.1)))
            for _ in range(b)
        ]
        for a, b in ((2, 8), (8, 8), (8, 1))
    ]
    params = [p for layer in layers for ws, bias in layer for p in (*ws, bias)]

    def build(xs: Sequence[Value]) -> Value:
        h: list[Value] = list(xs)
        for li, layer in enumerate(layers):
            zs = [autograd.dot(ws, h, bias) for ws, bias in layer]
            h = zs if li == len(layers) - 1 else [z.relu() for z in zs]
        v = h[0]
        for k in range(200):
            v = [v.tanh(), v.sin() * 0.9, v.sigmoid() - 0.5, (v * v + 1.0).sqrt() - 1.0][k % 4]
        return v + 1e-3 * autograd.sum([p * p for p in params])

    cols = [[0.3, -1.2, 0.8, 0.0], [1.1, 0.4, -0.6, 0.0]]
    assert _check(build, 2, params, cols) >= 1


def test_run_values_read_by_wide_groups_and_the_root() -> None:
    """The run's intermediate nodes are read outside it (a long sum, a product after it)."""
    w = Value(0.7, label="w")

    def build(xs: Sequence[Value]) -> Value:
        v = xs[0]
        seen = []
        for _ in range(100):
            v = (v * w).tanh() + 0.1
            seen.append(v)
        return autograd.sum(seen) * v + seen[10] * seen[50]

    assert _check(build, 1, [w], [[0.5, -1.0, 2.0]]) >= 1


def test_static_run_of_parameters_read_by_samples() -> None:
    """A chain on parameters only (static: one column per call) feeding sample nodes."""
    p = Value(0.4, label="p")
    q = Value(-0.3, label="q")

    def build(xs: Sequence[Value]) -> Value:
        s = p
        for _ in range(60):
            s = (s * 0.9 + q).tanh()
        v = xs[0]
        for _ in range(60):
            v = (v * s + q).sigmoid()
        return v * s

    assert _check(build, 1, [p, q], [[0.1, 0.9, -2.0, 3.0]]) >= 2


def test_two_parallel_chains_are_one_run() -> None:
    """Levels of two nodes (two chains side by side) are thin too."""
    w = Value(0.95, label="w")

    def build(xs: Sequence[Value]) -> Value:
        a, b = xs
        for _ in range(300):
            a, b = (a * w + 0.01).relu(), (b * w - 0.01).tanh()
        return a * b

    assert _check(build, 2, [w], [[0.5, 1.5], [-0.3, 0.7]]) == 1


def test_chain_through_inf_and_nan_matches_the_interpreter() -> None:
    """v = relu(3 v - 1) overflows to inf for some samples (a float product gives inf, no
    error), stays at 0 or at the fixed point 0.5 for others; tanh(inf) = 1 and its partial 0
    then meet the inf in the chain rule (0 * inf = NaN): the run gives the interpreter's
    floats, NaN where it has NaN."""
    w = Value(3.0, label="w")

    def build(xs: Sequence[Value]) -> Value:
        v = xs[0]
        for _ in range(700):
            v = (v * w - 1.0).relu()
        return v.tanh() * w

    for cols in ([[-5.0, 0.5]], [[-5.0, 0.5, 1.0, 2.0]]):
        want_roots, want_grads = _interpret(build, cols, [w])
        x = Value(0.0, label="x")
        prog = autograd.compile(build([x]), [x])
        assert _runs(prog) == 1
        roots, grads = _compiled(prog, cols, [w])
        np.testing.assert_array_equal(roots, want_roots)
        assert math.isnan(grads[0]) == math.isnan(want_grads[0]) == (len(cols[0]) > 2)
        if not math.isnan(want_grads[0]):
            assert grads[0] == pytest.approx(want_grads[0], rel=1e-12)


def test_source_of_a_run_is_written_when_read() -> None:
    x = Value(0.0, label="x")
    v = x
    for _ in range(50):
        v = (v * 0.5 + 1.0).tanh()
    prog = autograd.compile(v, [x])
    assert prog._source is None, "source is written when first read"
    src = prog.source
    assert "thin run of 150 sample node(s)" in src
    assert "#   v[0] = mul(v[150], v[151])" in src
    assert src == prog.source
    for line in src.splitlines():
        assert all(" " <= ch <= "~" for ch in line)


def test_chain_of_20000_nodes_compiles_fast_and_right() -> None:
    w = Value(0.9999, label="w")

    def build(xs: Sequence[Value]) -> Value:
        v = xs[0]
        for _ in range(5000):
            v = (w * v + 0.01).relu()
        return v

    assert _check(build, 1, [w], [[0.5, 2.0]]) == 1
