"""Higher-order gradients from the same op table: :func:`grad`, :func:`hessian`,
:func:`gradgradcheck`.

Each row's partials are expression templates (``grad_code``). Evaluated on floats they are
the backward kernels, on numpy arrays compiled code; here they are evaluated on Values
(:func:`autograd.ops.value_namespace`), so the chain-rule step ``g * d(out)/d(x_i)`` of
every node is recorded as ordinary nodes: the graph of the derivative, which the same engine
differentiates again. The pass is the reference engine's own (``engine._backward``) with
that step in place of ``Op.chain``; ``scaled`` writes the step as PyTorch does (a ``where``
selects a branch, so relu'' = 0 and |x|'' = 0 at the kinks as everywhere else).
"""

from __future__ import annotations

import ast
import math
import numbers
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from . import engine
from ._validate import _real
from .context import _gc_paused, enable_grad, is_grad_enabled
from .define import not_twice_differentiable
from .engine import Value
from .gradcheck import (
    GradcheckError,
    _analytical,
    _as_point,
    _call,
    _check_settings,
    _compare,
    _message,
)
from .graph import Graph
from .ops import Op, _InlineWhere, scaled, value_namespace

__all__ = ["grad", "gradgradcheck", "hessian"]

Step = Callable[[Any, Sequence[Any], Any, Sequence[float], float], Any]


# ---------------------------------------------------------------------------------------------
# The chain-rule step of a row, on Values


class _OnData(ast.NodeTransformer):
    """In a ``where`` condition, read the inputs' numbers (``xs[i]`` -> ``ds[i]``, ``out`` ->
    ``out_d``): a branch is chosen by the values, and ``==`` on Values is identity."""

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        node.test = _Rename().visit(node.test)
        return node


class _Rename(ast.NodeTransformer):
    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.Name({"xs": "ds", "out": "out_d"}.get(node.id, node.id), ast.Load())


def _templates(row: Op, n: int) -> tuple[str, ...]:
    """The row's partial templates for ``n`` inputs, over ``xs[i]`` and ``out``."""
    gc = row.grad_code
    names = [f"xs[{i}]" for i in range(n)]
    if callable(gc):
        got = tuple(gc(names, "out"))
    elif gc is not None and len(gc) == n:
        got = tuple(t.format(*names, out="out") for t in gc)
    else:
        raise not_twice_differentiable(row)
    if len(got) != n:
        raise ValueError(f"op {row.name!r}: grad_code gave {len(got)} templates for {n} inputs")
    return got


_STEPS: dict[tuple[Op, int], tuple[Step, ...]] = {}  # a cache of pure functions


def _steps(row: Op, n: int) -> tuple[Step, ...]:
    """One function per input: ``(g, xs, out, ds, out_d) -> g * d(out)/d(x_i)`` on Values."""
    key = (row, n)
    found = _STEPS.get(key)
    if found is not None:
        return found
    ns = value_namespace()
    made = []
    for i, t in enumerate(_templates(row, n)):
        try:
            tree = _InlineWhere().visit(ast.parse(scaled("g", t), mode="eval"))
            src = ast.unparse(_OnData().visit(tree))
            code = compile(f"lambda g, xs, out, ds, out_d: {src}", f"<d{row.name}/dx{i}>", "eval")
        except (SyntaxError, ValueError) as e:
            raise ValueError(f"op {row.name!r}: grad_code template {t!r} is not valid: {e}") from e
        made.append(eval(code, {"__builtins__": {}, **ns}))
    _STEPS[key] = found = tuple(made)
    return found


def _value_chain(node: Value, g: Any) -> list[Any]:
    """What flows back to each input of ``node``, as Values (``None`` where no gradient is
    needed). A step that cannot be evaluated (pow's d/db at a negative base) falls back to
    ``g * partial``, as ``Op.chain`` does."""
    row = node.op_info
    assert row is not None
    inputs = engine._inputs(node)
    ds = [x if type(x) is float else x.data for x in inputs]
    res: list[Any] = []
    for i, (x, step) in enumerate(zip(inputs, _steps(row, len(inputs)))):
        if type(x) is float or not x.requires_grad:
            res.append(None)
            continue
        try:
            res.append(step(g, inputs, node, ds, node.data))
        except (ArithmeticError, ValueError):
            res.append(g * row.partials(*ds, node.data)[i])
    return res


# ---------------------------------------------------------------------------------------------
# grad


def _values(xs: object, what: str) -> list[Value]:
    items = [xs] if isinstance(xs, Value) else xs
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise TypeError(f"grad: {what} must be a Value or a sequence of Values, got {xs!r}")
    out = list(items)
    for i, v in enumerate(out):
        if not isinstance(v, Value):
            raise TypeError(f"grad: {what} {i} must be a Value, got {type(v).__name__}: {v!r}")
    if not out:
        raise ValueError(f"grad: {what} is empty")
    return out


