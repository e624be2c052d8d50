"""The fast layer (autograd._fast) is bit-identical to the reference engine (autograd.engine).

Hypothesis draws a program as a recipe: leaves (some with ``requires_grad=False``), then ops of
the whole table applied through every calling form (operators, reflected operators with a
number on the left, methods, ``apply_op``, ``sum``, ``dot``) to earlier nodes or plain
numbers, ``.parents`` read on some nodes, old gradients (numbers or ``None``) on some leaves,
and one or two backward passes. The recipe is replayed once with ``set_fast(True)`` and once
with ``set_fast(False)``; every node's data and grad must have the same bits, and so must
the error, when the program raises. Values include the edges (0, -0, inf, nan, subnormals).
"""

from __future__ import annotations

import math
import operator
import os
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd
from autograd import OPS, Value

BUILTIN = [op for op in OPS.values() if op.builtin]
ROOT = Path(__file__).resolve().parent.parent

normal = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
edgy = st.one_of(
    normal,
    st.sampled_from([0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 5e-324, 1e-310, 1e300]),
    st.floats(allow_nan=True, allow_infinity=True),
)


@contextmanager
def fast(enabled: bool) -> Iterator[None]:
    before = autograd.is_fast()
    autograd.set_fast(enabled)
    try:
        yield
    finally:
        autograd.set_fast(before)


def bits(x: float | None) -> Any:
    if x is None:
        return None
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    return struct.pack("<d", x)


@st.composite
def recipes(draw: st.DrawFn, values: st.SearchStrategy[float]) -> list[tuple[Any, ...]]:
    steps: list[tuple[Any, ...]] = []
    n = draw(st.integers(1, 3))
    for _ in range(n):
        steps.append(("leaf", draw(values), draw(st.sampled_from([True, True, False]))))
    ops = draw(st.permutations(BUILTIN)) + draw(st.lists(st.sampled_from(BUILTIN), max_size=5))
    for op in ops:
        k = op.arity if op.arity >= 0 else draw(st.integers(1, 5))
        forms = ["apply_op"]
        if k == op.arity:
            forms += [f"method:{m}" for m in op.methods]
            forms += [f"reflected:{m}" for m in op.rmethods]
        form = draw(st.sampled_from(forms))
        args: list[tuple[str, Any]] = []
        for i in range(k):
            number = (form.startswith("reflected") and i == 0) or (
                not form.startswith("reflected")
                and i > 0
                and draw(st.booleans())
                and not (form.startswith("method") and op.arity == 1)
            )
            if number:
                args.append(("num", draw(values)))
            else:
                args.append(("node", draw(st.integers(0, 10_000))))
        steps.append(("op", op.name, form, args, draw(st.booleans())))
        if draw(st.integers(0, 4)) == 0:
            nary = draw(st.sampled_from(["sum", "dot"]))
            size = draw(st.integers(1, 4))
            refs = [draw(st.integers(0, 10_000)) for _ in range(2 * size + 1)]
            steps.append((nary, size, refs))
    steps.append(("old grads", [draw(st.sampled_from([0.0, None, 1.5, -2.0])) for _ in range(n)]))
    steps.append(("backward", draw(st.sampled_from([1.0, -0.5, 2.0])), draw(st.integers(1, 2))))
    return steps


