"""The op table: every primitive of the engine, declared once.

Each :class:`Op` row says everything any part of the library needs to know about one
primitive: its name and arity, the float forward, the local partial derivatives, the symbol
drawn in graphs, the Python/numpy code template used by :mod:`autograd.compile`, and the
Value methods it provides. The engine, the renderer, gradcheck and the compiler read these
rows; none of them names an op. A new primitive is one :func:`register` call (or
:func:`autograd.define_op` for users).

Conventions:

* ``forward(*inputs) -> float`` takes Python floats. Domain errors raise ``ValueError``,
  ``ZeroDivisionError`` or ``OverflowError`` with a message that says what went wrong and with
  which value; the engine adds the op's name in front.
* ``partials(*inputs, out) -> tuple[float, ...]`` returns d(out)/d(input_i) for each input,
  given the inputs and the already computed output.
* ``code`` is an expression template over ``{0}``, ``{1}``, ... (the inputs) for one sample.
  ``grad_code`` holds one template per input for its local partial, over the inputs and
  ``{out}``. Both are valid Python for floats and for numpy arrays when the names ``exp``,
  ``log``, ``where`` ... are bound to numpy's functions (see :data:`CODE_NAMESPACE`).
  Variadic ops (``arity == -1``) give callables ``(names, out) -> str`` instead.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CODE_NAMESPACE",
    "DOT",
    "OPS",
    "STRUCTURES",
    "SUM",
    "TEMPLATE_FUNCTIONS",
    "VALUE_ROWS",
    "Op",
    "chain_sources",
    "get_op",
    "numpy_namespace",
    "register",
    "value_namespace",
]

Template = str | Callable[[Sequence[str], str], str]

#: The kinds of structure a row may declare (see :attr:`Op.structure`).
STRUCTURES = ("", "affine", "sum", "product", "elementwise")


@dataclass(frozen=True, eq=False)
class Op:
    """One primitive of the engine (a row of the op table).

    Attributes:
        name: Unique name; also the ``.op`` string of the nodes it makes.
        arity: Number of inputs, or -1 for any number (``sum``, ``dot``).
        forward: ``forward(*inputs) -> float`` on Python floats.
        partials: ``partials(*inputs, out) -> tuple`` of local derivatives, one per input.
        symbol: Short text drawn on the op node of a rendered graph.
        doc: One line of math, shown in docs and explanations.
        code: Expression template for the forward value (see module docstring).
        grad_code: Templates for the local partials, one per input.
        methods: Value method names this op provides, e.g. ``("__add__",)`` or ``("exp",)``.
        rmethods: Reflected method names (``__radd__``): the Value is the second input.
        defaults: Default values for trailing inputs when called as a method
            (``leaky_relu``'s slope).
        arg_names: Keyword names of the inputs after ``self`` when called as a method
            (``("slope",)``: ``x.leaky_relu(slope=0.2)``).
        builtin: True for the ops that ship with the library.
        domain: Intervals ``(lo, hi)``, one per input (a variadic op gives one for all), where
            the op is defined, smooth but for isolated kinks, and well conditioned. Tests and
            gradcheck sample points from here; ``()`` means (-2, 2) for every input.
        structure: What the op is, for the tools that talk about structure: ``"affine"``
            (sum_i w_i x_i [+ b]: a neuron's pre-activation; ``roles`` names the inputs),
            ``"sum"`` (the inputs added), ``"product"`` (two factors multiplied),
            ``"elementwise"`` (a function of input 0; any other inputs are settings, as
            leaky_relu's slope: an activation), or ``""``.
        roles: ``roles(n) -> tuple`` naming each of n inputs (``"weight"``, ``"input"``,
            ``"bias"``) for an affine row; ``None`` otherwise.
        selects: Per input, whether a ``where`` in its ``grad_code`` is a selection of the
            gradient (PyTorch's masked backward: relu sends exactly 0 for x <= 0) or a factor
            that multiplies it (PyTorch's pow exponent: 0 * inf is NaN). ``()``: all select.
    """

    name: str
    arity: int
    forward: Callable[..., float]
    partials: Callable[..., tuple[float, ...]]
    symbol: str
    doc: str = ""
    code: Template | None = None
    grad_code: tuple[str, ...] | Callable[[Sequence[str], str], tuple[str, ...]] | None = None
    methods: tuple[str, ...] = ()
    rmethods: tuple[str, ...] = ()
    defaults: tuple[float, ...] = ()
    arg_names: tuple[str, ...] = ()
    builtin: bool = False
    domain: tuple[tuple[float, float], ...] = ()
    structure: str = ""
    roles: Callable[[int], tuple[str, ...]] | None = None
    selects: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if self.structure not in STRUCTURES:
            raise ValueError(
                f"op {self.name!r}: structure must be one of {STRUCTURES}, got {self.structure!r}"
            )
        codes = None
        sources = chain_sources(self)
        if sources is not None:
            codes = tuple(compile(src, f"<chain rule of {self.name}>", "eval") for src in sources)
        object.__setattr__(self, "_chain_codes", codes)

    def chain(self, g: float, xs: Sequence[float], out: float) -> tuple[float, ...]:
        """What flows back to each input: g * d(out)/d(x_i), as PyTorch computes it.

        For most rows that is ``g * partial``. A built-in row's ``grad_code`` refines it where
        PyTorch does: a partial chosen by ``where`` is a selection, so a masked 0 sends exactly
        0 back even when g is inf or NaN (relu at x <= 0), and ``1 / x`` divides (``g / x``
        stays finite for a subnormal x). A template that raises falls back to ``partials``.
        """
        codes: tuple[Any, ...] | None = self.__dict__["_chain_codes"]
        if codes is None or len(codes) != len(xs):
            return tuple([g * d for d in self.partials(*xs, out)])
        env = {f"x{i}": x for i, x in enumerate(xs)}
        env["g"] = g
        env["out"] = out
        res = []
        for i, code in enumerate(codes):
            try:
                res.append(float(eval(code, _FLOAT_GLOBALS, env)))
            except (ArithmeticError, ValueError):
                res.append(g * self.partials(*xs, out)[i])
        return tuple(res)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """The inputs after ``self`` of a method call: keywords placed by ``arg_names``,
        missing trailing ones filled from ``defaults`` (``x.leaky_relu(slope=0.2)``)."""
        names, bound = self.arg_names, list(args)
        for name in names[len(args) :]:
            if name not in kwargs:
                break
            bound.append(kwargs.pop(name))
        for name in kwargs:
            if name in names[: len(args)]:
                raise TypeError(f"{self.name}() got multiple values for argument {name!r}")
            raise TypeError(
                f"{self.name}() got an unexpected keyword argument {name!r} "
                f"(its arguments after self: {', '.join(names) or 'none'})"
            )
        missing = self.arity - 1 - len(bound)
        if 0 < missing <= len(self.defaults):
            bound += self.defaults[len(self.defaults) - missing :]
        return tuple(bound)

    def input_roles(self, n: int) -> tuple[str, ...]:
        """The role of each of ``n`` inputs (``""`` each unless the row declares roles)."""
        return self.roles(n) if self.roles is not None else ("",) * n

    def input_domain(self, i: int) -> tuple[float, float]:
        """The sampling interval ``(lo, hi)`` of input ``i`` (see ``domain``)."""
        if not self.domain:
            return (-2.0, 2.0)
        return self.domain[0] if self.arity < 0 else self.domain[i]

    def __repr__(self) -> str:
        return f"<Op {self.name} arity={self.arity} symbol={self.symbol!r}>"

    def __reduce__(self) -> tuple[Callable[[str], Op], tuple[str]]:
        # A row holds lambdas, which pickle cannot store: a pickled graph (a model after a
        # forward pass, a node sent to another process) refers to its rows by name, and
        # copy/deepcopy keep the very row of the table. A user-defined op must be defined
        # again (same name) before unpickling elsewhere; get_op names it if not.
        return (get_op, (self.name,))


#: The table itself: name -> Op, in registration order.
OPS: dict[str, Op] = {}


def register(op: Op, *, replace: bool = False) -> Op:
    """Add ``op`` to the table. Raises ``ValueError`` if the name is taken (unless replace)."""
    if not op.name.isidentifier():
        raise ValueError(f"op name must be a Python identifier, got {op.name!r}")
    old = OPS.get(op.name)
    if old is not None and not replace:
        raise ValueError(f"an op named {op.name!r} is already in the op table")
    if old is not None and old.builtin:
        raise ValueError(f"cannot replace the built-in op {op.name!r}")
    OPS[op.name] = op
    return op


def get_op(name: str) -> Op:
    """The table row for ``name``; ``KeyError`` naming the known ops when there is none."""
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"no op named {name!r} in the op table (known: {', '.join(OPS)})") from None


# ---------------------------------------------------------------------------------------------
# Float forwards with domain checks. Messages name the value; the engine prefixes the op name.


def _div(a: float, b: float) -> float:
    if b == 0.0:
        raise ZeroDivisionError(f"division by zero: {a!r} / {b!r}")
    return a / b


def _pow(a: float, b: float) -> float:
    if -math.inf < a < 0.0 and math.isfinite(b) and not b.is_integer():
        raise ValueError(f"negative base {a!r} to the non-integer power {b!r} is not real")
    if a == 0.0 and b < 0.0:
        raise ZeroDivisionError(f"zero base {a!r} to the negative power {b!r}")
    try:
        return float(a**b)
    except OverflowError:
        raise OverflowError(f"{a!r} ** {b!r} overflows a float") from None


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        raise OverflowError(
            f"exp({x!r}) overflows a float (exp(x) is finite for x <= 709.78)"
        ) from None


def _log(x: float) -> float:
    if x <= 0.0:
        raise ValueError(f"log is defined for x > 0 only, got x = {x!r}")
    return math.log(x)


def _sqrt(x: float) -> float:
    if x < 0.0:
        raise ValueError(f"sqrt is defined for x >= 0 only, got x = {x!r}")
    return math.sqrt(x)


def _sigmoid(x: float) -> float:
    # Two branches so that exp never overflows: exp of a non-positive number is at most 1.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _sin(x: float) -> float:
    try:
        return math.sin(x)
    except ValueError:  # math raises for sin(±inf); IEEE and PyTorch give NaN
        return math.nan


def _cos(x: float) -> float:
    try:
        return math.cos(x)
    except ValueError:
        return math.nan


def _relu(x: float) -> float:
    return 0.0 if x <= 0.0 else x  # NaN falls through to x, as in PyTorch


def _leaky_relu(x: float, slope: float) -> float:
    return x * slope if x <= 0.0 else x


# ---------------------------------------------------------------------------------------------
# Partials that need care at the edge of their domain (PyTorch's conventions).


def _zero_pow(z: float, e: float) -> float:
    """C99/IEEE pow(±0, e), where Python raises: ±inf for e < 0, signed for odd integers."""
    if e != e:
        return math.nan
    if e == 0.0:
        return 1.0
    odd = math.isfinite(e) and e.is_integer() and abs(e) % 2.0 == 1.0
    if e > 0.0:
        return z if odd else 0.0
    return math.copysign(math.inf, z) if odd else math.inf


def _pow_partials(a: float, b: float, out: float) -> tuple[float, float]:
    if b == 0.0:
        da = 0.0  # PyTorch masks b * a^(b-1) where b == 0 (it would be nan at a = 0)
    elif a == 0.0:
        # b * 0^(b-1) in IEEE arithmetic, as PyTorch computes it: +-inf for 0 < b < 1,
        # 1 at b == 1, 0 for b > 1, NaN for b = inf or NaN.
        da = b * _zero_pow(a, b - 1.0)
    else:
        try:
            da = b * a ** (b - 1.0)
        except OverflowError:
            # |b a^(b-1)| is past the float range: its sign is b's, flipped when a^(b-1) is
            # negative (a < 0 and b - 1 an odd integer): (-1e-150) ** -2 has d/da = +inf.
            odd = a < 0.0 and (b - 1.0).is_integer() and (b - 1.0) % 2.0 == 1.0
            da = math.copysign(math.inf, -b if odd else b)
    if a > 0.0:
        db = out * math.log(a)
    elif a == 0.0 and b >= 0.0:
        db = 0.0  # PyTorch masks the 0 * log(0) = nan case
    else:
        db = math.nan
    return (float(da), float(db))


def _sqrt_partials(x: float, out: float) -> tuple[float]:
    return (0.5 / out if out != 0.0 else math.copysign(math.inf, out),)  # sqrt(-0.0) = -0.0


def _log_partials(x: float, out: float) -> tuple[float]:
    return (1.0 / x,)


def _sign(x: float) -> float:
    # 0 at 0 and at NaN, as torch.sign (so d|x|/dx at NaN is 0, as in PyTorch).
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)


def _dot(*v: float) -> float:
    # v = (w_1..w_n, x_1..x_n[, b]); summed left to right, as a hand-written loop would.
    n = len(v) >> 1
    s = 0.0
    for w, x in zip(v[:n], v[n : 2 * n]):
        s += w * x
    return s + v[2 * n] if len(v) & 1 else s


def _dot_partials(*v: float) -> tuple[float, ...]:
    # v = (w_1..w_n, x_1..x_n[, b], out): d/dw_i = x_i, d/dx_i = w_i, d/db = 1.
    n = (len(v) - 1) >> 1
    if (len(v) - 1) & 1:
        return v[n : 2 * n] + v[:n] + (1.0,)
    return v[n : 2 * n] + v[:n]


def _dot_roles(n: int) -> tuple[str, ...]:
    k = n >> 1
    return ("weight",) * k + ("input",) * k + (("bias",) if n & 1 else ())


def _sum(*v: float) -> float:
    s = 0.0
    for x in v:
        s += x
    return s


def _sum_partials(*v: float) -> tuple[float, ...]:
    return (1.0,) * (len(v) - 1)


def _sum_code(names: Sequence[str], out: str) -> str:
    return " + ".join(names) if names else "0.0"


def _sum_grad_code(names: Sequence[str], out: str) -> tuple[str, ...]:
    return ("1.0",) * len(names)


def _dot_code(names: Sequence[str], out: str) -> str:
    n = len(names) >> 1
    terms = [f"{names[i]} * {names[n + i]}" for i in range(n)]
    if len(names) & 1:
        terms.append(names[-1])
    return " + ".join(terms) if terms else "0.0"


def _dot_grad_code(names: Sequence[str], out: str) -> tuple[str, ...]:
    n = len(names) >> 1
    grads = tuple(names[n : 2 * n]) + tuple(names[:n])
    return (*grads, "1.0") if len(names) & 1 else grads


def template_names(src: str) -> set[str]:
    """The names an expression template reads (``"{out} * (1.0 - {out})"`` formatted)."""
    return {n.id for n in ast.walk(ast.parse(src, mode="eval")) if isinstance(n, ast.Name)}


def scaled(factor: str, partial: str, select: bool = True) -> str:
    """``factor * (partial)`` as code: the chain-rule step that backward kernels, the
    reference engine and compiled code all emit, written as PyTorch computes it.

    ``1`` and ``-1`` give ``factor`` and ``-factor``; a literal ``0`` gives ``0.0`` (nothing
    flows back, even for an inf or NaN factor); ``1 / x`` gives ``factor / x``; and
    ``where(c, a, b)`` gives ``where(c, scaled(a), scaled(b))``, so a masked branch selects
    instead of multiplying (PyTorch's masked backward: relu at x <= 0 sends 0, not NaN);
    with ``select=False`` the partial is a factor like any other (``factor * where(...)``).
    """
    tree = ast.parse(partial.strip(), mode="eval").body
    if not select:
        return ast.unparse(ast.BinOp(ast.Name(factor), ast.Mult(), tree))
    return ast.unparse(_scaled(ast.Name(factor), tree))


def _scaled(factor: ast.expr, p: ast.expr) -> ast.expr:
    value = p.value if isinstance(p, ast.Constant) else None
    if isinstance(p, ast.UnaryOp) and isinstance(p.op, ast.USub):
        inner = p.operand
        if isinstance(inner, ast.Constant) and inner.value == 1:
            return ast.UnaryOp(ast.USub(), factor)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value == 1:
            return factor
        if value == 0:
            return ast.Constant(0.0)
    if isinstance(p, ast.BinOp) and isinstance(p.op, ast.Div):
        left = p.left
        if isinstance(left, ast.Constant) and left.value == 1:
            return ast.BinOp(factor, ast.Div(), p.right)
    f = p.func if isinstance(p, ast.Call) else None
    if isinstance(p, ast.Call) and isinstance(f, ast.Name) and f.id == "where" and len(p.args) == 3:
        c, a, b = p.args
        return ast.Call(f, [c, _scaled(factor, a), _scaled(factor, b)], [])
    return ast.BinOp(factor, ast.Mult(), p)


class _InlineWhere(ast.NodeTransformer):
    """``where(c, a, b)`` -> ``(a if c else b)``: the float meaning, evaluating one branch."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        f = node.func
        if isinstance(f, ast.Name) and f.id == "where" and len(node.args) == 3:
            c, a, b = node.args
            return ast.IfExp(test=c, body=a, orelse=b)
        return node


def chain_sources(op: Op) -> tuple[str, ...] | None:
    """Each input's chain-rule step ``g * d(out)/d(x_i)`` as float Python source over ``g``,
    ``x0, x1, ...`` and ``out`` (``where`` written as ``a if c else b``), from the row's
    ``grad_code``; ``None`` for a row without per-input templates (it multiplies by
    ``partials``). Only built-in rows: their templates are tested equal to ``partials``.

    :meth:`Op.chain` (the reference engine) evaluates these and the fast backward kernels
    inline them, so the two compute the very same expressions.
    """
    gc_ = op.grad_code
    if not op.builtin or op.arity not in (1, 2) or not isinstance(gc_, tuple):
        return None
    if len(gc_) != op.arity:
        return None
    names = [f"x{i}" for i in range(op.arity)]
    out: list[str] = []
    for t in gc_:
        try:
            select = op.selects[len(out)] if op.selects else True
            src = scaled("g", t.format(*names, out="out"), select)
        except (SyntaxError, IndexError, KeyError, ValueError):
            return None
        out.append(ast.unparse(_InlineWhere().visit(ast.parse(src, mode="eval"))))
    return tuple(out)


def _np_sign(np: Any) -> Callable[[Any], Any]:
    def sign(x: Any) -> Any:  # 0 at NaN, as the float _sign (numpy's sign gives NaN)
        return np.where(x > 0.0, 1.0, np.where(x < 0.0, -1.0, 0.0))

    return sign


#: Elements from which :func:`_np_where`'s bitwise select beats ``np.where`` (measured, numpy
#: 2.4: equal at 16,000, 21.6 vs 14.7 us at 32,000, 207 vs 30 us at 64,000; below, the
#: select's extra calls cost more than they save: 0.85 vs 1.9 us at 100).
_BITWISE_FROM = 32_768


def _np_where(np: Any) -> Callable[[Any, Any, Any], Any]:
    """numpy's ``where``, with a fast path for the masks of relu-like rows on large arrays:
    selecting +0.0 or an array by a boolean array of the array's shape is a bitwise AND of the
    array's bits with an all-ones or all-zeros word per element (+0.0 is the all-zeros word).
    Bit for bit what ``np.where`` gives, NaN and inf included, about 7x faster from 64,000
    elements (590 vs 84 us on 16 x 10^4)."""
    ndarray, f64, i64, where = np.ndarray, np.float64, np.int64, np.where
    subtract, bitwise_and = np.subtract, np.bitwise_and

    def plus_zero(z: Any, x: Any, c: Any) -> bool:  # z is +0.0 (all bits 0), x an array like c
        return (
            type(z) is float
            and z == 0.0
            and str(z) == "0.0"
            and type(x) is ndarray
            and x.dtype == f64
            and x.shape == c.shape
        )

    def select(c: Any, a: Any, b: Any, out: Any = None) -> Any:
        """``where(c, a, b)``; ``out``: a float64 array of the result's shape to write into
        (the bitwise path writes there; numpy's path returns a new array)."""
        if type(c) is ndarray and c.size >= _BITWISE_FROM and c.dtype == bool:
            ok = out is not None and out.shape == c.shape and out.dtype == f64
            if plus_zero(a, b, c):
                keep = subtract(c, 1, dtype=i64, out=out.view(i64) if ok else None)
                return bitwise_and(keep, b.view(i64), out=keep).view(f64)  # 0 where c, else b
            if plus_zero(b, a, c):
                keep = subtract(0, c, dtype=i64, out=out.view(i64) if ok else None)
                return bitwise_and(keep, a.view(i64), out=keep).view(f64)  # a where c, else 0
        return where(c, a, b)

    return select


def _np_sigmoid(np: Any) -> Callable[[Any], Any]:
    def sigmoid(x: Any) -> Any:  # the float version's two branches: exp never overflows
        e = np.exp(-np.abs(x))
        return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))

    return sigmoid


#: The functions code templates may call, listed once: (name, float implementation, numpy
#: implementation as ``make(numpy) -> function``, the op row that computes it on Values or
#: ``""``). Each interpretation's namespace is derived from this list: :data:`CODE_NAMESPACE`
#: (floats), :func:`numpy_namespace` (compile), :func:`value_namespace` (higher order).
TEMPLATE_FUNCTIONS: tuple[tuple[str, Callable[..., Any], Callable[[Any], Any], str], ...] = (
    ("exp", math.exp, lambda np: np.exp, "exp"),
    ("log", math.log, lambda np: np.log, "log"),
    ("tanh", math.tanh, lambda np: np.tanh, "tanh"),
    ("sqrt", math.sqrt, lambda np: np.sqrt, "sqrt"),
    ("sin", _sin, lambda np: np.sin, "sin"),
    ("cos", _cos, lambda np: np.cos, "cos"),
    ("fabs", abs, lambda np: np.fabs, "abs"),
    ("where", lambda c, a, b: a if c else b, _np_where, ""),
    ("sign", _sign, _np_sign, ""),
    ("sigmoid", _sigmoid, _np_sigmoid, "sigmoid"),
)

#: Names that code templates may use, bound for float code.
CODE_NAMESPACE: dict[str, object] = {name: f for name, f, _, _ in TEMPLATE_FUNCTIONS}


def numpy_namespace(np: Any) -> dict[str, Any]:
    """The template names bound to elementwise functions of the numpy module ``np``."""
    return {name: make(np) for name, _, make, _ in TEMPLATE_FUNCTIONS}


_FLOAT_GLOBALS: dict[str, Any] = {"__builtins__": {}, **CODE_NAMESPACE}

#: The same names for Values, by the row that computes each: the third interpretation of the
#: templates (:func:`autograd.grad` with ``create_graph=True`` evaluates the chain steps on
#: Values, so the derivative is recorded as ordinary nodes). ``sign`` is piecewise constant
#: (a number: its derivative is 0, PyTorch's |x|'' = 0) and ``where`` selects a branch.
VALUE_ROWS: dict[str, str] = {name: row for name, _, _, row in TEMPLATE_FUNCTIONS if row}
_VALUE_NAMESPACE: dict[str, object] = {}


def value_namespace() -> dict[str, object]:
    """:data:`CODE_NAMESPACE`'s names bound for Values (see :data:`VALUE_ROWS`): each applies
    its row to a Value (recording a node) and computes the float forward on a number. Built
    on first use, since the engine imports this module."""
    if not _VALUE_NAMESPACE:
        from . import engine  # the reference's _apply, or the fast one set_fast installed

        def on_values(row: Op) -> Callable[[Any], Any]:
            def f(x: Any) -> Any:
                return engine._apply(row, (x,)) if isinstance(x, engine.Value) else row.forward(x)

            f.__name__ = row.name
            return f

        ns: dict[str, object] = {k: on_values(OPS[r]) for k, r in VALUE_ROWS.items()}
        ns["sign"] = lambda x: _sign(x if type(x) is float else float(x))
        ns["where"] = lambda c, a, b: a if c else b
        _VALUE_NAMESPACE.update(ns)
    return _VALUE_NAMESPACE


def _builtin(**fields: object) -> Op:
    return register(Op(builtin=True, **fields))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The built-in rows. Forward and derivative of each op sit side by side.

_builtin(
    name="add", arity=2, symbol="+", doc="a + b; d/da = 1, d/db = 1",
    domain=((-3.0, 3.0), (-3.0, 3.0)),
    forward=float.__add__, partials=lambda a, b, out: (1.0, 1.0),
    code="{0} + {1}", grad_code=("1.0", "1.0"),
    methods=("__add__",), rmethods=("__radd__",),
    structure="sum",
)  # fmt: skip
_builtin(
    name="sub", arity=2, symbol="-", doc="a - b; d/da = 1, d/db = -1",
    domain=((-3.0, 3.0), (-3.0, 3.0)),
    forward=float.__sub__, partials=lambda a, b, out: (1.0, -1.0),
    code="{0} - {1}", grad_code=("1.0", "-1.0"),
    methods=("__sub__",), rmethods=("__rsub__",),
)  # fmt: skip
_builtin(
    name="mul", arity=2, symbol="*", doc="a * b; d/da = b, d/db = a",
    domain=((-3.0, 3.0), (-3.0, 3.0)),
    forward=float.__mul__, partials=lambda a, b, out: (b, a),
    code="{0} * {1}", grad_code=("{1}", "{0}"),
    methods=("__mul__",), rmethods=("__rmul__",),
    structure="product",
)  # fmt: skip
_builtin(
    name="div", arity=2, symbol="/", doc="a / b; d/da = 1/b, d/db = -a/b^2",
    domain=((-3.0, 3.0), (0.25, 3.0)),
    forward=_div, partials=lambda a, b, out: (1.0 / b, -out / b),
    code="{0} / {1}", grad_code=("1.0 / {1}", "-{out} / {1}"),
    methods=("__truediv__",), rmethods=("__rtruediv__",),
)  # fmt: skip
_builtin(
    name="neg", arity=1, symbol="-", doc="-a; d/da = -1",
    domain=((-3.0, 3.0),),
    forward=float.__neg__, partials=lambda a, out: (-1.0,),
    code="-{0}", grad_code=("-1.0",),
    methods=("__neg__",),
    structure="elementwise",
)  # fmt: skip
_builtin(
    name="pow", arity=2, symbol="**", doc="a ** b; d/da = b a^(b-1), d/db = a^b ln a",
    domain=((0.1, 3.0), (-3.0, 3.0)),
    forward=_pow, partials=_pow_partials,
    code="{0} ** {1}",
    grad_code=(
        "where({1} == 0.0, 0.0, {1} * {0} ** ({1} - 1.0))",
        "where(({0} == 0.0) & ({1} >= 0.0), 0.0, {out} * log({0}))",
    ),
    selects=(True, False),  # PyTorch: d/da selects (b == 0), d/db multiplies the mask
    methods=("__pow__",), rmethods=("__rpow__",),
)  # fmt: skip
_builtin(
    name="exp", arity=1, symbol="exp", doc="e^x; d/dx = e^x",
    domain=((-5.0, 5.0),),
    forward=_exp, partials=lambda x, out: (out,),
    code="exp({0})", grad_code=("{out}",),
    methods=("exp",),
    structure="elementwise",
)  # fmt: skip
_builtin(
    name="log", arity=1, symbol="log", doc="ln x; d/dx = 1/x",
    domain=((0.05, 10.0),),
    forward=_log, partials=_log_partials,
    code="log({0})", grad_code=("1.0 / {0}",),
    methods=("log",),
    structure="elementwise",
)  # fmt: skip
_builtin(
    name="tanh", arity=1, symbol="tanh", doc="tanh x; d/dx = 1 - tanh^2 x",
    domain=((-3.0, 3.0),),
    forward=math.tanh, partials=lambda x, out: (1.0 - out * out,),
    code="tanh({0})", grad_code=("1.0 - {out} * {out}",),
    methods=("tanh",),
    structure="elementwise",
)  # fmt: skip
_builtin(
    name="sigmoid", arity=1, symbol="σ", doc="s = 1/(1+e^-x); d/dx = s(1-s)",
    domain=((-6.0, 6.0),),
    forward=_sigmoid, partials=lambda x, out: (out * (1.0 - out),),
    code="sigmoid({0})", grad_code=("{out} * (1.0 - {out})",),
    methods=("sigmoid",),
    structure="elementwise",
)  # fmt: skip
_builtin(
    name="relu", arity=1, symbol="relu", doc="max(0, x); d/dx = 1 if x > 0 else 0",
    domain=((-3.0, 3.0),),
    forward=_relu, partials=lambda x, out: (0.0 if x <= 0.0 else 1.0,),
    code="where({0} <= 0.0, 0.0, {0})", grad_code=("where({0} <= 0.0, 0.0, 1.0)",),
    methods=("relu",),
    structure="elementwise",
)  # fmt: skip
_builtin(
    name="leaky_relu", arity=2, symbol="leaky_relu",
    domain=((-3.0, 3.0), (0.0, 0.5)),
    doc="x if x > 0 else s x; d/dx = 1 if x > 0 else s",
    forward=_leaky_relu,
    partials=lambda x, s, out: (1.0 if x > 0.0 else s, 0.0 if x > 0.0 else x),
    code="where({0} > 0.0, {0}, {0} * {1})",
    grad_code=("where({0} > 0.0, 1.0, {1})", "where({0} > 0.0, 0.0, {0})"),
    methods=("leaky_relu",), defaults=(0.01,), arg_names=("slope",),
    structure="elementwise",
)  # fmt: skip
_builtin(
    name="sqrt", arity=1, symbol="√", doc="√x; d/dx = 1/(2√x)",
    domain=((0.05, 10.0),),
    forward=_sqrt, partials=_sqrt_partials,
    code="sqrt({0})", grad_code=("1.0 / (2.0 * {out})",),
    methods=("sqrt",),
    structure="elementwise",
)  # fmt: skip
_builtin(
    name="abs", arity=1, symbol="abs", doc="|x|; d/dx = sign x (0 at 0)",
    domain=((-3.0, 3.0),),
    forward=abs, partials=lambda x, out: (_sign(x),),
    code="fabs({0})", grad_code=("sign({0})",),
    methods=("abs", "__abs__"),
    structure="elementwise",
)  # fmt: skip
_builtin(
    name="sin", arity=1, symbol="sin", doc="sin x; d/dx = cos x",
    domain=((-4.0, 4.0),),
    forward=_sin, partials=lambda x, out: (_cos(x),),
    code="sin({0})", grad_code=("cos({0})",),
    methods=("sin",),
    structure="elementwise",
)  # fmt: skip
_builtin(
    name="cos", arity=1, symbol="cos", doc="cos x; d/dx = -sin x",
    domain=((-4.0, 4.0),),
    forward=_cos, partials=lambda x, out: (-_sin(x),),
    code="cos({0})", grad_code=("-sin({0})",),
    methods=("cos",),
    structure="elementwise",
)  # fmt: skip
#: n inputs added in one node (``autograd.sum``).
SUM: Op = _builtin(
    name="sum", arity=-1, symbol="Σ", doc="x_1 + ... + x_n; d/dx_i = 1",
    domain=((-3.0, 3.0),),
    forward=_sum, partials=_sum_partials,
    code=_sum_code, grad_code=_sum_grad_code,
    structure="sum",
)  # fmt: skip
#: A neuron's pre-activation z = sum_i w_i x_i (+ b) in one node (``autograd.dot``): an affine
#: row, so the Graph finds neurons (and their delta = z.grad) by asking the row.
DOT: Op = _builtin(
    name="dot", arity=-1, symbol="Σ w·x",
    domain=((-3.0, 3.0),),
    doc="sum_i w_i x_i [+ b] over inputs (w..., x..., [b]); d/dw_i = x_i, d/dx_i = w_i, d/db = 1",
    forward=_dot, partials=_dot_partials,
    code=_dot_code, grad_code=_dot_grad_code,
    structure="affine", roles=_dot_roles,
)  # fmt: skip