def _seeds(outs: list[Value], grad_outputs: object, keep_values: bool) -> dict[Value, Any]:
    if grad_outputs is None:
        given: list[Any] = [None] * len(outs)
    elif isinstance(grad_outputs, (Value, numbers.Real)):
        given = [grad_outputs]
    elif isinstance(grad_outputs, Iterable) and not isinstance(grad_outputs, (str, bytes)):
        given = list(grad_outputs)
    else:
        raise TypeError(f"grad: grad_outputs must be numbers or Values, got {grad_outputs!r}")
    if len(given) != len(outs):
        raise ValueError(f"grad: {len(outs)} output(s) but {len(given)} grad_outputs")
    seeds: dict[Value, Any] = {}
    for i, (o, s) in enumerate(zip(outs, given)):
        if not o.requires_grad:
            raise ValueError(
                f"grad: output {i} ({o!r}) does not require grad (a constant, or made only "
                "from constants or under no_grad): there is nothing to differentiate"
            )
        if s is None:
            s = 1.0
        elif isinstance(s, Value):
            s = s if keep_values else s.data
        else:
            s = _real(s, f"grad: grad_outputs[{i}]")
        seeds[o] = seeds[o] + s if o in seeds else s
    return seeds


def grad(
    outputs: Value | Sequence[Value],
    inputs: Value | Sequence[Value],
    grad_outputs: float | Value | Sequence[float | Value | None] | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Value | None, ...]:
    """d(sum_k grad_outputs_k * outputs_k)/d(input) for each input, as ``torch.autograd.grad``.

    Args:
        outputs: A Value or a sequence of Values that require grad.
        inputs: A Value or a sequence of Values (leaves or intermediate nodes).
        grad_outputs: One number or Value per output (default 1.0 each); a Value's
            dependencies become part of the derivative graph when ``create_graph``.
        create_graph: Record the derivative as a graph of Values made from the rows' partial
            templates, so the results can go to ``grad`` or ``.backward()`` again. Under
            ``no_grad()`` nothing is recorded (the results are then plain leaves).
        allow_unused: Give ``None`` for an input the outputs do not depend on, instead of
            raising ``ValueError``.

    Returns:
        A tuple with one Value per input: with ``create_graph`` a node of the derivative
        graph (a leaf with ``requires_grad=False`` where the derivative is a constant), else
        a leaf with ``requires_grad=False`` holding the number. No ``.grad`` is touched.
    """
    outs = _values(outputs, "outputs")
    ins = _values(inputs, "inputs")
    for i, x in enumerate(ins):
        if not x.requires_grad:
            raise ValueError(f"grad: input {i} ({x!r}) does not require grad")
    record = bool(create_graph) and is_grad_enabled()
    seeds = _seeds(outs, grad_outputs, record)
    with _gc_paused():  # the pass makes no cycles: spare the collector walks over new nodes
        grads = engine._backward(seeds, _value_chain if record else None)
    result: list[Value | None] = []
    for i, x in enumerate(ins):
        if x not in grads:
            if not allow_unused:
                raise ValueError(
                    f"grad: input {i} ({x!r}) is not used to compute the outputs "
                    "(pass allow_unused=True to get None for it)"
                )
            result.append(None)
            continue
        g = grads[x]
        result.append(g if isinstance(g, Value) else Value(g, requires_grad=False))
    return tuple(result)


def hessian(output: Value, inputs: Value | Sequence[Value]) -> npt.NDArray[np.float64]:
    """The matrix of second derivatives d2(output)/d(input_i)d(input_j).

    Args:
        output: A Value (a scalar function of the inputs).
        inputs: The n Values to differentiate by (a single Value is one input).

    Returns:
        A float64 ``numpy.ndarray`` of shape (n, n); an input the output does not depend on
        has a row and column of zeros. No ``.grad`` is touched.
    """
    ins = _values(inputs, "inputs")
    h = np.zeros((len(ins), len(ins)), dtype=np.float64)
    with enable_grad():
        first = grad(output, ins, create_graph=True, allow_unused=True)
        for i, gi in enumerate(first):
            if gi is None or not gi.requires_grad:
                continue  # a constant first derivative: its row is zero
            for j, hij in enumerate(grad(gi, ins, allow_unused=True)):
                h[i, j] = 0.0 if hij is None else hij.data
    return h


# ---------------------------------------------------------------------------------------------
# gradgradcheck


