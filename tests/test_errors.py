"""Every bad input gets a clear error naming the op (or the type) and the value.

Never a bare "math domain error", never an ``assert``. NaN and inf are data, not errors: they
propagate through forward and backward as in PyTorch.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

import autograd
from autograd import OPS, Value

# ---------------------------------------------------------------------------------------------
# What a Value can hold


@pytest.mark.parametrize(
    ("bad", "type_name"),
    [
        ("a", "str"),
        (None, "NoneType"),
        ([1], "list"),
        (1j, "complex"),
        (object(), "object"),
        ({}, "dict"),
        (b"1", "bytes"),
        (Decimal("1.5"), "Decimal"),
        (np.array([1.0]), "ndarray"),
    ],
)
def test_value_of_a_non_real_raises_type_error_naming_the_type(bad: object, type_name: str) -> None:
    with pytest.raises(TypeError, match=rf"\b{type_name}\b"):
        Value(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("good", "expected"),
    [
        (True, 1.0),
        (False, 0.0),
        (3, 3.0),
        (-2.5, -2.5),
        (Fraction(1, 4), 0.25),
        (np.float32(0.5), 0.5),
        (np.int64(7), 7.0),
        (np.float64(-1.25), -1.25),
        (np.int8(-3), -3.0),
        (np.uint16(9), 9.0),
        (np.float16(2.0), 2.0),
    ],
)
def test_value_of_a_real_number_stores_a_python_float(good: object, expected: float) -> None:
    v = Value(good)  # type: ignore[arg-type]
    assert type(v.data) is float and v.data == expected


# ---------------------------------------------------------------------------------------------
# Operands of the wrong type: NotImplemented, so Python raises its usual TypeError


@pytest.mark.parametrize("bad", ["a", None, [1.0], 1j, object(), np.array([1.0, 2.0])])
@pytest.mark.parametrize("method", ["__add__", "__sub__", "__mul__", "__truediv__", "__pow__"])
def test_bad_operand_returns_not_implemented_and_python_raises_type_error(
    bad: object, method: str
) -> None:
    x = Value(1.0)
    assert getattr(x, method)(bad) is NotImplemented
    reflected = "__r" + method[2:]
    assert getattr(x, reflected)(bad) is NotImplemented
    op = getattr(operator, method)
    with pytest.raises(TypeError):
        op(x, bad)
    with pytest.raises(TypeError):
        op(bad, x)


def test_not_implemented_lets_the_other_operand_handle_it() -> None:
    class Other:
        def __radd__(self, other: object) -> str:
            return "handled by Other"

        def __rmul__(self, other: object) -> str:
            return "handled by Other"

    assert Value(1.0) + Other() == "handled by Other"  # type: ignore[comparison-overlap]
    assert Value(1.0) * Other() == "handled by Other"  # type: ignore[comparison-overlap]


def test_string_operands_raise_type_error_on_either_side() -> None:
    with pytest.raises(TypeError):
        Value(1) + "a"  # type: ignore[operator]
    with pytest.raises(TypeError):
        "a" * Value(1)  # type: ignore[operator]
    with pytest.raises(TypeError):
        "a" + Value(1)  # type: ignore[operator]


def test_method_operand_of_wrong_type_names_the_op_and_the_type() -> None:
    with pytest.raises(TypeError, match=r"leaky_relu.*str"):
        Value(1.0).leaky_relu("0.1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"sum.*NoneType"):
        autograd.sum([Value(1.0), None])  # type: ignore[list-item]


# ---------------------------------------------------------------------------------------------
# Domain errors name the op and the value


@pytest.mark.parametrize(
    ("make", "error", "pattern"),
    [
        (lambda: Value(0.0).log(), ValueError, r"^log\(0\.0\).*0\.0"),
        (lambda: Value(-1).log(), ValueError, r"^log\(-1\.0\).*-1\.0"),
        (lambda: Value(-math.inf).log(), ValueError, r"^log\(-inf\)"),
        (lambda: Value(1) / 0, ZeroDivisionError, r"^div\(1\.0, 0\.0\)"),
        (lambda: 1 / Value(0.0), ZeroDivisionError, r"^div\(1\.0, 0\.0\)"),
        (lambda: Value(2.0) / Value(-0.0), ZeroDivisionError, r"^div\(2\.0, -0\.0\)"),
        (lambda: Value(-8) ** 0.5, ValueError, r"^pow\(-8\.0, 0\.5\).*-8\.0"),
        (lambda: Value(-8) ** Value(0.5), ValueError, r"^pow\(-8\.0, 0\.5\)"),
        (lambda: (-8) ** Value(1 / 3), ValueError, r"^pow\(-8\.0, 0\.333"),
        (lambda: Value(0.0) ** -1, ZeroDivisionError, r"^pow\(0\.0, -1\.0\)"),
        (lambda: Value(10.0) ** 400, OverflowError, r"^pow\(10\.0, 400\.0\)"),
        (lambda: Value(1000).exp(), OverflowError, r"^exp\(1000\.0\).*1000\.0"),
        (lambda: Value(-1e-3).sqrt(), ValueError, r"^sqrt\(-0\.001\)"),
    ],
)
def test_domain_error_names_the_op_and_the_value(
    make: object, error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern) as info:
        make()  # type: ignore[operator]
    assert type(info.value) is error
    assert not str(info.value).endswith("math domain error")


def special_inputs(arity: int) -> list[tuple[float, ...]]:
    special = (0.0, -0.0, -1.0, 0.5, -2.5, 800.0, -800.0, 1e308, math.inf, -math.inf, math.nan)
    return list(itertools.product(special, repeat=arity if arity >= 0 else 2))


@pytest.mark.parametrize("op", [op for op in OPS.values() if op.builtin], ids=lambda op: op.name)
def test_no_op_raises_a_bare_math_domain_error(op: autograd.Op) -> None:
    """Whatever an op refuses, it says so with its name first and the values after."""
    for xs in special_inputs(op.arity):
        try:
            autograd.apply_op(op, *[Value(x) for x in xs])
        except (ArithmeticError, ValueError) as e:
            msg = str(e)
            assert msg.startswith(f"{op.name}("), f"{op.name}{xs}: message {msg!r}"
            assert msg.strip() != "math domain error"
            assert not msg.endswith("math domain error"), f"{op.name}{xs}: {msg!r}"


def test_failed_op_records_nothing() -> None:
    x = Value(0.0)
    with pytest.raises(ValueError):
        x.log()
    assert x.grad == 0.0 and x.parents == ()


# ---------------------------------------------------------------------------------------------
# Misuse of the API


def test_apply_op_errors_name_the_op() -> None:
    with pytest.raises(KeyError, match="no_such_op"):
        autograd.apply_op("no_such_op", 1.0)
    with pytest.raises(TypeError, match=r"^exp: takes 1 input\(s\), got 2"):
        autograd.apply_op("exp", 1.0, 2.0)
    with pytest.raises(TypeError, match=r"^mul: input 1 .*str"):
        autograd.apply_op("mul", Value(1.0), "x")


def test_dot_with_unequal_lengths_names_dot() -> None:
    with pytest.raises(ValueError, match=r"^dot: 2 weights but 1 inputs"):
        autograd.dot([Value(1.0), Value(2.0)], [Value(3.0)])


def test_builtin_ops_cannot_be_replaced() -> None:
    with pytest.raises(ValueError, match="'exp'"):
        autograd.define_op("exp", lambda x: x, lambda x, out: (1.0,))
    assert OPS["exp"].builtin


def test_unknown_op_lookup_lists_known_ops() -> None:
    with pytest.raises(KeyError, match=r"no op named 'nope'.*known: add"):
        autograd.get_op("nope")


# ---------------------------------------------------------------------------------------------
# NaN and inf are data


def test_nan_propagates_through_forward_and_backward() -> None:
    x = Value(math.nan)
    w = Value(2.0)
    y = (x * w).tanh() + w.exp()
    y.backward()
    assert math.isnan(y.data) and math.isnan(x.grad) and math.isnan(w.grad)


def test_inf_is_data_where_the_math_allows_it() -> None:
    inf = Value(math.inf)
    assert (inf + 1).data == math.inf and (inf * -2).data == -math.inf
    assert inf.log().data == math.inf and inf.sqrt().data == math.inf
    assert inf.tanh().data == 1.0 and inf.sigmoid().data == 1.0 and (-inf).exp().data == 0.0
    assert math.isnan(inf.sin().data) and math.isnan(inf.cos().data)
    assert math.isnan((inf - inf).data) and (1 / inf).data == 0.0
    assert re.fullmatch(r"Value\(data=inf, grad=0\.0\)", repr(inf))


def test_sigmoid_and_tanh_saturate_without_overflow() -> None:
    for x0, s in ((-1000.0, 0.0), (1000.0, 1.0), (-745.2, 0.0)):
        x = Value(x0)
        y = x.sigmoid()
        y.backward()
        assert y.data == s and x.grad == 0.0
    big = Value(1e308)
    assert big.tanh().data == 1.0 and (-big).sigmoid().data == 0.0
