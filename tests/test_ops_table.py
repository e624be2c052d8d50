"""Every row of the op table, checked against references that do not share its code.

Parametrized over the built-in rows of ``autograd.OPS``: a new row is covered at once. Points
are sampled from each row's declared ``domain`` (see ``Op.input_domain``), never chosen per
op by name. References: central differences for the partials, PyTorch float64 for forward
and partials (also at edge values: 0, -0, inf, nan, huge), and the row's own code templates
evaluated with ``ops.CODE_NAMESPACE`` (so rendering, compile and explain see the same math).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest

from autograd import OPS, Op, Value, apply_op
from autograd.ops import CODE_NAMESPACE
from tests.torch_oracle import TORCH_ORACLE, torch_oracle

BUILTIN = [op for op in OPS.values() if op.builtin]
IDS = [op.name for op in BUILTIN]
VARIADIC_SIZES = (1, 2, 3, 4, 5)
POINTS_PER_SIZE = 6

# Edge values: signed zeros, infinities, NaN, exp-overflowing and underflowing magnitudes.
SPECIAL = (0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, math.inf, -math.inf, math.nan, 800.0, -800.0)
SPECIAL += (1e-300,)


def arities(op: Op) -> Sequence[int]:
    return VARIADIC_SIZES if op.arity < 0 else (op.arity,)


def domain_points(op: Op, n: int, count: int = POINTS_PER_SIZE) -> list[tuple[float, ...]]:
    """``count`` deterministic points with input i inside the op's domain interval i.

    Kept off the interval ends by 5% so that x +- h stays inside.
    """
    rng = random.Random(f"{op.name}/{n}")
    points = []
    for _ in range(count):
        xs = []
        for i in range(n):
            lo, hi = op.input_domain(i)
            pad = 0.05 * (hi - lo)
            xs.append(rng.uniform(lo + pad, hi - pad))
        points.append(tuple(xs))
    return points


def special_points(op: Op) -> list[tuple[float, ...]]:
    if op.arity < 0:
        small = (0.0, -0.0, 1.0, -2.5, math.inf, -math.inf, math.nan)
        pts = list(itertools.product(SPECIAL, repeat=1))
        pts += itertools.product(SPECIAL, repeat=2)
        pts += itertools.product(small, repeat=3)
        return pts
    return list(itertools.product(SPECIAL, repeat=op.arity))


def same_float(ours: float, ref: float, rel: float = 1e-12, abs_: float = 1e-300) -> bool:
    """Equal, both NaN, or close; infinities must match exactly (sign included)."""
    if math.isnan(ours) or math.isnan(ref):
        return math.isnan(ours) and math.isnan(ref)
    return ours == ref or math.isclose(ours, ref, rel_tol=rel, abs_tol=abs_)


def central_difference(op: Op, xs: tuple[float, ...], i: int) -> float:
    h = 1e-6 * max(1.0, abs(xs[i]))
    up = list(xs)
    down = list(xs)
    up[i] += h
    down[i] -= h
    return (op.forward(*up) - op.forward(*down)) / (up[i] - down[i])


def torch_forward_backward(
    torch: ModuleType, op: Op, xs: tuple[float, ...]
) -> tuple[float, list[float]]:
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out = torch_oracle(op.name)(torch, *leaves)
    out.backward()
    grads = [0.0 if t.grad is None else t.grad.item() for t in leaves]
    return out.item(), grads


# ---------------------------------------------------------------------------------------------
# The table's shape


def test_every_builtin_op_has_a_torch_oracle() -> None:
    missing = [op.name for op in BUILTIN if op.name not in TORCH_ORACLE]
    assert not missing, f"built-in ops without a PyTorch oracle in tests/torch_oracle.py: {missing}"


@pytest.mark.parametrize("op", BUILTIN, ids=IDS)
def test_row_is_complete(op: Op) -> None:
    assert op.name.isidentifier() and OPS[op.name] is op
    assert op.symbol, f"{op.name}: no display symbol"
    assert op.doc, f"{op.name}: no one-line doc"
    assert op.code is not None and op.grad_code is not None, f"{op.name}: no code templates"
    assert len(op.domain) == (1 if op.arity < 0 else op.arity), (
        f"{op.name}: domain {op.domain} needs one interval per input (one for variadic ops)"
    )
    for lo, hi in op.domain:
        assert lo < hi, f"{op.name}: empty domain interval ({lo}, {hi})"
    for name in op.methods:
        assert callable(getattr(Value, name, None)), f"{op.name}: Value has no method {name}"


def test_op_without_domain_samples_the_default_interval() -> None:
    op = Op(name="c", arity=2, forward=lambda a, b: a, partials=lambda a, b, o: (1, 0), symbol="c")
    assert op.input_domain(0) == (-2.0, 2.0) and op.input_domain(1) == (-2.0, 2.0)


# ---------------------------------------------------------------------------------------------
# Forward and partials on the smooth domain


@pytest.mark.parametrize("op", BUILTIN, ids=IDS)
def test_partials_equal_central_differences(op: Op) -> None:
    for n in arities(op):
        for xs in domain_points(op, n):
            out = op.forward(*xs)
            assert type(out) is float, f"{op.name}{xs}: forward gave {type(out).__name__}"
            partials = op.partials(*xs, out)
            assert len(partials) == n, f"{op.name}{xs}: {len(partials)} partials for {n} inputs"
            for i, analytic in enumerate(partials):
                numeric = central_difference(op, xs, i)
                assert math.isclose(analytic, numeric, rel_tol=1e-6, abs_tol=1e-7), (
                    f"{op.name}{xs} backward input {i}: analytic {analytic!r}, "
                    f"central difference {numeric!r}"
                )


@pytest.mark.parametrize("op", BUILTIN, ids=IDS)
def test_forward_and_partials_equal_torch_float64(op: Op, torch: ModuleType) -> None:
    for n in arities(op):
        for xs in domain_points(op, n):
            out = op.forward(*xs)
            ref_out, ref_grads = torch_forward_backward(torch, op, xs)
            assert same_float(out, ref_out), f"{op.name}{xs} forward: {out!r}, torch {ref_out!r}"
            for i, (g, ref) in enumerate(zip(op.partials(*xs, out), ref_grads)):
                assert same_float(g, ref, abs_=1e-15), (
                    f"{op.name}{xs} backward input {i}: {g!r}, torch {ref!r}"
                )


@pytest.mark.parametrize("op", BUILTIN, ids=IDS)
def test_edge_values_follow_torch_or_raise_where_torch_is_not_finite(
    op: Op, torch: ModuleType
) -> None:
    """At 0, -0, inf, nan and huge values: the same value and partials as PyTorch float64.

    Where PyTorch silently returns inf or nan from finite inputs (log 0, 1/0, exp 1000), we
    raise instead (the issue's error contract); we never raise where PyTorch is finite.
    """
    for xs in special_points(op):
        ref_out, ref_grads = torch_forward_backward(torch, op, xs)
        try:
            out = op.forward(*xs)
        except (ArithmeticError, ValueError) as e:
            assert not math.isfinite(ref_out), (
                f"{op.name}{xs} raised {e!r}, but torch gives the finite {ref_out!r}"
            )
            continue
        assert same_float(out, ref_out), f"{op.name}{xs} forward: {out!r}, torch {ref_out!r}"
        for i, (g, ref) in enumerate(zip(op.partials(*xs, out), ref_grads)):
            assert same_float(g, ref, abs_=1e-15), (
                f"{op.name}{xs} backward input {i}: {g!r}, torch {ref!r}"
            )


@pytest.mark.parametrize("op", BUILTIN, ids=IDS)
def test_engine_backward_equals_torch_at_edge_values(op: Op, torch: ModuleType) -> None:
    """The same edge values through Value and backward (the engine has its own kernels),
    with every input a Value, and for two-input ops each input alone a plain number."""
    for xs in special_points(op):
        ref_out, ref_grads = torch_forward_backward(torch, op, xs)
        kinds = [(True,) * len(xs)]
        if len(xs) == 2:
            kinds += [(True, False), (False, True)]
        for as_value in kinds:
            args = [Value(x) if v else x for x, v in zip(xs, as_value)]
            try:
                y = apply_op(op, *args)
            except (ArithmeticError, ValueError):
                assert not math.isfinite(ref_out), f"{op.name}{xs} raised; torch {ref_out!r}"
                continue
            y.backward()
            assert same_float(y.data, ref_out), f"{op.name}{xs}: {y.data!r}, torch {ref_out!r}"
            for i, (a, ref) in enumerate(zip(args, ref_grads)):
                if isinstance(a, Value):
                    assert same_float(a.grad, ref, abs_=1e-15), (
                        f"{op.name}{xs} (Values at {as_value}) backward input {i}: "
                        f"{a.grad!r}, torch {ref!r}"
                    )


def test_leaky_relu_oracle_matches_torch_functional(torch: ModuleType) -> None:
    """The oracle's Python branch (for a gradient to the slope) is F.leaky_relu's rule."""
    F = torch.nn.functional
    for x, s in itertools.product(SPECIAL, (0.01, 0.2, 0.0)):
        a = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        b = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        ref = F.leaky_relu(a, s)
        ours = TORCH_ORACLE["leaky_relu"](torch, b, torch.tensor(s, dtype=torch.float64))
        ref.backward()
        ours.backward()
        assert same_float(ours.item(), ref.item()) and same_float(b.grad.item(), a.grad.item())


# ---------------------------------------------------------------------------------------------
# Code templates (read by compile, explain and the renderers) say the same as forward/partials


def templates(op: Op, n: int) -> tuple[str, tuple[str, ...]]:
    names = [f"x{i}" for i in range(n)]
    assert op.code is not None and op.grad_code is not None
    code = op.code(names, "out") if callable(op.code) else op.code.format(*names)
    if callable(op.grad_code):
        grads = op.grad_code(names, "out")
    else:
        grads = tuple(t.format(*names, out="out") for t in op.grad_code)
    return code, grads


def evaluate(expr: str, xs: Sequence[float], out: float) -> Any:
    env: dict[str, object] = {f"x{i}": x for i, x in enumerate(xs)}
    env["out"] = out
    return eval(expr, dict(CODE_NAMESPACE), env)


@pytest.mark.parametrize("op", BUILTIN, ids=IDS)
def test_code_templates_equal_forward_and_partials(op: Op) -> None:
    for n in arities(op):
        code, grads = templates(op, n)
        assert len(grads) == n, f"{op.name}: {len(grads)} grad templates for {n} inputs"
        for xs in domain_points(op, n):
            out = op.forward(*xs)
            assert same_float(evaluate(code, xs, out), out), f"{op.name}{xs}: code {code!r}"
            for i, (expr, g) in enumerate(zip(grads, op.partials(*xs, out))):
                assert same_float(evaluate(expr, xs, out), g), (
                    f"{op.name}{xs} grad template {i} {expr!r} disagrees with partials {g!r}"
                )


@pytest.mark.parametrize("op", BUILTIN, ids=IDS)
def test_code_templates_equal_forward_and_partials_at_edge_values(op: Op) -> None:
    """Where a template can be evaluated on floats at all (plain Python raises for 0 ** -0.5
    where numpy gives inf), it gives the forward's and the partials' value, NaN for NaN."""
    for xs in special_points(op):
        code, grads = templates(op, len(xs))
        try:
            out = op.forward(*xs)
        except (ArithmeticError, ValueError):
            continue
        with_value = [(code, out), *zip(grads, op.partials(*xs, out))]
        for expr, expected in with_value:
            try:
                got = evaluate(expr, xs, out)
            except (ArithmeticError, ValueError):
                continue
            assert same_float(float(got), expected), (
                f"{op.name}{xs}: template {expr!r} gives {got!r}, table says {expected!r}"
            )
