"""Higher-order gradients: grad, hessian and gradgradcheck against PyTorch float64, closed
forms and central differences."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import autograd
from autograd import OPS, GradcheckError, Value, define_op, grad, gradgradcheck, hessian
from autograd.ops import CODE_NAMESPACE, value_namespace
from tests.conftest import require_torch
from tests.test_engine_oracle import BUILTIN, Program, close, finite_floats
from tests.torch_oracle import torch_oracle


@pytest.fixture(autouse=True, scope="module")
def _drop_this_modules_ops() -> Iterator[None]:
    """The ops defined here are global rows: remove them so other modules never see them."""
    yield
    for name in [n for n, op in OPS.items() if not op.builtin and n.startswith("h_")]:
        del OPS[name]


# x^3 with its partial as a template (any order), as a float function only (first order), and
# with a template that disagrees with its partials (a wrong second derivative).
cube = define_op(
    "h_cube", lambda x: x**3, lambda x, out: (3 * x * x,), grad_code=("3.0 * {0} * {0}",)
)
plain_cube = define_op("h_plain_cube", lambda x: x**3, lambda x, out: (3 * x * x,))
bad_cube = define_op(
    "h_bad_cube", lambda x: x**3, lambda x, out: (3 * x * x,), grad_code=("3.0 * {0}",)
)


def _first(xs: tuple[Value | None, ...]) -> Value:
    assert xs[0] is not None
    return xs[0]


# ---------------------------------------------------------------------------------------------
# Hessians against PyTorch


@given(st.data())
def test_hessians_of_random_programs_over_every_op_match_torch(data: st.DataObject) -> None:
    torch = require_torch()
    prog = Program(torch, data)
    prog.every_op(4, [None, None, "sum", "dot"])
    root, troot = prog.outputs[0]
    for v, t in prog.outputs[1:]:
        root, troot = root * 0.5 + v, troot * 0.5 + t  # products keep every op second order
    leaves = [(v, t) for v, t in prog.nodes if v.op == ""]
    xs, ts = [v for v, _ in leaves], [t for _, t in leaves]
    before = [v.grad for v, _ in prog.nodes]

    ours = hessian(root, xs)
    firsts = torch.autograd.grad(troot, ts, create_graph=True, allow_unused=True)
    ref = np.zeros((len(ts), len(ts)))
    for i, g in enumerate(firsts):
        if g is not None and g.requires_grad:
            row = torch.autograd.grad(g, ts, allow_unused=True, retain_graph=True)
            ref[i] = [0.0 if r is None else r.item() for r in row]
    assert ours.dtype == np.float64 and ours.shape == (len(xs), len(xs))
    # Well conditioned at second order too: where PyTorch's second derivative is inf or NaN
    # (0 * inf through pow at a zero base, say) the first-order conditioning said nothing.
    assume(bool(np.isfinite(ref).all()))
    scale = max(1.0, float(np.abs(ref).max()))
    for i in range(len(xs)):
        for j in range(len(xs)):
            assert close(ours[i, j], ref[i, j], scale), (i, j, ours, ref)
    # The first derivatives built as a graph are the reference pass's numbers, exactly.
    built = grad(root, xs, create_graph=True, allow_unused=True)
    plain = grad(root, xs, allow_unused=True)
    assert [None if b is None else b.data for b in built] == [
        None if p is None else p.data for p in plain
    ]
    assert [v.grad for v, _ in prog.nodes] == before  # no .grad was touched


@pytest.mark.parametrize("op", BUILTIN, ids=lambda op: op.name)
def test_hessian_of_every_builtin_op_matches_torch_functional_hessian(op: autograd.Op) -> None:
    torch = require_torch()
    n = op.arity if op.arity >= 0 else 5
    for point in _points(op, n):
        xs = [Value(x) for x in point]
        out = autograd.apply_op(op, *xs)
        f = out * out.sin()  # a non-linear use, so linear ops have a Hessian too
        oracle = torch_oracle(op.name)

        def tf(t: Any, oracle: Callable[..., Any] = oracle) -> Any:
            o = oracle(torch, *t.unbind())
            return o * torch.sin(o)

        ref = torch.autograd.functional.hessian(tf, torch.tensor(point, dtype=torch.float64))
        np.testing.assert_allclose(hessian(f, xs), ref.numpy(), rtol=1e-9, atol=1e-12)


def _points(op: autograd.Op, n: int) -> list[list[float]]:
    """Points inside the op's domain, and its kinks (x = 0) where it has one."""
    lo_hi = [op.input_domain(i) for i in range(n)]
    pts = [[lo + (hi - lo) * f for lo, hi in lo_hi] for f in (0.3, 0.55, 0.8)]
    if lo_hi[0][0] < 0.0 < lo_hi[0][1]:
        pts.append([0.0, *pts[0][1:]])
    return pts


