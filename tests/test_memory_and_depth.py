"""Any depth works (no recursion over the graph) and graphs are freed by reference counting
alone (no reference cycles), with the cycle collector switched off."""

from __future__ import annotations

import contextlib
import gc
import math
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import autograd
from autograd import Value

DEEP = 1_000_000


@contextmanager
def cycle_collector_off() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def test_million_step_relu_chain_runs_forward_and_backward_with_closed_form_grad() -> None:
    """y_{k+1} = relu(0.9999 y_k + 0.01): dy_n/dy_0 is the product of 0.9999 over the steps
    where relu was active (micrograd 0.1.0 dies with RecursionError at 330 steps)."""
    x = Value(1.0)
    y = x
    for _ in range(DEEP):
        y = (y * 0.9999 + 0.01).relu()

    # The same recurrence on plain floats, counting the steps where relu passes the gradient.
    v, active = 1.0, 0
    for _ in range(DEEP):
        z = v * 0.9999 + 0.01
        active += z > 0.0
        v = z if z > 0.0 else 0.0
    assert y.data == v

    y.backward()
    expected = 0.9999**active
    assert active == DEEP and expected > 0.0
    assert math.isclose(x.grad, expected, rel_tol=1e-9), (x.grad, expected)

    first = weakref.ref(y.parents[0])  # deep inside the chain: freed with it, no stack overflow
    with cycle_collector_off():
        del y
        assert first() is None


def test_topological_order_of_a_million_op_chain() -> None:
    steps = DEEP // 3 + 1  # three ops per step: mul, add, relu
    x = Value(0.5)
    y = x
    for _ in range(steps):
        y = (y * 0.9999 + 0.01).relu()
    order = autograd.topological_order(y)
    # Each step adds its 3 op nodes and 2 constant leaves (0.9999 and 0.01), after x.
    assert len(order) == 1 + 5 * steps
    assert order[0] is x and order[-1] is y
    ops = [n.op for n in order[1:6]]
    assert ops == ["", "mul", "", "add", "relu"], ops
    assert [n.op for n in order[-5:]] == ops


def test_topological_order_is_parents_first_on_a_wide_shared_graph() -> None:
    xs = [Value(float(i)) for i in range(200)]
    layer = xs
    for _ in range(5):
        layer = [autograd.sum(layer[i : i + 3]) * layer[-i - 1] for i in range(len(layer))]
    root = autograd.sum(layer)
    order = autograd.topological_order(root)
    position = {id(n): i for i, n in enumerate(order)}
    assert len(position) == len(order)
    for n in order:
        assert all(position[id(p)] < position[id(n)] for p in n.parents)
    assert all(id(x) in position for x in xs)


# ---------------------------------------------------------------------------------------------
# Freed by reference counting


def build_graph() -> tuple[list[Value], Value, list[Value]]:
    """A small net-like graph with every kind of node: leaves, binary and unary ops, a
    constant operand, reflected ops, a Value exponent, n-ary sum and dot."""
    w = [Value(0.3, label="w0"), Value(-0.7, label="w1")]
    x = [Value(1.5), Value(2.0)]
    b = Value(0.1, label="b")
    z = autograd.dot(w, x, b)
    a = z.tanh()
    h = 2.0 * a - x[0] ** w[1] + (1 - a).exp() / 3
    root = autograd.sum([h, a.relu(), h * h, a.leaky_relu(0.2)])
    return [*w, *x, b], root, [z, a, h]


def test_graph_is_freed_without_the_cycle_collector() -> None:
    with cycle_collector_off():
        leaves, root, inner = build_graph()
        const = inner[2].parents[0].parents[0].parents[0]  # the 2.0 of 2.0 * a, materialised
        assert const.is_leaf and const.data == 2.0
        refs = [weakref.ref(n) for n in (*leaves, *inner, const, root)]
        del const
        del leaves, root, inner
        alive = [r() for r in refs if r() is not None]
        assert not alive, f"still alive without gc: {alive}"


def test_graph_is_freed_after_backward_and_topological_order() -> None:
    with cycle_collector_off():
        leaves, root, inner = build_graph()
        root.backward()
        root.backward(0.5)
        order = autograd.topological_order(root)
        assert all(n.grad == n.grad for n in order)  # walked every node, grads are numbers
        refs = [weakref.ref(n) for n in order]
        del order, leaves, root, inner
        alive = [r() for r in refs if r() is not None]
        assert not alive, f"{len(alive)} nodes still alive without gc, e.g. {alive[:3]}"


def test_failed_backward_leaves_no_cycle() -> None:
    def bad(x: float, out: float) -> tuple[float]:
        raise RuntimeError("on purpose")

    boom = autograd.define_op("test_memory_boom", lambda x: x, bad)
    try:
        with cycle_collector_off():
            x = Value(1.0)
            y = boom(x * 2) + x
            refs = [weakref.ref(n) for n in (x, y, *y.parents)]
            with contextlib.suppress(RuntimeError):  # the failed pass must not keep the graph
                y.backward()
            del x, y
            assert all(r() is None for r in refs)
    finally:
        del autograd.OPS["test_memory_boom"]


def test_collector_finds_no_garbage_after_a_graph_dies() -> None:
    with cycle_collector_off():
        leaves, root, inner = build_graph()
        root.backward()
        with autograd.no_grad(), autograd.scope("s"):
            leaves[0] * 3
        del leaves, root, inner
        assert gc.collect() == 0, "the graph left cyclic garbage behind"
