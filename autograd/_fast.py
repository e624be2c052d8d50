"""The fast layer: an optimisation of the reference engine (:mod:`autograd.engine`), nothing more.

It computes exactly what the reference computes (``tests/test_fast_path.py`` runs random
programs over every op through both and asserts every value and gradient bit-identical) and
replaces four of its pieces, three with Python source generated from the op rows:

* **Value's operators and methods**: one function per row and side, with the row's float
  operator written inline (``x * y`` rather than a call through ``float.__mul__``) and the
  node's slots filled directly (about 270 ns for ``v * w`` instead of 1.5 us).
* **n-input nodes** (``dot``, ``sum``): their inputs read in one C-level pass.
* **backward**: the same depth-first order as :func:`autograd.engine.walk`, with each op
  row's chain rule (:func:`autograd.ops.chain_sources`) inlined in a kernel of its own, and
  this pass's gradient accumulated in ``.grad`` itself (old values set aside first, added
  back at the end), so no dict is built. Visit marks live in the walk's own dict.
* **walks over** ``.parents`` (``topological_order``, ``Graph``): the reference order in one
  loop with no ``.parents`` call per node; ``Graph``'s parent positions made as it goes.

While no thread is inside ``no_grad`` or ``scope`` (a counter the engine's recording
contexts keep through ``_context_listeners``), new nodes skip the thread-local lookup.

``set_fast(False)`` puts the reference engine's methods back; ``DELTAGRAD_REFERENCE=1`` in
the environment does so at import.
"""

from __future__ import annotations

import ast
import linecache
import numbers
import operator
import os
import threading
import types
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from . import engine, graph
from ._validate import _error, _not_differentiable, _real
from .context import _NO_META, _anomaly_checks, _context_listeners, _gc_paused, _state
from .engine import Value
from .ops import CODE_NAMESPACE, OPS, Op, chain_sources, scaled, template_names

__all__ = ["is_fast", "set_fast"]

_new = object.__new__
_get_data = operator.attrgetter("data")
_get_rg = operator.attrgetter("requires_grad")
Real = numbers.Real

# How many threads are inside a recording context; while 0 new nodes skip _state.
_special = 0
_special_lock = threading.Lock()


def _count(delta: int) -> None:
    global _special
    with _special_lock:
        _special += delta


def _finish(v: Value) -> Value:
    """Apply this thread's recording state to a new node: its scope, or no graph at all."""
    st = _state
    v._meta = st.meta
    if not st.grad_enabled:
        v._fn = v._a = v._b = None
        v.requires_grad = False
        v.grad = None
    elif st.anomaly:
        _anomaly_checks["node"](v)
    return v


# ---------------------------------------------------------------------------------------------
# Operators

