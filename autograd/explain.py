"""Explain a gradient: how ``value.grad`` was made, with the numbers of the chain rule.

Reverse mode computes, for every node v of the graph of a root L,

    dL/dv = sum over the uses of v:  dL/dc * dc/dv

where c runs over the nodes that take v as an input (its *consumers*; a node used twice by
the same consumer counts twice), dL/dc is ``c.grad`` and dc/dv is the local partial from c's
op table row. :func:`explain_grad` lays that sum out. For a neuron weight it speaks the
language of backpropagation instead: a neuron is recognised structurally, as a node made by
the op table's fused ``dot`` row (z = sum_i w_i x_i + b, parents ``w_1..w_n, x_1..x_n[, b]``)
followed by an activation a = f(z), so

    dL/dw_i = delta * x_i,   delta = dL/dz = dL/da * da/dz,

and delta itself is explained one level up by the backprop recursion

    delta_j = f'(z_j) * sum_k w_kj * delta_k

over the nodes k (normally the next layer's neurons) that use a_j. The consumers come from one
pass over :func:`~autograd.topological_order` of the root (linear in the graph); no path is
ever enumerated, since their number grows exponentially with depth.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

from .context import _state
from .engine import Value
from .graph import Graph, Slot

__all__ = ["Explanation", "Neuron", "Term", "explain_grad"]


@dataclass(frozen=True)
class Neuron:
    """A use of a value inside a neuron z = sum_i w_i x_i (+ b), a = f(z).

    Attributes:
        name: The neuron's name: the scope of its pre-activation z (``layers.0.neurons.1``), else
            its label or position.
        z: The ``dot`` node (its ``.grad`` is the neuron's delta).
        role: ``"weight"``, ``"bias"`` or ``"input"``: which slot of z the value fills.
        index: i of w_i or x_i (-1 for the bias).
        w: The weight w_i of that slot (``None`` for the bias).
        x: The input x_i of that slot (1.0 for the bias: z = ... + 1 * b).
        input: The node x_i (``None`` for the bias).
        delta: dL/dz, read from ``z.grad``.
        activation: The node a = f(z) when z's only use is an activation, else ``None``.
        dL_da: ``a.grad`` (``None`` without activation).
        da_dz: f'(z) from a's op row (``None`` without activation).
        upstream: How delta was made, one level up: the explanation of dL/da (or of dL/dz
            when there is no activation). Given for weights and biases, ``None`` for inputs
            and below the first level.
        sample: Which call of the neuron this is, when a batch calls it once per sample (its
            k-th pre-activation node in graph order); ``None`` for a neuron called once.
    """

    name: str
    z: Value
    role: str
    index: int
    w: float | None
    x: float
    input: Value | None
    delta: float
    activation: Value | None
    dL_da: float | None
    da_dz: float | None
    upstream: Explanation | None
    sample: int | None = None

    @property
    def title(self) -> str:
        """The neuron's name, with the sample when a batch calls it more than once."""
        return self.name if self.sample is None else f"{self.name}, sample {self.sample}"


@dataclass(frozen=True)
class Term:
    """One use of the value: its contribution dL/dc * dc/dv to dL/dv.

    Attributes:
        consumer: The node c that takes the value as an input.
        position: Which input of c it is (an index into ``c.parents``).
        consumer_grad: dL/dc, read from ``c.grad``.
        local: dc/dv, from c's op row at the current values.
        product: ``consumer_grad * local``.
        neuron: Set when c is a neuron's ``dot`` node.
        description: How the consumer is named in the text.
    """

    consumer: Value
    position: int
    consumer_grad: float
    local: float
    product: float
    neuron: Neuron | None
    description: str


@dataclass(frozen=True)
class Explanation:
    """How ``value.grad`` was made; ``str()`` gives the explanation as text.

    Attributes:
        value: The node explained.
        root: L, the root of the graph whose backward pass made ``value.grad``.
        grad: ``value.grad`` as stored (``None`` for a constant).
        terms: One :class:`Term` per use of the value (empty when the value is the root).
        total: The sum of the terms' products: dL/dv recomputed from its parts. For the root
            itself, its ``.grad`` (the seed of backward).
        neuron: The first neuron in which the value is a weight or bias, else ``None``.
        upstream: That neuron's delta explained one level up (``neuron.upstream``).
        notes: Warnings, e.g. why ``total`` differs from ``grad``.
        text: The rendered explanation (what ``str()`` returns).
    """

    value: Value
    root: Value
    grad: float | None
    terms: tuple[Term, ...]
    total: float
    neuron: Neuron | None
    upstream: Explanation | None
    notes: tuple[str, ...] = ()
    text: str = field(default="", repr=False, compare=False)
    _caption: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def matches(self) -> bool:
        """Whether ``total`` equals ``grad`` up to rounding."""
        return _close(self.total, self.grad)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<Explanation of {self.value!r}: {len(self.terms)} route(s), total {self.total!r}>"

    def caption(self) -> list[str]:
        """The lines a drawing's caption shows: the head line and every route with its
        numbers, exactly as in ``str(self)`` (which adds the deltas one level up and notes)."""
        return list(self._caption)

    def _repr_html_(self) -> str:
        """A table for Jupyter: one row per route, then the total against ``.grad``."""
        esc = html.escape
        rows = [
            f"<tr><td>{k}</td><td>{esc(t.description)}</td><td>{t.position}</td>"
            f"<td>{_num(t.consumer_grad)}</td><td>{_num(t.local)}</td>"
            f"<td>{_num(t.product)}</td></tr>"
            for k, t in enumerate(self.terms, 1)
        ]
        grad = "None" if self.grad is None else _num(self.grad)
        head = "".join(f"<th>{h}</th>" for h in _HTML_HEAD)
        lines = "<br>".join(esc(line) for line in self._caption)
        return (
            f"<div><p style='font-family:monospace'>{lines}</p><table><tr>{head}</tr>"
            f"{''.join(rows)}<tr><td colspan=5><b>dL/dv = sum</b></td>"
            f"<td><b>{_num(self.total)}</b> (.grad = {grad})</td></tr></table></div>"
        )


_HTML_HEAD = ("route", "through c", "input", "dL/dc", "dc/dv", "contribution")


def explain_grad(
    value: Value, root: Value | None = None, *, graph: Graph | None = None
) -> Explanation:
    """Explain how ``value.grad`` was made, with numbers.

    Run ``root.backward()`` first: the explanation reads the ``.grad`` of the nodes that use
    ``value`` (dL/dc) and their op rows (dc/dv).

    Args:
        value: Any node of the graph (a weight, a bias, an activation, ...).
        root: L, the node ``backward()`` ran from. Default: the root of the last backward pass
            in this thread, if it is still alive (or ``graph.root``).
        graph: The :class:`~autograd.Graph` of root, when the caller has built it already.

    Returns:
        An :class:`Explanation`; ``str()`` of it is the text.

    Raises:
        TypeError: ``value`` or ``root`` is not a Value.
        ValueError: No root was given and none can be found, or ``value`` is not in the graph
            of ``root``.
    """
    if not isinstance(value, Value):
        raise TypeError(f"explain_grad: value must be a Value, got {type(value).__name__}")
    if root is None and graph is not None:
        root = graph.root
        where = "root"
    elif root is None:
        root = _last_root()
        where = "the root of the last backward() pass"
    elif not isinstance(root, Value):
        raise TypeError(f"explain_grad: root must be a Value, got {type(root).__name__}")
    else:
        where = "root"
    if graph is None:
        graph = Graph(root)
    elif not isinstance(graph, Graph) or graph.root is not root:
        raise ValueError("explain_grad: graph must be the Graph of root (autograd.Graph(root))")
    if value not in graph:
        raise ValueError(
            f"explain_grad: {value!r} is not in the graph of {where} {root!r}, so L does not "
            "depend on it; pass root= (the node you called backward() on)"
        )
    return _Explainer(graph).explain(graph.index(value), levels=1)


def _last_root() -> Value:
    ref = _state.last_root
    if ref is None:
        raise ValueError(
            "explain_grad: no root given and backward() has not run in this thread; "
            "call loss.backward() first, or pass root=loss"
        )
    root = ref()
    if root is None:
        raise ValueError(
            "explain_grad: no root given and the root of the last backward() pass has been "
            "freed; keep a reference to it (loss = ...) and pass root=loss"
        )
    return root


def _close(a: float, b: float | None) -> bool:
    if b is None:
        return False
    return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


class _Explainer:
    """Explanations of the nodes of one :class:`~autograd.graph.Graph`."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.root = graph.root
        # A neuron called once per sample (a batch) has one z per call: number the calls.
        self.call: dict[int, tuple[int, int]] = {}
        seen: dict[str, list[int]] = {}
        for nr in graph.neurons:
            seen.setdefault(nr.name, []).append(nr.z)
        for zs in seen.values():
            for k, z in enumerate(zs):
                self.call[z] = (k, len(zs))

    def node(self, i: int) -> Value:
        return self.graph.nodes[i]

    def name(self, node: Value) -> str:
        """How a node is named in text: its label (and scope), else its role and position."""
        return self.graph.name(self.graph.index(node))

    def describe(self, c: int) -> str:
        """The name of consumer node c plus its op's one line of math."""
        v, op = self.node(c), self.graph.ops[c]
        doc = f" [{op.doc}]" if op is not None and op.doc else ""
        lab = f"{v.label!r} = " if v.label else ""
        return f"{lab}{v.op} node #{c}{doc}"

    def sample(self, z: int) -> int | None:
        k, n = self.call.get(z, (0, 1))
        return k if n > 1 else None

    def neuron(self, slot: Slot, levels: int) -> Neuron:
        g, nr = self.graph, slot.neuron
        x_i = nr.inputs[slot.index] if slot.role != "bias" else None
        w_i = nr.weights[slot.index] if slot.role != "bias" else None
        act = nr.activation
        dl_da = da_dz = None
        if act is not None:
            dl_da = self.node(act).grad
            da_dz = g.partials(act)[0]
        upstream = None
        if levels > 0 and slot.role != "input":
            upstream = self.explain(act if act is not None else nr.z, levels - 1)
        delta = self.node(nr.z).grad
        return Neuron(
            name=nr.name,
            z=self.node(nr.z),
            role=slot.role,
            index=slot.index,
            w=None if w_i is None else g.data[w_i],
            x=1.0 if x_i is None else g.data[x_i],
            input=None if x_i is None else self.node(x_i),
            delta=0.0 if delta is None else delta,
            activation=None if act is None else self.node(act),
            dL_da=dl_da,
            da_dz=da_dz,
            upstream=upstream,
            sample=self.sample(nr.z),
        )

    def explain(self, i: int, levels: int) -> Explanation:
        g = self.graph
        value = self.node(i)
        slots = {s.via: s for s in g.slots.get(i, ())}
        terms: list[Term] = []
        for c, pos in g.consumers[i]:
            local = g.partials(c)[pos]
            cg = self.node(c).grad
            cg = 0.0 if cg is None else cg
            slot = slots.get(c)
            neuron = self.neuron(slot, levels) if slot is not None else None
            terms.append(Term(self.node(c), pos, cg, local, cg * local, neuron, self.describe(c)))
        grad = value.grad
        total = _backward_sum(terms) if terms else (0.0 if grad is None else grad)
        first = next(
            (t.neuron for t in terms if t.neuron is not None and t.neuron.role != "input"), None
        )
        e = Explanation(
            value=value,
            root=self.root,
            grad=grad,
            terms=tuple(terms),
            total=total,
            neuron=first,
            upstream=first.upstream if first is not None else None,
            notes=self.notes(value, total),
        )
        text = _Text(self, e)
        object.__setattr__(e, "text", text.render())
        object.__setattr__(e, "_caption", tuple(text.main()))
        return e

    def notes(self, value: Value, total: float) -> tuple[str, ...]:
        out: list[str] = []
        if value.grad is None:
            out.append(
                "it is a constant (requires_grad=False): backward computes no gradient for it; "
                "the routes show what one would be"
            )
        elif self.root.grad == 0.0:
            out.append(
                "L.grad is 0: backward() has not run from this root (or ran with gradient 0); "
                "call root.backward() first"
            )
        elif not _close(total, value.grad):
            out.append(
                f"the uses add up to {_num(total)} but .grad = {_num(value.grad)}: .grad holds "
                "gradient from more than one backward() pass, was zeroed or set by hand, or the "
                "values changed after backward() (an optimizer step?)"
            )
        return tuple(out)


def _backward_sum(terms: list[Term]) -> float:
    """The terms added in the order backward adds them (last consumer first, the inputs of
    one consumer in argument order), so the total is bit-for-bit ``.grad`` after one pass."""
    total = 0.0
    k = len(terms)
    while k:
        j = k - 1
        while j and terms[j - 1].consumer is terms[k - 1].consumer:
            j -= 1
        for t in terms[j:k]:
            total += t.product
        k = j
    return total


# ---------------------------------------------------------------------------------------------
# Text


def _num(x: float) -> str:
    """Four decimals; scientific notation where four decimals would hide the number."""
    if x == 0.0 or not math.isfinite(x) or 1e-4 <= abs(x) < 1e6:
        return f"{x:.4f}"
    return f"{x:.4e}"


def _p(x: float) -> str:
    """A number as a factor: negative numbers in parentheses."""
    s = _num(x)
    return f"({s})" if s.startswith("-") else s


def _check(total: float, grad: float | None, what: str = ".grad") -> str:
    if grad is None:
        return f"  ({what} is None: a constant)"
    if _close(total, grad):
        return f"  (matches {what} = {_num(grad)})"
    return f"  (but {what} = {_num(grad)}: see the note below)"


# A weight shared by a batch of samples reaches L once per sample: the text lists this many
# routes and explains this many deltas; the data (Explanation.terms) always has them all.
_MAX_ROUTES = 20
_MAX_RECURSIONS = 3


class _Text:
    def __init__(self, graph: _Explainer, e: Explanation) -> None:
        self.g = graph
        self.e = e

    def render(self) -> str:
        lines = self.main()
        e = self.e
        ups = [t.neuron for t in e.terms if t.neuron is not None and t.neuron.upstream is not None]
        for nr in ups[:_MAX_RECURSIONS]:
            lines.extend(self.recursion(nr))
        if len(ups) > _MAX_RECURSIONS:
            lines.append(
                f"(the deltas of the other {len(ups) - _MAX_RECURSIONS} neuron routes are in "
                ".terms[i].neuron.upstream)"
            )
        lines.extend(f"note: {n}" for n in e.notes)
        return "\n".join(lines)

    def main(self) -> list[str]:
        """The head line and every route with its numbers: what a drawing's caption shows."""
        e, g = self.e, self.g
        v = e.value
        sym = self.symbol(v)
        what = f"{sym} = {g.name(v)}"
        if sym == v.label:  # named by its own label: say it once
            what = sym + (f" in {v.scope}" if v.scope else "")
        lines = [
            f"Gradient of L = {g.name(e.root)} (data {_num(e.root.data)}) with respect to "
            f"{what} (data {_num(v.data)}):"
        ]
        if not e.terms:
            lines.append(
                f"{sym} is L itself: dL/d{sym} = 1 times the gradient backward() started with"
                f"{_check(e.total, e.grad)}"
            )
        elif len(e.terms) == 1:
            t = e.terms[0]
            lines.extend(self.context(t))
            formula, _ = self.route(t, sym)
            lines.append(f"dL/d{sym} = {formula} = {_num(t.product)}{_check(e.total, e.grad)}")
        else:
            lines.append(
                f"{sym} reaches L by {len(e.terms)} routes; dL/d{sym} is the sum of their "
                "contributions:"
            )
            for k, t in enumerate(e.terms[:_MAX_ROUTES], 1):
                formula, via = self.route(t, sym)
                lines.append(f"  route {k}, through {via}:")
                lines.append(f"    {formula} = {_num(t.product)}")
            if len(e.terms) > _MAX_ROUTES:
                parts = f"the sum of the {len(e.terms)} contributions"
                lines.append(f"  ... {len(e.terms) - _MAX_ROUTES} more routes (all in .terms)")
            else:
                parts = " + ".join(_p(t.product) for t in e.terms)
            lines.append(f"dL/d{sym} = {parts} = {_num(e.total)}{_check(e.total, e.grad)}")
        return lines

    def symbol(self, v: Value) -> str:
        e = self.e
        if v.label.isidentifier():
            return v.label  # dL/dw1 = delta * x1, in the names the user gave
        roles = {t.neuron.role for t in e.terms if t.neuron is not None}
        if roles == {"weight"}:
            return "w"
        if roles == {"bias"}:
            return "b"
        return "v"

    def context(self, t: Term) -> list[str]:
        """One line placing a neuron weight or bias in its neuron."""
        nr = t.neuron
        if nr is None:
            return []
        if nr.role == "input":
            return [
                f"it is input x_{nr.index} of neuron {nr.title} (weight w_{nr.index} = "
                f"{_num(t.local)}): z = sum_i w_i x_i + b, delta = dL/dz"
            ]
        f = self.activation_text(nr)
        if nr.role == "weight":
            inp = f" ({self.g.name(nr.input)})" if nr.input is not None else ""
            what = f"multiplies input x = {_num(nr.x)}{inp}"
        else:
            what = "is the bias"
        return [f"it {what} in neuron {nr.title}: z = sum_i w_i x_i + b{f}"]

    def activation_text(self, nr: Neuron) -> str:
        a = nr.activation
        if a is None:
            return ""
        return f", a = {a.op}(z)"

    def route(self, t: Term, sym: str) -> tuple[str, str]:
        """The chain-rule product of one use, and how to name that use."""
        nr = t.neuron
        if nr is not None and nr.role != "input":
            x = "1"
            if nr.role == "weight":
                lab = nr.input.label if nr.input is not None else ""
                x = lab if lab.isidentifier() and lab != sym else "x"
            if nr.activation is not None and nr.dL_da is not None and nr.da_dz is not None:
                formula = (
                    f"delta * {x} = (dL/da * da/dz) * {x} = "
                    f"({_p(nr.dL_da)} * {_p(nr.da_dz)}) * {_p(nr.x)}"
                )
            else:
                formula = f"delta * {x} = dL/dz * {x} = {_p(nr.delta)} * {_p(nr.x)}"
            return formula, f"neuron {nr.title} ({nr.role} {self.slot(nr)})"
        if nr is not None:
            formula = f"w * delta = {_p(t.local)} * {_p(t.consumer_grad)}"
            return formula, f"neuron {nr.title} (input {nr.index})"
        c = "c"
        formula = f"dL/d{c} * d{c}/d{sym} = {_p(t.consumer_grad)} * {_p(t.local)}"
        return formula, f"c = {t.description}, input {t.position}"

    @staticmethod
    def slot(nr: Neuron) -> str:
        return "b" if nr.role == "bias" else f"w_{nr.index}"

    def recursion(self, nr: Neuron) -> list[str]:
        """delta one level up: delta_j = f'(z_j) * sum_k w_kj * delta_k, with numbers."""
        up = nr.upstream
        assert up is not None
        a = nr.activation
        pad = "        "
        head = f"delta of neuron {nr.title}, one level up"
        if a is not None and nr.da_dz is not None:
            if not up.terms:
                return [
                    f"{head}: a is L itself, so dL/da = 1 and",
                    f"  delta = f'(z) * dL/da = {_p(nr.da_dz)} * {_p(up.total)} = "
                    f"{_num(nr.da_dz * up.total)}{_check(nr.da_dz * up.total, nr.delta, 'z.grad')}",
                ]
            if all(t.neuron is not None for t in up.terms):
                lines = [
                    f"{head} (backprop recursion; k runs over the {len(up.terms)} neuron(s) "
                    "using a):",
                    "  delta = f'(z) * sum_k w_kj * delta_k",
                ]
            else:
                lines = [
                    f"{head} (c runs over the {len(up.terms)} node(s) using a; for a neuron "
                    "c, dc/da * dL/dc is w_cj * delta_c):",
                    "  delta = f'(z) * dL/da = f'(z) * sum_c dc/da * dL/dc",
                ]
            s = " + ".join(f"{_p(t.local)} * {_p(t.consumer_grad)}" for t in up.terms)
            delta = nr.da_dz * up.total
            lines.append(f"{pad}= {_p(nr.da_dz)} * ({s})")
            lines.append(
                f"{pad}= {_p(nr.da_dz)} * {_p(up.total)} = {_num(delta)}"
                f"{_check(delta, nr.delta, 'z.grad')}"
            )
            op = a.op_info
            doc = f" [{op.doc}]" if op is not None and op.doc else ""
            lines.append(f"  f'(z) = da/dz of a = {a.op}(z) at z = {_num(nr.z.data)}{doc}")
        else:
            if not up.terms:
                return [f"{head}: z is L itself, so delta = dL/dz = {_num(up.total)}"]
            lines = [
                f"{head} (z has no single activation; sum over the {len(up.terms)} node(s) "
                "using z):",
                "  delta = dL/dz = sum_c dc/dz * dL/dc",
            ]
            s = " + ".join(f"{_p(t.local)} * {_p(t.consumer_grad)}" for t in up.terms)
            lines.append(f"{pad}= {s}")
            lines.append(f"{pad}= {_num(up.total)}{_check(up.total, nr.delta, 'z.grad')}")
        for t in up.terms:
            k = t.neuron
            if k is not None and k.role == "input":
                lines.append(
                    f"    k = neuron {k.title}: w_kj = {_num(t.local)} (w_{k.index}), "
                    f"delta_k = {_num(t.consumer_grad)}"
                )
            else:
                lines.append(
                    f"    c = {t.description}: dc/d{'a' if a is not None else 'z'} = "
                    f"{_num(t.local)}, dL/dc = {_num(t.consumer_grad)}"
                )
        if up.terms and up.grad is not None and not _close(up.total, up.grad):
            lines.append(f"  note: dL/da adds up to {_num(up.total)} but a.grad = {_num(up.grad)}")
        return lines
