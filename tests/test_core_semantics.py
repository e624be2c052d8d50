"""The Value surface a PyTorch user reaches for, constants that stay constants, the Graph's
neurons, and concurrent backward passes (issues 10, 11, 14)."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd
import nn
from autograd import Graph, Value, draw_graph, explain_grad
from tests.test_fast_path import recipes, replay


def test_requires_grad_is_true_for_user_values_false_for_constants_and_their_results() -> None:
    a = Value(2.0)
    c = Value(3.0, requires_grad=False)
    assert a.requires_grad and not c.requires_grad and c.grad is None
    y = (a - 1.0) ** 2
    k = c * 4.0 + 1.0
    assert y.requires_grad and not k.requires_grad
    assert [p.requires_grad for p in y.parents] == [True, False]
    L = y + k
    L.backward()
    # d/da (a - 1)^2 = 2 (a - 1) = 2; constants and results of constants keep grad None
    assert a.grad == 2.0 and c.grad is None and k.grad is None
    assert all(p.grad is None for p in k.parents)
    assert y.parents[1].grad is None and (a - 1.0).parents[1].grad is None


def test_backward_from_a_constant_raises_naming_it() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Value(1.0, requires_grad=False) * 2.0).backward()


def test_reading_the_graph_never_changes_the_next_backward() -> None:
    # the exponent 2.0 of (a - 1.0) ** 2 once got grad = nan after draw_graph read .parents
    a = Value(3.0, label="a")
    L = (a - 1.0) ** 2
    L.backward()
    first = a.grad
    draw_graph(L)
    explain_grad(a, L)
    autograd.compile(L, [])
    exponent = L.parents[1]
    assert exponent.grad is None and not exponent.requires_grad
    a.grad = 0.0
    L.backward()
    assert a.grad == first == 4.0 and exponent.grad is None


@given(recipes(st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)))
def test_random_programs_same_gradients_after_draw_explain_compile(steps: list[Any]) -> None:
    plain = replay(steps, between=lambda root: None)

    def touch(root: Value) -> None:
        draw_graph(root, max_nodes=None)
        g = Graph(root)
        for v in g.nodes[:5]:
            explain_grad(v, root)
        leaves = [v for v in g.nodes if v.is_leaf and v.requires_grad]
        autograd.compile(root, leaves[:1])

    again = replay(steps, between=touch)
    assert again == plain


def test_is_leaf_is_a_property_as_in_pytorch() -> None:
    a = Value(1.0)
    b = a * 2.0
    assert a.is_leaf is True and b.is_leaf is False
    assert Value(1.0, requires_grad=False).is_leaf is True
    assert (Value(1.0, requires_grad=False) * 2.0).is_leaf is True  # no grad: a leaf


def test_conversions_and_order_work_on_the_data_and_record_nothing() -> None:
    a, b = Value(2.5), Value(-1.0)
    assert bool(a) and not bool(Value(0.0)) and int(a) == 2 and round(a) == 2
    assert round(Value(2.567), 2) == 2.57
    assert (a > b) is True and (a < b) is False and (a >= 2.5) is True and (b <= -2) is False
    assert (a < 3) is True  # reflected: Python calls a.__lt__(3)
    assert sorted([a, b], key=float) == [b, a] and max(a, b) is a
    # == and hash stay by identity: graphs keep nodes in sets and dicts
    assert Value(1.0) != Value(1.0) and len({Value(1.0), Value(1.0)}) == 2
    with pytest.raises(TypeError, match="<"):
        assert a < "x"  # type: ignore[operator]


def test_hand_built_neuron_is_a_neuron_with_delta_times_input() -> None:
    x1, x2 = Value(2.0, label="x1"), Value(-1.0, label="x2")
    w1, w2 = Value(0.5, label="w1"), Value(-0.3, label="w2")
    b = Value(0.1, label="b")
    z = w1 * x1 + w2 * x2 + b
    a = z.tanh()
    L = (a - 1.0) ** 2
    L.backward()
    g = Graph(L)
    (nr,) = g.neurons
    assert g.nodes[nr.z] is z and g.nodes[nr.activation or 0] is a
    assert [g.nodes[i] for i in nr.weights] == [w1, w2]
    assert [g.nodes[i] for i in nr.inputs] == [x1, x2] and g.nodes[nr.bias or 0] is b
    dl_da = 2 * (math.tanh(1.4) - 1.0)
    da_dz = 1 - math.tanh(1.4) ** 2
    text = str(explain_grad(w1, L))
    want = f"dL/dw1 = delta * x1 = (dL/da * da/dz) * x1 = (({dl_da:.4f}) * {da_dz:.4f}) * 2.0000"
    assert want in text, text
    assert w1.grad == pytest.approx(dl_da * da_dz * 2.0, rel=1e-12)


@pytest.mark.parametrize("activation", sorted(nn.ACTIVATIONS))
def test_every_activation_is_found_as_the_neurons_activation(activation: str) -> None:
    model = nn.MLP(2, [3, 1], activation=activation, seed=1)
    loss = nn.mse_loss(model([0.7, -1.3]), 0.5)
    loss.backward()
    g = Graph(loss)
    hidden = [nr for nr in g.neurons if nr.name.startswith("layers.0.")]
    assert len(hidden) == 3
    for nr in hidden:
        act = nr.activation
        if activation == "linear":
            assert act is None
            continue
        op = g.ops[act] if act is not None else None
        assert op is not None and op.name == activation
    e = explain_grad(model.layers[0].neurons[0].w[0], loss)
    if activation != "linear":
        assert "no single activation" not in str(e) and f"a = {activation}(z)" in str(e)
    assert all(line in str(e).splitlines() for line in e.caption())


def test_graph_is_a_snapshot_and_names_roles() -> None:
    x = Value(1.5, requires_grad=False, label="x")
    w = Value(0.2, label="w")
    L = autograd.dot([w], [x], 0.3).sigmoid() * 2.0
    L.backward()
    before = [(v.data, v.grad) for v in autograd.topological_order(L)]
    g = Graph(L)
    assert [(v.data, v.grad) for v in g.nodes] == before
    roles = {g.nodes[i].label or g.nodes[i].op or repr(g.data[i]): g.role(i) for i in range(len(g))}
    assert roles["w"] == "parameter" and roles["x"] == "input" and roles["2.0"] == "constant"
    assert g.parameters() == [w]
    assert g.nodes[-1] is L and all(p < i for i, ps in enumerate(g.parents) for p in ps)


@pytest.mark.parametrize("threads", [2, 4, 8])
def test_concurrent_backward_passes_add_exactly(threads: int) -> None:
    x = Value(0.3)
    y = x
    for _ in range(100_000):  # 3 * 10^5 nodes
        y = (y * 0.999 + 0.001).tanh()
    y.backward()
    one = x.grad
    assert one is not None
    x.grad = 0.0
    ts = [threading.Thread(target=y.backward) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    total = 0.0
    for _ in range(threads):
        total += one
    assert x.grad == total


def test_failed_backward_leaves_every_grad_as_it_was_none_included() -> None:
    boom = autograd.define_op(
        "t_core_boom", lambda x: x, lambda x, out: (1.0 / 0.0 if x > 0 else 1.0,)
    )
    try:
        a, b, c = Value(1.0), Value(2.0), Value(3.0)
        a.grad = None
        b.grad = 5.0
        L = boom(a) * b * c  # c (grad 0.0) and b get their contributions before boom raises
        with pytest.raises(ZeroDivisionError):
            L.backward()
        assert a.grad is None and b.grad == 5.0 and c.grad == 0.0 and L.grad == 0.0
    finally:
        del autograd.OPS["t_core_boom"]


def test_a_user_op_declared_affine_is_a_neuron_like_dot() -> None:
    def fwd(*v: float) -> float:
        n = len(v) // 2
        return sum(w * x for w, x in zip(v[:n], v[n : 2 * n])) + (v[-1] if len(v) % 2 else 0.0)

    def parts(*v: float) -> tuple[float, ...]:
        n = (len(v) - 1) // 2
        return (*v[n : 2 * n], *v[:n], *((1.0,) if (len(v) - 1) % 2 else ()))

    def roles(n: int) -> tuple[str, ...]:
        k = n // 2
        return ("weight",) * k + ("input",) * k + (("bias",) if n % 2 else ())

    lin = autograd.define_op("t_core_linear", fwd, parts, structure="affine", roles=roles)
    try:
        w = Value(0.5, label="w")
        L = lin(w, Value(3.0, label="x", requires_grad=False), 0.25).tanh()
        L.backward()
        assert len(Graph(L).neurons) == 1
        text = str(explain_grad(w, L))
        assert "dL/dw = delta * x" in text and "a = tanh(z)" in text, text
        assert w.grad == pytest.approx((1 - math.tanh(1.75) ** 2) * 3.0, rel=1e-12)
    finally:
        del autograd.OPS["t_core_linear"]


def test_a_penalty_sum_of_squares_is_not_a_neuron() -> None:
    # micrograd's reg loss: sum(p * p for p in params) must not read as "w * x" with x = w
    w1, w2 = Value(0.5, label="w1"), Value(-0.3, label="w2")
    x = Value(2.0, label="x", requires_grad=False)
    z = w1 * x + 0.1
    L = z.tanh() + 0.01 * sum(p * p for p in (w1, w2))
    L.backward()
    g = Graph(L)
    assert [g.nodes[nr.z] for nr in g.neurons] == [z]
    assert "w * delta" not in str(explain_grad(w1, L))
