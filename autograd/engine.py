"""The reference engine: :class:`Value`, applying an op row, and the backward pass.

This file is the definition of what deltagrad computes, written to be read in one sitting:

* A :class:`Value` holds a number, its gradient, and how it was made (its op table row, from
  :mod:`autograd.ops`, and its inputs). Every operator is the generic :func:`_apply` of a row.
* :meth:`Value.backward` walks the graph once (iteratively: any depth works) and then, for
  each node from the root back to the leaves, hands ``g * partial_i`` to each of its inputs,
  the local partials coming from the node's row. That is the whole chain rule.

:mod:`autograd._fast` is an optimisation of this file and nothing else (operators, walks and
backward generated from the same rows, tested bit-identical to this reference on random
programs). ``autograd.set_fast(False)`` runs this file's code.

Node layout (both paths): a binary node's inputs are in ``_a`` and ``_b``, an n-ary node's in
a tuple in ``_a``; a number operand stays a bare float until ``.parents`` is read. No closures,
no reference cycles: reference counting frees a graph. Recording: :mod:`autograd.context`.
"""

from __future__ import annotations

import numbers
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Union

from ._validate import _error, _not_differentiable, _real
from .context import (
    _NO_META,
    _anomaly_checks,
    _gc_paused,
    _state,
    current_scope,
    enable_grad,
    is_grad_enabled,
    no_grad,
    scope,
)
from .ops import DOT, OPS, SUM, Op

if TYPE_CHECKING:
    from ._stubs import ValueOperators as _Base
else:
    _Base = object

__all__ = [
    "Value",
    "apply_op",
    "current_scope",
    "dot",
    "enable_grad",
    "is_grad_enabled",
    "no_grad",
    "scope",
    "topological_order",
]

Number = int | float
Operand = Union["Value", int, float]  # a forward reference: Union works on 3.10
#: backward passes run one at a time: two threads on one graph add exactly both passes.
_backward_lock = threading.RLock()


class Value(_Base):
    """A scalar in a computation graph: its value, its gradient and how it was made.

    Args:
        data: An ``int``, ``float`` or numpy real scalar; stored as a Python ``float``.
        label: A name shown in rendered graphs, explanations and compiled code.
        requires_grad: Whether ``backward()`` computes a gradient for it (PyTorch's flag).

    Attributes:
        data: The value (a float; assignable). grad: d(root)/d(self) from :meth:`backward`
            (``0.0`` to start with; ``None`` if it requires no grad). requires_grad: ``True``
            for Values you make and results of one, ``False`` for constants and their results.
    """

    __slots__ = ("__weakref__", "_a", "_b", "_fn", "_meta", "data", "grad", "requires_grad")

    # numpy must hand `ndarray * Value` and `np.float64 * Value` back to Value's operators.
    __array_ufunc__ = None

    data: float
    grad: float | None
    requires_grad: bool
    _fn: Op | None  # the row that made this node; None for a leaf
    _a: Any  # first input, or the tuple of inputs of an n-ary node
    _b: Any  # second input of a binary node
    _meta: tuple[str, str]  # (label, scope)

    def __init__(self, data: Number, label: str = "", requires_grad: bool = True) -> None:
        self.data = data if type(data) is float else _real(data, "Value")
        self.requires_grad = bool(requires_grad)
        self.grad = 0.0 if requires_grad else None
        self._fn = self._a = self._b = None
        self._meta = _state.meta
        if label:
            self.label = label

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
        """The dotted scope path the node was made in (``""`` outside any scope)."""
        return self._meta[1]

    @property
    def parents(self) -> tuple[Value, ...]:
        """The input nodes in argument order. Numbers used as operands appear as constant
        leaves (``requires_grad=False``), made on first access and then kept."""
        if self._fn is None:
            return ()
        if self._fn.arity == 2:
            if type(self._a) is float:
                self._a = _const(self._a)
            if type(self._b) is float:
                self._b = _const(self._b)
        elif self._fn.arity != 1 and any(type(p) is float for p in self._a):
            self._a = tuple(_const(p) if type(p) is float else p for p in self._a)
        return _inputs(self)

    @property
    def op(self) -> str:
        """The name of the op that made this node (``""`` for a leaf)."""
        return "" if self._fn is None else self._fn.name

    @property
    def op_info(self) -> Op | None:
        """The op table row that made this node (``None`` for a leaf)."""
        return self._fn

    @property
    def is_leaf(self) -> bool:
        """No op made it, or it needs no gradient (PyTorch's convention)."""
        return self._fn is None or not self.requires_grad

    # micrograd compatibility: its helpers read `_prev` (a set) and `_op` (a display string).
    @property
    def _prev(self) -> set[Value]:
        return set(self.parents)

    @property
    def _op(self) -> str:
        return "" if self._fn is None else self._fn.symbol

    def item(self) -> float:
        """The value as a float (as ``torch.Tensor.item``)."""
        return float(self.data)

    # The number's conversions and order, as for a 0-d tensor. `==` and hashing stay by
    # identity: graphs keep nodes in sets and dicts, and two nodes with equal data differ.
    def __float__(self) -> float:
        return float(self.data)

    def __bool__(self) -> bool:
        return bool(self.data)

    def __int__(self) -> int:
        return int(self.data)

    def __round__(self, ndigits: int | None = None) -> float | int:
        return round(self.data, ndigits)

    def __lt__(self, other: Operand) -> bool:
        return self.data < _number(other, "<")

    def __le__(self, other: Operand) -> bool:
        return self.data <= _number(other, "<=")

    def __gt__(self, other: Operand) -> bool:
        return self.data > _number(other, ">")

    def __ge__(self, other: Operand) -> bool:
        return self.data >= _number(other, ">=")

    __eq__, __hash__ = object.__eq__, object.__hash__

    def __repr__(self) -> str:
        head = f"label={self._meta[0]!r}, " if self._meta[0] else ""
        return f"Value({head}data={self.data!r}, grad={self.grad!r})"

    def __format__(self, spec: str) -> str:
        # f"{loss:.4f}" formats the number, as for a 0-d torch tensor; f"{v}" stays str(v).
        return format(self.data, spec) if spec else str(self)

    def backward(self, gradient: float = 1.0) -> None:
        """Add d(self)/d(node) * ``gradient`` to ``.grad`` of every node that requires grad.

        Each call adds exactly its own pass (two calls give twice the gradient, as PyTorch
        with ``retain_graph=True``); if it raises, every ``.grad`` is left as it was.
        """
        seed = _real(gradient, "backward: gradient")
        if not self.requires_grad:
            _not_differentiable(self)
        with _backward_lock:
            _commit(_backward({self: seed}, checked=_state.anomaly))
        _state.last_root = weakref.ref(self)


