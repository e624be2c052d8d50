"""One walk of a graph, read by every tool: :class:`Graph`.

``Graph(root)`` walks the graph of ``root`` once (iteratively) and keeps what drawing,
explaining, compiling, gradcheck and training checks need to know about it: the nodes in
topological order (root last), each node's parents and consumers as indices, its op row and
local partials, the neurons in it, and the role of every leaf. It is a snapshot: building it
changes nothing in the graph (constants already have stable identities), and it holds the
numbers (data, grad) as they were when it was built.

A *neuron* is found by asking the op rows for structure, never by an op's name:

* a node whose row is ``"affine"`` (``autograd.dot``, or a user op declared so): its row
  names each input ``weight``, ``input`` or ``bias``;
* a sum of products built from operators, ``z = w1*x1 + w2*x2 + b``: a tree of ``"sum"`` rows
  whose leaves are ``"product"`` nodes used only there (w_i * x_i) and at most one bias leaf.
  In each product the weight is the one factor that is a leaf requiring grad; of two such
  leaves, the one labelled ``w...``, else the first.

Its activation is the node a = f(z) when z's only use is input 0 of an ``"elementwise"`` row
(tanh, relu, leaky_relu ...).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from .context import _gc_paused
from .engine import Value, topological_order
from .ops import Op

__all__ = ["Graph", "Neuron", "Slot"]


@dataclass(frozen=True)
class Slot:
    """Where a node sits in a neuron: ``role`` ``"weight"``, ``"input"`` or ``"bias"``,
    ``index`` i of w_i / x_i (-1 for the bias), and ``via`` the node that consumes it there
    (the affine node z itself, or the product w_i * x_i of a hand-built neuron)."""

    neuron: Neuron
    role: str
    index: int
    via: int


@dataclass(frozen=True)
class Neuron:
    """A neuron z = sum_i w_i x_i (+ b), a = f(z), by node indices of its :class:`Graph`.

    Attributes:
        z: The pre-activation (its ``grad`` is the neuron's delta).
        weights: w_1..w_n.
        inputs: x_1..x_n.
        bias: b, or ``None``.
        products: For a hand-built neuron, the nodes w_i * x_i; ``()`` for an affine node.
        activation: a = f(z), or ``None`` (z has another use, or none).
        name: Its scope (``layers.0.neurons.1``), else z's label, else ``at node #k``.
    """

    z: int
    weights: tuple[int, ...]
    inputs: tuple[int, ...]
    bias: int | None
    products: tuple[int, ...]
    activation: int | None
    name: str


def _indexed(root: Value) -> tuple[list[Value], dict[Value, int], list[tuple[int, ...]]]:
    """The nodes of ``root`` in topological order, each node's position, and each node's
    parents' positions (:mod:`autograd._fast` puts in one walk that gives the same)."""
    nodes = topological_order(root)
    with _gc_paused():
        index = {v: i for i, v in enumerate(nodes)}
        return nodes, index, [tuple([index[p] for p in v.parents]) for v in nodes]


class Graph:
    """The graph of ``root``, walked once.

    Attributes:
        root: The root Value.
        nodes: Every node ``root`` depends on, parents before consumers (root last).
        parents: ``parents[i]``: the indices of node i's inputs, in argument order.
        ops: ``ops[i]``: node i's op row (``None`` for a leaf).
        data: ``data[i]``: node i's value when the Graph was built.
        grads: ``grads[i]``: node i's ``.grad`` then (``None`` for a constant).
    """

    def __init__(self, root: Value) -> None:
        if not isinstance(root, Value):
            raise TypeError(f"Graph: root must be a Value, got {type(root).__name__}: {root!r}")
        self.root = root
        nodes, self._index, self.parents = _indexed(root)
        self.nodes: list[Value] = nodes
        with _gc_paused():  # nothing cyclic is made; spare the collector the whole graph
            # list comprehensions: slot reads about 3x cheaper than map(attrgetter) on 3.11
            self.ops: list[Op | None] = [v._fn for v in nodes]
            self.data: list[float] = [v.data for v in nodes]
            self.grads: list[float | None] = [v.grad for v in nodes]
        self._partials: dict[int, tuple[float, ...]] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Value]:
        return iter(self.nodes)

    def __contains__(self, v: object) -> bool:
        return v in self._index

    def __repr__(self) -> str:
        return f"<Graph of {len(self.nodes)} nodes, {len(self.neurons)} neurons>"

    def index(self, v: Value) -> int:
        """The position of ``v`` in :attr:`nodes`; ``ValueError`` if it is not in the graph."""
        try:
            return self._index[v]
        except (KeyError, TypeError):
            raise ValueError(
                f"{v!r} is not in the graph of {self.root!r} (the root does not depend on it)"
            ) from None

    # -- local structure ---------------------------------------------------------------------

    @cached_property
    def consumers(self) -> list[list[tuple[int, int]]]:
        """``consumers[i]``: (consumer index, input position) for every use of node i, in
        topological order of the consumers (a node used twice by one consumer counts twice)."""
        uses: list[list[tuple[int, int]]] = [[] for _ in self.nodes]
        for c, ps in enumerate(self.parents):
            for pos, p in enumerate(ps):
                uses[p].append((c, pos))
        return uses

    def partials(self, i: int) -> tuple[float, ...]:
        """d(node i)/d(input) for each input of node i, from its row, at the graph's data
        (computed once). ``()`` for a leaf."""
        got = self._partials.get(i)
        if got is None:
            op = self.ops[i]
            if op is None:
                return ()
            xs = [self.data[p] for p in self.parents[i]]
            got = self._partials[i] = tuple(op.partials(*xs, self.data[i]))
        return got

    def role(self, i: int) -> str:
        """``"op"``, ``"parameter"`` (a leaf that requires grad), ``"input"`` (a leaf that
        needs no grad and fills a neuron's input slot) or ``"constant"``."""
        if self.ops[i] is not None:
            return "op"
        if self.nodes[i].requires_grad:
            return "parameter"
        if any(s.role == "input" for s in self.slots.get(i, ())):
            return "input"
        return "constant"

    def parameters(self) -> list[Value]:
        """The leaves that require grad, in graph order (what an optimizer would update)."""
        return [v for v in self.nodes if v.op_info is None and v.requires_grad]

    def scope(self, i: int) -> str:
        return self.nodes[i].scope

    def reaches_root(self, start: int) -> bytearray:
        """``mark[j] == 1`` for every node on a route from node ``start`` to the root."""
        mark = bytearray(len(self.nodes))
        mark[start] = 1
        for j in range(start + 1, len(self.nodes)):
            if any(mark[p] for p in self.parents[j]):
                mark[j] = 1
        return mark

    def first_nonfinite(self) -> int | None:
        """The first node (in topological order) whose value is inf or NaN, or ``None``."""
        for i, x in enumerate(self.data):
            if not math.isfinite(x):
                return i
        return None

    def name(self, i: int) -> str:
        """How text names node i: its label (and scope), else its role and position."""
        v = self.nodes[i]
        if v.label:
            return f"{v.label!r}" + (f" in {v.scope}" if v.scope else "")
        if i == len(self.nodes) - 1:
            return "the root"
        op = self.ops[i]
        return f"{op.name} node #{i}" if op is not None else f"{self.role(i)} #{i}"

    # -- neurons -----------------------------------------------------------------------------

    @cached_property
    def neurons(self) -> list[Neuron]:
        """Every neuron of the graph, in the order of their z nodes."""
        found: list[Neuron] = []
        for i, op in enumerate(self.ops):
            if op is None:
                continue
            if op.structure == "affine":
                found.append(self._affine(i, op))
            elif op.structure == "sum" and not self._inside_sum(i):
                nr = self._hand_built(i)
                if nr is not None:
                    found.append(nr)
        return found

    @cached_property
    def neuron_of(self) -> dict[int, Neuron]:
        """The neuron whose pre-activation z is node i, by i."""
        return {nr.z: nr for nr in self.neurons}

    @cached_property
    def slots(self) -> dict[int, list[Slot]]:
        """Every neuron slot each node fills (a weight of one neuron, an input of another)."""
        out: dict[int, list[Slot]] = {}
        for nr in self.neurons:
            via = nr.products or (nr.z,) * len(nr.weights)
            for k, (w, x) in enumerate(zip(nr.weights, nr.inputs)):
                out.setdefault(w, []).append(Slot(nr, "weight", k, via[k]))
                out.setdefault(x, []).append(Slot(nr, "input", k, via[k]))
            if nr.bias is not None:
                out.setdefault(nr.bias, []).append(Slot(nr, "bias", -1, self._bias_via(nr)))
        return out

    def _bias_via(self, nr: Neuron) -> int:
        if not nr.products:
            return nr.z
        return next(c for c, _ in self.consumers[nr.bias or 0] if self._in_tree(c, nr.z))

    def _in_tree(self, node: int, z: int) -> bool:
        while node != z:
            uses = self.consumers[node]
            if len(uses) != 1:
                return False
            node = uses[0][0]
        return True

    def _name(self, z: int) -> str:
        v = self.nodes[z]
        return v.scope or (repr(v.label) if v.label else f"at node #{z}")

    def _activation(self, z: int) -> int | None:
        uses = self.consumers[z]
        if len(uses) == 1 and uses[0][1] == 0:
            op = self.ops[uses[0][0]]
            if op is not None and op.structure == "elementwise":
                return uses[0][0]
        return None

    def _affine(self, i: int, op: Op) -> Neuron:
        ps = self.parents[i]
        roles = op.input_roles(len(ps))
        w = tuple(p for p, r in zip(ps, roles) if r == "weight")
        x = tuple(p for p, r in zip(ps, roles) if r == "input")
        b = next((p for p, r in zip(ps, roles) if r == "bias"), None)
        return Neuron(i, w, x, b, (), self._activation(i), self._name(i))

    def _inside_sum(self, i: int) -> bool:
        """Node i is an inner node of a larger sum: its one use is another sum node."""
        uses = self.consumers[i]
        if len(uses) != 1:
            return False
        op = self.ops[uses[0][0]]
        return op is not None and op.structure == "sum"

    def _hand_built(self, z: int) -> Neuron | None:
        """z = sum of products w_i * x_i (+ one bias leaf), from operators; else ``None``."""
        terms: list[int] = []
        todo = list(reversed(self.parents[z]))
        while todo:  # flatten, left to right, the sums whose inner nodes are used only here
            p = todo.pop()
            op = self.ops[p]
            if op is not None and op.structure == "sum" and len(self.consumers[p]) == 1:
                todo.extend(reversed(self.parents[p]))
            else:
                terms.append(p)
        products = [t for t in terms if self._is_product_term(t)]
        rest = [t for t in terms if t not in products]
        if not products or len(rest) > 1 or any(self.ops[t] is not None for t in rest):
            return None
        weights, inputs = zip(*(self._weight_first(t) for t in products))
        bias = rest[0] if rest else None
        act = self._activation(z)
        return Neuron(z, weights, inputs, bias, tuple(products), act, self._name(z))

    def _is_product_term(self, t: int) -> bool:
        """A product used only in the sum, with a factor that is a parameter leaf."""
        op = self.ops[t]
        if op is None or op.structure != "product" or len(self.consumers[t]) != 1:
            return False
        a, b = self.parents[t]
        # w * w (an L2 penalty's square) is no weight times an input
        return a != b and (self._is_parameter(a) or self._is_parameter(b))

    def _is_parameter(self, i: int) -> bool:
        return self.ops[i] is None and self.nodes[i].requires_grad

    def _weight_first(self, t: int) -> tuple[int, int]:
        """The factors of product node t as (weight, input)."""
        a, b = self.parents[t]
        va, vb = self.nodes[a], self.nodes[b]
        pa, pb = self._is_parameter(a), self._is_parameter(b)
        if pa != pb:
            return (a, b) if pa else (b, a)
        wa, wb = va.label[:1] in ("w", "W"), vb.label[:1] in ("w", "W")
        return (b, a) if wb and not wa else (a, b)
