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
* Everything is read from one :class:`~autograd.Graph` (order, parents, local partials, the
  neurons it finds by asking op rows for structure). A scope holding a neuron's
  pre-activation ``z`` is a neuron cluster: with ``max_nodes`` exceeded it collapses into one
  node showing, for each call of the neuron, z, its output ``a`` (the most downstream node of
  the scope computed from that z) and delta = z.grad.
* Named steps: :func:`plan` (checks, the highlight's routes, collapsed groups), then
  :func:`drawing` writes the nodes by cluster (``_place_nodes``, ``_clusters``), their styling
  (``_fill``, ``_value_node``), the edges (``_edges``) and the caption (``_caption``: the
  highlighted value's :func:`~autograd.explain_grad` explanation, the legend).
* Constants (numbers used as operands, ``grad is None``) show their value only, white with a
  dotted outline: never a heat colour, and never confused with an exact-zero gradient.
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

from ._render import (
    RendererError,
    RendererNotFoundError,
    find_renderer,
    render_source,
    write_atomic,
)
from .engine import Value
from .explain import explain_grad
from .graph import Graph

__all__ = [
    "DrawOptions",
    "Plan",
    "RendererError",
    "RendererNotFoundError",
    "draw_graph",
    "render_graph",
]

_RANKDIRS = ("TB", "LR", "BT", "RL")

#: Default ``max_nodes``: the most boxes laid out before neurons, chains and layers collapse.
#: Measured on a 2-core machine: at this size dot and graphviz-pure take well under a second
#: and the picture of an MLP stays within a few thousand pixels (a single-sample moons MLP,
#: 412 values, would be a 2,100 x 25,800 px strip uncollapsed).
MAX_NODES = 250

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
_CONST_ATTRS = ' style="rounded,dotted" color="#a0a0aa" fontcolor="#6b6b75"'
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
    ``& < > " [ ]`` become entities (dot's HTML lexer rejects a lone ``]``); every backslash
    is doubled, because Graphviz still applies its escapes (``\\N`` = node name, ``\\\\`` =
    ``\\``) to HTML label text; line breaks become ``<BR/>``.
    """
    text = _UNPRINTABLE.sub(_show_char, text)
    text = html.escape(text, quote=False).replace('"', "&quot;").replace("\\", "\\\\")
    text = text.replace("[", "&#91;").replace("]", "&#93;")
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


@dataclass(frozen=True)
class DrawOptions:
    """What :func:`draw_graph` was asked for (see its arguments)."""

    rankdir: str = "LR"
    show_data: bool = True
    show_grad: bool = True
    color_by_grad: bool = True
    cluster: bool = True
    highlight: Value | None = None
    max_nodes: int | None = MAX_NODES


@dataclass
class _Group:
    """Nodes drawn as one (collapsed mode): a neuron, a layer or a chain.

    * ``kind="neuron"``: a scope holding neuron z nodes. ``zs[k]`` is the z of the k-th call
      (a network applied to a batch calls each neuron once per sample) and ``outs[k]`` that
      call's output a: the most downstream node of the scope computed from ``zs[k]``.
    * ``kind="layer"``: the neurons of one scope (``layers.0``), ``zs``/``outs`` theirs.
    * ``kind="layers"``: consecutive layers of a long row, ``parts`` their scopes in order.
    * ``kind="chain"``: a run of similar nodes with no branching; ``zs[0]`` its first node,
      ``outs[0]`` its last, ``pattern`` the ops of one repetition.

    ``place`` is the scope (cluster) the group's node is drawn in.
    """

    scope: str
    zs: list[int] = field(default_factory=list)
    outs: list[int] = field(default_factory=list)
    members: list[int] = field(default_factory=list)
    kind: str = "neuron"
    place: str = ""
    pattern: tuple[str, ...] = ()
    parts: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """Everything the DOT text is written from: the :class:`~autograd.Graph`, the options,
    the highlighted node and its routes, and the collapsed neuron groups."""

    graph: Graph
    opts: DrawOptions
    gmax: float
    hi: int = -1
    route: bytearray = field(default_factory=bytearray)
    group_of: list[int] = field(default_factory=list)
    groups: list[_Group] = field(default_factory=list)
    collapsed: bool = False
    column: int = 0
    cluster_paths: list[str] = field(default_factory=list)


def draw_graph(
    root: Value,
    *,
    rankdir: str = "LR",
    show_data: bool = True,
    show_grad: bool = True,
    color_by_grad: bool = True,
    cluster: bool = True,
    highlight: Value | None = None,
    max_nodes: int | None = MAX_NODES,
) -> graphviz.Digraph:
    """Draw the computation graph that ``root`` depends on.

    Args:
        root: The output (usually the loss) whose graph is drawn.
        rankdir: Graphviz layout direction: ``"LR"``, ``"TB"``, ``"RL"`` or ``"BT"``.
        show_data: Show each value's ``data`` (4 decimals).
        show_grad: Show each value's ``grad`` (4 decimals; constants have none).
        color_by_grad: Fill each value by |grad| / max |grad| over the graph (a heat map, with
            a legend in the caption); values whose grad is exactly 0 are grey and dashed;
            constants (numbers used as operands) are white with a dotted outline.
        cluster: Draw values made inside ``autograd.scope(name)`` in nested ``cluster_*``
            subgraphs titled with the last component of the scope name.
        highlight: A value of the graph (a weight, say). Its routes to ``root`` are drawn bold
            in blue, each input edge labelled with its local derivative from the op table, and
            the caption is :func:`~autograd.explain_grad`'s explanation with the numbers.
        max_nodes: The most boxes (values; op ellipses not counted) to lay out. Above it,
            in turn until the drawing fits: every neuron cluster (a scope holding a neuron's
            pre-activation z, as ``nn``'s neurons) becomes one node showing z, a and
            delta = dL/dz; every run of similar nodes with no branching (``y = f(y)``
            repeated) becomes one "k similar nodes" node; every layer (the scope holding
            neurons) becomes one node. The caption says what collapsed. ``None``: never
            collapse (a layout of thousands of nodes takes minutes).

    Returns:
        A ``graphviz.Digraph`` (displays inline in Jupyter, even without ``dot``; see
        :func:`render_graph` to write files).

    Raises:
        TypeError: ``root`` or ``highlight`` is not a Value, or ``max_nodes`` not an int.
        ValueError: bad ``rankdir`` or ``max_nodes``, ``highlight`` not in the graph, or more
            than ``max_nodes`` boxes left after collapsing (the message says how to draw
            less).
    """
    opts = DrawOptions(rankdir, show_data, show_grad, color_by_grad, cluster, highlight, max_nodes)
    return drawing(plan(root, opts))


def plan(root: Value | Graph, opts: DrawOptions) -> Plan:
    """Check ``opts`` and work out what to draw: routes of the highlight, collapsed groups."""
    _check(root, opts)
    graph = root if isinstance(root, Graph) else Graph(root)
    finite = [abs(g) for g in graph.grads if g is not None and math.isfinite(g)]
    p = Plan(graph, opts, max(finite) if finite else 0.0)
    p.route = bytearray(len(graph))
    if opts.highlight is not None:
        if opts.highlight not in graph:
            raise ValueError(
                f"draw_graph: highlight {opts.highlight!r} is not in the graph of root "
                f"{graph.root!r} (root does not depend on it)"
            )
        p.hi = graph.index(opts.highlight)
        p.route = graph.reaches_root(p.hi)
    p.group_of = [-1] * len(graph)
    if opts.max_nodes is not None:
        p.column = tallest_column(graph)
        p.collapsed = len(graph) > opts.max_nodes or p.column > column_limit(opts.max_nodes)
        if p.collapsed:
            _fit(p, opts.max_nodes)
    return p


#: ``max_nodes // COLUMN_SHARE`` (at least 50) is the most boxes one rank may stack before
#: neurons collapse, however few values the graph has: 50 boxes are about 3,000 pt, a screen
#: or two (a 2-16-16-1 MLP stacks 272 weights and biases of its second layer in one column).
COLUMN_SHARE = 5


def column_limit(max_nodes: int) -> int:
    """The most boxes one rank may stack under ``max_nodes``: ``max(50, max_nodes // 5)``."""
    return max(MAX_NODES // COLUMN_SHARE, max_nodes // COLUMN_SHARE)


def tallest_column(graph: Graph) -> int:
    """How many value boxes the fullest rank of the layout would stack (top to bottom for
    rankdir LR), estimated as dot ranks: a value made by an op two ranks after the deepest
    of its inputs that is made by an op (value, op ellipse), a leaf one rank before its
    first use (a neuron's w0, w1, ..., b and its inputs x stack in one column)."""
    level = [0] * len(graph)
    count: dict[int, int] = {}
    for i in range(len(graph)):
        if graph.ops[i] is None:
            continue
        deep = [level[q] for q in graph.parents[i] if graph.ops[q] is not None]
        level[i] = 2 + max(deep, default=0)
        count[level[i]] = count.get(level[i], 0) + 1
    uses = graph.consumers
    for i in range(len(graph)):
        if graph.ops[i] is None:
            at = level[uses[i][0][0]] - 1 if uses[i] else 0
            count[at] = count.get(at, 0) + 1
    return max(count.values(), default=0)


def boxes(p: Plan) -> int:
    """How many boxes the drawing of ``p`` lays out: values not collapsed, plus groups."""
    return p.group_of.count(-1) + len(p.groups)


def _fit(p: Plan, budget: int) -> None:
    """Collapse neurons, then chains, then layers, until at most ``budget`` boxes remain;
    a ``ValueError`` naming the counts and how to draw less if even that is too many."""
    graph = p.graph
    p.groups = _collapse(graph, p.group_of)
    if boxes(p) > budget:
        _collapse_chains(p)
    if boxes(p) > budget:
        _collapse_layers(p)
        _collapse_layer_rows(p)
    if boxes(p) > budget:
        raise ValueError(
            f"draw_graph: {len(graph)} values leave {boxes(p)} boxes after collapsing "
            f"neurons, layers and chains, more than max_nodes={budget}, and a layout that size "
            "takes too long. Draw less: the graph of one sample instead of a batch, a part of "
            "the graph (draw an intermediate Value), or pass a larger max_nodes "
            "(max_nodes=None draws every node and may take minutes)."
        )


def drawing(p: Plan) -> GraphDrawing:
    """The DOT drawing of a :class:`Plan`: caption, nodes by cluster, edges."""
    buckets, first_op = _place_nodes(p)
    g = GraphDrawing(
        name="deltagrad",
        graph_attr={**_GRAPH_ATTRS, "rankdir": p.opts.rankdir},
        node_attr=_NODE_ATTRS,
        edge_attr={"color": "#6b7280", "arrowsize": "0.6", "fontname": "Helvetica"},
    )
    body: list[str] = g.body
    caption = _caption(p)
    if caption:
        table = "".join(f'<TR><TD ALIGN="LEFT">{row}</TD></TR>' for row in caption)
        body.append(
            f'\tlabel=<<TABLE BORDER="0" CELLSPACING="1" CELLPADDING="1">{table}</TABLE>>\n'
        )
    anchors, anchor_edges = _sibling_anchors(p)
    for path, lines in anchors.items():
        buckets.setdefault(path, []).extend(lines)
    body.extend(buckets.pop("", ()))
    if buckets:
        ranked = sorted(buckets, key=lambda path: first_op.get(path, len(p.graph)))
        body.extend(_clusters({path: buckets[path] for path in ranked}, p.cluster_paths))
    body.extend(_edges(p))
    body.extend(anchor_edges)
    return g


_GRAPH_ATTRS = {
    "fontname": "Helvetica",
    "fontsize": "11",
    "labelloc": "t",
    "labeljust": "l",
    "nodesep": "0.25",
    "ranksep": "0.35",
    # Keep the order the rank=same chains and the file give (w0, w1, ..., b; x0, x1); the
    # second crossing-reduction pass of dot and graphviz-pure reshuffles it.
    "remincross": "false",
    "pad": "0.2",  # graphviz-pure under-measures text: room so the rightmost box is not clipped
}
_NODE_ATTRS = {
    "shape": "box",
    "style": "rounded,filled",
    "fillcolor": "white",
    "color": "#4b5563",
    "fontname": "Helvetica",
    "fontsize": "10",
    "margin": "0.08,0.04",
}


def _check(root: Value | Graph, opts: DrawOptions) -> None:
    if not isinstance(root, Value | Graph):
        raise TypeError(f"draw_graph: root must be a Value, got {type(root).__name__}: {root!r}")
    if opts.rankdir not in _RANKDIRS:
        raise ValueError(f"draw_graph: rankdir must be one of {_RANKDIRS}, got {opts.rankdir!r}")
    if opts.highlight is not None and not isinstance(opts.highlight, Value):
        raise TypeError(
            f"draw_graph: highlight must be a Value or None, got {type(opts.highlight).__name__}"
        )
    m = opts.max_nodes
    if m is not None:
        if not isinstance(m, int) or isinstance(m, bool):
            raise TypeError(f"draw_graph: max_nodes must be an int or None, got {m!r}")
        if m < 0:
            raise ValueError(f"draw_graph: max_nodes must be >= 0, got {m}")


# ---------------------------------------------------------------------------------------------
# Layout of clusters


def _collapse(graph: Graph, group_of: list[int]) -> list[_Group]:
    """The neuron groups: one per scope holding a neuron's z; fills ``group_of``."""
    groups: list[_Group] = []
    by_scope: dict[str, int] = {}
    zs = graph.neuron_of
    for z in sorted(zs):
        s = graph.scope(z)
        if s and s not in by_scope:
            by_scope[s] = len(groups)
            groups.append(_Group(s, place=scope_parent(s)))
    call_of = [-1] * len(graph)  # which call of its neuron a member was computed from
    for i in range(len(graph)):
        s = graph.scope(i)
        while s:  # the innermost enclosing neuron scope, if any
            k = by_scope.get(s)
            if k is not None:
                _join(groups[k], k, i, graph, group_of, call_of, i in zs)
                break
            s = scope_parent(s)
    return groups


#: The fewest nodes a run must have to collapse into one "k similar nodes" box.
CHAIN_MIN = 6
_PERIOD_MAX = 6


def _collapse_chains(p: Plan) -> None:
    """Runs of similar nodes with no branching, each drawn as one group.

    A link of a run is an op node whose inputs are one node computed by an op (the previous
    link) and leaves used by it alone (constants such as the 0.999 of ``y * 0.999``), and whose
    value has exactly one use, by the next link. A run of at least :data:`CHAIN_MIN` links
    collapses except its last node, which stays drawn as the run's output; the leaves the
    first link reads stay drawn too (a chain's x), unless they are constants.
    """
    graph, group_of = p.graph, p.group_of
    uses = graph.consumers
    prev = [-1] * len(graph)  # the chain input of a link
    for c in range(len(graph)):
        if group_of[c] >= 0 or graph.ops[c] is None:
            continue
        inner = [q for q in graph.parents[c] if graph.ops[q] is not None or group_of[q] >= 0]
        loose = [q for q in graph.parents[c] if q not in inner]
        if len(inner) != 1 or any(len(uses[q]) != 1 or group_of[q] >= 0 for q in loose):
            continue
        q = inner[0]
        if group_of[q] < 0 and len(uses[q]) == 1 and graph.ops[q] is not None:
            prev[c] = q
    nxt = [-1] * len(graph)
    for c, q in enumerate(prev):
        if q >= 0:
            nxt[q] = c
    for start in range(len(graph)):
        if prev[start] >= 0 or nxt[start] < 0:
            continue  # not the first link of a run
        run = [start]
        while nxt[run[-1]] >= 0:
            run.append(nxt[run[-1]])
        body = run[:-1]  # the last node stays: the run's output
        if len(body) < CHAIN_MIN:
            continue
        k = len(p.groups)
        names = tuple(op.name for op in (graph.ops[i] for i in body) if op is not None)
        place = graph.scope(start) if p.opts.cluster else ""
        nr = _Group(place, [body[0]], [body[-1]], kind="chain", place=place)
        nr.pattern = _period(names)
        for i in body:
            for q in (i, *(q for q in graph.parents[i] if graph.ops[q] is None)):
                if q != i and i == start and graph.role(q) != "constant":
                    continue  # what the run starts from (its x, a weight) stays drawn
                group_of[q] = k
                nr.members.append(q)
        p.groups.append(nr)


def _period(names: tuple[str, ...]) -> tuple[str, ...]:
    """The shortest repeating unit of ``names`` (up to :data:`_PERIOD_MAX` long), else the
    distinct names in order of first appearance."""
    for n in range(1, min(_PERIOD_MAX, len(names)) + 1):
        if all(names[i] == names[i - n] for i in range(n, len(names))):
            return names[:n]
    return tuple(dict.fromkeys(names))


def _collapse_layers(p: Plan) -> None:
    """Merge the neuron groups of each layer (their common enclosing scope) into one group."""
    merged: list[_Group] = []
    of_layer: dict[str, int] = {}
    remap = []
    for nr in p.groups:
        if nr.kind != "neuron" or not nr.place:
            remap.append(len(merged))
            merged.append(nr)
            continue
        k = of_layer.get(nr.place)
        if k is None:
            k = of_layer[nr.place] = len(merged)
            merged.append(_Group(nr.place, kind="layer", place=scope_parent(nr.place)))
        layer = merged[k]
        layer.zs.extend(nr.zs)
        layer.outs.extend(nr.outs)
        layer.members.extend(nr.members)
        remap.append(k)
    p.group_of = [g if g < 0 else remap[g] for g in p.group_of]
    for layer in merged:
        layer.members.sort()
    p.groups = merged


#: The most collapsed layers drawn side by side; a deeper net's middle layers become one
#: "layers i..j" node, so the picture stays about a screen wide (a layer node and its edges
#: take about 240 pt: 57 layers were 13,600 pt).
LAYER_ROW = 8
_ROW_ENDS = 2  # layers kept drawn at each end of a long row


def _collapse_layer_rows(p: Plan) -> None:
    """Merge the middle layers of each row of more than :data:`LAYER_ROW` sibling layer
    groups (one scope's layers, in the order they computed) into one ``kind="layers"`` group;
    the first and last :data:`_ROW_ENDS` layers stay drawn."""
    rows: dict[str, list[int]] = {}
    for k, nr in enumerate(p.groups):
        if nr.kind == "layer":
            rows.setdefault(nr.place, []).append(k)
    into: dict[int, int] = {}
    for ks in rows.values():
        if len(ks) <= LAYER_ROW:
            continue
        ks.sort(key=lambda k: min(p.groups[k].zs))
        middle = ks[_ROW_ENDS:-_ROW_ENDS]
        for k in middle:
            into[k] = middle[0]
    if not into:
        return
    merged: list[_Group] = []
    remap: list[int] = []
    for k, nr in enumerate(p.groups):
        head = into.get(k)
        if head is None:
            remap.append(len(merged))
            merged.append(nr)
        elif head == k:
            remap.append(len(merged))
            merged.append(_Group(nr.scope, kind="layers", place=nr.place))
            merged[-1].parts = [nr.scope]
            _absorb(merged[-1], nr)
        else:
            remap.append(remap[head])
            row = merged[remap[head]]
            row.parts.append(nr.scope)
            _absorb(row, nr)
    p.group_of = [g if g < 0 else remap[g] for g in p.group_of]
    for nr in merged:
        nr.members.sort()
    p.groups = merged


def _absorb(into: _Group, nr: _Group) -> None:
    into.zs.extend(nr.zs)
    into.outs.extend(nr.outs)
    into.members.extend(nr.members)


def _join(
    nr: _Group,
    k: int,
    i: int,
    graph: Graph,
    group_of: list[int],
    call_of: list[int],
    is_z: bool,
) -> None:
    group_of[i] = k
    nr.members.append(i)
    if is_z:
        call_of[i] = len(nr.zs)
        nr.zs.append(i)
        nr.outs.append(i)
        return
    for j in graph.parents[i]:
        if group_of[j] == k and call_of[j] >= 0:
            call_of[i] = call_of[j]
            nr.outs[call_of[j]] = i
            return


def _place_nodes(p: Plan) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Node lines bucketed by the scope (cluster) they belong to, and the first op of each.

    Clusters are laid out in the order their first computation happened (layer 0 before
    layer 1), not in the order the walk first met one of their leaves.
    """
    graph = p.graph
    buckets: dict[str, list[str]] = {}
    first_op: dict[str, int] = {}
    for i in range(len(graph)):
        if p.group_of[i] >= 0:
            continue
        place = graph.scope(i) if p.opts.cluster else ""
        bucket = buckets.setdefault(place, [])
        bucket.append(_value_node(p, i))
        op = graph.ops[i]
        if op is not None:
            sym = _html(op.symbol) or " "
            size = _box_width([sym], 10.0, 0.2)
            bucket.append(f"\to{i} [label=<{sym}>{_OP_ATTRS}{size}]\n")
            first_op.setdefault(place, i)
    runs: dict[tuple[str, int], list[str]] = {}
    for k, nr in enumerate(p.groups):
        place = nr.place if p.opts.cluster else ""
        buckets.setdefault(place, []).append(_group_node(p, k, nr))
        first_op[place] = min(first_op.get(place, nr.zs[0]), nr.zs[0])
        if nr.kind == "neuron":  # the neurons of one layer: one rank, index order
            runs.setdefault((place, -1), []).append(f"g{k}")
    across = p.opts.rankdir in ("LR", "RL")
    for (place, _), run in itertools.chain(_leaf_runs(p).items(), runs.items()):
        buckets[place].append(_in_order(run, inside=place != "", across=across))
    return buckets, first_op


#: ``weight`` of the invisible edge from a neuron cluster to its anchor: crossing one costs
#: as much as crossing this many drawn edges, so the clusters follow their anchors.
ANCHOR_WEIGHT = 100
_ANCHOR_ATTRS = 'shape=point style=invis width=0 height=0 label=""'


def _sibling_anchors(p: Plan) -> tuple[dict[str, list[str]], list[str]]:
    """Invisible anchors that stack sibling neuron clusters in index order (neuron 0 on top
    for rankdir LR, on the left for TB), with both dot and graphviz-pure.

    Neither renderer lets an edge order two clusters (a flat edge between nodes of different
    clusters is dropped), and crossing reduction alone leaves siblings in any order (a dense
    layer crosses the same edges in every order; dot 2.43 and graphviz-pure even start from
    opposite orders). So each neuron cluster of a layer gets two anchors in the layer's
    cluster, on ranks where the neuron clusters have no nodes: ``m{z}`` one rank before its
    weights (edges ``m{z} -> w``) and ``n{i}`` one rank past its last node ``v{i}`` (its
    output a; edge ``v{i} -> n{i}``). Each rank of anchors is kept in order by a ``rank=same``
    chain (as :func:`_in_order`), so every other order of the clusters costs crossings on
    both sides. Measured with both renderers and every rankdir on layers of 2 to 8 neurons
    (tests/test_draw.py checks it); one anchor side alone leaves some orders wrong."""
    graph = p.graph
    if not p.opts.cluster:
        return {}, []
    last: dict[str, int] = {}
    for i in range(len(graph)):
        if p.group_of[i] < 0:
            last[graph.scope(i)] = i
    first_z: dict[str, int] = {}
    for z in sorted(graph.neuron_of):
        s = graph.scope(z)
        if s and p.group_of[z] < 0:
            first_z.setdefault(s, z)
    siblings: dict[str, list[str]] = {}
    for s in sorted(first_z, key=first_z.__getitem__):
        siblings.setdefault(scope_parent(s), []).append(s)
    lines: dict[str, list[str]] = {}
    edges: list[str] = []
    for parent, paths in siblings.items():
        if len(paths) < 2:
            continue
        out = lines.setdefault(parent, [])
        before = [f"m{first_z[s]}" for s in paths]
        after = [f"n{last[s]}" for s in paths]
        for run in (before, after):
            out.extend(f"\t{a} [{_ANCHOR_ATTRS}]\n" for a in run)
            out.append(_in_order(run, inside=parent != "", across=p.opts.rankdir in ("LR", "RL")))
        for s, m, n in zip(paths, before, after):
            nr = graph.neuron_of[first_z[s]]
            for q in (*nr.weights, *(() if nr.bias is None else (nr.bias,))):
                edges.append(f"\t{m} -> v{q} [style=invis weight={ANCHOR_WEIGHT}]\n")
            edges.append(f"\tv{last[s]} -> {n} [style=invis weight={ANCHOR_WEIGHT}]\n")
    return lines, edges


def _leaf_runs(p: Plan) -> dict[tuple[str, int], list[str]]:
    """The leaves to keep in index order: per cluster, the leaves first used by one op (a
    neuron's w0, w1, ..., b; the inputs x0, x1, ...), in the order that op takes them."""
    graph = p.graph
    runs: dict[tuple[str, int], list[str]] = {}
    seen = bytearray(len(graph))
    for c in range(len(graph)):
        if p.group_of[c] >= 0:
            continue
        for q in graph.parents[c]:
            if seen[q] or graph.ops[q] is not None or p.group_of[q] >= 0:
                continue
            seen[q] = 1
            place = graph.scope(q) if p.opts.cluster else ""
            runs.setdefault((place, c), []).append(f"v{q}")
    return runs


def _in_order(run: list[str], *, inside: bool, across: bool) -> str:
    """Same-rank nodes kept in list order, top to bottom for rankdir LR and RL (``across``),
    left to right for TB and BT: a ``rank=same`` subgraph with invisible flat edges, which dot
    and graphviz-pure both follow (they ignore the order nodes are written in). Measured with
    both (tests/test_draw.py checks it): a flat edge u -> v puts u before v, except inside a
    cluster with rankdir LR or RL, where it puts v above u, so there the chain runs from the
    last node to the first."""
    if len(run) < 2:
        return ""
    chain = " -> ".join(reversed(run) if inside and across else run)
    return f"\t{{rank=same; {chain} [style=invis]}}\n"


def _clusters(buckets: dict[str, list[str]], paths: list[str]) -> list[str]:
    """Nested ``cluster_<k>`` subgraphs for the scope paths in ``buckets`` (and their
    ancestors), numbered in order of first appearance; titled with each scope's own name.
    ``paths[k]`` becomes the scope path of ``cluster_<k>``."""
    children: dict[str, list[str]] = {"": []}
    for path in buckets:
        chain = []
        q = path
        while q not in children:
            chain.append(q)
            q = scope_parent(q)
        for c in reversed(chain):
            children[q].append(c)
            children[c] = []
            q = c
    out: list[str] = []
    count = 0
    stack: list[tuple[str, int]] = [(c, 0) for c in reversed(children[""])]
    while stack:
        path, depth = stack.pop()
        if depth < 0:
            out.append("\t}\n")
            continue
        shade = _CLUSTER_FILLS[min(depth, len(_CLUSTER_FILLS) - 1)]
        out.append(f"\tsubgraph cluster_{count} {{\n")
        out.append(
            f"\t\tlabel={_title(scope_title(path))} "
            f'style="rounded,filled" fillcolor="{shade}" color="#a3aec2" fontsize=10 labeljust=l\n'
        )
        count += 1
        paths.append(path)
        out.extend(buckets.get(path, ()))
        stack.append((path, -1))
        # Siblings are written in index order (the stack pops them first-first): Graphviz's
        # dot then stacks neuron0 on top of neuron1, as a reader expects.
        stack.extend((c, depth + 1) for c in reversed(children[path]))
    return out


def _scope_parts(path: str) -> list[str]:
    """A scope path's levels, an index kept with the name before it: ``layers.0.neurons.2``
    is the two levels ``layers.0`` and ``neurons.2`` (``nn``'s scopes are its parameter
    names), ``mlp.layer0`` is ``mlp`` and ``layer0``."""
    parts: list[str] = []
    for part in path.split(".") if path else ():
        if part.isdigit() and parts:
            parts[-1] += "." + part
        else:
            parts.append(part)
    return parts


def scope_parent(path: str) -> str:
    """The enclosing scope of ``path`` (``""`` at the top)."""
    return ".".join(_scope_parts(path)[:-1])


def scope_title(path: str) -> str:
    """How a scope's cluster is titled: its last level, ``neurons.2`` as ``neuron 2``."""
    parts = _scope_parts(path)
    name, _, index = (parts[-1] if parts else "").partition(".")
    if index:
        return f"{name[:-1] if name.endswith('s') else name} {index}"
    return name


def _title(name: str) -> str:
    """A cluster title: the scope's own name in bold; a blank name gets no bold tag (an empty
    ``<B></B>`` is a syntax error for Graphviz)."""
    return f"<<B>{_html(name)}</B>>" if name.strip() else '" "'


# ---------------------------------------------------------------------------------------------
# Styling


def _fill(p: Plan, g: float | None) -> str:
    """Fill attributes: constants quiet, exact zeros dashed grey, else the heat palette."""
    if g is None:
        return _CONST_ATTRS  # a constant: its value only, quiet, never heat-coloured
    if not p.opts.color_by_grad:
        return ""
    if g == 0.0:
        return _ZERO_ATTRS
    a = abs(g)
    level = _LEVELS if not (a < p.gmax) else int(a / p.gmax * _LEVELS + 0.5)
    return _HEAT_ATTRS[level]


def heat_scale(p: Plan) -> dict[str, object] | None:
    """The heat map of :func:`_fill` as data, for a page that recolours boxes as gradients
    change (the explorer): ``level = round(|g| / gmax * levels)`` (``levels`` when |g| >=
    gmax) picks ``palette[level]``, white text from ``dark_from``; an exact 0 is ``zero``,
    dashed. ``None`` when the drawing has no heat map."""
    if not p.opts.color_by_grad:
        return None
    return {
        "palette": list(_PALETTE),
        "levels": _LEVELS,
        "gmax": p.gmax,
        "dark_from": _DARK_FROM,
        "zero": _ZERO_FILL,
        "zero_text": "#55555f",
    }


def _mark(p: Plan, i: int) -> str:
    return _HIGHLIGHT_NODE if i == p.hi else (_ROUTE_NODE if p.route[i] else "")


#: Room per character, as a fraction of the font size, that every box gets: graphviz-pure
#: measures text about 8% narrower than dot, has no width at all for δ Σ ∂ σ, and starts each
#: line where its own (short) measure would centre it, so a box must hold about twice the
#: real width minus pure's: 2 * 0.6 - 0.5 em per character for our labels (digits are 0.556
#: em in Helvetica and Arial, 0.64 in DejaVu Sans). A minimum: dot may still widen a box.
GLYPH_EM = 0.72
_TAG = re.compile(r"<[^>]*>")
_ENTITY = re.compile(r"&#?\w+;")


def _text_len(markup: str) -> int:
    """Characters shown by one line of HTML-label markup (tags dropped, entities one)."""
    return len(_ENTITY.sub("x", _TAG.sub("", markup)))


def _box_width(rows: list[str], fontsize: float, margin: float) -> str:
    """A ``width`` attribute (inches) fitting the longest row with :data:`GLYPH_EM` per
    character plus ``margin`` inches; with ``fixedsize`` false it is a minimum."""
    chars = max((_text_len(r) for r in rows), default=1)
    return f" width={chars * fontsize * GLYPH_EM / 72 + margin:.2f}"


def _value_node(p: Plan, i: int) -> str:
    """The DOT line of value node ``v{i}``: label, data, grad (not for a constant)."""
    v = p.graph.nodes[i]
    rows = []
    if v.label.strip():
        rows.append(f"<B>{_html(v.label)}</B>")
    if p.opts.show_data:
        rows.append(f"data {p.graph.data[i]:.4f}")
    g = p.graph.grads[i]
    if p.opts.show_grad and g is not None:
        rows.append(f"grad {g:.4f}")
    text = "<BR/>".join(rows) or " "
    size = _box_width(rows, 10.0, 0.16)
    return f"\tv{i} [label=<{text}>{size}{_fill(p, g)}{_mark(p, i)}]\n"


def _group_node(p: Plan, k: int, nr: _Group) -> str:
    """The DOT line of collapsed group ``g{k}``: for a neuron z, a and delta of its first
    calls; for a layer its neuron count and largest delta; for a chain its length, repeating
    ops and the data and grad at both ends."""
    grads = p.graph.grads
    if nr.kind == "chain":
        rows, delta = _chain_rows(p, nr), grads[nr.outs[0]] or 0.0
    else:
        rows = _neuron_rows(p, nr)
        delta = max((grads[z] or 0.0 for z in nr.zs), key=abs)
    hit = any(p.route[j] for j in nr.members)
    mark = _HIGHLIGHT_NODE if p.hi in nr.members else (_ROUTE_NODE if hit else "")
    size = _box_width(rows, 10.0, 0.2)
    return f"\tg{k} [label=<{'<BR/>'.join(rows)}>{size}{_fill(p, delta)}{_GROUP_ATTRS}{mark}]\n"


def _neuron_rows(p: Plan, nr: _Group) -> list[str]:
    data, grads = p.graph.data, p.graph.grads
    name = scope_title(nr.scope)
    calls = len(nr.zs)
    if nr.kind == "layers":
        neurons = len({p.graph.scope(z) for z in nr.zs})
        first, last = scope_title(nr.parts[0]), scope_title(nr.parts[-1])
        big = max((grads[z] or 0.0 for z in nr.zs), key=abs)
        return [
            f"<B>{_html(first)} … {_html(last)}</B>",
            f"({len(nr.parts)} layers, {neurons} neurons, {calls} z)",
            f"max |δ| {abs(big):.4f}",
        ]
    if nr.kind == "layer":
        neurons = len({p.graph.scope(z) for z in nr.zs})
        head = f"<B>{_html(name)}</B>" if name.strip() else "layer"
        big = max((grads[z] or 0.0 for z in nr.zs), key=abs)
        return [f"{head} ({neurons} neurons, {calls} z)", f"max |δ| {abs(big):.4f}"]
    head = f"<B>{_html(name)}</B>" if name.strip() else "neuron"
    rows = [head + (f" ({calls} calls)" if calls > 1 else "")]
    for z, a in list(zip(nr.zs, nr.outs))[:_CALLS_SHOWN]:
        zad = f"z {data[z]:.4f}", f"a {data[a]:.4f}", f"δ {grads[z] or 0.0:.4f}"
        rows.extend(zad if calls == 1 else ["   ".join(zad)])
    if calls > _CALLS_SHOWN:
        rows.append(f"… {calls - _CALLS_SHOWN} more calls")
    return rows


def _chain_rows(p: Plan, nr: _Group) -> list[str]:
    graph = p.graph
    first, last = nr.zs[0], nr.outs[0]
    n = sum(1 for i in nr.members if graph.ops[i] is not None)
    symbols = []
    for name in nr.pattern:
        row = next(op for op in (graph.ops[i] for i in nr.members) if op and op.name == name)
        symbols.append(_html(row.symbol) or "?")
    period = max(len(symbols), 1)
    more = f" and {n % period} more" if n % period else ""
    rows = [f"<B>{n} similar nodes</B>", "(" + " ".join(symbols) + f") × {n // period}{more}"]
    for what, i in (("first", first), ("last", last)):
        g = graph.grads[i]
        rows.append(f"{what}: data {graph.data[i]:.4f}" + ("" if g is None else f" grad {g:.4f}"))
    return rows


# ---------------------------------------------------------------------------------------------
# Edges and the highlight


def _edges(p: Plan) -> list[str]:
    """Edges in data-flow direction: parent -> op -> result; into a group once per source."""
    edges: list[str] = []
    into_groups: dict[tuple[str, int], bool] = {}
    graph, route, group_of = p.graph, p.route, p.group_of
    for c in range(len(graph)):
        ps = graph.parents[c]
        if not ps:
            continue
        gc = group_of[c]
        if gc >= 0:
            for q in ps:
                gq = group_of[q]
                if gq != gc:
                    key = (f"v{q}" if gq < 0 else f"g{gq}", gc)
                    into_groups[key] = into_groups.get(key, False) or bool(route[q] and route[c])
            continue
        for pos, q in enumerate(ps):
            edges.append(_input_edge(p, c, pos, q))
        edges.append(f"\to{c} -> v{c} [{_ROUTE_EDGE}]\n" if route[c] else f"\to{c} -> v{c}\n")
    for (src, gc), bold in into_groups.items():
        edges.append(f"\t{src} -> g{gc} [{_ROUTE_EDGE}]\n" if bold else f"\t{src} -> g{gc}\n")
    return edges


def _input_edge(p: Plan, c: int, pos: int, q: int) -> str:
    """The edge from input ``q`` (position ``pos``) into op ``o{c}``; on a highlighted route,
    bold and labelled with the local derivative from the op table. The label is an
    ``xlabel``, placed after layout: a ``label`` is a node of its own to both renderers, and
    graphviz-pure then orders sibling neuron clusters around it, not by their anchors."""
    gq = p.group_of[q]
    src = f"v{q}" if gq < 0 else f"g{gq}"
    eid = f'id="e{c}_{pos}"'
    if not (p.route[c] and p.route[q]):
        return f"\t{src} -> o{c} [{eid}]\n"
    if gq >= 0:
        return f"\t{src} -> o{c} [{eid} {_ROUTE_EDGE}]\n"
    d = local_partials(p.graph, c)
    shown = _num(d[pos]) if pos < len(d) else "?"
    return f"\t{src} -> o{c} [{eid} {_ROUTE_EDGE} xlabel=<∂ {shown}>]\n"


def local_partials(graph: Graph, i: int) -> tuple[float, ...]:
    """``graph.partials(i)``; NaN for each input where the row cannot give them."""
    try:
        return graph.partials(i)
    except (ArithmeticError, ValueError, TypeError):
        return (math.nan,) * len(graph.parents[i])


# ---------------------------------------------------------------------------------------------
# Caption


def _caption(p: Plan) -> list[str]:
    """Caption rows: the highlight's explanation, the collapse note, the heat legend."""
    rows: list[str] = []
    if p.hi >= 0:
        explained = explain_grad(p.graph.nodes[p.hi], graph=p.graph).caption()
        for k, line in enumerate(explained):
            text = _html(line.lstrip(" "))
            text = "&#160;" * (len(line) - len(line.lstrip(" "))) + text
            rows.append(f"{_BIG}{text}{_END_BIG}" if k == len(explained) - 1 else text)
        rows.append(
            "Bold blue: every route from the highlighted value to the root, each edge "
            "labelled with its local derivative ∂out/∂in."
        )
    if p.collapsed:
        rows.append(_collapse_note(p))
    opts = p.opts
    if p.gmax == 0.0 and len(p.graph) > 1 and (opts.show_grad or opts.color_by_grad or p.hi >= 0):
        rows.append("All gradients are 0: call backward() on the root before drawing.")
    if opts.color_by_grad:
        rows.append(_legend(p.gmax))
    return rows


def _legend(gmax: float) -> str:
    """The heat-map legend: swatches for |grad| / max|grad| and the exact-zero style. Every
    cell is given its width (points, from :data:`GLYPH_EM`): graphviz-pure measures text
    too short, and a swatch would cover the end of "(max ...)"."""
    head = f"|grad| / max |grad| (max {_num(gmax)}):"
    cells = [f'<TD BORDER="0" ALIGN="LEFT"{_cell_width(head)}>{html.escape(head)}</TD>']
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        k = round(frac * _LEVELS)
        font = ' COLOR="white"' if k >= _DARK_FROM else ""
        text = f"{'>' if k == 0 else ''}{round(frac * 100)}%"
        cells.append(
            f'<TD BGCOLOR="{_PALETTE[k]}"{_cell_width(text)}><FONT{font}>'
            f"{html.escape(text)}</FONT></TD>"
        )
    zero, const = "grad exactly 0 (dashed)", "constant (no grad)"
    cells.append(
        f'<TD BGCOLOR="{_ZERO_FILL}" STYLE="dashed"{_cell_width(zero)}>'
        f'<FONT COLOR="#55555f">{zero}</FONT></TD>'
    )
    cells.append(
        f'<TD STYLE="dotted"{_cell_width(const)}><FONT COLOR="#6b6b75">{const}</FONT></TD>'
    )
    return (
        '<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="2" CELLPADDING="3"><TR>'
        + "".join(cells)
        + "</TR></TABLE>"
    )


def _cell_width(text: str, fontsize: float = 11.0) -> str:
    """A table cell's ``WIDTH`` (points) that fits ``text`` at :data:`GLYPH_EM` per glyph."""
    return f' WIDTH="{round(len(text) * fontsize * GLYPH_EM) + 4}"'


def _collapse_note(p: Plan) -> str:
    n, max_nodes = len(p.graph), p.opts.max_nodes or 0
    why = f"{n} values &gt; max_nodes={max_nodes}"
    if n <= max_nodes:
        why = (
            f"one column would stack {p.column} boxes (more than {column_limit(max_nodes)}: "
            "taller than a screen)"
        )
    kinds = {"neuron": 0, "layer": 0, "layers": 0, "chain": 0}
    for nr in p.groups:
        kinds[nr.kind] += 1
    parts = []
    if kinds["neuron"]:
        parts.append(
            f"each of the {kinds['neuron']} neuron clusters as one node (z, a = its "
            "output, δ = dL/dz)"
        )
    rows = [nr for nr in p.groups if nr.kind == "layers"]
    layers = kinds["layer"] + sum(len(nr.parts) for nr in rows)
    if layers:
        parts.append(f"each of the {layers} layers as one node")
    for nr in rows:
        parts.append(
            f"the {len(nr.parts)} middle ones ({scope_title(nr.parts[0])} … "
            f"{scope_title(nr.parts[-1])}) together, to keep the row a screen wide"
        )
    if kinds["chain"]:
        runs = kinds["chain"]
        each = " each" if runs > 1 else ""
        parts.append(f"{runs} run{'s' if runs > 1 else ''} of similar nodes as one node{each}")
    return f"Collapsed: {why}, so drawn: " + "; ".join(parts) + "."


_BIG = '<FONT POINT-SIZE="12"><B>'
_END_BIG = "</B></FONT>"


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
        RendererError: the renderer failed, crashed or timed out (names it and the size).
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
