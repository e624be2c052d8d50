"""gradcheck: backward against central differences, with PyTorch's tolerance rule."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd
from autograd import OPS, GradcheckError, Value, define_op, gradcheck


@pytest.fixture(autouse=True, scope="module")
def _drop_this_modules_ops() -> Iterator[None]:
    """The ops these tests define are global rows: remove them so other modules never see them."""
    yield
    for name in [n for n, op in OPS.items() if not op.builtin and n.startswith(("gc_",))]:
        del OPS[name]


finite = st.floats(min_value=-2.0, max_value=2.0, allow_nan=False)


def _wrong_op(name: str, scale: float, offset: float) -> Callable[..., Value]:
    """f(x) = scale * x with a partial off by ``offset``: analytical = scale + offset."""
    return define_op(name, lambda x: scale * x, lambda x, out: (scale + offset,))


@given(finite, finite, finite)
def test_composite_of_table_ops_passes(x: float, y: float, z: float) -> None:
    def f(a: Value, b: Value, c: Value) -> Value:
        return (a * b).tanh() + (c.sigmoid() * a).exp() - b / (1.0 + c * c) + (a - c).sin()

    assert gradcheck(f, [x, y, z]) is True


@given(st.floats(min_value=0.1, max_value=3.0), finite)
def test_pow_log_sqrt_pass_inside_their_domain(x: float, y: float) -> None:
    assert gradcheck(lambda a, b: a.log() * b + a.sqrt() + a**b, [x, y]) is True


def test_passes_for_every_unary_builtin_op_away_from_kinks() -> None:
    # Every arity-1 row of the table, at a point inside every domain and away from 0 (the kink
    # of relu and abs): the table-driven guarantee that a new op row is covered at once.
    unary = [op for op in autograd.OPS.values() if op.arity == 1 and op.builtin]
    assert len(unary) >= 8, [op.name for op in unary]
    for op in unary:
        assert gradcheck(lambda v, op=op: autograd.apply_op(op, v), [0.7]) is True, op.name


def test_wrong_derivative_raises_gradcheck_error_a_runtime_error() -> None:
    triple = _wrong_op("gc_triple_wrong", 3.0, 1.0)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: triple(x), [0.5])
    assert isinstance(info.value, RuntimeError)
    (m,) = info.value.mismatches
    assert m.index == 0
    assert m.analytical == 4.0  # the deliberately wrong partial, 3 + 1
    assert m.numerical == pytest.approx(3.0, abs=1e-8)  # d(3x)/dx
    assert m.difference == pytest.approx(1.0, abs=1e-8)


def test_message_lists_one_line_per_mismatching_input_like_pytorch() -> None:
    bad = _wrong_op("gc_double_wrong", 2.0, 0.5)  # analytical 2.5, true 2

    def f(a: Value, b: Value, c: Value) -> Value:
        return bad(a) + b * b + bad(c)

    with pytest.raises(GradcheckError) as info:
        gradcheck(f, [1.0, 3.0, Value(-1.0, label="c")])
    text = str(info.value)
    lines = [ln for ln in text.splitlines() if "with respect to input" in ln]
    assert len(lines) == 2, text
    assert "with respect to input 0" in lines[0] and "with respect to input 2" in lines[1]
    assert "'c'" in lines[1], "a labelled input is named"
    for ln in lines:
        assert "analytical 2.5" in ln and "numerical 2" in ln and "difference 0.5" in ln, ln
    assert [m.index for m in info.value.mismatches] == [0, 2]
    assert "2 of 3 input" in text


@pytest.mark.parametrize(
    ("offset", "atol", "rtol", "passes"),
    [
        # allowed = atol + rtol * |numerical| with numerical = 3
        (0.0029, 1e-5, 1e-3, True),  # 0.0029 <= 0.00301
        (0.0032, 1e-5, 1e-3, False),  # 0.0032 > 0.00301
        (0.009, 1e-2, 0.0, True),  # pure atol
        (0.011, 1e-2, 0.0, False),
        (0.29, 0.0, 0.1, True),  # pure rtol: 0.3
        (0.31, 0.0, 0.1, False),
    ],
)
def test_tolerance_is_atol_plus_rtol_times_numerical(
    offset: float, atol: float, rtol: float, passes: bool
) -> None:
    op = _wrong_op(f"gc_tol_{str(offset).replace('.', '_')}_{int(atol * 1e5)}_{int(rtol * 10)}",
                   3.0, offset)  # fmt: skip
    if passes:
        assert gradcheck(op, [0.4], atol=atol, rtol=rtol) is True
    else:
        with pytest.raises(GradcheckError) as info:
            gradcheck(op, [0.4], atol=atol, rtol=rtol)
        assert info.value.mismatches[0].allowed == pytest.approx(atol + rtol * 3.0)


def test_numerical_derivative_is_the_central_difference() -> None:
    # For x^3 the central difference is exactly 3x^2 + eps^2; a forward difference would give
    # 3x^2 + 3x eps + eps^2. A zero analytical partial forces a mismatch that reports it.
    cube_no_grad = define_op("gc_cube_nograd", lambda x: x**3, lambda x, out: (0.0,))
    x, eps = 1.0, 1e-2
    with pytest.raises(GradcheckError) as info:
        gradcheck(cube_no_grad, [x], eps=eps)
    assert info.value.mismatches[0].numerical == pytest.approx(3 * x * x + eps * eps, rel=1e-9)


def test_numerical_calls_record_no_graph() -> None:
    recorded: list[bool] = []

    def f(a: Value, b: Value) -> Value:
        recorded.append(autograd.is_grad_enabled())
        return a * b

    gradcheck(f, [1.0, 2.0])
    # one recorded call for backward, then 2 unrecorded calls per input
    assert recorded == [True, False, False, False, False]
    assert autograd.is_grad_enabled()


def test_existing_grads_do_not_leak_in_and_are_left_alone() -> None:
    x = Value(0.3, label="x")
    x.grad = 5.0  # stale gradient on the caller's input
    w = Value(2.0, label="w")
    w.grad = -7.0  # a "model weight" the function closes over

    assert gradcheck(lambda a: (w * a).tanh(), [x]) is True
    assert x.grad == 5.0 and w.grad == -7.0


def test_gradcheck_of_a_closure_still_sees_the_true_gradient() -> None:
    # If stale grads leaked into the analytical side, this would report 5 + d/dx.
    w = Value(2.0)
    w.grad = 100.0

    def f(a: Value) -> Value:
        return w * a * a  # d/da = 2 w a

    assert gradcheck(f, [Value(1.5)]) is True


def test_single_number_is_one_input() -> None:
    assert gradcheck(lambda a: a.exp(), 0.25) is True


def test_fn_returning_a_number_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="fn must return a Value, got float"):
        gradcheck(lambda a: a.data * 2.0, [1.0])  # type: ignore[arg-type,return-value]


def test_empty_inputs_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="inputs is empty"):
        gradcheck(lambda: Value(1.0), [])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_input_is_a_clear_value_error(bad: float) -> None:
    with pytest.raises(ValueError, match=r"input 1 is (nan|inf|-inf)"):
        gradcheck(lambda a, b: a * b, [1.0, bad])


def test_non_number_input_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="input 0 must be a number or a Value"):
        gradcheck(lambda a: a, ["1.0"])  # type: ignore[list-item]


def test_non_finite_output_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match=r"= inf; choose inputs where fn is finite"):
        gradcheck(lambda a: a / 1e-300 * 1e300, [1.0])


@pytest.mark.parametrize(("name", "kw"), [("eps", {"eps": 0.0}), ("atol", {"atol": -1.0}),
                                          ("rtol", {"rtol": math.nan})])  # fmt: skip
def test_bad_tolerances_are_value_errors(name: str, kw: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=name):
        gradcheck(lambda a: a * a, [1.0], **kw)


def test_not_callable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="fn must be callable"):
        gradcheck(3.0, [1.0])


def test_fn_undefined_at_a_shifted_point_is_reported_with_the_input() -> None:
    with pytest.raises(GradcheckError, match=r"input 0 = 0.0 - eps.*sqrt"):
        gradcheck(lambda a: a.sqrt(), [0.0])


def test_nan_analytical_gradient_is_a_mismatch() -> None:
    nan_grad = define_op("gc_nan_grad", lambda x: 2.0 * x, lambda x, out: (math.nan,))
    with pytest.raises(GradcheckError) as info:
        gradcheck(nan_grad, [1.0])
    assert math.isnan(info.value.mismatches[0].analytical)
