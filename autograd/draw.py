"""Drawing a computation graph: values, ops, a gradient heat map, neuron clusters, and the chain
rule of one highlighted value.

:func:`draw_graph` returns a ``graphviz.Digraph`` (it displays inline in Jupyter);
:func:`render_graph` writes it to ``.svg``, ``.png``, ``.pdf`` or ``.dot``.

How the picture is made:

* Every Value is a box with its label, ``data`` and ``grad`` (``%.4f``, as micrograd); every
  op is a small ellipse with the op table's ``symbol``. Edges follow the data:
  parent -> op -> result.
* Node ids are the topological index (``v12`` for a value, ``o12`` for the op that made it,
  ``g3`` for a collapsed neuron): never ``id()``, never user text. The DOT text is the same
  byte for byte from run to run and for two builds of the same graph.
* All user text (labels, scope names, user op symbols) goes into HTML-like labels through
  :func:`_html`, which escapes ``& < > "`` and doubles backslashes (Graphviz substitutes
  ``\\N``, ``\\G``... even inside HTML labels, and collapses ``\\\\``).
* Local derivatives come from the op table: ``v.op_info.partials(*parent_datas, v.data)``.
* The one structural rule that knows an op row is :data:`~autograd.ops.NEURON_OP` (the fused
  ``autograd.dot``): a node made by it is a neuron's pre-activation ``z`` (parents
  ``(w_1..w_n, x_1..x_n[, b])``, its grad is the neuron's delta). A scope holding such nodes
  is a neuron cluster: with ``max_nodes`` exceeded it collapses into one node showing, for
  each call of the neuron, z, its output ``a`` (the most downstream node of the scope
  computed from that z) and delta = z.grad. A highlighted value used once, in a weight slot
  of such a node, gets the caption ``dL/dw = delta * x``.
* No recursion: one pass in topological order for each of highlight, collapse and output.
"""

from __future__ import annotations

import html
import itertools
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz

from ._render import RendererNotFoundError, find_renderer, render_source, write_atomic
from .engine import Value, topological_order
from .ops import NEURON_OP, Op

__all__ = ["NEURON_OP", "RendererNotFoundError", "draw_graph", "render_graph"]

_RANKDIRS = ("TB", "LR", "BT", "RL")

# Output format of each file suffix render_graph accepts.
_SUFFIX_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}

# ---------------------------------------------------------------------------------------------
# Colours. A sequential palette (light yellow to dark red) for |grad| / max|grad|; exact zeros
# are grey with a dashed border, so dead ReLUs and vanished paths stand out from "small".

_STOPS = (
    (0.00, (255, 250, 235)),
    (0.25, (254, 217, 142)),
    (0.50, (253, 141, 60)),
    (0.75, (217, 48, 31)),
    (1.00, (128, 0, 38)),
)
_LEVELS = 100


def _mix(t: float) -> str:
    for (t0, c0), (t1, c1) in itertools.pairwise(_STOPS):
        if t <= t1:
            u = (t - t0) / (t1 - t0)
            r, g, b = (round(a + (b_ - a) * u) for a, b_ in zip(c0, c1))
            return f"#{r:02x}{g:02x}{b:02x}"
    return "#{:02x}{:02x}{:02x}".format(*_STOPS[-1][1])


_PALETTE = tuple(_mix(k / _LEVELS) for k in range(_LEVELS + 1))
_DARK_FROM = 58  # palette levels from here on get white text
_ZERO_FILL = "#e9e9ec"
_ZERO_ATTRS = (
    ' fillcolor="#e9e9ec" style="rounded,filled,dashed" color="#8c8c99" fontcolor="#55555f"'
)
# A constant (a number used as an operand): no box fill, no grad, a dotted thin outline.
_CONST_ATTRS = ' style="rounded,dotted" color="#a0a0aa" fontcolor="#6b6b75" fillcolor="white"'
_HEAT_ATTRS = tuple(
    f' fillcolor="{c}"' + (' fontcolor="white"' if k >= _DARK_FROM else "")
    for k, c in enumerate(_PALETTE)
)

