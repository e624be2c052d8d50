"""The engine's contract: accumulation, graph structure, recording context.

Expected numbers are derived by hand in each test (the formula is in the test name or the
comment), never computed by the engine under test.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np
import pytest

import autograd
from autograd import OPS, Value, no_grad

# ---------------------------------------------------------------------------------------------
# backward accumulates exactly one pass per call


def test_second_backward_gives_exactly_twice_on_leaves_and_intermediates() -> None:
    x = Value(5.0)
    t = x * 2  # dy/dt = 3
    y = t * 3  # dy/dx = 6
    y.backward()
    assert (x.grad, t.grad, y.grad) == (6.0, 3.0, 1.0)
    y.backward()  # micrograd 0.1.0 gives x.grad == 18 here: it re-adds the stale t.grad
    assert (x.grad, t.grad, y.grad) == (12.0, 6.0, 2.0)
    y.backward()
    assert (x.grad, t.grad, y.grad) == (18.0, 9.0, 3.0)


@pytest.mark.parametrize("x0", [-2.0, -0.5, 0.0, 1.0, 3.0])
def test_shared_node_grad_of_x_cubed_plus_x_is_3x2_plus_1(x0: float) -> None:
    x = Value(x0)
    y = x * x * x + x
    y.backward()
    assert y.data == x0**3 + x0
    assert x.grad == 3 * x0**2 + 1


def test_diamond_graph_adds_both_paths() -> None:
    # y = a*b + a/b; dy/da = b + 1/b, dy/db = a - a/b^2
    a, b = Value(3.0), Value(2.0)
    y = a * b + a / b
    y.backward()
    assert a.grad == 2.0 + 0.5 and b.grad == 3.0 - 3.0 / 4.0


def test_backward_gradient_seeds_the_root() -> None:
    x = Value(2.0)
    t = x * x
    y = t + 1
    y.backward(gradient=2.5)
    assert (y.grad, t.grad, x.grad) == (2.5, 2.5, 2.5 * 2 * 2.0)
    y.backward(np.float32(-1.0))  # numpy scalars are real numbers too
    assert x.grad == 2.5 * 4.0 - 4.0


def test_backward_of_a_leaf_sets_its_own_grad() -> None:
    x = Value(7.0)
    x.backward()
    assert x.grad == 1.0


def test_intermediate_grad_is_the_neurons_delta() -> None:
    # L = (tanh(w x + b) - t)^2; delta = dL/dz = 2 (a - t)(1 - a^2); dL/dw = delta * x.
    w, x, b, target = Value(0.7), Value(-1.5), Value(0.2), 0.3
    z = w * x + b
    a = z.tanh()
    loss = (a - target) ** 2
    loss.backward()
    av = math.tanh(0.7 * -1.5 + 0.2)
    delta = 2 * (av - target) * (1 - av * av)
    assert math.isclose(z.grad, delta, rel_tol=1e-14)
    assert math.isclose(a.grad, 2 * (av - target), rel_tol=1e-14)
    assert math.isclose(w.grad, delta * -1.5, rel_tol=1e-14)
    assert math.isclose(x.grad, delta * 0.7, rel_tol=1e-14)
    assert math.isclose(b.grad, delta, rel_tol=1e-14)


def test_dot_node_grad_is_delta_and_weight_grad_is_delta_times_input() -> None:
    ws = [Value(0.5), Value(-1.0)]
    xs = [Value(2.0), Value(3.0)]
    b = Value(0.25)
    z = autograd.dot(ws, xs, b)  # z = 1 - 3 + 0.25 = -1.75
    loss = z * z  # delta = dL/dz = 2 z
    loss.backward()
    assert z.data == -1.75 and z.grad == -3.5
    assert [w.grad for w in ws] == [-3.5 * 2.0, -3.5 * 3.0]
    assert [x.grad for x in xs] == [-3.5 * 0.5, -3.5 * -1.0]
    assert b.grad == -3.5


def test_grad_set_to_none_then_backward_behaves_as_zeroed() -> None:
    x = Value(3.0)
    t = x * x
    y = t * 2.0
    y.backward()
    x.grad = None  # type: ignore[assignment]  # the PyTorch habit: p.grad = None
    t.grad = None  # type: ignore[assignment]
    y.backward()
    assert (x.grad, t.grad, y.grad) == (12.0, 2.0, 2.0)


def test_exception_inside_backward_leaves_every_grad_as_it_was() -> None:
    def bad_partials(x: float, out: float) -> tuple[float]:
        raise RuntimeError("partials failed on purpose")

    boom = autograd.define_op("test_engine_boom", lambda x: 2.0 * x, bad_partials)
    try:
        x, w = Value(1.5), Value(-2.0)
        t = x * w
        y = boom(t) + t * x
        y2 = t * 3.0
        y2.backward()  # leaves x.grad = -6, w.grad = 4.5, t.grad = 3 (y never backwarded)
        before = [(n, n.grad) for n in (x, w, t, y, *y.parents)]
        with pytest.raises(RuntimeError, match="partials failed on purpose"):
            y.backward()
        assert [(n, n.grad) for n, _ in before] == before
        y2.backward()  # the graph is still usable afterwards
        assert (x.grad, w.grad, t.grad) == (-12.0, 9.0, 6.0)
    finally:
        del OPS["test_engine_boom"]


def test_backward_rejects_a_non_number_seed() -> None:
    with pytest.raises(TypeError, match="str"):
        Value(1.0).backward("1")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Graph structure: parents, op, labels, repr


def test_parents_are_a_tuple_in_argument_order() -> None:
    a, b, c = Value(1.0), Value(2.0), Value(3.0)
    assert (a - b).parents == (a, b) and (b - a).parents == (b, a)
    assert (a**b).parents == (a, b) and (b**a).parents == (b, a)
    assert autograd.sum([c, a, b]).parents == (c, a, b)
    ws, xs = [a, b], [c, a]
    assert autograd.dot(ws, xs, b).parents == (a, b, c, a, b)
    assert a.tanh().parents == (a,) and a.parents == ()
    assert type((a + b).parents) is tuple


def test_number_operands_become_constant_leaves_in_their_argument_position() -> None:
    x = Value(4.0)
    for y, pos in ((2.0 - x, 0), (x - 2, 1), (2**x, 0), (x**2, 1), (2.0 / x, 0)):
        ps = y.parents
        const = ps[pos]
        assert ps[1 - pos] is x
        assert isinstance(const, Value) and const.is_leaf and const.data == 2.0
        assert type(const.data) is float
        assert y.parents[pos] is const, "constant leaves must keep their identity"
    s = autograd.sum([x, 1, 2.5])
    assert [p.data for p in s.parents] == [4.0, 1.0, 2.5] and s.parents[0] is x


def test_reflected_ops_with_a_number_on_the_left() -> None:
    x = Value(2.0)
    y = 10 - x
    z = 3.0 / x
    w = 2**x
    (y + z + w).backward()
    assert (y.data, z.data, w.data) == (8.0, 1.5, 4.0)
    assert x.grad == -1.0 - 3.0 / 4.0 + 4.0 * math.log(2.0)


def test_value_exponent_pow_grad_is_a_pow_b_ln_a() -> None:
    a, b = Value(3.0), Value(2.0)
    y = a**b
    y.backward()
    assert y.data == 9.0 and a.grad == 2.0 * 3.0 and b.grad == 9.0 * math.log(3.0)


def test_ops_made_by_methods_are_named_by_their_table_row() -> None:
    x = Value(0.5)
    for op in OPS.values():
        if not op.builtin or op.arity != 1:
            continue
        for name in op.methods:
            y = getattr(x, name)()
            assert y.op == op.name and y.op_info is op and y.parents == (x,), (op.name, name)
    assert (x + 1).op == "add" and (x * x).op == "mul" and (-x).op == "neg"
    assert abs(x).op == "abs" and x.leaky_relu().op == "leaky_relu"
    assert x.op == "" and x.op_info is None and x.is_leaf


def test_leaky_relu_default_slope_is_0_01() -> None:
    x = Value(-2.0)
    y = x.leaky_relu()
    y.backward()
    assert y.data == -0.02 and x.grad == 0.01 and y.parents[1].data == 0.01


def test_label_is_stored_assignable_and_shown_in_repr() -> None:
    w = Value(1.5, label="w1")
    assert w.label == "w1" and Value(1.0).label == ""
    w.label = "weight"
    assert w.label == "weight"
    assert repr(w) == "Value(label='weight', data=1.5, grad=0.0)"
    assert repr(Value(2)) == "Value(data=2.0, grad=0.0)"
    with pytest.raises(TypeError, match="int"):
        w.label = 3  # type: ignore[assignment]


def test_data_is_a_float_and_assignable() -> None:
    v = Value(3)
    assert type(v.data) is float and v.data == 3.0 and v.grad == 0.0
    assert type(Value(np.float32(0.5)).data) is float
    v.data = 4.5
    assert v.data == 4.5 and (v * 2).data == 9.0
    v.data -= 0.5  # the micrograd update loop: a plain attribute
    assert v.data == 4.0
    assert v.item() == 4.0 and float(v) == 4.0


def test_an_op_on_non_numeric_data_names_the_op_and_the_value() -> None:
    v = Value(1.0)
    v.data = "1"  # type: ignore[assignment]
    with pytest.raises(TypeError, match=r"mul\('1', 2.0\)"):
        v * 2
    with pytest.raises(TypeError, match=r"exp\('1'\)"):
        v.exp()


def test_numpy_scalars_work_on_either_side() -> None:
    x = Value(2.0)
    for y in (np.float64(3.0) * x, x * np.int64(3), np.float32(3.0) * x):
        assert isinstance(y, Value) and y.data == 6.0


# ---------------------------------------------------------------------------------------------
# topological_order


def test_topological_order_puts_parents_first_and_root_last_once_each() -> None:
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    e = d * c
    order = autograd.topological_order(e)
    assert order[-1] is e
    assert len(order) == len({id(n) for n in order}) == 5
    position = {id(n): i for i, n in enumerate(order)}
    for n in order:
        for p in n.parents:
            assert position[id(p)] < position[id(n)]


def test_same_program_gives_the_same_node_order_every_run() -> None:
    def program() -> list[tuple[str, float]]:
        x, y = Value(0.3, label="x"), Value(-1.2, label="y")
        h = (x * y).tanh() + x.exp()
        root = autograd.sum([h, h * y, (y - 2.0).relu()])
        return [(n.op or n.label, n.data) for n in autograd.topological_order(root)]

    assert program() == program() == program()


# ---------------------------------------------------------------------------------------------
# no_grad / enable_grad


def assert_leaf(v: Value) -> None:
    assert v.op == "" and v.parents == () and v.is_leaf and v.op_info is None


def test_no_grad_results_are_leaves_with_correct_values() -> None:
    x = Value(2.0)
    with no_grad():
        assert not autograd.is_grad_enabled()
        for v in (x * 3, 3 - x, x.exp(), x.leaky_relu(0.5), autograd.sum([x, x])):
            assert_leaf(v)
        y = autograd.dot([x], [x], 1.0)
        assert_leaf(y)
        assert y.data == 5.0
    assert autograd.is_grad_enabled()
    y = x * 3
    assert y.op == "mul" and y.parents[0] is x and y.parents[1].data == 3.0


def test_no_grad_nests_and_enable_grad_records_inside_it() -> None:
    x = Value(2.0)
    with no_grad():
        with no_grad():
            assert_leaf(x * x)
        assert_leaf(x * x)
        with autograd.enable_grad():
            assert autograd.is_grad_enabled()
            y = x * x
            assert y.op == "mul" and y.parents == (x, x)
        assert_leaf(x + 1)
    assert (x + 1).op == "add"


def test_no_grad_is_restored_after_an_exception() -> None:
    with pytest.raises(ZeroDivisionError), no_grad():
        Value(1.0) / 0
    assert autograd.is_grad_enabled() and (Value(1.0) + 1).op == "add"


def run_in_thread(fn: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as e:  # re-raised in the test's thread
            errors.append(e)

    t = threading.Thread(target=target)
    t.start()
    t.join(30)
    if errors:
        raise errors[0]


def test_no_grad_is_per_thread() -> None:
    x = Value(1.0)
    inside = threading.Event()
    done = threading.Event()
    made: list[Value] = []

    def other() -> None:
        with no_grad():
            inside.set()
            assert done.wait(30)
            made.append(x * 2)

    t = threading.Thread(target=other)
    t.start()
    try:
        assert inside.wait(30)
        y = x * 2  # this thread still records while the other one is inside no_grad
        assert y.op == "mul" and y.parents[0] is x
        done.set()
    finally:
        done.set()
        t.join(30)
    assert len(made) == 1
    assert_leaf(made[0])

    def records() -> None:
        assert autograd.is_grad_enabled() and (x * 2).op == "mul"

    with no_grad():
        run_in_thread(records)  # a new thread starts with recording on


# ---------------------------------------------------------------------------------------------
# scope


def test_nested_scopes_join_with_dots() -> None:
    assert autograd.current_scope() == ""
    x = Value(1.0)
    with autograd.scope("layers") as outer:
        assert outer == "layers"
        with autograd.scope("0") as path:
            assert path == autograd.current_scope() == "layers.0"
            w = Value(0.5)
            y = w * x
        z = y + 1
    assert (w.scope, y.scope, z.scope, x.scope) == ("layers.0", "layers.0", "layers", "")
    assert (x * 2).scope == ""


def test_scope_is_restored_after_an_exception() -> None:
    with pytest.raises(RuntimeError), autograd.scope("a"), autograd.scope("b"):
        raise RuntimeError
    assert autograd.current_scope() == ""
    assert Value(1.0).scope == ""


def test_scope_is_per_thread() -> None:
    seen: list[str] = []
    with autograd.scope("main"):
        run_in_thread(lambda: seen.append(autograd.current_scope() + "|" + Value(1.0).scope))
        assert Value(1.0).scope == "main"
    assert seen == ["|"]


def test_scope_and_label_are_independent() -> None:
    with autograd.scope("neuron"):
        v = Value(1.0, label="w")
    assert (v.label, v.scope) == ("w", "neuron")
    v.label = "w2"
    assert v.scope == "neuron"


def test_scope_rejects_an_empty_name() -> None:
    with pytest.raises(ValueError, match="scope"), autograd.scope(""):
        pass


def test_leaky_relu_slope_by_keyword_as_in_the_signature() -> None:
    x = Value(-2.0)
    y = x.leaky_relu(slope=0.2)
    y.backward()
    assert y.data == -0.4 and x.grad == 0.2 and y.parents[1].data == 0.2
    s = Value(0.1)
    z = x.leaky_relu(slope=s)  # a Value slope gets its gradient: d/ds = x for x <= 0
    z.backward()
    assert z.parents == (x, s) and s.grad == -2.0
    with pytest.raises(TypeError, match="unexpected keyword argument 'slop'"):
        x.leaky_relu(slop=0.2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values for argument 'slope'"):
        x.leaky_relu(0.1, slope=0.2)  # type: ignore[misc]


def test_op_of_numbers_only_records_constant_leaves() -> None:
    for touch_parents_first in (False, True):
        y = autograd.apply_op("mul", 2.0, 3)
        if touch_parents_first:
            assert [p.data for p in y.parents] == [2.0, 3.0]
        z = y * Value(0.5)
        z.backward()
        # y is made of constants only: it requires no grad, so backward leaves it None
        assert (y.data, y.requires_grad, y.grad, z.data) == (6.0, False, None, 3.0)
        assert all(p.is_leaf and p.grad is None for p in y.parents)


def test_sum_adds_left_to_right_so_relu_sees_the_tiny_remainder() -> None:
    # sum(e, e, x - e, x - e, x) with e = exp(x) = 1.0 exactly: ((((1 + 1) - 1) - 1) + x) = x.
    # relu passes it, so d/dx = 2 e + 2 (1 - e) + 1 = 3 (hypothesis found PyTorch's torch.sum,
    # associating differently, rounding this to 0.0 and taking relu's other branch).
    x = Value(1.2073360316016288e-119)
    e = x.exp()
    d = x - e
    y = autograd.sum([e, e, d, d, x]).relu()
    y.backward()
    assert e.data == 1.0 and y.data == x.data
    assert x.grad == 3.0