_FLOAT_OPERATORS: dict[str, str] = {
    "__add__": "{0} + {1}",
    "__sub__": "{0} - {1}",
    "__mul__": "{0} * {1}",
    "__truediv__": "{0} / {1}",
    "__pow__": "{0} ** {1}",
    "__neg__": "-{0}",
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
def factory(op, fwd, engine_method, where):
    def method(self):
        x = self.data
        try:
            d = {expr}
        except (ArithmeticError, ValueError, TypeError) as e:
            raise _error(op, (x,), e) from None
        v = _new(Value)
        v.data = d
        if self.requires_grad:
            v.requires_grad = True
            v.grad = 0.0
        else:
            v.requires_grad = False
            v.grad = None
        v._fn = op
        v._a = self
        v._b = None
        v._meta = _NO_META
        return v if not _special else _finish(v)
    return method
"""

_BINARY_SOURCE = """
def factory(op, fwd, engine_method, where):
    def method(self, other):
        if type(other) is Value:
            y = other.data
            rg = self.requires_grad or other.requires_grad
        elif type(other) is float:
            y = other
            rg = self.requires_grad
        elif isinstance(other, Real) and not isinstance(other, Value):
            y = other = _real(other, where)
            rg = self.requires_grad
        elif isinstance(other, Value):
            return engine_method(self, other)
        else:
            return NotImplemented
        x = self.data
        try:
            d = {expr}
        except (ArithmeticError, ValueError, TypeError) as e:
            raise _error(op, ({args}), e) from None
        v = _new(Value)
        v.data = d
        if rg:
            v.requires_grad = True
            v.grad = 0.0
        else:
            v.requires_grad = False
            v.grad = None
        v._fn = op
        v._a = {first}
        v._b = {second}
        v._meta = _NO_META
        return v if not _special else _finish(v)
    return method
"""


def _generated(
    op: Op, source: str, what: str, ref: Any = None, where: str = ""
) -> Callable[..., Value]:
    filename = f"<fast {what} of op {op.name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    ns: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), globals(), ns)
    method: Callable[..., Value] = ns["factory"](op, op.forward, ref, where)
    method.__name__ = op.name
    method.__qualname__ = f"Value.{op.name}"
    method.__doc__ = op.doc
    return method


def _operators(op: Op) -> dict[str, Callable[..., Any]]:
    """The fast methods a row declares, by name."""
    out: dict[str, Callable[..., Any]] = {}
    for name in op.methods:
        if op.arity == 1:
            src = _UNARY_SOURCE.format(expr=_forward_source(op, ("x",)))
            out[name] = _generated(op, src, "method")
        elif op.arity == 2 and name.startswith("__"):
            out[name] = _binary(op, False, Value.__dict__[name])
    for name in op.rmethods:
        out[name] = _binary(op, True, Value.__dict__[name])
    return out


def _binary(op: Op, reflected: bool, ref: Callable[..., Any]) -> Callable[..., Value]:
    xy = ("y", "x") if reflected else ("x", "y")
    source = _BINARY_SOURCE.format(
        expr=_forward_source(op, xy),
        args=", ".join(xy),
        first="other" if reflected else "self",
        second="self" if reflected else "other",
    )
    where = f"{op.name}: input {0 if reflected else 1}"
    return _generated(op, source, "reflected method" if reflected else "method", ref, where)


def _init(self: Value, data: float, label: str = "", requires_grad: bool = True) -> None:
    """``Value(data, label, requires_grad)``: the reference constructor without the
    thread-local lookup while no thread records a scope."""
    self.data = data if type(data) is float else _real(data, "Value")
    if requires_grad:
        self.requires_grad = True
        self.grad = 0.0
    else:
        self.requires_grad = False
        self.grad = None
    self._fn = None
    self._a = None
    self._b = None
    self._meta = _NO_META if not _special else _state.meta
    if label:
        self.label = label


def _apply(row: Op, args: Sequence[Any]) -> Value:
    """The reference ``_apply`` with the common case (every input a Value or a float, as a
    neuron's dot) read in one C-level pass; anything else goes to the reference."""
    kinds = set(map(type, args))
    kinds.discard(Value)
    ar = row.arity
    if (kinds and kinds != {float}) or (ar >= 0 and len(args) != ar) or ar == 1:
        ref: Value = _reference["_apply"](row, args)
        return ref
    if not kinds:
        xs: list[float] = list(map(_get_data, args))
        rg = any(map(_get_rg, args))
    else:
        xs = [a if type(a) is float else a.data for a in args]
        rg = any([type(a) is not float and a.requires_grad for a in args])
    try:
        d = row.forward(*xs)
    except (ArithmeticError, ValueError, TypeError) as e:
        raise _error(row, xs, e) from None
    if type(d) is not float:
        d = _real(d, f"{row.name} forward result")
    v: Value = _new(Value)
    v.data = d
    v.requires_grad = rg
    v.grad = 0.0 if rg else None
    v._fn = row
    if ar == 2:
        v._a, v._b = args
    else:
        v._a = args if type(args) is tuple else tuple(args)
        v._b = None
    v._meta = _NO_META
    return v if not _special else _finish(v)


# ---------------------------------------------------------------------------------------------
# Backward kernels: one per op row, generated from its chain rule (ops.chain_sources).

_Kernel = Callable[[Any, Any], None]
_KERNELS: dict[Op, _Kernel] = {}
_GRAD_ERRORS = (ArithmeticError, ValueError)
_MAX_UNROLLED = 64
_MISSING: object = object()


def _cannot_raise(src: str) -> bool:
    """A bare name, a number, or its negation: evaluating it cannot raise."""
    node = ast.parse(src, mode="eval").body
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Name | ast.Constant)


def _update(target: str, i: int, src: str | None, call: str, indent: str) -> str:
    """Add input ``i``'s chain-rule step to ``target.grad``; a step that may raise falls
    back to ``g * partials(...)[i]``, exactly as :meth:`Op.chain` does."""
    if src is None:
        return f"{indent}{target}.grad += g * {call}[{i}]\n"
    if _cannot_raise(src):
        return f"{indent}{target}.grad += {src}\n"
    return (
        f"{indent}try:\n{indent}    c = {src}\n"
        f"{indent}except _GRAD_ERRORS:\n{indent}    c = g * {call}[{i}]\n"
        f"{indent}{target}.grad += c\n"
    )


def _body(
    op: Op, loads: dict[str, str], targets: dict[int, str], indent: str, partials: str
) -> str:
    """The chain-rule steps of ``op`` into ``targets`` (input position -> local name); the
    names in ``loads`` are read only when a template uses them (a fallback reads its own)."""
    srcs = chain_sources(op)
    call = f"{partials}({', '.join(loads.values())})"
    used = set(loads) if srcs is None else set()
    for i in targets:
        if srcs is not None:
            used |= template_names(srcs[i])
    lines = "".join(f"{indent}{n} = {e}\n" for n, e in loads.items() if n in used)
    for i, t in targets.items():
        lines += _update(t, i, None if srcs is None else srcs[i], call, indent)
    return lines


def _kernel_body(op: Op, indent: str, partials: str = "partials") -> str:
    """The body of ``kernel(node, g)`` for a row of one or two inputs, at ``indent``."""
    i2 = indent + "    "
    if op.arity == 1:
        loads = {"x0": "a.data", "out": "node.data"}
        return f"{indent}a = node._a\n" + _body(op, loads, {0: "a"}, indent, partials)
    da = "(a if type(a) is float else a.data)"
    db = "(b if type(b) is float else b.data)"
    only_a = _body(op, {"x0": "a.data", "x1": db, "out": "node.data"}, {0: "a"}, i2, partials)
    only_b = _body(op, {"x0": da, "x1": "b.data", "out": "node.data"}, {1: "b"}, i2, partials)
    both = _body(
        op, {"x0": "a.data", "x1": "b.data", "out": "node.data"}, {0: "a", 1: "b"}, i2, partials
    )
    return (
        f"{indent}a = node._a\n{indent}b = node._b\n"
        f"{indent}if type(b) is float or not b.requires_grad:\n" + only_a
        + f"{indent}elif type(a) is float or not a.requires_grad:\n" + only_b
        + f"{indent}else:\n" + both
    )  # fmt: skip


def _kernel_source(op: Op) -> str:
    """Source of ``kernel(node, g)``: add ``g`` times each local partial to the inputs' grads."""
    if op.arity in (1, 2):
        return "def kernel(node, g):\n" + _kernel_body(op, "    ")
    # n inputs: when all are Values that require grad (two C-level passes tell), a kernel
    # unrolled for this n when the row's templates allow (see _nary_source), else partials.
    return """
def kernel(node, g):
    ps = node._a
    if set(map(type, ps)) == _JUST_VALUE and all(map(_get_rg, ps)):
        k = by_n.get(len(ps), _MISSING)
        if k is _MISSING:
            k = by_n[len(ps)] = make_n(len(ps))
        if k is not None:
            k(node, g, ps)
            return
    ds = partials(*[p if type(p) is float else p.data for p in ps], node.data)
    for p, d in zip(ps, ds):
        if type(p) is not float and p.requires_grad:
            p.grad += g * d
"""


def _nary_source(op: Op, n: int) -> str | None:
    """``kernel_n(node, g, ps)`` for a variadic built-in row with ``n`` Value inputs, unrolled.

    Only when every partial template is a name or a number (``dot``: d/dw_i is x_i), so that
    ``g * template`` equals the reference's ``g * partial`` exactly; updates run in input
    order, so repeated inputs (``dot(p, p)``) accumulate as the reference loop does.
    """
    gc_ = op.grad_code
    if not op.builtin or not callable(gc_) or not 0 < n <= _MAX_UNROLLED:
        return None
    names = [f"x{i}" for i in range(n)]
    try:
        srcs = [ast.unparse(ast.parse(t, mode="eval")) for t in gc_(names, "out")]
    except (SyntaxError, IndexError, KeyError, ValueError, TypeError):
        return None
    if len(srcs) != n or not all(_cannot_raise(t) and t != "0.0" for t in srcs):
        return None
    used = set().union(*(template_names(t) for t in srcs))
    lines = [f"({', '.join(f'p{i}' for i in range(n))},) = ps"]
    lines += [f"x{i} = p{i}.data" for i in range(n) if f"x{i}" in used]
    if "out" in used:
        lines.append("out = node.data")
    lines += [f"p{i}.grad += {_times_g(scaled('g', t))}" for i, t in enumerate(srcs)]
    return "def kernel_n(node, g, ps):\n" + "".join(f"    {ln}\n" for ln in lines)


def _times_g(src: str) -> str:
    return src if src in ("g", "-g") or src.startswith("g * ") else f"g * ({src})"


def _compile_kernel(source: str, filename: str, env: dict[str, Any]) -> Any:
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), env)
    return env


