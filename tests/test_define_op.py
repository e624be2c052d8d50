"""define_op: a user's op is a row of the same table, so backward, gradcheck, explain_grad and
draw_graph handle it like a built-in one."""

from __future__ import annotations

import math
from collections.abc import Iterator
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd
from autograd import OPS, GradcheckError, Value, define_op, explain_grad, gradcheck


@pytest.fixture(autouse=True, scope="module")
def _drop_this_modules_ops() -> Iterator[None]:
    """The ops these tests define are global rows: remove them so other modules never see them."""
    yield
    for name in [n for n, op in OPS.items() if not op.builtin and n.startswith(("t_",))]:
        del OPS[name]


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# softplus(x) = ln(1 + e^x); d/dx = sigmoid(x). `out` keyword-only, as the issue allows.
softplus = define_op("t_softplus", _softplus, lambda x, *, out: (_sigmoid(x),), symbol="softplus")
# fma(a, b, c) = a b + c; all-positional partials.
fma = define_op("t_fma", lambda a, b, c: a * b + c, lambda a, b, c, out: (b, a, 1.0))
# prod(x_1..x_n) = x_1 ... x_n, variadic; d/dx_i = the product of the others.
prod = define_op(
    "t_prod",
    lambda *xs: math.prod(xs),
    lambda *xs, out: tuple(math.prod(xs[:i] + xs[i + 1 :]) for i in range(len(xs))),
)

moderate = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False)


def test_user_op_is_a_row_of_the_op_table() -> None:
    row = OPS["t_softplus"]
    assert softplus.op is row  # type: ignore[attr-defined]
    assert row.arity == 1 and row.symbol == "softplus" and not row.builtin
    assert OPS["t_fma"].arity == 3 and OPS["t_fma"].symbol == "t_fma"  # symbol defaults to name
    assert OPS["t_prod"].arity == -1
    y = softplus(Value(0.5))
    assert y.op == "t_softplus" and y.op_info is row


@given(moderate)
def test_keyword_only_out_partial_gives_the_backward_gradient(x: float) -> None:
    v = Value(x)
    y = softplus(v)
    y.backward()
    assert y.data == pytest.approx(math.log(1.0 + math.exp(x)), rel=1e-12)
    assert v.grad == pytest.approx(1.0 / (1.0 + math.exp(-x)), rel=1e-12)


@given(moderate, moderate, moderate)
def test_three_input_op_partials_reach_each_input(a: float, b: float, c: float) -> None:
    va, vb, vc = Value(a), Value(b), Value(c)
    y = fma(va, vb, vc) * 2.0
    y.backward()
    assert (va.grad, vb.grad, vc.grad) == (2.0 * b, 2.0 * a, 2.0)  # d(2(ab + c))


@given(st.lists(moderate, min_size=1, max_size=5))
def test_variadic_op_with_keyword_only_out(xs: list[float]) -> None:
    vs = [Value(x) for x in xs]
    prod(*vs).backward()
    for i, v in enumerate(vs):
        others = math.prod(x for j, x in enumerate(xs) if j != i)
        assert v.grad == pytest.approx(others, rel=1e-12)


def test_numbers_become_constant_leaves() -> None:
    a = Value(2.0)
    y = fma(a, 3, 1.5)
    y.backward()
    assert y.data == 7.5 and a.grad == 3.0
    assert [p.data for p in y.parents] == [2.0, 3.0, 1.5] and y.parents[0] is a
    assert softplus(0.0).data == pytest.approx(math.log(2.0))


@given(moderate, moderate, moderate)
def test_gradcheck_passes_for_correct_user_ops(a: float, b: float, c: float) -> None:
    assert gradcheck(lambda x, y, z: softplus(fma(x, y, z)) * prod(x, 1.5), [a, b, c]) is True


def test_gradcheck_catches_a_wrong_user_partial() -> None:
    wrong = define_op("t_sin_wrong", math.sin, lambda x, out: (math.sin(x),))  # should be cos
    with pytest.raises(GradcheckError) as info:
        gradcheck(wrong, [0.3])
    (m,) = info.value.mismatches
    assert m.analytical == math.sin(0.3)
    assert m.numerical == pytest.approx(math.cos(0.3), rel=1e-8)


def test_softplus_matches_pytorch_float64(torch: ModuleType) -> None:
    xs = [-2.5, -0.3, 0.0, 0.7, 4.0]
    t = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.softplus(t).sum().backward()
    for x, want in zip(xs, t.grad.tolist()):
        v = Value(x)
        softplus(v).backward()
        assert v.grad == pytest.approx(want, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Errors


def test_wrong_partial_count_is_a_value_error_naming_the_op() -> None:
    bad = define_op("t_two_in_one_out", lambda a, b: a * b, lambda a, b, out: (b,))
    x, w = Value(2.0), Value(3.0)
    x.grad = 0.5
    y = bad(x, w)
    with pytest.raises(ValueError, match=r"t_two_in_one_out: partials returned 1 value\(s\) "
                       r"for 2 input\(s\)"):  # fmt: skip
        y.backward()
    assert x.grad == 0.5 and w.grad == 0.0, "a failed backward leaves gradients as they were"


def test_partials_returning_a_bare_number_is_a_type_error_naming_the_op() -> None:
    bare = define_op("t_bare", lambda x: 2.0 * x, lambda x, out: 2.0)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="t_bare: partials must return a tuple"):
        bare(Value(1.0)).backward()