def test_relu_and_abs_have_zero_second_derivative_at_and_off_the_kink() -> None:
    for x in (-1.5, 0.0, 1.5):
        for f in (lambda v: v.relu(), lambda v: abs(v), lambda v: v.leaky_relu(0.1)):
            v = Value(x)
            assert hessian(f(v), [v])[0, 0] == 0.0


# ---------------------------------------------------------------------------------------------
# Third derivatives against closed forms


def _third(f: Callable[[Value], Value], x: float) -> float:
    v = Value(x)
    d1 = _first(grad(f(v), [v], create_graph=True))
    d2 = _first(grad(d1, [v], create_graph=True))
    return _first(grad(d2, [v])).data


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


THIRD: dict[str, tuple[Callable[[Value], Value], Callable[[float], float], float, float]] = {
    "tanh": (
        lambda v: v.tanh(),
        lambda x: -2.0 * (1 - math.tanh(x) ** 2) * (1 - 3 * math.tanh(x) ** 2),
        -3.0,
        3.0,
    ),
    "sigmoid": (
        lambda v: v.sigmoid(),
        lambda x: _sig(x) * (1 - _sig(x)) * (1 - 6 * _sig(x) + 6 * _sig(x) ** 2),
        -6.0,
        6.0,
    ),
    "exp": (lambda v: v.exp(), math.exp, -5.0, 5.0),
    "log": (lambda v: v.log(), lambda x: 2.0 / x**3, 0.05, 10.0),
    "sin": (lambda v: v.sin(), lambda x: -math.cos(x), -4.0, 4.0),
}


@pytest.mark.parametrize("name", list(THIRD))
@given(u=st.floats(0.0, 1.0))
def test_third_derivatives_match_closed_forms(name: str, u: float) -> None:
    f, closed, lo, hi = THIRD[name]
    x = lo + (hi - lo) * u
    want = closed(x)
    assert math.isclose(_third(f, x), want, rel_tol=1e-9, abs_tol=1e-12 * max(1.0, abs(want)))


# ---------------------------------------------------------------------------------------------
# grad's semantics


@given(finite_floats(-2.0, 2.0), finite_floats(-2.0, 2.0))
def test_grad_of_grad_with_shared_subexpressions_by_hand(x0: float, y0: float) -> None:
    """f = u^2 + e^u with u = x y + x used twice: by hand, u_x = y + 1, u_y = x, and
    f_xx = (2 + e^u) u_x^2, f_xy = (2 + e^u) u_x u_y + (2u + e^u), f_yy = (2 + e^u) u_y^2."""
    x, y = Value(x0), Value(y0)
    u = x * y + x
    f = u * u + u.exp()
    gx, gy = grad(f, [x, y], create_graph=True)
    assert gx is not None and gy is not None
    uv, e = x0 * y0 + x0, math.exp(x0 * y0 + x0)
    ux, uy = y0 + 1.0, x0
    assert math.isclose(gx.data, (2 * uv + e) * ux, rel_tol=1e-12, abs_tol=1e-12)
    hxx, hxy = grad(gx, [x, y])
    hyx, hyy = grad(gy, [x, y], allow_unused=True)
    want = [[(2 + e) * ux * ux, (2 + e) * ux * uy + 2 * uv + e], [0.0, (2 + e) * uy * uy]]
    want[1][0] = want[0][1]
    got = [[hxx, hxy], [hyx, hyy]]
    for i in range(2):
        for j in range(2):
            g = got[i][j]
            assert g is not None
            assert math.isclose(g.data, want[i][j], rel_tol=1e-9, abs_tol=1e-9), (i, j)
    # .backward() on a gradient node works like on any node: d(gx)/dx into x.grad.
    gx.backward()
    assert math.isclose(x.grad, want[0][0], rel_tol=1e-9, abs_tol=1e-9)