_ROUTE = "#1d4ed8"  # the highlighted routes: blue, far from the heat palette
_ROUTE_NODE = f' color="{_ROUTE}" penwidth=2'
_HIGHLIGHT_NODE = f' color="{_ROUTE}" penwidth=3.5'
_ROUTE_EDGE = f'color="{_ROUTE}" penwidth=2.6 fontcolor="{_ROUTE}" fontsize=9 style=bold'
_OP_ATTRS = (
    ' shape=ellipse style=filled fillcolor="#eef1f6" color="#8a94a6" fontsize=10'
    ' width=0.3 height=0.3 margin="0.04,0.02"'
)
_GROUP_ATTRS = " peripheries=2"
_CALLS_SHOWN = 3  # z, a, delta rows shown for a collapsed neuron called on a batch
_CLUSTER_FILLS = ("#f6f8fc", "#edf1f8", "#e3e9f3", "#d9e1ee")

# ---------------------------------------------------------------------------------------------
# Text

_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_NEWLINE = re.compile(r"\r\n|\r|\n")


def _show_char(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def _html(text: str) -> str:
    """``text`` as the content of a Graphviz HTML-like label, shown literally.

    Control characters and lone surrogates (invalid in the SVG's XML) are shown as ``\\xNN``;
    ``& < > "`` become entities; every backslash is doubled, because Graphviz still applies
    its escapes (``\\N`` = node name, ``\\\\`` = ``\\``) to HTML label text; line breaks become
    ``<BR/>``.
    """
    text = _UNPRINTABLE.sub(_show_char, text)
    text = html.escape(text, quote=False).replace('"', "&quot;").replace("\\", "\\\\")
    return _NEWLINE.sub("<BR/>", text)


def _num(x: float) -> str:
    """A number for captions and edge labels: 4 decimals, scientific when that would hide it."""
    if x == 0.0 or (1e-3 <= abs(x) < 1e6):
        return f"{x:.4f}"
    return f"{x:.4e}"


# ---------------------------------------------------------------------------------------------
# The drawing


class GraphDrawing(graphviz.Digraph):  # type: ignore[misc]
    """A ``graphviz.Digraph`` whose inline display (Jupyter, ``_repr_mimebundle_``) renders
    with ``dot`` or, without it, with ``graphviz-pure``: see :mod:`autograd._render`."""

    def _repr_image_svg_xml(self) -> str:
        return render_source(self.source, "svg").decode("utf-8")

    def _repr_image_png(self) -> bytes:
        return render_source(self.source, "png")


@dataclass
class _Neuron:
    """A neuron cluster drawn as one node (collapsed mode): a scope holding NEURON_OP nodes.

    ``zs[k]`` is the z of the k-th call (a network applied to a batch calls each neuron once
    per sample) and ``outs[k]`` that call's output a: the most downstream node of the scope
    computed from ``zs[k]``.
    """

    scope: str
    zs: list[int] = field(default_factory=list)
    outs: list[int] = field(default_factory=list)
    members: list[int] = field(default_factory=list)


def draw_graph(
    root: Value,
    *,
    rankdir: str = "LR",
    show_data: bool = True,
    show_grad: bool = True,
    color_by_grad: bool = True,
    cluster: bool = True,
    highlight: Value | None = None,
    max_nodes: int | None = 2000,
) -> graphviz.Digraph:
    """Draw the computation graph that ``root`` depends on.

    Args:
        root: The output (usually the loss) whose graph is drawn.
        rankdir: Graphviz layout direction: ``"LR"``, ``"TB"``, ``"RL"`` or ``"BT"``.
        show_data: Show each value's ``data`` (4 decimals).
        show_grad: Show each value's ``grad`` (4 decimals).
        color_by_grad: Fill each value by |grad| / max |grad| over the graph (a heat map, with
            a legend in the caption); values whose grad is exactly 0 are grey and dashed.
        cluster: Draw values made inside ``autograd.scope(name)`` in nested ``cluster_*``
            subgraphs titled with the scope names (a layer contains its neurons).
        highlight: A value of the graph (a weight, say). Its routes to ``root`` are drawn bold
            in blue, each input edge labelled with its local derivative from the op table, and
            the caption spells out its gradient with numbers.
        max_nodes: When the graph has more values than this, every neuron cluster (a scope
            holding a :data:`NEURON_OP` node, as ``nn``'s neurons) is drawn as one node
            showing z, a and delta = dL/dz, and the caption says so. ``None``: never
            collapse.

    Returns:
        A ``graphviz.Digraph`` (displays inline in Jupyter, even without ``dot``; see
        :func:`render_graph` to write files).

    Raises:
        TypeError: ``root`` or ``highlight`` is not a Value, or ``max_nodes`` not an int.
        ValueError: bad ``rankdir`` or ``max_nodes``, or ``highlight`` not in the graph.
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw_graph: root must be a Value, got {type(root).__name__}: {root!r}")
    if rankdir not in _RANKDIRS:
        raise ValueError(f"draw_graph: rankdir must be one of {_RANKDIRS}, got {rankdir!r}")
    if highlight is not None and not isinstance(highlight, Value):
        raise TypeError(
            f"draw_graph: highlight must be a Value or None, got {type(highlight).__name__}"
        )
    if max_nodes is not None:
        if not isinstance(max_nodes, int) or isinstance(max_nodes, bool):
            raise TypeError(f"draw_graph: max_nodes must be an int or None, got {max_nodes!r}")
        if max_nodes < 0:
            raise ValueError(f"draw_graph: max_nodes must be >= 0, got {max_nodes}")

    order = topological_order(root)
    n = len(order)
    index = {id(v): i for i, v in enumerate(order)}
    parents = [tuple([index[id(p)] for p in v.parents]) for v in order]
    ops = [v.op_info for v in order]
    datas = [v.data for v in order]
    grads = [v.grad for v in order]
    finite = [abs(g) for g in grads if g is not None and math.isfinite(g)]
    gmax = max(finite) if finite else 0.0

    # -- the highlighted value's routes to the root ----------------------------------------
    # Every node of `order` leads to the root, so the routes are the nodes reachable from the
    # highlighted one: one forward pass in topological order. Path counts never matter.
    hi = -1
    route = bytearray(n)
    if highlight is not None:
        hi = index.get(id(highlight), -1)
        if hi < 0:
            raise ValueError(
                f"draw_graph: highlight {highlight!r} is not in the graph of root {root!r} "
                "(root does not depend on it)"
            )
        route[hi] = 1
        for i in range(hi + 1, n):
            for j in parents[i]:
                if route[j]:
                    route[i] = 1
                    break

    # -- collapsing neuron clusters ----------------------------------------------------------
    collapse = max_nodes is not None and n > max_nodes
    group_of = [-1] * n
    neurons: list[_Neuron] = []
    if collapse:
        by_scope: dict[str, int] = {}
        for i, v in enumerate(order):
            if ops[i] is NEURON_OP and v.scope and v.scope not in by_scope:
                by_scope[v.scope] = len(neurons)
                neurons.append(_Neuron(v.scope))
        call_of = [-1] * n  # which call of its neuron a member was computed from
        for i, v in enumerate(order):
            s = v.scope
            while s:  # the innermost enclosing neuron scope, if any
                k = by_scope.get(s)
                if k is not None:
                    nr = neurons[k]
                    group_of[i] = k
                    nr.members.append(i)
                    if ops[i] is NEURON_OP:
                        call_of[i] = len(nr.zs)
                        nr.zs.append(i)
                        nr.outs.append(i)
                    else:
                        for j in parents[i]:
                            if group_of[j] == k and call_of[j] >= 0:
                                call_of[i] = call_of[j]
                                nr.outs[call_of[j]] = i
                                break
                    break
                s = s.rpartition(".")[0]

    # -- node lines, bucketed by the scope (cluster) they belong to -------------------------
    buckets: dict[str, list[str]] = {}
    # Clusters are laid out in the order their first computation happened (layer 0 before
    # layer 1), not in the order the depth-first walk first met one of their leaves.
    first_op: dict[str, int] = {}

    def fill(g: float | None) -> str:
        if g is None:
            return _CONST_ATTRS  # a constant: its value only, quiet, never heat-coloured
        if not color_by_grad:
            return ""
        if g == 0.0:
            return _ZERO_ATTRS
        a = abs(g)
        level = _LEVELS if not (a < gmax) else int(a / gmax * _LEVELS + 0.5)
        return _HEAT_ATTRS[level]

    for i in range(n):
        if group_of[i] >= 0:
            continue
        v = order[i]
        rows = []
        lab = v.label
        if lab:
            rows.append(f"<B>{_html(lab)}</B>")
        if show_data:
            rows.append(f"data {datas[i]:.4f}")
        g = grads[i]
        if show_grad and g is not None:
            rows.append(f"grad {g:.4f}")
        mark = _HIGHLIGHT_NODE if i == hi else (_ROUTE_NODE if route[i] else "")
        line = f"\tv{i} [label=<{'<BR/>'.join(rows)}>{fill(grads[i])}{mark}]\n"
        place = v.scope if cluster else ""
        bucket = buckets.get(place)
        if bucket is None:
            bucket = buckets[place] = []
        bucket.append(line)
        op = ops[i]
        if op is not None:
            bucket.append(f"\to{i} [label=<{_html(op.symbol)}>{_OP_ATTRS}]\n")
            if place not in first_op:
                first_op[place] = i

    for k, nr in enumerate(neurons):
        title = _html(nr.scope.rpartition(".")[2])
        calls = len(nr.zs)
        rows = [f"<B>{title}</B>" + (f" ({calls} calls)" if calls > 1 else "")]
        for z, a in list(zip(nr.zs, nr.outs))[:_CALLS_SHOWN]:
            zad = f"z {datas[z]:.4f}", f"a {datas[a]:.4f}", f"δ {grads[z]:.4f}"
            rows.extend(zad if calls == 1 else ["   ".join(zad)])
        if calls > _CALLS_SHOWN:
            rows.append(f"… {calls - _CALLS_SHOWN} more calls")
        delta = max((grads[z] or 0.0 for z in nr.zs), key=abs)
        hit = any(route[j] for j in nr.members)
        mark = _HIGHLIGHT_NODE if hi in nr.members else (_ROUTE_NODE if hit else "")
        line = f"\tg{k} [label=<{'<BR/>'.join(rows)}>{fill(delta)}{_GROUP_ATTRS}{mark}]\n"
        place = nr.scope.rpartition(".")[0] if cluster else ""
        buckets.setdefault(place, []).append(line)
        first_op[place] = min(first_op.get(place, nr.zs[0]), nr.zs[0])

    # -- edges, in data-flow direction ------------------------------------------------------
    edges: list[str] = []
    into_groups: dict[tuple[str, int], bool] = {}
    for c in range(n):
        ps = parents[c]
        if not ps:
            continue
        gc = group_of[c]
        if gc < 0:
            oc = f"o{c}"
            on = route[c]
            partials: tuple[float, ...] | None = None
            for pos, p in enumerate(ps):
                gp = group_of[p]
                src = f"v{p}" if gp < 0 else f"g{gp}"
                if on and route[p]:
                    if gp < 0:
                        if partials is None:
                            partials = _partials(ops[c], [datas[j] for j in ps], datas[c])
                        d = _num(partials[pos]) if pos < len(partials) else "?"
                        edges.append(f"\t{src} -> {oc} [{_ROUTE_EDGE} label=<∂ {d}>]\n")
                    else:
                        edges.append(f"\t{src} -> {oc} [{_ROUTE_EDGE}]\n")
                else:
                    edges.append(f"\t{src} -> {oc}\n")
            edges.append(f"\t{oc} -> v{c} [{_ROUTE_EDGE}]\n" if on else f"\t{oc} -> v{c}\n")
        else:
            for p in ps:
                gp = group_of[p]
                if gp == gc:
                    continue
                key = (f"v{p}" if gp < 0 else f"g{gp}", gc)
                into_groups[key] = into_groups.get(key, False) or bool(route[p] and route[c])
    for (src, gc), bold in into_groups.items():
        edges.append(f"\t{src} -> g{gc} [{_ROUTE_EDGE}]\n" if bold else f"\t{src} -> g{gc}\n")

    # -- caption: highlight formula, collapse note, heat legend ------------------------------
    caption: list[str] = []
    if hi >= 0:
        caption.extend(_highlight_caption(order, parents, ops, datas, grads, hi))
    if collapse:
        caption.append(_collapse_note(n, max_nodes, len(neurons)))
    if gmax == 0.0 and n > 1 and (show_grad or color_by_grad or hi >= 0):
        caption.append("All gradients are 0: call backward() on the root before drawing.")
    if color_by_grad:
        caption.append(_legend(gmax))

    g = GraphDrawing(
        name="deltagrad",
        graph_attr={
            "rankdir": rankdir,
            "fontname": "Helvetica",
            "fontsize": "11",
            "labelloc": "t",
            "labeljust": "l",
            "nodesep": "0.25",
            "ranksep": "0.35",
        },
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fillcolor": "white",
            "color": "#4b5563",
            "fontname": "Helvetica",
            "fontsize": "10",
            "margin": "0.08,0.04",
        },
        edge_attr={"color": "#6b7280", "arrowsize": "0.6", "fontname": "Helvetica"},
    )
    body: list[str] = g.body
    if caption:
        table = "".join(f'<TR><TD ALIGN="LEFT">{row}</TD></TR>' for row in caption)
        body.append(
            f'\tlabel=<<TABLE BORDER="0" CELLSPACING="1" CELLPADDING="1">{table}</TABLE>>\n'
        )
    body.extend(buckets.pop("", ()))
    if buckets:
        ranked = sorted(buckets, key=lambda path: first_op.get(path, n))
        body.extend(_clusters({path: buckets[path] for path in ranked}))
    body.extend(edges)
    return g


def _partials(op: Op | None, xs: list[float], out: float) -> tuple[float, ...]:
    """Local derivatives from the op table; NaN for each if the row cannot give them here."""
    if op is None:
        return ()
    try:
        return tuple(op.partials(*xs, out))
    except (ArithmeticError, ValueError, TypeError):
        return (math.nan,) * len(xs)


def _clusters(buckets: dict[str, list[str]]) -> list[str]:
    """Nested ``cluster_<k>`` subgraphs for the scope paths in ``buckets`` (and their
    ancestors), numbered in order of first appearance; titled with each scope's own name."""
    children: dict[str, list[str]] = {"": []}
    for path in buckets:
        chain = []
        p = path
        while p not in children:
            chain.append(p)
            p = p.rpartition(".")[0]
        for q in reversed(chain):
            children[p].append(q)
            children[q] = []
            p = q
    out: list[str] = []
    count = 0
    stack: list[tuple[str, int]] = [(c, 0) for c in reversed(children[""])]
    while stack:
        path, depth = stack.pop()
        if depth < 0:
            out.append("\t}\n")
            continue
        title = _html(path.rpartition(".")[2])
        shade = _CLUSTER_FILLS[min(depth, len(_CLUSTER_FILLS) - 1)]
        out.append(f"\tsubgraph cluster_{count} {{\n")
        out.append(
            f'\t\tlabel=<<B>{title}</B>> style="rounded,filled" fillcolor="{shade}" '
            f'color="#a3aec2" fontsize=10 labeljust=l\n'
        )
        count += 1
        out.extend(buckets.get(path, ()))
        stack.append((path, -1))
        # Siblings are written last-first: with rankdir=LR, dot stacks sibling clusters
        # bottom-up in the order written, so neuron0 ends up on top, as a reader expects.
        stack.extend((c, depth + 1) for c in children[path])
    return out


def _legend(gmax: float) -> str:
    """The heat-map legend: swatches for |grad| / max|grad| and the exact-zero style."""
    cells = [f'<TD BORDER="0" ALIGN="LEFT">|grad| / max |grad| (max {_num(gmax)}):</TD>']
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        k = round(frac * _LEVELS)
        font = ' COLOR="white"' if k >= _DARK_FROM else ""
        cells.append(
            f'<TD BGCOLOR="{_PALETTE[k]}"><FONT{font}>{"&gt;" if k == 0 else ""}'
            f"{round(frac * 100)}%</FONT></TD>"
        )
    cells.append(
        f'<TD BGCOLOR="{_ZERO_FILL}" STYLE="dashed"><FONT COLOR="#55555f">'
        "grad exactly 0 (dashed)</FONT></TD>"
    )
    return (
        '<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="2" CELLPADDING="3"><TR>'
        + "".join(cells)
        + "</TR></TABLE>"
    )


def _collapse_note(n: int, max_nodes: int | None, groups: int) -> str:
    if groups:
        return (
            f"Collapsed: {n} values &gt; max_nodes={max_nodes}, so each of the {groups} neuron "
            "clusters is drawn as one node (z, a = its output, δ = dL/dz)."
        )
    return (
        f"{n} values &gt; max_nodes={max_nodes}, but there are no neuron clusters to collapse "
        "(scopes holding a fused dot node)."
    )


def _name(v: Value, sym: str) -> str:
    """``sym = label in scope``, for the caption's "where" line."""
    lab = v.label
    shown = f"{sym} = {_html(lab)}" if lab and lab != sym else sym
    return f"{shown} in {_html(v.scope)}" if v.scope else shown


def _highlight_caption(
    order: list[Value],
    parents: list[tuple[int, ...]],
    ops: list[Op | None],
    datas: list[float],
    grads: list[float],
    hi: int,
) -> list[str]:
    """Caption lines spelling out d(root)/d(highlighted value) with the graph's numbers.

    A neuron weight (the highlighted value is used once, in a weight slot of a
    :data:`NEURON_OP` node z): dL/dw = delta * x = (dL/da * da/dz) * x, with dL/da = a.grad,
    da/dz from the activation's table row (z's only consumer, a one-input op) and x the
    input paired with w among z's parents. Any other value: the sum over its uses c of
    dL/dc * dc/dv, each dc/dv from c's table row; a use as a neuron weight (a weight that
    also feeds a penalty, say) is spelled out as delta * x on its own line.
    """
    n = len(order)
    h = order[hi]

    def uses_of(j: int) -> list[tuple[int, int]]:
        return [(c, q) for c in range(j + 1, n) for q, p in enumerate(parents[c]) if p == j]

    def neuron_use(z: int, pos: int) -> tuple[float, str, list[str]] | None:
        """(delta * x, its formula with numbers, what delta is) for a weight slot of z."""
        if ops[z] is not NEURON_OP:
            return None
        m = len(parents[z]) // 2
        if pos >= m:
            return None
        xi = parents[z][m + pos]
        x = datas[xi]
        delta = grads[z]
        zuses = uses_of(z)
        act = ops[zuses[0][0]] if len(zuses) == 1 else None
        where = f"{_name(order[xi], 'x')} (input {pos}), {_name(order[z], 'z')} = Σ w·x + b"
        if act is not None and act.arity == 1:
            a = zuses[0][0]
            dlda = grads[a]
            dadz = _partials(act, [datas[z]], datas[a])[0]
            total = dlda * dadz * x
            formula = (
                f"δ · x = (dL/da · da/dz) · x = ({_num(dlda)} · {_num(dadz)}) · {_num(x)} = "
                f"{_num(total)}"
            )
            about = [
                f"δ = dL/dz = {_num(delta)} is the neuron's delta (z.grad); "
                f"a = {_html(act.symbol)}(z), da/dz from the op table",
                where,
            ]
        else:
            total = delta * x
            formula = f"δ · x = dL/dz · x = {_num(delta)} · {_num(x)} = {_num(total)}"
            about = [
                f"δ = dL/dz = {_num(delta)} is the neuron's delta (z.grad; "
                "z feeds no single activation)",
                where,
            ]
        return total, formula, about

    uses = uses_of(hi)
    lines: list[str] = []
    if len(uses) == 1:
        found = neuron_use(*uses[0])
        if found is not None:
            total, formula, about = found
            lines.append(f"{_BIG}dL/dw = {formula}{_END_BIG}")
            lines.extend(about[:-1])
            lines.append(f"where {_name(h, 'w')}, {about[-1]}")
            lines.append(_grad_check(total, grads[hi], "w"))
            return lines
    if not uses:
        lines.append(f"{_BIG}dL/dL = 1{_END_BIG} (the highlighted value is the root L)")
        lines.append(_grad_check(1.0, grads[hi], "L"))
        return lines
    terms = []
    details: list[str] = []
    total = 0.0
    for c, q in uses:
        ps = parents[c]
        d = _partials(ops[c], [datas[j] for j in ps], datas[c])
        dq = d[q] if q < len(d) else math.nan
        total += grads[c] * dq
        terms.append(f"{_num(grads[c])} · {_num(dq)}")
        found = neuron_use(c, q)
        if found is not None and len(details) < 6:
            details.append(f"use {len(terms)}, as a neuron weight: dL/dz · ∂z/∂v = {found[1]}")
            details.extend(found[2])
    shown = " + ".join(terms[:6]) + (f" + … ({len(terms) - 6} more)" if len(terms) > 6 else "")
    lines.append(
        f"{_BIG}dL/dv = Σ over uses c of v: dL/dc · ∂c/∂v = {shown} = {_num(total)}{_END_BIG}"
    )
    lines.extend(details)
    lines.append(f"where {_name(h, 'v')}; ∂c/∂v from the op table (labels of the bold edges)")
    lines.append(_grad_check(total, grads[hi], "v"))
    return lines


_BIG = '<FONT POINT-SIZE="13"><B>'
_END_BIG = "</B></FONT>"


def _grad_check(total: float, grad: float, sym: str) -> str:
    same = math.isclose(total, grad, rel_tol=1e-9, abs_tol=1e-12) or (
        total != total and grad != grad
    )
    note = (
        " (equal)" if same else " (differs: backward() called more than once, or grads not zeroed?)"
    )
    return (
        f"{sym}.grad = {_num(grad)}{note}. Bold blue: every route from {sym} to L, "
        "each edge labelled with its local derivative ∂out/∂in."
    )


# ---------------------------------------------------------------------------------------------
# Files


def render_graph(root: Value, path: str | os.PathLike[str], **draw_options: Any) -> Path:
    """Draw ``root``'s graph (see :func:`draw_graph`) and write it to ``path``.

    Args:
        root: The output whose graph is drawn.
        path: Output file; its suffix picks the format: ``.svg``, ``.png``, ``.pdf`` (needs
            Graphviz's ``dot``) or ``.dot``/``.gv`` (DOT text, needs no program). Missing
            folders are created; the file is replaced atomically.
        **draw_options: Keyword options of :func:`draw_graph`.

    Returns:
        ``path`` as a :class:`pathlib.Path`.

    Raises:
        ValueError: unknown suffix.
        RendererNotFoundError: neither ``dot`` nor ``graphviz-pure`` was found (or the one
            found cannot write the format); the message names how to install one.
        RuntimeError: the renderer failed.
    """
    out = Path(os.fspath(path))
    fmt = _SUFFIX_FORMATS.get(out.suffix.lower())
    if fmt is None:
        known = " ".join(_SUFFIX_FORMATS)
        raise ValueError(
            f"render_graph: cannot tell the format of {str(out)!r} from its suffix "
            f"{out.suffix!r}; use one of {known}"
        )
    if fmt != "dot":
        r = find_renderer()  # fail before drawing a large graph
        if fmt not in r.formats:
            render_source("", fmt)  # raises the "cannot write this format" error
    source = draw_graph(root, **draw_options).source
    data = source.encode("utf-8") if fmt == "dot" else render_source(source, fmt)
    write_atomic(out, data)
    return out
