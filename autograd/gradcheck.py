"""Check a function's backward pass against central differences, as ``torch.autograd.gradcheck``.

For a scalar function f of inputs x_0..x_{n-1}, the analytical gradient df/dx_i comes from one
:meth:`~autograd.Value.backward` pass over a fresh graph, and the numerical one from central
differences

    df/dx_i ~ (f(.., x_i + eps, ..) - f(.., x_i - eps, ..)) / (2 eps)

evaluated under :func:`~autograd.no_grad` (no graph is recorded for the 2n extra calls). The
two agree when |analytical - numerical| <= atol + rtol * |numerical|, PyTorch's rule. The
check knows nothing about any op: it only calls ``fn`` and ``backward``, so it covers
user-defined ops (:func:`~autograd.define_op`) exactly as it covers the built-in ones.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .context import _state, no_grad
from .engine import Value
from .graph import Graph

__all__ = ["GradcheckError", "Mismatch", "gradcheck"]


@dataclass(frozen=True)
class Mismatch:
    """One input whose analytical and numerical derivatives disagree.

    Attributes:
        index: Position of the input in ``inputs``.
        analytical: df/dx_i from ``backward``.
        numerical: df/dx_i from central differences.
        difference: |analytical - numerical|.
        allowed: The tolerance atol + rtol * |numerical| it exceeded.
    """

    index: int
    analytical: float
    numerical: float
    difference: float
    allowed: float


class GradcheckError(RuntimeError):
    """Raised by :func:`gradcheck` when backward disagrees with central differences.

    Attributes:
        mismatches: One :class:`Mismatch` per disagreeing input, in input order.
    """

    def __init__(self, message: str, mismatches: tuple[Mismatch, ...] = ()) -> None:
        super().__init__(message)
        self.mismatches = mismatches


def gradcheck(
    fn: Callable[..., Value],
    inputs: Iterable[float | Value] | float | Value,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Compare ``fn``'s gradient from ``backward`` with central differences at ``inputs``.

    Args:
        fn: Takes one :class:`~autograd.Value` per input and returns a Value (a scalar).
        inputs: The point to check at: numbers, or Values (only their ``.data`` is used; their
            ``.grad`` is not touched). A single number is taken as one input.
        eps: Step of the central difference.
        atol: Absolute tolerance.
        rtol: Tolerance relative to the numerical derivative.

    Returns:
        ``True`` when every input passes |analytical - numerical| <= atol + rtol * |numerical|.

    Raises:
        GradcheckError: Listing each mismatching input (index, analytical, numerical,
            difference), or when ``fn`` cannot be evaluated at a shifted point.
        TypeError: ``fn`` is not callable, returns no Value, or an input is no real number.
        ValueError: No inputs, a non-finite input, tolerance or step, or ``fn`` non-finite at
            ``inputs``.
    """
    if not callable(fn):
        raise TypeError(f"gradcheck: fn must be callable, got {type(fn).__name__}: {fn!r}")
    point, labels = _as_point(inputs)
    _check_settings("gradcheck", eps, atol, rtol)

    analytical = _analytical(fn, point)
    mismatches = _compare(analytical, _numerical(fn, point, float(eps)), atol, rtol)
    if mismatches:
        message = _message(mismatches, labels, len(point), eps, atol, rtol)
        raise GradcheckError(message, tuple(mismatches))
    return True


def _check_settings(check: str, eps: float, atol: float, rtol: float) -> None:
    """``ValueError`` naming ``check`` unless eps > 0 and atol, rtol >= 0, all finite."""
    for name, x in (("eps", eps), ("atol", atol), ("rtol", rtol)):
        if not isinstance(x, numbers.Real) or not math.isfinite(x) or x < 0.0:
            raise ValueError(f"{check}: {name} must be a finite number >= 0, got {x!r}")
    if eps == 0.0:
        raise ValueError(f"{check}: eps must be > 0, got 0")


def _compare(
    analytical: list[float], numerical: list[float], atol: float, rtol: float
) -> list[Mismatch]:
    """The inputs failing |analytical - numerical| <= atol + rtol * |numerical|."""
    mismatches: list[Mismatch] = []
    for i, (a, n) in enumerate(zip(analytical, numerical)):
        allowed = atol + rtol * abs(n)
        diff = abs(a - n)
        # Equal values (including equal infinities) pass; NaN or one-sided infinity never does.
        if not (a == n or (math.isfinite(a) and math.isfinite(n) and diff <= allowed)):
            mismatches.append(Mismatch(i, a, n, diff, allowed))
    return mismatches


