"""The engine faults an adversarial run found (issue 14 §2, §4), each against PyTorch float64.

Every case goes through both paths (the fast layer and the reference engine).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd
from autograd import Value
from tests.conftest import require_torch


@pytest.fixture(params=[True, False], ids=["fast", "reference"], autouse=True)
def path(request: pytest.FixtureRequest) -> Iterator[bool]:
    before = autograd.is_fast()
    autograd.set_fast(request.param)
    yield request.param
    autograd.set_fast(before)


def grad_of(f: Callable[[Any], Any], x: float) -> float | None:
    v = Value(x)
    f(v).backward()
    return v.grad


def torch_grad(torch: ModuleType, f: Callable[[Any], Any], x: float) -> float:
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f(t).backward()
    return float(t.grad.item())


def same(a: float | None, b: float) -> bool:
    assert a is not None
    return (math.isnan(a) and math.isnan(b)) or a == b or math.isclose(a, b, rel_tol=1e-12)


def test_pow_overflow_with_a_negative_base_has_pytorchs_sign() -> None:
    torch = require_torch()
    for x, e in ((-1e-150, -2.0), (1e-150, -2.0), (-1e-100, -3.0), (1e-100, -3.0)):
        g = grad_of(lambda v, e=e: v**e, x)  # type: ignore[misc]
        want = torch_grad(torch, lambda t, e=e: t**e, x)  # type: ignore[misc]
        assert g == want and math.isinf(g), (x, e, g, want)


def test_masked_zero_partials_send_zero_even_from_inf_or_nan_upstream() -> None:
    torch = require_torch()
    cases: list[tuple[Callable[[Any], Any], Callable[[Any], Any], float]] = [
        (lambda v: v.relu().sqrt(), lambda t: t.relu().sqrt(), -0.5),
        (lambda v: (-2.0) ** v.relu(), lambda t: (-2.0) ** t.relu(), -1.0),
        (lambda v: (v.relu() * 0.0).sqrt(), lambda t: (t.relu() * 0.0).sqrt(), 2.0),
    ]
    for f, tf, x in cases:
        got, want = grad_of(f, x), torch_grad(torch, tf, x)
        assert same(got, want), (x, got, want)
    assert grad_of(lambda v: v.relu().sqrt(), -0.5) == 0.0


def test_log_and_div_divide_the_gradient_so_subnormal_inputs_stay_finite() -> None:
    torch = require_torch()
    x = 5e-324
    got = grad_of(lambda v: v.log() * 1e-300, x)
    want = torch_grad(torch, lambda t: t.log() * 1e-300, x)
    assert got is not None and math.isfinite(got) and same(got, want)  # about 2.02e23
    got = grad_of(lambda v: 1e-300 * (2.0 / v), 1.0)
    assert got == pytest.approx(-2e-300)
    got = grad_of(lambda v: (1.0 / v) * 1e-300, x)
    want = torch_grad(torch, lambda t: (1.0 / t) * 1e-300, x)
    assert same(got, want)


@given(
    st.sampled_from(["relu", "pow0", "pow_base0"]),
    st.floats(-3.0, 3.0),
    st.sampled_from([math.inf, -math.inf, math.nan]),
)
def test_every_masked_partial_selects_like_pytorch(kind: str, x: float, up: float) -> None:
    """Upstream inf or NaN reaches a node whose partial is masked: the class of 37 faults."""
    torch = require_torch()

    def build(v: Any) -> Any:
        if kind == "relu":
            inner = v.relu()
        elif kind == "pow0":
            inner = v ** (v * 0.0)  # exponent 0 exactly: d/da masked
        else:
            inner = (v * 0.0) ** (v * v)  # base 0, exponent >= 0: d/db masked
        return inner * up

    if kind == "pow_base0" and x == 0.0:
        return
    got, want = grad_of(build, x), torch_grad(torch, build, x)
    assert same(got, want), (kind, x, up, got, want)


def test_errors_name_the_argument_instead_of_raw_python_errors() -> None:
    with pytest.raises(ValueError, match="too large"):
        Value(10**400)
    with pytest.raises(ValueError, match="too large"):
        Value(1.0) + 10**400
    with pytest.raises(TypeError, match="topological_order"):
        autograd.topological_order(3)  # type: ignore[arg-type]
    bad = autograd.define_op("t_edge_bad", lambda x: x, lambda x, out: ("one",))
    try:
        with pytest.raises(TypeError, match="t_edge_bad"):
            bad(Value(2.0)).backward()
    finally:
        del autograd.OPS["t_edge_bad"]