def _kernel(op: Op) -> _Kernel:
    """The backward kernel of ``op`` (generated once per row, then cached on the row)."""
    k = _KERNELS.get(op)
    if k is None:

        def make_n(n: int) -> Any:
            src = _nary_source(op, n)
            if src is None:
                return None
            env = _compile_kernel(src, f"<backward kernel of {op.name}, {n} inputs>", {})
            return env["kernel_n"]

        env: dict[str, Any] = dict(CODE_NAMESPACE)
        env.update(
            partials=op.partials,
            _GRAD_ERRORS=_GRAD_ERRORS,
            _JUST_VALUE={Value},
            _MISSING=_MISSING,
            _get_rg=_get_rg,
            by_n={},
            make_n=make_n,
        )
        env = _compile_kernel(_kernel_source(op), f"<backward kernel of {op.name}>", env)
        k = _KERNELS[op] = env["kernel"]
        # Cached on the row: one attribute load per node instead of a dict lookup.
        object.__setattr__(op, "_kernel", k)
    return k


def _run_source(binary: Sequence[str], unary: Sequence[str]) -> str:
    """Source of ``run(order)``: every node's kernel, in reverse order, with the kernels of
    the rows named in ``binary`` / ``unary`` written inline (no call per node)."""

    def chain(names: Sequence[str], indent: str) -> str:
        out = ""
        for i, name in enumerate(names):
            out += f"{indent}{'el' if i else ''}if fn is {name}:\n"
            out += _kernel_body(_INLINE_ROWS[name], indent + "    ", f"partials_{name}")
        call = (
            f"{indent}    try:\n{indent}        k = fn._kernel\n"
            f"{indent}    except AttributeError:\n{indent}        k = kernel_of(fn)\n"
            f"{indent}    k(node, g)\n"
        )
        return out + (f"{indent}else:\n{call}" if names else call.replace("    ", "", 1))

    return (
        "def run(order):\n    for node in reversed(order):\n"
        "        fn = node._fn\n        g = node.grad\n"
        "        if node._b is not None:  # two inputs\n"
        + chain(binary, " " * 12)
        + "        else:\n"
        + chain(unary, " " * 12)
    )