def test_grad_outputs_weight_the_outputs_numbers_or_values() -> None:
    x = Value(1.5, label="x")
    a, b = x * x, x.exp()
    (g,) = grad([a, b], [x], grad_outputs=[2.0, -0.5])
    assert g is not None and math.isclose(g.data, 2.0 * 3.0 - 0.5 * math.exp(1.5))
    assert not g.requires_grad and g.is_leaf
    v = Value(3.0, label="v")  # a Value seed: the derivative depends on it
    (gv,) = grad(a, [x], grad_outputs=v, create_graph=True)
    assert gv is not None and gv.data == 9.0
    dv, dx = grad(gv, [v, x])  # d(v * 2x)/dv = 2x, d/dx = 2v
    assert dv is not None and dx is not None and (dv.data, dx.data) == (3.0, 6.0)
    with pytest.raises(ValueError, match="2 output"):
        grad([a, b], [x], grad_outputs=[1.0])
    with pytest.raises(TypeError, match="grad_outputs"):
        grad(a, [x], grad_outputs="1")  # type: ignore[arg-type]


def test_allow_unused_gives_none_else_value_error_naming_the_input() -> None:
    x, w = Value(2.0, label="x"), Value(1.0, label="w")
    y = x * x
    with pytest.raises(ValueError, match=r"input 1 \(Value\(label='w'.*allow_unused=True"):
        grad(y, [x, w])
    gx, gw = grad(y, [x, w], allow_unused=True)
    assert gw is None and gx is not None and gx.data == 4.0
    assert hessian(y, [x, w]).tolist() == [[2.0, 0.0], [0.0, 0.0]]


def test_repeated_calls_change_no_grad_attribute() -> None:
    x, y = Value(0.3), Value(-1.2)
    f = (x * y).tanh() * x + y.sigmoid()
    f.backward()
    nodes = autograd.topological_order(f)
    before = [n.grad for n in nodes]
    for create in (False, True, True):
        grad(f, [x, y], create_graph=create)
        hessian(f, [x, y])
    assert [n.grad for n in nodes] == before


def test_under_no_grad_nothing_is_recorded() -> None:
    x = Value(0.7)
    f = x.sin() * x
    with autograd.no_grad():
        (g,) = grad(f, [x], create_graph=True)
    assert g is not None and not g.requires_grad and g.parents == ()
    assert math.isclose(g.data, math.cos(0.7) * 0.7 + math.sin(0.7), rel_tol=1e-15)


def test_a_constant_derivative_is_a_constant_leaf() -> None:
    x = Value(2.0)
    (g,) = grad(3.0 * x, [x], create_graph=True)
    assert g is not None and g.data == 3.0 and not g.requires_grad
    with pytest.raises(ValueError, match="does not require grad"):
        grad(g, [x])
    assert hessian(3.0 * x, [x]).tolist() == [[0.0]]


def test_bad_arguments_raise_naming_the_problem() -> None:
    x = Value(1.0)
    with pytest.raises(TypeError, match="outputs 0 must be a Value"):
        grad([1.0], [x])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"input 0 .* does not require grad"):
        grad(x * 2, [Value(1.0, requires_grad=False)])
    with pytest.raises(ValueError, match="inputs is empty"):
        grad(x * 2, [])


def test_value_namespace_binds_every_name_of_the_float_namespace() -> None:
    ns = value_namespace()
    assert set(ns) == set(CODE_NAMESPACE)
    v = Value(0.25)
    for name, f in ns.items():
        if name == "where":
            continue
        got = f(v)
        want = CODE_NAMESPACE[name](0.25)  # type: ignore[operator]
        assert float(got) == want, name
        assert isinstance(got, Value) == (name != "sign"), name  # sign is a constant


# ---------------------------------------------------------------------------------------------
# User ops


def test_user_op_with_templates_is_differentiable_to_any_order() -> None:
    x = Value(0.8)
    d1 = _first(grad(cube(x), [x], create_graph=True))
    d2 = _first(grad(d1, [x], create_graph=True))
    d3 = _first(grad(d2, [x]))
    assert (d1.data, d2.data, d3.data) == pytest.approx((3 * 0.64, 6 * 0.8, 6.0), rel=1e-15)


