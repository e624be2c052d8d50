"""The engine: :class:`Value`, the recording context, and the iterative backward pass.

Every operator and method of :class:`Value` is generated from the op table in
:mod:`autograd.ops`; this module holds only the generic machinery: how a node is made, how
the graph is walked, how gradients are accumulated. Design notes:

* A node is seven slots: data, grad, op row, two parent slots, label/scope pair, weakref. No
  closures, so no reference cycles: a graph is freed by reference counting as soon as its
  root goes. A binary node keeps its inputs in ``_a`` and ``_b`` (no tuple per node); an n-ary
  node keeps a tuple in ``_a``. A plain number used as an operand is stored as the float
  itself and becomes a constant leaf Value only when ``.parents`` is read, so ``y * 0.9999``
  costs one node, not two.
* ``backward`` walks the graph with an explicit stack (no recursion, any depth) and adds to
  ``.grad`` exactly this pass's gradient, so two calls give exactly twice.
* Recording state (``no_grad``, ``scope``) is per thread. A module-level counter says whether
  any thread has such state at all, so the common path costs one global read.
"""

from __future__ import annotations

import ast
import gc
import inspect
import linecache
import numbers
import operator
import threading
import types
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ContextDecorator, contextmanager, suppress
from typing import TYPE_CHECKING, Any, Union

from .ops import CODE_NAMESPACE, OPS, Op, register, scaled, template_names

__all__ = [
    "Value",
    "apply_op",
    "current_scope",
    "define_op",
    "dot",
    "enable_grad",
    "is_grad_enabled",
    "no_grad",
    "scope",
    "topological_order",
]

Number = int | float
Operand = Union["Value", int, float]  # a forward reference: Union works on 3.10

_NO_META: tuple[str, str] = ("", "")


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.grad_enabled = True
        self.meta: tuple[str, str] = _NO_META
        self.depth = 0  # nesting depth of no_grad / enable_grad / scope in this thread
        # The root of this thread's last backward pass (weakly: it must not keep a graph
        # alive), so that explain_grad(value) can find the graph value.grad came from.
        self.last_root: weakref.ref[Value] | None = None


_state = _ThreadState()
# How many threads currently have a non-default recording state (no_grad or a scope). While
# zero, node creation skips the thread-local lookup entirely.
_special = 0
_special_lock = threading.Lock()


def _bump(delta: int) -> None:
    """Enter (+1) or leave (-1) a recording context in this thread.

    Only the outermost context of a thread touches the shared counter and its lock; nested
    ones (nn's neuron scopes inside layer scopes) cost two thread-local updates (the lock
    took 0.25 us per call, twice per neuron call).
    """
    global _special
    st = _state
    depth = st.depth + delta
    st.depth = depth
    if depth == (1 if delta > 0 else 0):
        with _special_lock:
            _special += delta


def _real(x: object, what: str) -> float:
    """``x`` as a float if it is a real number, else ``TypeError`` naming ``what`` and the type."""
    if isinstance(x, numbers.Real) and not isinstance(x, Value):
        return float(x)
    raise TypeError(
        f"{what}: expected a real number (int, float or numpy real scalar), "
        f"got {type(x).__name__}: {x!r}"
    )