def _number(x: object, what: str) -> float:
    return x.data if isinstance(x, Value) else _real(x, f"Value {what}")


def _const(x: float) -> Value:
    """A leaf for a plain number used as an operand: no gradient is ever computed for it."""
    v = Value(x, requires_grad=False)
    v._meta = _NO_META
    return v


def _inputs(node: Value) -> tuple[Any, ...]:
    """A node's inputs as stored: Values, or bare floats for a binary op's number operands."""
    fn = node._fn
    if fn is None:
        return ()
    if fn.arity == 1:
        return (node._a,)
    if fn.arity == 2:
        return (node._a, node._b)
    return tuple(node._a)


def _data(x: Any) -> float:
    return x if type(x) is float else x.data


def _apply(row: Op, args: Sequence[Any]) -> Value:
    """Apply an op row to its inputs (Values or numbers) and record the result node."""
    if row.arity >= 0 and len(args) != row.arity:
        raise TypeError(f"{row.name}: takes {row.arity} input(s), got {len(args)}")
    inputs: list[Any] = []
    for i, a in enumerate(args):
        if isinstance(a, Value):
            inputs.append(a)
        elif isinstance(a, numbers.Real):
            inputs.append(_real(a, f"{row.name}: input {i}"))
        else:
            raise TypeError(
                f"{row.name}: input {i} must be a Value or a real number, "
                f"got {type(a).__name__}: {a!r}"
            )
    xs = [_data(x) for x in inputs]
    try:
        out = row.forward(*xs)
    except (ArithmeticError, ValueError, TypeError) as e:
        raise _error(row, xs, e) from None
    v = Value(out if type(out) is float else _real(out, f"{row.name} forward result"), "", False)
    if not _state.grad_enabled:
        return v  # no_grad: a leaf, no graph recorded
    if any(type(x) is not float and x.requires_grad for x in inputs):
        v.requires_grad, v.grad = True, 0.0
    v._fn = row
    if row.arity == 1:  # a unary op's number operand becomes its constant leaf at once
        v._a = _const(inputs[0]) if type(inputs[0]) is float else inputs[0]
    elif row.arity == 2:
        v._a, v._b = inputs
    else:
        v._a = tuple(inputs)
    if _state.anomaly:
        _anomaly_checks["node"](v)
    return v


def apply_op(op: Op | str, *args: Operand) -> Value:
    """Apply a table op (an :class:`~autograd.ops.Op` or its name) to Values or numbers
    (constants, as micrograd makes them) and return the new node."""
    row = op if isinstance(op, Op) else OPS.get(op)
    if row is None:
        raise KeyError(f"no op named {op!r} in the op table")
    return _apply(row, args)


