"""User-defined ops: :func:`define_op` adds a row to the op table and returns its function.

A user op is a row like the built-in ones, so backward, drawings, explanations, gradcheck and
compile treat it alike.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Iterable, Sequence

from .engine import Operand, Value, _apply
from .ops import CODE_NAMESPACE, Op, register

__all__ = ["define_op", "not_twice_differentiable"]


def define_op(
    name: str,
    forward: Callable[..., float],
    partials: Callable[..., Sequence[float]],
    *,
    symbol: str | None = None,
    arity: int | None = None,
    code: str | None = None,
    grad_code: Sequence[str] | None = None,
    doc: str = "",
    structure: str | None = None,
    roles: Callable[[int], tuple[str, ...]] | None = None,
) -> Callable[..., Value]:
    """Add an op to the table and return a function that applies it.

    Args:
        name: A Python identifier, unique in the op table.
        forward: ``forward(*floats) -> float``.
        partials: ``partials(*floats, out) -> tuple``: one local derivative per input.
            ``out`` may be a keyword-only parameter.
        symbol: Text drawn on the op node (default: ``name``).
        arity: Number of inputs (default: read from ``forward``'s signature).
        code: Optional expression template (``"{0} * exp({1})"``) for ``compile``.
        grad_code: Optional partial templates, one per input, over ``{0}..`` and ``{out}``
            (``("2.0 * {0}",)`` for x^2), in the names of ``autograd.ops.CODE_NAMESPACE``.
            With them the op is differentiable to any order (``autograd.grad`` with
            ``create_graph=True`` evaluates them on Values); without, to first order only.
        doc: One line of math for docs and explanations.
        structure: What the op is, as the built-in rows declare it (:attr:`Op.structure`):
            ``"affine"`` (with ``roles``) makes its nodes neurons in drawings, explanations
            and compile, like ``autograd.dot``; ``"sum"``, ``"product"``; ``"elementwise"``
            (a function of input 0: an activation). Default: ``"elementwise"`` for one
            input, else ``""``.
        roles: For an affine op, ``roles(n)`` naming each of n inputs ``"weight"``,
            ``"input"`` or ``"bias"``.

    Returns:
        ``f(*inputs) -> Value`` taking Values or numbers. The op works with ``backward``,
        rendering, ``gradcheck`` and ``compile`` like a built-in one.
    """
    if not isinstance(name, str):
        raise TypeError(f"define_op: name must be a str, got {type(name).__name__}: {name!r}")
    for what, f in (("forward", forward), ("partials", partials)):
        if not callable(f):
            raise TypeError(f"{name}: {what} must be callable, got {type(f).__name__}: {f!r}")
    if arity is None:
        arity = _arity_of(forward, name, partials)
    call_partials = _positional_partials(partials, name)

    def checked_partials(*args: float) -> tuple[float, ...]:
        try:
            got = call_partials(*args)
        except (ArithmeticError, ValueError, TypeError) as e:
            shown = ", ".join(repr(a) for a in args[:-1])
            raise type(e)(f"{name}: partials({shown}, out={args[-1]!r}): {e}") from e
        if not isinstance(got, Iterable):
            raise TypeError(
                f"{name}: partials must return a tuple with one derivative per input, "
                f"got {type(got).__name__}: {got!r}"
            )
        res = tuple(got)
        n = len(args) - 1
        if len(res) != n:
            raise ValueError(f"{name}: partials returned {len(res)} value(s) for {n} input(s)")
        for i, d in enumerate(res):
            if not isinstance(d, numbers.Real):
                raise TypeError(
                    f"{name}: partials must return real numbers, got {type(d).__name__} "
                    f"{d!r} for input {i}"
                )
        return tuple(float(d) for d in res)

    op = register(
        Op(
            name=name,
            arity=arity,
            forward=forward,
            partials=checked_partials,
            symbol=symbol or name,
            doc=doc,
            code=code,
            grad_code=tuple(grad_code) if grad_code is not None else None,
            structure=("elementwise" if arity == 1 else "") if structure is None else structure,
            roles=roles,
        ),
        replace=True,
    )

    def apply(*args: Operand) -> Value:
        return _apply(op, args)

    apply.__name__ = name
    apply.__doc__ = doc or f"The user-defined op {name!r}."
    apply.op = op  # type: ignore[attr-defined]
    return apply


def _arity_of(fn: Callable[..., object], name: str, partials: Callable[..., object]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        # A builtin such as math.log hides its signature: count partials' inputs instead.
        try:
            pparams = inspect.signature(partials).parameters
        except (TypeError, ValueError):
            raise TypeError(
                f"{name}: cannot read the signature of forward or partials; pass arity="
            ) from None
        if any(p.kind is p.VAR_POSITIONAL for p in pparams.values()):
            return -1
        n = len(
            [p for p in pparams.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        )
        out = pparams.get("out")
        return n if out is not None and out.kind is out.KEYWORD_ONLY else n - 1
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return -1
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])


def _positional_partials(
    fn: Callable[..., Sequence[float]], name: str
) -> Callable[..., Sequence[float]]:
    """Accept ``partials(*xs, out)`` with ``out`` keyword-only, as well as all-positional."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn
    out = params.get("out")
    if out is not None and out.kind is out.KEYWORD_ONLY:

        def call(*args: float) -> Sequence[float]:
            return fn(*args[:-1], out=args[-1])

        return call
    return fn


def not_twice_differentiable(op: Op) -> TypeError:
    """The error for ``create_graph=True`` through a user op whose partials are only a float
    function: a number cannot be differentiated again; templates can."""
    return TypeError(
        f"op {op.name!r}: its partials are given only as a float function, which cannot be "
        "differentiated again (autograd.grad with create_graph=True, hessian, gradgradcheck). "
        f"Declare them as templates as well: define_op({op.name!r}, forward, partials, "
        "grad_code=(...)) with one expression per input over {0}, {1}, ... and {out}, e.g. "
        'grad_code=("3.0 * {0} * {0}",) for x ** 3, in the names '
        f"{', '.join(CODE_NAMESPACE)}"
    )