class Value:
    """A scalar in a computation graph: its value, its gradient and how it was made.

    Args:
        data: An ``int``, ``float`` or numpy real scalar; stored as a Python ``float``.
        label: A name shown in rendered graphs, explanations and compiled code.

    Attributes:
        data: The value (a float; assignable).
        grad: d(root)/d(self) accumulated by :meth:`backward` (starts at 0.0).
        label: The name given (``""`` if none).
        op: Name of the op that made this node (``""`` for a leaf).
        parents: The input nodes, a tuple in argument order (``()`` for a leaf).
        scope: The dotted scope path this node was created in (``""`` outside any scope).
    """

    # `data` and `grad` are plain slots, as in micrograd: an update loop
    # `p.data -= lr * p.grad` costs 30 ns a parameter instead of 140 ns through a property.
    # The constructor converts to float; an op on a non-number names itself and the value.
    __slots__ = ("__weakref__", "_a", "_b", "_fn", "_meta", "data", "grad")

    # numpy must hand `ndarray * Value` and `np.float64 * Value` back to Value's operators.
    __array_ufunc__ = None

    data: float
    grad: float
    _fn: Op | None
    _a: Any
    _b: Any
    _meta: tuple[str, str]

    def __init__(self, data: Number, label: str = "") -> None:
        t = type(data)
        self.data = float(data) if (t is float or t is int) else _real(data, "Value")
        self.grad = 0.0
        self._fn = None
        self._a = None
        self._b = None
        self._meta = _NO_META if not _special else _state.meta
        if label:
            self.label = label

    # -- public attributes ------------------------------------------------------------------

    @property
    def label(self) -> str:
        return self._meta[0]

    @label.setter
    def label(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Value.label: expected a str, got {type(value).__name__}: {value!r}")
        self._meta = (value, self._meta[1])

    @property
    def scope(self) -> str:
        return self._meta[1]

    @property
    def parents(self) -> tuple[Value, ...]:
        """The input nodes in argument order; numbers used as operands appear as constant
        leaves (made on first access, then kept, so identities are stable)."""
        fn = self._fn
        if fn is None:
            return ()
        ar = fn.arity
        if ar == 1:
            return (self._a,)
        if ar == 2:
            a, b = self._a, self._b
            if type(a) is float:
                a = self._a = _const(a)
            if type(b) is float:
                b = self._b = _const(b)
            return (a, b)
        ps: tuple[Any, ...] = self._a
        if any(type(p) is float for p in ps):
            ps = self._a = tuple(_const(p) if type(p) is float else p for p in ps)
        return ps

    @property
    def op(self) -> str:
        fn = self._fn
        return "" if fn is None else fn.name

    @property
    def op_info(self) -> Op | None:
        """The op table row that made this node (``None`` for a leaf)."""
        return self._fn

    def is_leaf(self) -> bool:
        return self._fn is None

    # micrograd compatibility: its helpers read `_prev` (a set) and `_op` (a display string).
    @property
    def _prev(self) -> set[Value]:
        return set(self.parents)

    @property
    def _op(self) -> str:
        fn = self._fn
        return "" if fn is None else fn.symbol

    def item(self) -> float:
        """The value as a float (as ``torch.Tensor.item``)."""
        return float(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __repr__(self) -> str:
        lab = self._meta[0]
        head = f"label={lab!r}, " if lab else ""
        return f"Value({head}data={self.data!r}, grad={self.grad!r})"

    def __format__(self, spec: str) -> str:
        # f"{loss:.4f}" formats the number, as for a 0-d torch tensor; f"{v}" stays str(v).
        return format(self.data, spec) if spec else str(self)

    # -- backward ---------------------------------------------------------------------------

    def backward(self, gradient: float = 1.0) -> None:
        """Add d(self)/d(node) * ``gradient`` to ``.grad`` of every node of the graph.

        Leaves and intermediate nodes alike receive exactly this pass's gradient, so calling
        it twice gives exactly twice the gradients (PyTorch with ``retain_graph=True``). The
        walk is iterative: graphs of any depth work.
        """
        seed = float(gradient) if type(gradient) in (float, int) else _real(gradient, "backward")
        enabled = gc.isenabled()
        if enabled:
            gc.disable()  # nothing cyclic is made below; spare the collector a 1e6-node walk
        try:
            _backward(self, seed)
            _state.last_root = weakref.ref(self)
        finally:
            if enabled:
                gc.enable()

    # Value's operators and methods are installed from the op table at import time; these
    # declarations only tell type checkers what exists.
    if TYPE_CHECKING:

        def __add__(self, other: Operand) -> Value: ...
        def __radd__(self, other: Operand) -> Value: ...
        def __sub__(self, other: Operand) -> Value: ...
        def __rsub__(self, other: Operand) -> Value: ...
        def __mul__(self, other: Operand) -> Value: ...
        def __rmul__(self, other: Operand) -> Value: ...
        def __truediv__(self, other: Operand) -> Value: ...
        def __rtruediv__(self, other: Operand) -> Value: ...
        def __pow__(self, other: Operand) -> Value: ...
        def __rpow__(self, other: Operand) -> Value: ...
        def __neg__(self) -> Value: ...
        def __abs__(self) -> Value: ...
        def exp(self) -> Value: ...
        def log(self) -> Value: ...
        def tanh(self) -> Value: ...
        def sigmoid(self) -> Value: ...
        def relu(self) -> Value: ...
        def sqrt(self) -> Value: ...
        def abs(self) -> Value: ...
        def sin(self) -> Value: ...
        def cos(self) -> Value: ...
        def leaky_relu(self, slope: Operand = 0.01) -> Value: ...


_new = object.__new__


def _const(x: float) -> Value:
    """A leaf for a plain number used as an operand (as micrograd wraps constants)."""
    v: Value = _new(Value)
    v.data = x
    v.grad = 0.0
    v._fn = None
    v._a = None
    v._b = None
    v._meta = _NO_META
    return v


def _operand(x: object) -> Value | float | None:
    """``x`` as a Value or a float constant, or ``None`` if it is no real number (the operator
    then returns ``NotImplemented``, and Python raises its usual ``TypeError``)."""
    t = type(x)
    if t is float:
        return x  # type: ignore[return-value]
    if t is int:
        return float(x)  # type: ignore[arg-type]
    if isinstance(x, Value):
        return x
    if isinstance(x, numbers.Real):
        return float(x)
    return None


def _error(op: Op, args: Sequence[float], err: Exception) -> Exception:
    shown = ", ".join(repr(a) for a in args)
    return type(err)(f"{op.name}({shown}): {err}")


# Value's operator methods are generated from each row: Python source specialised for the
# row's arity and for which side the Value is on, compiled once at import. A row whose forward
# is one of float's own operator slots (``float.__mul__``) gets the operator written inline
# (``x * y``: the same C function, without a call through the slot wrapper, which builds an
# argument tuple); every other row calls its ``forward``.

_FLOAT_OPERATORS: dict[str, str] = {
    "__add__": "{0} + {1}",
    "__sub__": "{0} - {1}",
    "__mul__": "{0} * {1}",
    "__truediv__": "{0} / {1}",
    "__floordiv__": "{0} // {1}",
    "__mod__": "{0} % {1}",
    "__pow__": "{0} ** {1}",
    "__neg__": "-{0}",
    "__pos__": "+{0}",
    "__abs__": "abs({0})",
}


def _forward_source(op: Op, args: Sequence[str]) -> str:
    """The forward of ``op`` over the local names ``args`` as a Python expression."""
    f = op.forward
    if isinstance(f, types.WrapperDescriptorType) and f.__objclass__ is float:
        t = _FLOAT_OPERATORS.get(f.__name__)
        if t is not None and t.count("{") == len(args):
            return t.format(*args)
    return f"fwd({', '.join(args)})"


_UNARY_SOURCE = """
def factory(op, fwd):
    def method(self):
        x = self.data
        try:
            d = {expr}
        except (ArithmeticError, ValueError, TypeError) as e:
            raise _error(op, (x,), e) from None
        v = _new(Value)
        v.data = d
        v.grad = 0.0
        v._fn = op
        v._a = self
        v._b = None
        v._meta = _NO_META
        return v if not _special else _finish(v)
    return method
"""

_BINARY_SOURCE = """
def factory(op, fwd):
    def method(self, other):
        if type(other) is Value:
            y = other.data
        elif type(other) is float:
            y = other
        else:
            other = _operand(other)
            if other is None:
                return NotImplemented
            y = other if type(other) is float else other.data
        x = self.data
        try:
            d = {expr}
        except (ArithmeticError, ValueError, TypeError) as e:
            raise _error(op, ({args}), e) from None
        v = _new(Value)
        v.data = d
        v.grad = 0.0
        v._fn = op
        v._a = {first}
        v._b = {second}
        v._meta = _NO_META
        return v if not _special else _finish(v)
    return method
"""


def _generated(op: Op, source: str, what: str) -> Callable[..., Value]:
    filename = f"<{what} of op {op.name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    ns: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), globals(), ns)
    method: Callable[..., Value] = ns["factory"](op, op.forward)
    method.__name__ = op.name
    method.__qualname__ = f"Value.{op.name}"
    method.__doc__ = op.doc
    return method


def _make_unary(op: Op) -> Callable[[Value], Value]:
    """``op`` as a method of one Value: ``v.exp()``, ``-v``."""
    return _generated(op, _UNARY_SOURCE.format(expr=_forward_source(op, ("x",))), "method")


def _make_binary(op: Op, reflected: bool) -> Callable[[Value, object], Value]:
    """``op`` as a binary operator; ``reflected``: the Value is the second input (``2 * v``)."""
    xy = ("y", "x") if reflected else ("x", "y")
    source = _BINARY_SOURCE.format(
        expr=_forward_source(op, xy),
        args=", ".join(xy),
        first="other" if reflected else "self",
        second="self" if reflected else "other",
    )
    return _generated(op, source, "reflected method" if reflected else "method")


def _finish(v: Value) -> Value:
    """Apply this thread's recording state to a new node: its scope, or no graph at all."""
    st = _state
    v._meta = st.meta
    if not st.grad_enabled:
        v._fn = None
        v._a = None
        v._b = None
    return v


def apply_op(op: Op | str, *args: Operand) -> Value:
    """Apply a table op to Values or numbers and record the result node.

    Args:
        op: An :class:`~autograd.ops.Op` or the name of one.
        *args: Its inputs (numbers become constant leaves, as micrograd does).

    Returns:
        The new node.
    """
    row = op if isinstance(op, Op) else OPS.get(op)
    if row is None:
        raise KeyError(f"no op named {op!r} in the op table")
    return _apply(row, args)


_FAST_KINDS = frozenset((float,))
_get_data = operator.attrgetter("data")
_JUST_VALUE: set[type] = {Value}


def _apply(row: Op, args: tuple[Any, ...]) -> Value:
    ar = row.arity
    if ar >= 0 and len(args) != ar:
        raise TypeError(f"{row.name}: takes {ar} input(s), got {len(args)}")
    # The common case in one C-level pass: every input a Value or a float (a neuron's dot).
    kinds = set(map(type, args))
    kinds.discard(Value)
    if not kinds:
        parents: Sequence[Any] = args
        xs: list[float] = list(map(_get_data, args))
    elif kinds <= _FAST_KINDS:
        parents = args
        xs = [a if type(a) is float else a.data for a in args]
    else:
        parents = []
        xs = []
        for i, a in enumerate(args):
            p = a if type(a) is Value else _operand(a)
            if p is None:
                raise TypeError(
                    f"{row.name}: input {i} must be a Value or a real number, "
                    f"got {type(a).__name__}: {a!r}"
                )
            parents.append(p)
            xs.append(p if isinstance(p, float) else p.data)
    try:
        d = row.forward(*xs)
    except (ArithmeticError, ValueError, TypeError) as e:
        raise _error(row, xs, e) from None
    t = type(d)
    if t is not float:
        d = float(d) if t is int else _real(d, f"{row.name} forward result")
    v: Value = _new(Value)
    v.data = d
    v.grad = 0.0
    v._fn = row
    if ar == 1:
        p0 = parents[0]
        v._a = _const(p0) if type(p0) is float else p0  # a unary op's constant stays a leaf
        v._b = None
    elif ar == 2:
        v._a, v._b = parents
    else:
        v._a = parents if type(parents) is tuple else tuple(parents)
        v._b = None
    v._meta = _NO_META
    return v if not _special else _finish(v)


def _install(op: Op) -> None:
    """Give :class:`Value` the methods an op row declares."""
    for name in op.methods:
        if op.arity == 1:
            setattr(Value, name, _make_unary(op))
        elif op.arity == 2 and name.startswith("__"):
            setattr(Value, name, _make_binary(op, reflected=False))
        else:
            setattr(Value, name, _make_method(op))
    for name in op.rmethods:
        setattr(Value, name, _make_binary(op, reflected=True))


def _make_method(op: Op) -> Callable[..., Value]:
    defaults = op.defaults
    n_extra = op.arity - 1

    def method(self: Value, *args: Operand, **kwargs: Operand) -> Value:
        if kwargs:  # x.leaky_relu(slope=0.2): the row's arg_names say where each one goes
            args = _bind_keywords(op, args, kwargs)
        if len(args) < n_extra:
            args = args + defaults[len(defaults) - (n_extra - len(args)) :]
        return _apply(op, (self, *args))

    method.__name__ = op.name
    method.__doc__ = op.doc
    return method


def _bind_keywords(
    op: Op, args: tuple[Operand, ...], kwargs: dict[str, Operand]
) -> tuple[Operand, ...]:
    """The inputs after ``self`` of a method call, keywords placed by the row's arg_names."""
    names = op.arg_names
    bound = list(args)
    for name in names[len(args) :]:
        if name not in kwargs:
            break
        bound.append(kwargs.pop(name))
    for name in kwargs:
        if name in names[: len(args)]:
            raise TypeError(f"{op.name}() got multiple values for argument {name!r}")
        raise TypeError(
            f"{op.name}() got an unexpected keyword argument {name!r} "
            f"(its arguments after self: {', '.join(names) or 'none'})"
        )
    return tuple(bound)


for _op in OPS.values():
    _install(_op)


# ---------------------------------------------------------------------------------------------
# Fused n-ary nodes


def sum(values: Iterable[Operand]) -> Value:
    """One ``sum`` node over all ``values``: x_1 + ... + x_n (one node, not n - 1)."""
    return _apply(OPS["sum"], tuple(values))


def dot(
    weights: Sequence[Operand], inputs: Sequence[Operand], bias: Operand | None = None
) -> Value:
    """One ``dot`` node: sum_i w_i x_i (+ b). A neuron's pre-activation z in one node.

    Its parents are ``(w_1..w_n, x_1..x_n, b)``; its ``.grad`` after backward is the neuron's
    delta, and each d/dw_i is x_i.
    """
    if len(weights) != len(inputs):
        raise ValueError(f"dot: {len(weights)} weights but {len(inputs)} inputs")
    args = (*weights, *inputs) if bias is None else (*weights, *inputs, bias)
    return _apply(OPS["dot"], args)


# ---------------------------------------------------------------------------------------------
# Walking the graph


def topological_order(root: Value) -> list[Value]:
    """Every node ``root`` depends on, each after all of its parents (root last).

    Iterative depth-first search over :attr:`Value.parents`: no recursion limit, and the
    order is the same every run (parents are visited in argument order).
    """
    order: list[Value] = []
    seen: set[int] = {id(root)}
    # Each frame keeps its parents tuple: reading .parents once per step would make a node
    # with n inputs (a sum over a batch) cost O(n^2).
    stack: list[tuple[Value, tuple[Value, ...], int]] = [(root, root.parents, 0)]
    while stack:
        node, ps, i = stack[-1]
        if i < len(ps):
            stack[-1] = (node, ps, i + 1)
            p = ps[i]
            if id(p) not in seen:
                seen.add(id(p))
                stack.append((p, p.parents, 0))
        else:
            stack.pop()
            order.append(node)
    return order


# Backward kernels: one small function per op row, generated from that row. Built-in rows
# with per-input ``grad_code`` templates get the templates inlined (no call to ``partials``,
# no tuple); every other row gets a kernel that calls its ``partials``. Nothing here names an
# op: the generated source depends only on the row's arity and templates.

_Kernel = Callable[[Any, Any], None]
_KERNELS: dict[Op, _Kernel] = {}
_GRAD_ERRORS = (ArithmeticError, ValueError)


class _InlineWhere(ast.NodeTransformer):
    """``where(c, a, b)`` -> ``(a if c else b)``: the float meaning, without a call."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        f = node.func
        if (
            isinstance(f, ast.Name)
            and f.id == "where"
            and len(node.args) == 3
            and not node.keywords
        ):
            c, a, b = node.args
            return ast.IfExp(test=c, body=a, orelse=b)
        return node


def _partial_sources(op: Op) -> list[str] | None:
    """Each input's local partial as Python source over ``x0, x1, out``, or ``None``.

    Only built-in rows: their ``grad_code`` is tested equal to ``partials``. A template that
    raises (0 ** -1, log 0 ...) falls back to ``partials`` at run time, so edge values come
    from the same place as before.
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
            tree = ast.parse(t.format(*names, out="out"), mode="eval")
        except (SyntaxError, IndexError, KeyError, ValueError):
            return None
        out.append(ast.unparse(_InlineWhere().visit(tree)))
    return out


def _cannot_raise(src: str) -> bool:
    """A bare name or a number: evaluating it cannot raise, so it needs no fallback."""
    node = ast.parse(src, mode="eval").body
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Name | ast.Constant)


def _kernel_body(
    inputs: dict[str, str], updates: dict[str, str], srcs: list[str] | None, indent: str
) -> str:
    """Lines adding ``g * d/d(input)`` to the grads of the Value inputs in ``updates``.

    ``inputs`` maps x0, x1, ..., out to the expressions that read them; ``updates`` maps an
    input index (as str) to the Value whose grad it feeds. Only the names a template uses are
    loaded; templates that may raise fall back to the row's ``partials``.
    """
    call = f"partials({', '.join(inputs.values())})"
    idx = [int(i) for i in updates]
    if srcs is None:
        if len(idx) == 1:
            i = idx[0]
            return f"{indent}{updates[str(i)]}.grad += g * {call}[{i}]\n"
        lines = [f"ds = {call}"]
        lines += [f"{updates[str(i)]}.grad += g * ds[{i}]" for i in idx]
        return "".join(f"{indent}{ln}\n" for ln in lines)
    used = set().union(*(template_names(srcs[i]) for i in idx))
    loads = [f"{n} = {e}" for n, e in inputs.items() if n in used]
    if all(_cannot_raise(srcs[i]) for i in idx):
        lines = loads + [f"{updates[str(i)]}.grad += {scaled('g', srcs[i])}" for i in idx]
        return "".join(f"{indent}{ln}\n" for ln in lines)
    body = [f"d{i} = {srcs[i]}" for i in idx]
    fallback = [f"ds = {call}"] + [f"d{i} = ds[{i}]" for i in idx]
    out = "".join(f"{indent}{ln}\n" for ln in loads)
    out += f"{indent}try:\n" + "".join(f"{indent}    {ln}\n" for ln in body)
    out += f"{indent}except _GRAD_ERRORS:\n" + "".join(f"{indent}    {ln}\n" for ln in fallback)
    out += "".join(f"{indent}{updates[str(i)]}.grad += g * d{i}\n" for i in idx)
    return out


def _kernel_source(op: Op) -> str:
    """Source of ``kernel(node, g)``: add ``g`` times each local partial to the inputs' grads."""
    ar = op.arity
    srcs = _partial_sources(op)
    if ar == 1:
        inputs = {"x0": "a.data", "out": "node.data"}
        body = _kernel_body(inputs, {"0": "a"}, srcs, "    ")
        return f"\ndef kernel(node, g):\n    a = node._a\n{body}"
    if ar == 2:
        b_const = _kernel_body(
            {"x0": "a.data", "x1": "b", "out": "node.data"}, {"0": "a"}, srcs, " " * 12
        )
        a_const = _kernel_body(
            {"x0": "a", "x1": "b.data", "out": "node.data"}, {"1": "b"}, srcs, " " * 8
        )
        both = _kernel_body(
            {"x0": "a.data", "x1": "b.data", "out": "node.data"},
            {"0": "a", "1": "b"},
            srcs,
            " " * 8,
        )
        return f"""
def kernel(node, g):
    a = node._a
    b = node._b
    if type(b) is float:
        if type(a) is not float:
{b_const}    elif type(a) is float:
{a_const}    else:
{both}"""
    # n inputs: when all are Values (one C-level pass over their types tells), a kernel
    # unrolled for this n from the row's grad_code when it can be (see _nary_source), else
    # the row's partials with their data read by a C-level map.
    return """
def kernel(node, g):
    ps = node._a
    if set(map(type, ps)) == _JUST_VALUE:
        k = by_n.get(len(ps), _MISSING)
        if k is _MISSING:
            k = by_n[len(ps)] = make_n(len(ps))
        if k is not None:
            k(node, g, ps)
            return
        ds = partials(*map(_get_data, ps), node.data)
        for p, d in zip(ps, ds):
            p.grad += g * d
    else:
        ds = partials(*[p if type(p) is float else p.data for p in ps], node.data)
        for p, d in zip(ps, ds):
            if type(p) is not float:
                p.grad += g * d
"""


_MAX_UNROLLED = 64
_MISSING: object = object()


def _nary_source(op: Op, n: int) -> str | None:
    """``kernel_n(node, g, ps)`` for a variadic built-in row with ``n`` Value inputs, unrolled.

    Only when every partial template is a name or a number (``dot``: d/dw_i is x_i), so it
    cannot raise and equals ``partials`` exactly; updates run in input order, so repeated
    inputs (``dot(p, p)``) accumulate as the loop would. ``None`` otherwise.
    """
    gc_ = op.grad_code
    if not op.builtin or not callable(gc_) or not 0 < n <= _MAX_UNROLLED:
        return None
    names = [f"x{i}" for i in range(n)]
    try:
        srcs = [ast.unparse(ast.parse(t, mode="eval")) for t in gc_(names, "out")]
    except (SyntaxError, IndexError, KeyError, ValueError, TypeError):
        return None
    if len(srcs) != n or not all(_cannot_raise(t) for t in srcs):
        return None
    used = set().union(*(template_names(t) for t in srcs))
    lines = [f"({', '.join(f'p{i}' for i in range(n))},) = ps"]
    lines += [f"x{i} = p{i}.data" for i in range(n) if f"x{i}" in used]
    if "out" in used:
        lines.append("out = node.data")
    lines += [f"p{i}.grad += {scaled('g', t)}" for i, t in enumerate(srcs)]
    return "def kernel_n(node, g, ps):\n" + "".join(f"    {ln}\n" for ln in lines)


def _nary_kernel(op: Op, n: int) -> Callable[[Any, Any, Any], None] | None:
    source = _nary_source(op, n)
    if source is None:
        return None
    filename = f"<backward kernel of {op.name}, {n} inputs>"
    env: dict[str, Any] = dict(CODE_NAMESPACE)
    exec(compile(source, filename, "exec"), env)
    k: Callable[[Any, Any, Any], None] = env["kernel_n"]
    return k


def _kernel(op: Op) -> _Kernel:
    """The backward kernel of ``op`` (generated once per row, then cached on the row)."""
    k = _KERNELS.get(op)
    if k is None:
        env: dict[str, Any] = dict(CODE_NAMESPACE)
        env.update(
            partials=op.partials,
            _GRAD_ERRORS=_GRAD_ERRORS,
            _JUST_VALUE=_JUST_VALUE,
            _MISSING=_MISSING,
            by_n={},
            make_n=lambda n: _nary_kernel(op, n),
            _get_data=_get_data,
        )
        exec(compile(_kernel_source(op), f"<backward kernel of {op.name}>", "exec"), env)
        k = _KERNELS[op] = env["kernel"]
        # A private cache on the row: one attribute load per node in backward instead of a
        # dict lookup (measured 12 ns of ~120 per node). Rows that refuse it use the dict.
        with suppress(AttributeError, TypeError):
            object.__setattr__(op, "_kernel", k)
    return k


def _backward(root: Value, seed: float) -> None:
    """One pass of reverse-mode accumulation from ``root``.

    Phase 1 walks the graph with an explicit stack and lists the op nodes in post-order. A
    node's state lives in its ``grad``: ``entered`` while its parents are being walked,
    ``done`` once listed. Both are floats 0.0 made fresh for this pass, told apart from any
    user value by identity, and ``done`` adds like 0.0 in phase 2. A nonzero old gradient is
    saved first. The walk descends into a node's first parent without a push/pop round trip.
    Phase 2 runs each node's kernel in reverse post-order, so every ``grad`` holds only this
    pass's gradient; phase 3 adds the saved gradients back.
    """
    entered: Any = float(0)  # new objects each call: identity marks "seen in this pass"
    done: Any = float(0)
    saved: list[tuple[Value, float]] = []
    order: list[Value] = []
    stack: list[Any] = [root]
    push = stack.append
    pop = stack.pop
    emit = order.append
    save = saved.append
    try:
        while stack:
            node: Any = pop()
            while True:
                g = node.grad
                if g is done:
                    break
                if g is entered:  # all its parents are listed: list it
                    node.grad = done
                    emit(node)
                    break
                if g:
                    save((node, g))
                fn: Any = node._fn
                if fn is None:
                    node.grad = done
                    break
                node.grad = entered
                push(node)  # popped again once its parents are done
                # A leaf parent is not walked: it is in no order and its grad is only added
                # to. It is marked only when it holds an old gradient to set aside. Both
                # marks are 0.0, so `if lg:` also skips a leaf already marked.
                ar = fn.arity
                a = node._a
                if ar == 2:
                    b = node._b
                    if type(b) is not float:
                        if b._fn is None:
                            lg = b.grad
                            if lg:
                                save((b, lg))
                                b.grad = done
                            elif lg is None:  # set_to_none style zero_grad
                                b.grad = done
                        elif b.grad is not done:
                            push(b)
                    if type(a) is float:
                        break
                elif ar != 1:
                    for p in reversed(a):
                        if type(p) is not float:
                            if p._fn is None:
                                lg = p.grad
                                if lg:
                                    save((p, lg))
                                    p.grad = done
                                elif lg is None:  # set_to_none style zero_grad
                                    p.grad = done
                            elif p.grad is not done:
                                push(p)
                    break
                if a._fn is None:
                    lg = a.grad
                    if lg:
                        save((a, lg))
                        a.grad = done
                    elif lg is None:  # set_to_none style zero_grad
                        a.grad = done
                    break
                node = a
        root.grad = seed
        for node in reversed(order):
            fn = node._fn
            try:
                k = fn._kernel
            except AttributeError:
                k = _kernel(fn)
            k(node, node.grad)
    except BaseException:
        # Leave no mark behind: every node of the graph gets its old gradient back.
        _reset_grads(root)
        for node, old in saved:
            node.grad = old
        raise
    for node, old in saved:
        node.grad = old + node.grad


def _reset_grads(root: Value) -> None:
    """Set ``grad = 0.0`` on every node ``root`` depends on (the error path of backward)."""
    seen: set[int] = set()
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        node.grad = 0.0
        fn = node._fn
        if fn is None:
            continue
        ps = node._a if fn.arity < 0 else (node._a, node._b) if fn.arity == 2 else (node._a,)
        stack.extend(p for p in ps if type(p) is not float)


# ---------------------------------------------------------------------------------------------
# Recording context


@contextmanager
def _grad_mode(enabled: bool) -> Iterator[None]:
    st = _state
    prev = st.grad_enabled
    st.grad_enabled = enabled
    _bump(1)
    try:
        yield
    finally:
        st.grad_enabled = prev
        _bump(-1)


def no_grad() -> AbstractContextManager[None]:
    """Inside, operations record nothing: each result is a leaf (``op == ""``). Per thread.

    Also usable as a decorator, like ``torch.no_grad``.
    """
    return _grad_mode(False)


def enable_grad() -> AbstractContextManager[None]:
    """Turn recording back on inside a :func:`no_grad` block (as ``torch.enable_grad``)."""
    return _grad_mode(True)


def is_grad_enabled() -> bool:
    """Whether operations in this thread record the graph."""
    return bool(_state.grad_enabled)


class _Scope(ContextDecorator):
    """What :func:`scope` returns. A class rather than a generator: ``nn`` enters one per
    neuron call, and this costs a third of ``@contextmanager``'s enter/exit (measured 2.1 us
    -> 0.7 us)."""

    __slots__ = ("_name", "_prev")

    def __init__(self, name: str) -> None:
        self._name = name
        self._prev: tuple[str, str] | None = None

    def _recreate_cm(self) -> _Scope:
        return _Scope(self._name)  # used as a decorator: a fresh one per call (recursion)

    def __enter__(self) -> str:
        if self._prev is not None:
            raise RuntimeError(f"scope({self._name!r}) is already entered")
        st = _state
        prev = self._prev = st.meta
        path = f"{prev[1]}.{self._name}" if prev[1] else self._name
        st.meta = ("", path)
        _bump(1)
        return path

    def __exit__(self, *exc: object) -> None:
        st = _state
        st.meta = self._prev  # type: ignore[assignment]
        self._prev = None
        _bump(-1)


def scope(name: str) -> _Scope:
    """Tag every Value created inside with the scope path (nested scopes join with dots).

    ``nn`` runs each neuron inside nested scopes ``mlp``, ``layer0``, ``neuron2`` (path
    ``"mlp.layer0.neuron2"``) so that renderers can group nodes by layer and neuron.
    ``with scope(name) as path`` gives the full path. Per thread.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"scope: name must be a non-empty str, got {name!r}")
    return _Scope(name)


def current_scope() -> str:
    """The scope path in force in this thread (``""`` outside any scope)."""
    return str(_state.meta[1])


# ---------------------------------------------------------------------------------------------
# User-defined ops


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
        grad_code: Optional partial templates, one per input, over ``{0}..`` and ``{out}``.
        doc: One line of math for docs and explanations.

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
        return res

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
