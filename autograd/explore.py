"""The graph in the browser: step through backward, node by node (:func:`explore`).

:func:`explore` draws the graph with :func:`~autograd.draw_graph`'s steps (same clusters, heat
map and highlight, laid out by the same renderer chain: system ``dot``, else
``graphviz-pure``) and wraps the SVG in one self-contained HTML page: inline CSS and plain
JavaScript (``autograd/_explorer/``), the numbers as inline JSON, and a Content-Security-Policy
that forbids every request. :meth:`Explorer.save` writes it; in Jupyter it displays inline.

The page walks the backward pass in the engine's order, one op node per step: the op nodes
that require grad, in reversed graph (topological) order. A step marks the node whose gradient
is now final, writes on each edge to a parent the local derivative and the contribution
g * local, and adds the contributions to the parents' running gradients. Every value node's
SVG element carries ``data-node`` (its :class:`~autograd.Graph` index), ``data-label``,
``data-op`` and ``data-grad`` (the running gradient; empty for a constant).
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path
from typing import Any

from ._render import render_source, write_atomic
from .draw import (
    MAX_NODES,
    DrawOptions,
    Plan,
    drawing,
    heat_scale,
    local_partials,
    plan,
    scope_parent,
)
from .engine import Value
from .explain import explain_grad
from .graph import Graph

__all__ = ["Explorer", "explore"]

_SVG = "http://www.w3.org/2000/svg"
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; connect-src 'none'"
)
_TITLE = re.compile(r"^([vog])(\d+)$")


def explore(
    root: Value,
    highlight: Value | None = None,
    *,
    rankdir: str = "LR",
    color_by_grad: bool = True,
    cluster: bool = True,
    max_nodes: int | None = MAX_NODES,
) -> Explorer:
    """An interactive page for ``root``'s graph: step through backward in the browser.

    Args:
        root: The output (usually the loss); call ``root.backward()`` first so the final
            gradients are known.
        highlight: A value to draw highlighted, as in :func:`~autograd.draw_graph`.
        rankdir: Layout direction (``"LR"``, ``"TB"``, ``"RL"``, ``"BT"``).
        color_by_grad: Heat map of |grad| (see :func:`~autograd.draw_graph`).
        cluster: Clusters per scope (layers, neurons); click one to collapse it.
        max_nodes: The most boxes before neurons, chains and layers collapse (see
            ``draw_graph``).

    Returns:
        An :class:`Explorer`: ``.save("graph.html")`` writes the page.

    Raises:
        TypeError, ValueError: as :func:`~autograd.draw_graph`.
    """
    try:
        opts = DrawOptions(rankdir, True, True, color_by_grad, cluster, highlight, max_nodes)
        return Explorer(plan(root, opts))
    except (TypeError, ValueError) as e:  # the checks are draw_graph's; name the call made
        text = str(e)
        if type(e) in (TypeError, ValueError) and text.startswith("draw_graph:"):
            raise type(e)("explore:" + text.removeprefix("draw_graph:")) from None
        raise


class Explorer:
    """One self-contained HTML page exploring a graph's backward pass.

    Attributes:
        graph: The :class:`~autograd.Graph` drawn.
        steps: The op nodes in the order the page steps through them (the engine's order).
    """

    def __init__(self, p: Plan) -> None:
        self._plan = p
        self.graph: Graph = p.graph
        self.steps: list[int] = [
            i
            for i in reversed(range(len(p.graph)))
            if p.graph.ops[i] is not None and p.graph.nodes[i].requires_grad
        ]
        self._html: str | None = None

    def __repr__(self) -> str:
        return f"<Explorer of {len(self.graph)} nodes, {len(self.steps)} backward steps>"

    def html(self) -> str:
        """The page as text (built, and rendered, once)."""
        if self._html is None:
            self._html = _page(self._plan, self.steps)
        return self._html

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` (atomically; folders are created).

        Args:
            path: Output file, normally ``*.html``.

        Returns:
            ``path`` as a :class:`pathlib.Path`.
        """
        out = Path(os.fspath(path))
        write_atomic(out, self.html().encode("utf-8"))
        return out

    def _repr_html_(self) -> str:
        """Jupyter: the page in a sandboxed iframe (scripts allowed, nothing else)."""
        doc = html.escape(self.html(), quote=True)
        return (
            f'<iframe srcdoc="{doc}" sandbox="allow-scripts" '
            'style="width:100%;height:640px;border:1px solid #ddd"></iframe>'
        )


def _jnum(x: float | None) -> float | str | None:
    """A number for JSON: non-finite ones as strings JavaScript's Number() reads."""
    if x is None or math.isfinite(x):
        return x
    return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")


def _node_data(graph: Graph, i: int) -> dict[str, Any]:
    v, op = graph.nodes[i], graph.ops[i]
    try:
        explained = str(explain_grad(v, graph=graph)) if v.requires_grad else ""
    except (ArithmeticError, ValueError, TypeError) as e:  # pragma: no cover - defensive
        explained = f"(no explanation: {e})"
    if not explained:
        explained = "A constant: a number used as an operand. It has no gradient."
    return {
        "label": v.label,
        "name": graph.name(i),
        "scope": v.scope,
        "op": op.name if op is not None else "",
        "role": graph.role(i),
        "data": _jnum(graph.data[i]),
        "grad": _jnum(graph.grads[i]),
        "parents": list(graph.parents[i]),
        "partials": [_jnum(d) for d in local_partials(graph, i)] if op is not None else [],
        "explain": explained,
    }


def _script_json(data: object) -> str:
    """JSON safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` appears raw."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _page(p: Plan, steps: list[int]) -> str:
    source = drawing(p).source
    svg = _annotate(render_source(source, "svg").decode("utf-8"), p)
    graph = p.graph
    data = {
        "nodes": [_node_data(graph, i) for i in range(len(graph))],
        "steps": steps,
        "seed": _jnum(graph.grads[-1]),
        "heat": heat_scale(p),
        "rankdir": p.opts.rankdir,
        "groups": [
            {"name": nr.scope, "kind": nr.kind, "zs": nr.zs, "outs": nr.outs} for nr in p.groups
        ],
    }
    asset = resources.files("autograd") / "_explorer"
    css = (asset / "explorer.css").read_text("utf-8")
    js = (asset / "explorer.js").read_text("utf-8")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        "<title>deltagrad explorer</title>"
        f"<style>{css}</style></head><body>\n<header>"
        '<button id="step" type="button" aria-label="Step">Step ▶</button>'
        '<button id="back" type="button" aria-label="Back">◀ Back</button>'
        '<button id="play" type="button" aria-label="Play" aria-pressed="false">Play</button>'
        '<button id="reset" type="button" aria-label="Reset">Reset</button>'
        '<button id="fit" type="button" aria-label="Fit">Fit</button>'
        '<label><input id="forward" type="checkbox"> Forward only</label>'
        '<span id="status" role="status"></span></header>\n'
        f'<main id="stage">{svg}</main>\n'
        '<aside id="panel" aria-live="polite"><p>Click a node to see its numbers and how its '
        "gradient was made. Step (→) and Back (←) walk the backward pass.</p></aside>\n"
        f'<script type="application/json" id="deltagrad-data">{_script_json(data)}</script>\n'
        f"<script>{js}</script>\n</body></html>\n"
    )


def _annotate(svg: str, p: Plan) -> str:
    """Graphviz's SVG with ``data-*`` attributes on nodes, clusters and edges, and the grad
    lines marked (class ``grad``) so the page can update them."""
    ET.register_namespace("", _SVG)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    tree = ET.fromstring(svg)
    tree.attrib.pop("width", None)
    tree.attrib.pop("height", None)
    graph = p.graph
    clusters = {path: k for k, path in enumerate(p.cluster_paths)}
    for g in tree.iter(f"{{{_SVG}}}g"):
        title = g.find(f"{{{_SVG}}}title")
        name = title.text if title is not None and title.text else ""
        kind = g.get("class")
        if kind == "cluster" and name.startswith("cluster_"):
            g.set("data-cluster", name.removeprefix("cluster_"))
        elif kind == "node":
            _annotate_node(g, name, graph, p, clusters)
        elif kind == "edge":
            src, _, dst = name.partition("->")
            g.set(
                "data-clusters", " ".join({*_inside(src, p, clusters), *_inside(dst, p, clusters)})
            )
    return ET.tostring(tree, encoding="unicode")


def _inside(name: str, p: Plan, clusters: dict[str, int]) -> list[str]:
    """The cluster numbers (as text) that drawn node ``name`` sits in."""
    m = _TITLE.match(name)
    if m is None or not p.opts.cluster:
        return []
    i = int(m.group(2))
    scope = p.groups[i].place if m.group(1) == "g" else p.graph.scope(i)
    out = []
    while scope:
        k = clusters.get(scope)
        if k is not None:
            out.append(str(k))
        scope = scope_parent(scope)
    return out


def _annotate_node(
    g: ET.Element, name: str, graph: Graph, p: Plan, clusters: dict[str, int]
) -> None:
    m = _TITLE.match(name)
    if m is None:
        return
    kind, i = m.group(1), int(m.group(2))
    g.set("data-clusters", " ".join(_inside(name, p, clusters)))
    if kind != "v":
        g.set("data-op-of" if kind == "o" else "data-group", str(i))
        if kind == "g":
            _mark_box(g)
        return
    op = graph.ops[i]
    grad = graph.grads[i]
    g.set("data-node", str(i))
    g.set("data-label", graph.nodes[i].label)
    g.set("data-op", op.name if op is not None else "")
    g.set("data-grad", "" if grad is None else repr(graph.grads[i] if i == len(graph) - 1 else 0.0))
    for t in g.iter(f"{{{_SVG}}}text"):
        if t.text and t.text.startswith("grad "):
            t.set("class", "grad")
    _mark_box(g)


def _mark_box(g: ET.Element) -> None:
    """Class ``box`` on a node's first filled outline: its fill follows the stepping."""
    for shape in g:
        if shape.tag in (f"{{{_SVG}}}path", f"{{{_SVG}}}polygon") and shape.get("fill") != "none":
            shape.set("class", "box")
            break