def test_user_op_with_float_partials_only_names_the_op_and_how_to_declare_it() -> None:
    x = Value(0.8)
    assert _first(grad(plain_cube(x), [x])).data == pytest.approx(1.92)  # first order works
    with pytest.raises(TypeError, match=r"'h_plain_cube'.*grad_code="):
        grad(plain_cube(x), [x], create_graph=True)
    with pytest.raises(TypeError, match="h_plain_cube"):
        gradgradcheck(plain_cube, [0.8])


# ---------------------------------------------------------------------------------------------
# gradgradcheck


@pytest.mark.parametrize("op", BUILTIN, ids=lambda op: op.name)
def test_gradgradcheck_passes_on_every_builtin_op(op: autograd.Op) -> None:
    n = op.arity if op.arity >= 0 else 4
    for point in _points(op, n)[:3]:  # away from the kinks, where differences are fine
        assert gradgradcheck(lambda *xs: autograd.apply_op(op, *xs).tanh(), point)


def test_gradgradcheck_passes_on_a_user_op_with_templates() -> None:
    assert gradgradcheck(lambda a, b: cube(a * b).sin(), [0.8, -0.6])


def test_gradgradcheck_fails_on_a_wrong_user_op_naming_it() -> None:
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(lambda a, b: bad_cube(a) * b, [0.8, 1.3])
    msg = str(info.value)
    assert msg.startswith("gradgradcheck: the second derivative")
    assert "Hessian-vector mismatch for output 0 with respect to input 0" in msg
    assert "op 'h_bad_cube'" in msg and "grad_code gives d/dx0 = 2.4" in msg
    assert [m.index for m in info.value.mismatches] == [0, 1]
    # The first derivative is right (backward uses the partials): gradcheck passes.
    assert autograd.gradcheck(lambda a, b: bad_cube(a) * b, [0.8, 1.3])


def test_gradgradcheck_analytical_is_the_hessian_times_the_projection() -> None:
    """The numbers in a failure are H v and its central difference: a function whose
    Hessian is known, checked with a tolerance nothing can meet, shows both."""
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(lambda a, b: a * a * b + bad_cube(b), [0.5, 2.0], atol=0.0, rtol=0.0)
    ms = info.value.mismatches
    # H of a^2 b + b^3 at (0.5, 2): [[2b, 2a], [2a, 6b]]; the template gives d/db 3b -> 3.
    assert len(ms) >= 1
    for m in ms:
        assert math.isfinite(m.analytical) and math.isfinite(m.numerical)


# ---------------------------------------------------------------------------------------------
# Depth


def test_second_order_through_a_100k_step_chain_without_recursion() -> None:
    """y = x * s^N with s = exp(x / N): y = x e^x, y' = (1 + x) e^x, y'' = (2 + x) e^x."""
    n, x0 = 100_000, 0.3
    x = Value(x0)
    s = (x * (1.0 / n)).exp()
    y = x
    for _ in range(n):
        y = y * s
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # any recursion over the graph would fail here
    try:
        d1 = _first(grad(y, [x], create_graph=True))
        d1.backward()  # the derivative graph (~4 * 10^5 nodes) differentiated again
    finally:
        sys.setrecursionlimit(limit)
    e = math.exp(x0)
    assert math.isclose(d1.data, (1 + x0) * e, rel_tol=1e-9)
    assert math.isclose(x.grad, (2 + x0) * e, rel_tol=1e-9)


def test_torch_oracle_fixture_is_float64(torch: ModuleType) -> None:
    assert torch.get_default_dtype() == torch.float64


def test_explain_grad_and_draw_graph_read_a_derivative_graph_like_any_graph() -> None:
    """d/dx tanh(x^2) = 2x (1 - tanh^2 x^2) as a graph; its own derivative, by hand,
    is 2 (1 - t^2) - 8 x^2 t (1 - t^2) with t = tanh(x^2)."""
    x = Value(0.5, label="x")
    (g,) = grad((x * x).tanh(), [x], create_graph=True)
    assert g is not None
    g.label = "dy/dx"
    g.backward()
    t = math.tanh(0.25)
    assert math.isclose(x.grad, 2 * (1 - t * t) - 8 * 0.25 * t * (1 - t * t), rel_tol=1e-12)
    text = str(autograd.explain_grad(x, g))
    assert "'dy/dx'" in text and f"matches .grad = {x.grad:.4f}" in text
    source = autograd.draw_graph(g).source
    assert "dy/dx" in source and "tanh" in source