def sum(values: Iterable[Operand]) -> Value:
    """One ``sum`` node over all ``values``: x_1 + ... + x_n (one node, not n - 1)."""
    return _apply(SUM, tuple(values))


def dot(
    weights: Sequence[Operand], inputs: Sequence[Operand], bias: Operand | None = None
) -> Value:
    """One ``dot`` node: sum_i w_i x_i (+ b), a neuron's pre-activation z in one node. Its
    parents are ``(w_1..w_n, x_1..x_n, b)``; its ``.grad`` after backward is the neuron's delta.
    """
    if len(weights) != len(inputs):
        raise ValueError(f"dot: {len(weights)} weights but {len(inputs)} inputs")
    args = (*weights, *inputs) if bias is None else (*weights, *inputs, bias)
    return _apply(DOT, args)


def _method(row: Op, operator: bool = False, reflected: bool = False) -> Callable[..., Any]:
    """``row`` as a method of Value: ``v.exp()``, ``v + w`` (an ``operator``: a non-number
    operand returns ``NotImplemented``, so Python raises its usual TypeError), ``2 * v``
    (``reflected``: the Value is the second input)."""

    def method(self: Value, *args: Any, **kwargs: Any) -> Any:
        if operator and not isinstance(args[0], Value | numbers.Real):
            return NotImplemented
        if reflected:
            return _apply(row, (args[0], self))
        return _apply(row, (self, *row.bind(args, kwargs)))

    method.__name__ = row.name
    method.__doc__ = row.doc
    return method


def install_methods(row: Op) -> None:
    """Give :class:`Value` the reference methods a row declares."""
    for name in row.methods:
        setattr(Value, name, _method(row, operator=row.arity == 2 and name.startswith("__")))
    for name in row.rmethods:
        setattr(Value, name, _method(row, operator=True, reflected=True))


for _row in OPS.values():
    install_methods(_row)


# ---------------------------------------------------------------------------------------------
# Walking the graph, and the chain rule


def walk(root: Value, children: Callable[[Value], Iterable[Value]]) -> list[Value]:
    """Every node reachable from ``root`` through ``children``, each after all of its
    children (root last): depth-first, children in argument order, with an explicit stack
    (no recursion, any depth)."""
    order: list[Value] = []
    seen = {root}
    stack: list[tuple[Value, Iterator[Value]]] = [(root, iter(children(root)))]
    with _gc_paused():
        while stack:
            node, todo = stack[-1]
            for child in todo:
                if child not in seen:
                    seen.add(child)
                    stack.append((child, iter(children(child))))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def topological_order(root: Value) -> list[Value]:
    """Every node ``root`` depends on, each after all of its parents (root last); the same
    order every run. Raises ``TypeError`` if ``root`` is not a Value."""
    if not isinstance(root, Value):
        raise TypeError(
            f"topological_order: root must be a Value, got {type(root).__name__}: {root!r}"
        )
    return _order(root)


def _order(root: Value) -> list[Value]:  # autograd._fast puts in a walk with the same order
    return walk(root, lambda v: v.parents)


def _needs_grad(node: Value) -> list[Value]:
    """The inputs of ``node`` that backward must reach."""
    return [x for x in _inputs(node) if type(x) is not float and x.requires_grad]


def _backward(
    roots: dict[Value, Any],
    chain: Callable[[Value, Any], Sequence[Any]] | None = None,
    checked: bool = False,
) -> dict[Value, Any]:
    """This pass's gradient of each node that requires grad, from ``roots`` (root -> seed),
    in a dict of the walk's own: for each node from the roots back, ``g * partial_i`` goes to
    each input (``Op.chain``; :func:`autograd.grad` passes a ``chain(node, g)`` of Values).
    ``checked``: anomaly mode looks at every contribution (:mod:`autograd.anomaly`)."""
    grads, tops, hub = dict(roots), list(roots), _const(0.0)  # hub: above all roots, one walk
    for node in reversed(walk(hub, lambda v: tops if v is hub else _needs_grad(v))):
        row = node._fn
        if row is None:
            continue  # a leaf (or the hub): it only receives
        g, inputs = grads[node], _inputs(node)
        steps = chain(node, g) if chain else row.chain(g, [_data(x) for x in inputs], node.data)
        for x, c in zip(inputs, steps):
            if type(x) is not float and x.requires_grad:
                if checked:
                    _anomaly_checks["contribution"](tops[0], node, x, c, g)
                grads[x] = c if chain and x not in grads else grads.get(x, 0.0) + c
    return grads


def _commit(grads: dict[Value, float]) -> None:
    """Add a finished pass to ``.grad`` (``None`` counts as no gradient yet)."""
    for node, g in grads.items():
        old = node.grad
        node.grad = g if old is None else old + g