_INLINE_ROWS: dict[str, Op] = {}


def _make_run() -> Callable[[list[Value]], None]:
    """``run(order)`` with the built-in rows of one and two inputs inlined, in table order
    (the table lists its common rows first)."""
    env: dict[str, Any] = dict(CODE_NAMESPACE)
    names: dict[int, list[str]] = {1: [], 2: []}
    for op in OPS.values():
        if op.builtin and op.arity in names and len(names[op.arity]) < _INLINED[op.arity]:
            name = f"{op.name}_row"
            _INLINE_ROWS[name] = op
            names[op.arity].append(name)
            env[name] = op
            env[f"partials_{name}"] = op.partials
    env.update(_GRAD_ERRORS=_GRAD_ERRORS, kernel_of=_kernel)
    src = _run_source(names[2], names[1])
    run: Callable[[list[Value]], None] = _compile_kernel(src, "<backward run>", env)["run"]
    return run


#: How many built-in rows of two / one inputs the backward loop runs inline.
_INLINED = {2: 6, 1: 10}


# ---------------------------------------------------------------------------------------------
# backward


def backward(self: Value, gradient: float = 1.0) -> None:
    """Add d(self)/d(node) * ``gradient`` to ``.grad`` of every node that requires grad.

    Each call adds exactly its own pass (two calls give twice the gradient, as PyTorch
    with ``retain_graph=True``); if it raises, every ``.grad`` is left as it was.
    """
    seed = float(gradient) if type(gradient) is float else _real(gradient, "backward: gradient")
    if not self.requires_grad:
        _not_differentiable(self)
    with _gc_paused(), engine._backward_lock:  # nothing cyclic is made: spare the collector
        if _state.anomaly:  # the reference pass, which checks every contribution
            engine._commit(engine._backward({self: seed}, checked=True))
        else:
            _backward(self, seed)
    _state.last_root = weakref.ref(self)