def replay(
    steps: list[tuple[Any, ...]], between: Callable[[Value], None] | None = None
) -> tuple[Any, ...]:
    """Run a recipe; return every node's data/grad bits, or the error it raised. With
    ``between``: after the passes call it on the root, zero every grad, run one more pass."""
    nodes: list[Value] = []
    leaves: list[Value] = []

    def pick(i: int) -> Value:
        return nodes[i % len(nodes)]

    try:
        for step in steps:
            kind = step[0]
            if kind == "leaf":
                v = Value(step[1], requires_grad=step[2])
                leaves.append(v)
                nodes.append(v)
            elif kind == "op":
                _, name, form, args, read_parents = step
                xs = [pick(a) if k == "node" else a for k, a in args]
                how, _, method = form.partition(":")
                if how == "apply_op":
                    v = autograd.apply_op(name, *xs)
                elif how == "reflected":
                    forward = OPS[name].methods[0]
                    v = getattr(operator, forward)(xs[0], xs[1])
                elif method.startswith("__"):
                    v = getattr(operator, method)(*xs)
                else:
                    v = getattr(xs[0], method)(*xs[1:])
                if read_parents:
                    v.parents
                nodes.append(v)
            elif kind in ("sum", "dot"):
                _, size, refs = step
                if kind == "sum":
                    nodes.append(autograd.sum(pick(r) for r in refs[:size]))
                else:
                    ws = [pick(r) for r in refs[:size]]
                    xs = [pick(r) for r in refs[size : 2 * size]]
                    bias = pick(refs[-1]) if refs[-1] % 2 else None
                    nodes.append(autograd.dot(ws, xs, bias))
            elif kind == "old grads":
                for leaf, old in zip(leaves, step[1]):
                    if leaf.requires_grad:
                        leaf.grad = old
            else:
                _, seed, passes = step
                root = (
                    autograd.sum(n for n in nodes if n.requires_grad)
                    if any(n.requires_grad for n in nodes)
                    else None
                )
                if root is None:
                    return ("no root",)
                nodes.append(root)
                for _ in range(passes):
                    root.backward(seed)
                if between is not None:
                    between(root)
                    for n in nodes:
                        if n.requires_grad:
                            n.grad = 0.0
                    root.backward(seed)
    except (ArithmeticError, ValueError, TypeError) as e:
        return ("error", type(e).__name__, str(e), *[(bits(n.data), bits(n.grad)) for n in nodes])
    return tuple((bits(n.data), bits(n.grad), n.requires_grad) for n in nodes)


def assert_same(steps: list[tuple[Any, ...]]) -> None:
    with fast(True):
        got = replay(steps)
    with fast(False):
        ref = replay(steps)
    assert got == ref, f"fast and reference differ on {steps}"


@given(recipes(normal))
def test_fast_layer_is_bit_identical_to_the_reference_engine(steps: list[tuple[Any, ...]]) -> None:
    assert_same(steps)


@settings(max_examples=150)
@given(recipes(edgy))
def test_fast_layer_is_bit_identical_at_edge_values(steps: list[tuple[Any, ...]]) -> None:
    assert_same(steps)


def same_walks(root: Value) -> None:
    """The fast walks against the reference ones on one graph: ``topological_order`` first
    (it makes the constants), then the reference walk over ``.parents``, which would make new
    constants (and so other nodes) if the fast walk had not stored them where it should."""
    order = autograd.topological_order(root)
    assert order == autograd.engine.walk(root, lambda v: v.parents)  # identity (Value ==)
    got = autograd.Graph(root)
    with fast(False):
        ref = autograd.Graph(root)
    assert got.nodes == ref.nodes == order
    assert got.parents == ref.parents
    assert [got.index(v) for v in order] == list(range(len(order)))
    assert got.ops == ref.ops
    assert [bits(x) for x in got.data] == [bits(x) for x in ref.data]
    assert [bits(x) for x in got.grads] == [bits(x) for x in ref.grads]


@given(recipes(edgy))
def test_fast_walks_give_the_reference_order_and_graph(steps: list[tuple[Any, ...]]) -> None:
    with fast(True):
        replay(steps, between=same_walks)


def test_fast_walk_reaches_deep_graphs_and_shared_nodes() -> None:
    x = Value(0.5)
    v = x
    for _ in range(30_000):  # deeper than any recursion limit
        v = (x * v + 0.01).relu() + autograd.dot([x, 2.0], [v, 3.0])
    same_walks(v)
    # x, then per step 5 op nodes (mul, add, relu, dot, add) and 3 constants (0.01, 2.0, 3.0)
    assert len(autograd.topological_order(v)) == 1 + 30_000 * 8


def test_set_fast_switches_and_reports() -> None:
    with fast(False):
        assert not autograd.is_fast()
        assert Value.__add__.__module__ == "autograd.engine"
    assert autograd.is_fast()
    with pytest.raises(TypeError, match="set_fast"):
        autograd.set_fast("no")  # type: ignore[arg-type]


def test_reference_engine_is_one_readable_file() -> None:
    src = (ROOT / "autograd" / "engine.py").read_text()
    assert len(src.splitlines()) <= 400
    assert "exec(" not in src and "compile(" not in src


def test_oracle_suite_passes_on_the_reference_path() -> None:
    """The whole PyTorch float64 oracle suite, once, with DELTAGRAD_REFERENCE=1."""
    env = dict(os.environ, DELTAGRAD_REFERENCE="1")
    files = ["tests/test_engine_oracle.py", "tests/test_engine.py", "tests/test_define_op.py"]
    code = "import autograd, sys; sys.exit(0 if not autograd.is_fast() else 3)"
    assert subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT).returncode == 0
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