def gradgradcheck(
    fn: Callable[..., Value],
    inputs: Iterable[float | Value] | float | Value,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Compare ``fn``'s second derivatives with central differences of its gradient.

    With a fixed random direction v, the analytical side is d(v . grad f)/dx_j from
    ``grad(create_graph=True)`` and a second ``grad``; the numerical side is
    v . (grad f(x + eps e_j) - grad f(x - eps e_j)) / (2 eps), each gradient from
    ``backward()``. The rule is gradcheck's: |analytical - numerical| <= atol + rtol *
    |numerical|.

    Args:
        fn: Takes one :class:`~autograd.Value` per input and returns a Value (a scalar).
        inputs: The point to check at: numbers, or Values (only their ``.data`` is used).
        eps: Step of the central difference.
        atol: Absolute tolerance.
        rtol: Tolerance relative to the numerical derivative.

    Returns:
        ``True`` when every input passes.

    Raises:
        GradcheckError: Listing each mismatching input and naming the user-defined ops of
            the graph whose ``grad_code`` disagrees with their ``partials``.
        TypeError: ``fn`` is not callable or returns no Value, an input is no real number,
            or a user op has no ``grad_code`` (it cannot be differentiated twice).
        ValueError: No inputs, a non-finite input, tolerance or step.
    """
    if not callable(fn):
        raise TypeError(f"gradgradcheck: fn must be callable, got {type(fn).__name__}: {fn!r}")
    point, labels = _as_point(inputs)
    _check_settings("gradgradcheck", eps, atol, rtol)
    rng = random.Random(len(point))
    v = [rng.choice((-1.0, 1.0)) * rng.uniform(0.5, 1.5) for _ in point]

    with enable_grad():
        leaves = [Value(x) for x in point]
        out = _call(fn, leaves)
        first = grad(out, leaves, create_graph=True, allow_unused=True)
        terms = [vi * g for vi, g in zip(v, first) if g is not None and g.requires_grad]
        analytical = [0.0] * len(point)
        if terms:
            got = grad(engine.sum(terms), leaves, allow_unused=True)
            analytical = [0.0 if g is None else g.data for g in got]
        numerical = []
        for j, x in enumerate(point):
            sides = []
            for step in (eps, -eps):
                shifted = list(point)
                shifted[j] = x + step
                try:
                    gs = _analytical(fn, shifted)
                except (ArithmeticError, ValueError) as e:
                    raise GradcheckError(
                        f"gradgradcheck: the gradient cannot be evaluated at input {j} = "
                        f"{x!r} {'+' if step > 0 else '-'} eps (eps={eps!r}): {e}"
                    ) from e
                sides.append(math.fsum(vi * gi for vi, gi in zip(v, gs)))
            numerical.append((sides[0] - sides[1]) / (2.0 * eps))
        g = Graph(out)
        culprits = _suspects(g) or [f"  ops in the graph: {', '.join(_op_names(g))}"]

    mismatches = _compare(analytical, numerical, atol, rtol)
    if mismatches:
        message = _message(
            mismatches, labels, len(point), eps, atol, rtol, check="gradgradcheck",
            claim="the second derivative d(v . grad f)/dx disagrees", kind="Hessian-vector",
        )  # fmt: skip
        message += "\n" + "\n".join(culprits)
        raise GradcheckError(message, tuple(mismatches))
    return True


def _op_names(graph: Graph) -> list[str]:
    names = {op.name: None for op in graph.ops if op is not None}
    return list(names) or ["none (fn returns a leaf)"]


def _suspects(graph: Graph) -> list[str]:
    """The user ops of the graph whose templates (used at second order) disagree with their
    ``partials`` (used by ``backward``), one line each, naming the op and the node."""
    lines: list[str] = []
    seen: set[Op] = set()
    for k, row in enumerate(graph.ops):
        if row is None or row.builtin or row in seen or not graph.nodes[k].requires_grad:
            continue
        ds = [graph.data[p] for p in graph.parents[k]]
        out = graph.data[k]
        steps = _steps(row, len(ds))
        partials = graph.partials(k)
        for i, (step, p) in enumerate(zip(steps, partials)):
            try:
                t = float(step(1.0, ds, out, ds, out))
            except (ArithmeticError, ValueError):
                continue
            if not math.isclose(t, p, rel_tol=1e-9, abs_tol=1e-12):
                seen.add(row)
                shown = ", ".join(f"{d:.6g}" for d in ds)
                lines.append(
                    f"  op {row.name!r} at ({shown}): its grad_code gives d/dx{i} = {t:.10g} "
                    f"but its partials give {p:.10g}; the second derivative is taken from "
                    "grad_code, so fix the one that is wrong"
                )
                break
    return lines