def _walk(root: Value, seen: set[Any], saved: list[tuple[Any, Any]]) -> list[Value]:
    """The op nodes of :func:`engine.walk`'s order over inputs that require grad, with every
    visited node (``seen``) given ``grad = 0.0``; old values other than 0 go to ``saved``.

    The same depth-first order as the reference: a node is pushed again behind a ``_POST``
    marker before its inputs, so it is listed once they are done (at once when none is left
    to walk); the first input is walked at once, without a push and a pop, and leaf inputs
    are only zeroed, never pushed.
    """
    order: list[Value] = []
    emit = order.append
    add = seen.add
    save = saved.append
    stack: list[Any] = [root]
    push = stack.append
    pop = stack.pop
    while stack:
        node: Any = pop()
        if node is _POST:
            emit(pop())  # every input is done: list it
            continue
        while node not in seen:
            add(node)
            old = node.grad
            if old or old is None:
                save((node, old))
            node.grad = 0.0
            a = node._a
            b = node._b
            if b is not None:  # two inputs; the second is walked after the first
                if type(b) is float or not b.requires_grad or b in seen:
                    b = None
                elif b._fn is None:  # a leaf is only zeroed
                    add(b)
                    old = b.grad
                    if old or old is None:
                        save((b, old))
                    b.grad = 0.0
                    b = None
            elif type(a) is tuple:  # n inputs
                push(node)
                push(_POST)
                for p in reversed(a):
                    if type(p) is not float and p.requires_grad and p not in seen:
                        if p._fn is None:
                            add(p)
                            old = p.grad
                            if old or old is None:
                                save((p, old))
                            p.grad = 0.0
                        else:
                            push(p)
                break
            if type(a) is float or not a.requires_grad or a in seen:
                a = None
            elif a._fn is None:
                add(a)
                old = a.grad
                if old or old is None:
                    save((a, old))
                a.grad = 0.0
                a = None
            if a is None and b is None:
                emit(node)  # every input is done: list it now, no marker needed
                break
            push(node)
            push(_POST)
            if b is not None:
                push(b)
            if a is None:
                break
            node = a  # walk the first input at once
    return order


_POST: Any = object()
_run = _make_run()


def _backward(root: Value, seed: float) -> None:
    seen: set[Any] = set()
    saved: list[tuple[Any, Any]] = []
    try:
        if root._fn is None:  # a leaf: it only receives the seed
            seen.add(root)
            if root.grad or root.grad is None:
                saved.append((root, root.grad))
            order: list[Value] = []
        else:
            order = _walk(root, seen, saved)
        root.grad = seed + 0.0
        _run(order)
    except BaseException:
        for node in seen:  # leave no trace: every visited node gets its old gradient back
            node.grad = 0.0
        for node, old in saved:
            node.grad = old
        raise
    for node, old in saved:
        if old is not None:
            node.grad = old + node.grad


# ---------------------------------------------------------------------------------------------
# Walks over ``.parents``: topological_order and Graph


def _const(x: float) -> Value:
    """:func:`engine._const` without the constructor call."""
    v: Value = _new(Value)
    v.data = x
    v.requires_grad = False
    v.grad = None
    v._fn = v._a = v._b = None
    v._meta = _NO_META
    return v


def _order(root: Value) -> list[Value]:
    """:func:`engine.walk` over ``.parents`` (the same order, the same constants made)."""
    return _walk_parents(root, None)[0]


def _indexed(root: Value) -> tuple[list[Value], dict[Value, int], list[tuple[int, ...]]]:
    """:func:`autograd.graph._indexed` in one walk: a node's parents' positions are known
    when it is listed (they are listed before it)."""
    parents: list[tuple[int, ...]] = []
    order, index = _walk_parents(root, parents)
    return order, index, parents


def _const_inputs(node: Any) -> tuple[Any, Any]:
    """A binary node's inputs, a bare float made its constant leaf and stored back."""
    a, b = node._a, node._b
    if type(a) is float:
        node._a = a = _const(a)
    if type(b) is float:
        node._b = b = _const(b)
    return a, b