def _as_point(inputs: object) -> tuple[list[float], list[str]]:
    """The inputs as floats, plus their labels (for Values) to name them in messages."""
    items: list[object]
    if isinstance(inputs, (Value, numbers.Real)):
        items = [inputs]
    elif isinstance(inputs, (str, bytes)) or not isinstance(inputs, Iterable):
        raise TypeError(
            f"gradcheck: inputs must be numbers or Values, got {type(inputs).__name__}: {inputs!r}"
        )
    else:
        items = list(inputs)
    if not items:
        raise ValueError("gradcheck: inputs is empty; give at least one number to check at")
    point: list[float] = []
    labels: list[str] = []
    for i, x in enumerate(items):
        if isinstance(x, Value):
            v, lab = x.data, x.label
        elif isinstance(x, numbers.Real):
            v, lab = float(x), ""
        else:
            raise TypeError(
                f"gradcheck: input {i} must be a number or a Value, got {type(x).__name__}: {x!r}"
            )
        if not math.isfinite(v):
            raise ValueError(f"gradcheck: input {i} is {v!r}; gradients need finite inputs")
        point.append(v)
        labels.append(lab)
    return point, labels


def _call(fn: Callable[..., Value], leaves: list[Value]) -> Value:
    out = fn(*leaves)
    if not isinstance(out, Value):
        raise TypeError(
            f"gradcheck: fn must return a Value, got {type(out).__name__}: {out!r} "
            "(build the result from the Values fn receives)"
        )
    return out


def _analytical(fn: Callable[..., Value], point: list[float]) -> list[float]:
    """df/dx_i from one backward pass over a graph built from fresh leaves.

    The leaves are new, so gradients already stored on the caller's Values cannot leak in.
    Nodes ``fn`` closes over (model weights, say) do receive gradient from the pass; their
    ``.grad`` is put back afterwards, so a check never disturbs a model's gradients (nor the
    root that :func:`~autograd.explain_grad` takes by default).
    """
    leaves = [Value(x) for x in point]
    out = _call(fn, leaves)
    if not math.isfinite(out.data):
        shown = ", ".join(repr(x) for x in point)
        raise ValueError(f"gradcheck: fn({shown}) = {out.data!r}; choose inputs where fn is finite")
    mine = set(leaves)
    saved = [(v, v.grad) for v in Graph(out).nodes if v not in mine]
    last_root = _state.last_root  # explain_grad's default root stays the user's own
    out.backward()
    _state.last_root = last_root
    grads = [0.0 if v.grad is None else v.grad for v in leaves]
    for v, g in saved:
        v.grad = g
    return grads


def _numerical(fn: Callable[..., Value], point: list[float], eps: float) -> list[float]:
    """Central differences (f(x + eps e_i) - f(x - eps e_i)) / (2 eps), recording no graph."""
    result: list[float] = []
    with no_grad():
        for i, x in enumerate(point):
            values: list[float] = []
            for step, shown in ((eps, "+"), (-eps, "-")):
                shifted = list(point)
                shifted[i] = x + step
                try:
                    values.append(_call(fn, [Value(s) for s in shifted]).data)
                except (ArithmeticError, ValueError) as e:
                    raise GradcheckError(
                        f"gradcheck: fn cannot be evaluated at input {i} = {x!r} {shown} eps "
                        f"(eps={eps!r}), so the central difference is undefined there: {e}"
                    ) from e
            result.append((values[0] - values[1]) / (2.0 * eps))
    return result


def _message(
    mismatches: list[Mismatch],
    labels: list[str],
    n_inputs: int,
    eps: float,
    atol: float,
    rtol: float,
    *,
    check: str = "gradcheck",
    claim: str = "backward disagrees",
    kind: str = "Jacobian",
) -> str:
    """The verdict of a failed check (gradcheck's, or ``gradgradcheck``'s with its own
    ``check`` name, ``claim`` and ``kind`` of derivative), one line per mismatching input."""
    head = (
        f"{check}: {claim} with central differences for {len(mismatches)} of "
        f"{n_inputs} input(s) (rule |analytical - numerical| <= atol + rtol * |numerical|, "
        f"eps={eps!r}, atol={atol!r}, rtol={rtol!r}):"
    )
    lines = [head]
    for m in mismatches:
        lab = f" ({labels[m.index]!r})" if labels[m.index] else ""
        lines.append(
            f"  {kind} mismatch for output 0 with respect to input {m.index}{lab}: "
            f"analytical {m.analytical:.10g}, numerical {m.numerical:.10g}, "
            f"difference {m.difference:.3g} (allowed {m.allowed:.3g})"
        )
    return "\n".join(lines)