def test_wrong_number_of_inputs_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"t_fma: takes 3 input\(s\), got 2"):
        fma(1.0, 2.0)


def test_forward_domain_error_names_the_op_and_value() -> None:
    ln = define_op("t_ln", math.log, lambda x, out: (1.0 / x,))
    assert OPS["t_ln"].arity == 1  # math.log hides its signature: read from partials
    with pytest.raises(ValueError, match=r"t_ln\(-1\.0\)"):
        ln(-1.0)


def test_error_in_a_user_partial_names_the_op_and_point() -> None:
    recip = define_op("t_recip", lambda x: 1.0 / x if x else math.inf, lambda x, out: (-1 / x**2,))
    with pytest.raises(ZeroDivisionError, match=r"t_recip: partials\(0\.0, out=inf\)"):
        recip(Value(0.0)).backward()


def test_redefining_a_user_op_replaces_its_row() -> None:
    first = define_op("t_scale", lambda x: 2.0 * x, lambda x, out: (2.0,))
    old = Value(1.0)
    y_old = first(old)
    second = define_op("t_scale", lambda x: 5.0 * x, lambda x, out: (5.0,), symbol="5x")
    assert OPS["t_scale"] is second.op and OPS["t_scale"].symbol == "5x"  # type: ignore[attr-defined]
    new = Value(1.0)
    y_new = second(new)
    assert y_new.data == 5.0
    y_new.backward()
    y_old.backward()
    # Nodes keep the row they were made with, so an old graph still differentiates correctly.
    assert (new.grad, old.grad) == (5.0, 2.0)


@pytest.mark.parametrize("name", ["add", "mul", "tanh", "dot", "sum"])
def test_refuses_to_replace_a_built_in_op(name: str) -> None:
    row = OPS[name]
    with pytest.raises(ValueError, match=f"cannot replace the built-in op '{name}'"):
        define_op(name, lambda x: x, lambda x, out: (1.0,))
    assert OPS[name] is row


def test_name_must_be_an_identifier() -> None:
    with pytest.raises(ValueError, match="Python identifier"):
        define_op("my op", lambda x: x, lambda x, out: (1.0,))
    with pytest.raises(TypeError, match="name must be a str"):
        define_op(3, lambda x: x, lambda x, out: (1.0,))  # type: ignore[arg-type]


def test_forward_and_partials_must_be_callable() -> None:
    with pytest.raises(TypeError, match="t_nc: forward must be callable"):
        define_op("t_nc", 2.0, lambda x, out: (1.0,))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="t_nc: partials must be callable"):
        define_op("t_nc", lambda x: x, (1.0,))  # type: ignore[arg-type]
    assert "t_nc" not in OPS


# ---------------------------------------------------------------------------------------------
# The other readers of the table


def test_user_activation_is_explained_as_a_neuron_activation() -> None:
    w, x = Value(0.8, label="w"), Value(-1.25, label="x")
    with autograd.scope("neuron"):
        z = autograd.dot([w], [x], Value(0.1, label="b"))
        a = softplus(z)
    L = a * a
    L.backward()
    e = explain_grad(w, L)
    nr = e.neuron
    assert nr is not None and nr.activation is a
    z_val = 0.8 * -1.25 + 0.1
    assert nr.da_dz == pytest.approx(_sigmoid(z_val), rel=1e-12)  # softplus' = sigmoid
    assert nr.dL_da == pytest.approx(2 * _softplus(z_val), rel=1e-12)
    assert e.total == w.grad == pytest.approx(2 * _softplus(z_val) * _sigmoid(z_val) * -1.25)
    assert "t_softplus(z)" in str(e)


def test_draw_graph_shows_the_user_symbol_escaped() -> None:
    sq = define_op("t_sq_draw", lambda x: x * x, lambda x, *, out: (2 * x,), symbol="x<sup>2</sup>")
    w = Value(3.0, label="w")
    L = sq(w) * 2.0
    L.backward()
    dot_src = autograd.draw_graph(L, highlight=w).source
    assert "x&lt;sup&gt;2&lt;/sup&gt;" in dot_src and "<sup>" not in dot_src
    assert "6.0000" in dot_src  # the local derivative 2x at 3 labels the highlighted edge
    assert "12.0000" in dot_src  # w.grad = 2 * 2x


@pytest.mark.parametrize("templates", [True, False], ids=["code_templates", "float_fallback"])
def test_compile_runs_a_user_op_on_a_batch(templates: bool) -> None:
    kw = {"code": "log(1.0 + exp({0}))", "grad_code": ("sigmoid({0})",)} if templates else {}
    sp = define_op(
        f"t_softplus_compiled_{templates}",
        _softplus,
        lambda x, *, out: (_sigmoid(x),),
        **kw,  # type: ignore[arg-type]
    )
    w, x = Value(0.7, label="w"), Value(0.0, label="x")
    prog = autograd.compile(sp(w * x), [x])
    xs = [-2.0, -0.5, 0.0, 1.25, 3.0]
    out = prog.forward(xs)
    assert list(out) == pytest.approx([_softplus(0.7 * xi) for xi in xs], rel=1e-12)
    prog.backward(xs, reduction="sum")
    # d/dw sum_i softplus(w x_i) = sum_i sigmoid(w x_i) x_i
    assert w.grad == pytest.approx(sum(_sigmoid(0.7 * xi) * xi for xi in xs), rel=1e-12)