def _push_inputs(node: Any, index: dict[Value, int], push: Callable[[Any], None]) -> None:
    """An n-ary node pushed behind a ``_POST`` marker, then its unlisted inputs in reverse
    (the first is walked first); bare float inputs become constant leaves, stored back."""
    push(node)
    push(_POST)
    a = node._a
    if float in set(map(type, a)):
        node._a = a = tuple([_const(p) if type(p) is float else p for p in a])
    for p in reversed(a):
        if p not in index:
            push(p)


def _walk_parents(
    root: Value, parents: list[tuple[int, ...]] | None
) -> tuple[list[Value], dict[Value, int]]:
    """:func:`engine.walk`'s order over ``.parents``, the positions, and each node's parents'
    positions appended to ``parents`` (a list). A node whose inputs are listed is listed at
    once, else pushed behind a ``_POST`` marker; bare floats become constants, stored back."""
    order: list[Value] = []
    index: dict[Value, int] = {}
    stack: list[Any] = [root]
    emit, push, pop, later = order.append, stack.append, stack.pop, stack.extend
    keep = None if parents is None else parents.append
    size = order.__len__  # a node's position: how many are listed before it
    with _gc_paused():  # constants are made below, nothing cyclic; spare the collector
        while stack:
            node: Any = pop()
            if node is _POST:
                node = pop()
                index[node] = size()
                emit(node)
                if keep is not None:
                    a = node._a  # a binary node's _b is set, a unary's None, n-ary's a tuple
                    if node._b is not None:
                        keep((index[a], index[node._b]))
                    elif type(a) is tuple:
                        keep(tuple(map(index.__getitem__, a)))
                    else:
                        keep((index[a],))
                continue
            while node not in index:
                if node._fn is None:
                    index[node] = size()
                    emit(node)
                    keep is None or keep(())
                    break
                a = node._a
                b = node._b
                if b is not None:
                    if type(a) is float or type(b) is float:
                        a, b = _const_inputs(node)
                    if a not in index:
                        if a._fn is not None:
                            later((node, _POST))
                            if b not in index:
                                push(b)
                            node = a
                            continue
                        index[a] = size()
                        emit(a)
                        keep is None or keep(())
                    if b not in index:
                        if b._fn is not None:
                            later((node, _POST))
                            node = b
                            continue
                        index[b] = size()
                        emit(b)
                        keep is None or keep(())
                    index[node] = size()
                    emit(node)
                    keep is None or keep((index[a], index[b]))
                    break
                if type(a) is tuple:
                    _push_inputs(node, index, push)
                    break
                if a in index:
                    index[node] = size()
                    emit(node)
                    keep is None or keep((index[a],))
                    break
                later((node, _POST))
                node = a
    return order, index


# ---------------------------------------------------------------------------------------------
# The switch


def set_fast(enabled: bool) -> None:
    """Run the fast layer (``True``, the default) or the reference engine (``False``).

    Both compute bit-identical values and gradients; the reference is the readable
    definition (:mod:`autograd.engine`), slower by about 5x. Affects every thread.
    """
    global _fast_on
    if not isinstance(enabled, bool):
        raise TypeError(f"set_fast: expected True or False, got {enabled!r}")
    if not _reference:
        _reference["_apply"] = engine._apply
        _reference["backward"] = Value.__dict__["backward"]
        _reference["__init__"] = Value.__dict__["__init__"]
        for op in OPS.values():
            for name in (*op.methods, *op.rmethods):
                _reference[name] = Value.__dict__[name]
        _reference["_order"] = engine._order
        _reference["_indexed"] = graph._indexed
        _fast_methods.update({"_apply": _apply, "backward": backward, "__init__": _init})
        _fast_methods.update({"_order": _order, "_indexed": _indexed})
        for op in OPS.values():
            if op.builtin:
                _fast_methods.update(_operators(op))
        _context_listeners.append(_count)
    chosen = _fast_methods if enabled else _reference
    engine._apply = chosen["_apply"]
    engine._order = chosen["_order"]
    graph._indexed = chosen["_indexed"]
    for name, f in chosen.items():
        if name not in _MODULE_LEVEL:
            setattr(Value, name, f)
    _fast_on = enabled


_reference: dict[str, Any] = {}  # the reference engine's functions, saved at the first switch
_fast_methods: dict[str, Any] = {}
_fast_on = False
_MODULE_LEVEL = ("_apply", "_order", "_indexed")


def is_fast() -> bool:
    """Whether the fast layer is in use (see :func:`set_fast`)."""
    return _fast_on


set_fast(os.environ.get("DELTAGRAD_REFERENCE", "") not in ("1", "true", "yes"))
