"""draw_graph / render_graph: DOT structure, heat map, clusters, the highlighted chain rule,
collapsing, escaping, real SVG/PNG output and the renderer fallback chain.

References are independent of the drawing code: hand-derived derivatives, central
differences, brute-force path enumeration on small graphs, and XML parsing of real renderer
output. DOT is parsed line by line (draw_graph writes one statement per line).
"""

from __future__ import annotations

import html
import itertools
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import graphviz
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd as ag
import autograd._render as render_mod
from autograd import RendererNotFoundError, Value, draw_graph, render_graph


@pytest.fixture(autouse=True, scope="module")
def _drop_this_modules_ops() -> Iterator[None]:
    """The op the hostile-label test defines is a global row: remove it when the module ends."""
    yield
    for name in [n for n, op in ag.OPS.items() if not op.builtin and n.startswith("hostile_")]:
        del ag.OPS[name]


PURE = shutil.which("graphviz-pure") or shutil.which(
    "graphviz-pure", path=str(Path(sys.executable).parent)
)
REAL_DOT = shutil.which("dot")
SVG_NS = "{http://www.w3.org/2000/svg}"

needs_pure = pytest.mark.skipif(PURE is None, reason="graphviz-pure not installed (pip)")
needs_dot = pytest.mark.skipif(REAL_DOT is None, reason="Graphviz `dot` not installed")

# ---------------------------------------------------------------------------------------------
# Reading DOT and SVG

NODE = re.compile(r"^\t(\w+) \[label=<(.*)>([^<>]*)\]$")
EDGE = re.compile(r"^\t(\w+) -> (\w+)(?: \[(.*)\])?$")
OPEN = re.compile(r"^\tsubgraph (cluster_\w+) \{$")
TITLE = re.compile(r"^\t\tlabel=<<B>(.*)</B>>")


def label_text(h: str) -> str:
    """The text an HTML-like label shows: line breaks, no tags, entities and Graphviz's
    backslash escapes resolved."""
    s = re.sub(r"<BR/>", "\n", h)
    s = re.sub(r"<[^>]+>", "", s)
    return html.unescape(s).replace("\\\\", "\\")


@dataclass
class Dot:
    nodes: dict[str, str] = field(default_factory=dict)  # id -> label text
    attrs: dict[str, str] = field(default_factory=dict)  # id -> attribute text
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    cluster_of: dict[str, list[str]] = field(default_factory=dict)  # node -> titles outermost first
    clusters: list[tuple[str, list[str]]] = field(default_factory=list)  # (title, ancestors)
    caption: str = ""

    def by_text(self, first_line: str) -> list[str]:
        return [k for k, t in self.nodes.items() if t.split("\n")[0] == first_line]

    def one(self, first_line: str) -> str:
        found = self.by_text(first_line)
        assert len(found) == 1, f"expected one node titled {first_line!r}, got {found}"
        return found[0]

    def into(self, node: str) -> list[str]:
        return [s for s, d, _ in self.edges if d == node]

    def op_of(self, node: str) -> str:
        (op,) = self.into(node)
        return op

    def bold(self) -> set[tuple[str, str]]:
        return {(s, d) for s, d, a in self.edges if "penwidth" in a}


def parse(source: str) -> Dot:
    d = Dot()
    stack: list[str] = []
    pending = False
    for line in source.splitlines():
        if m := OPEN.match(line):
            pending = True
            continue
        if pending:
            t = TITLE.match(line)
            assert t, f"cluster without a title line: {line!r}"
            stack.append(label_text(t.group(1)))
            d.clusters.append((stack[-1], stack[:-1]))
            pending = False
            continue
        if line == "\t}":
            stack.pop()
            continue
        if line.startswith("\tlabel=<"):
            d.caption = label_text(line[len("\tlabel=<") : -1])
            continue
        if m := NODE.match(line):
            d.nodes[m.group(1)] = label_text(m.group(2))
            d.attrs[m.group(1)] = m.group(3)
            d.cluster_of[m.group(1)] = list(stack)
            continue
        if m := EDGE.match(line):
            d.edges.append((m.group(1), m.group(2), m.group(3) or ""))
    assert not stack, "unbalanced subgraph braces"
    return d


def svg_text(svg: bytes | str) -> str:
    """All text of an SVG (parsed with an XML parser: raises if it is not well-formed)."""
    root = ET.fromstring(svg)
    return "\n".join(t.text or "" for t in root.iter(f"{SVG_NS}text"))


def fill_of(attrs: str) -> str:
    m = re.search(r'fillcolor="(#[0-9a-f]{6})"', attrs)
    return m.group(1) if m else "#ffffff"


def luminance(color: str) -> float:
    r, g, b = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


NUM = r"-?\d+\.\d+(?:e[-+]\d+)?"
F = rf"\(?({NUM})\)?"  # a number in a caption: negative factors come in parentheses


def explained(v: Value, root: Value) -> list[str]:
    """explain_grad's caption lines: the one explanation model a drawing's caption shows."""
    return ag.explain_grad(v, root).caption()


def shows_explanation(caption: str, v: Value, root: Value) -> bool:
    flat = " ".join(caption.split())
    return all(" ".join(line.split()) in flat for line in explained(v, root))


# ---------------------------------------------------------------------------------------------
# Graphs


def tiny() -> dict[str, Value]:
    """e = a * b + tanh(c), labelled, back-propagated."""
    a, b, c = Value(2.0, "a"), Value(-3.0, "b"), Value(0.5, "c")
    d = a * b
    d.label = "d"
    t = c.tanh()
    t.label = "t"
    e = d + t
    e.label = "e"
    e.backward()
    return {"a": a, "b": b, "c": c, "d": d, "t": t, "e": e}


HIDDEN_W = [[0.6, 0.2], [-0.5, 0.4], [0.3, 0.9]]
HIDDEN_B = [0.1, 0.2, -0.3]
ACTS = ["tanh", "tanh", "relu"]  # neuron2's z < 0 for the inputs below: a dead ReLU
OUT_W = [0.8, -0.7, 0.5]


@dataclass
class Net:
    x: list[Value]
    hidden: list[tuple[list[Value], Value, Value, Value]]  # (w, b, z, a) per neuron
    out: tuple[list[Value], Value, Value, Value]
    loss: Value


def net(override: dict[tuple[int, int, int], float] | None = None) -> Net:
    """A 2-3-1 network built by hand in scopes mlp.layerL.neuronJ, loss (y - 1)^2.

    ``override[(layer, neuron, i)]`` replaces weight i's value (for central differences).
    """
    ov = override or {}
    x = [Value(1.0, "x0"), Value(-2.0, "x1")]
    hidden = []
    with ag.scope("mlp"):
        with ag.scope("layer0"):
            for j in range(3):
                with ag.scope(f"neuron{j}"):
                    w = [Value(ov.get((0, j, i), v), f"w{i}") for i, v in enumerate(HIDDEN_W[j])]
                    b = Value(HIDDEN_B[j], "b")
                    z = ag.dot(w, x, b)
                    z.label = "z"
                    a = getattr(z, ACTS[j])()
                    a.label = "a"
                hidden.append((w, b, z, a))
        with ag.scope("layer1"), ag.scope("neuron0"):
            w = [Value(ov.get((1, 0, i), v), f"w{i}") for i, v in enumerate(OUT_W)]
            b = Value(0.1, "b")
            z = ag.dot(w, [h[3] for h in hidden], b)
            z.label = "z"
            y = z.tanh()
            y.label = "y"
    loss = (y - Value(1.0, "target")) ** 2
    loss.label = "L"
    loss.backward()
    return Net(x, hidden, (w, b, z, y), loss)


def central_difference(layer: int, neuron: int, i: int, h: float = 1e-6) -> float:
    w0 = (HIDDEN_W[neuron] if layer == 0 else OUT_W)[i]
    up = net({(layer, neuron, i): w0 + h}).loss.data
    down = net({(layer, neuron, i): w0 - h}).loss.data
    return (up - down) / (2 * h)


# ---------------------------------------------------------------------------------------------
# Structure


def test_every_value_and_op_is_a_node_and_edges_run_parent_to_op_to_result() -> None:
    g = tiny()
    d = parse(draw_graph(g["e"]).source)
    values = {k: d.one(k) for k in "abcdte"}
    ops = [k for k in d.nodes if k not in values.values()]
    assert len(ops) == 3, f"three op nodes (mul, tanh, add) expected, got {d.nodes}"
    expected = set()
    for name, parents in {"d": "ab", "t": "c", "e": "dt"}.items():
        op = d.op_of(values[name])
        assert op in ops
        expected.add((op, values[name]))
        expected |= {(values[p], op) for p in parents}
    assert {(s, t) for s, t, _ in d.edges} == expected
    assert len(d.edges) == len(expected), "one edge per parent use"


def test_op_nodes_show_the_op_table_symbol() -> None:
    g = tiny()
    d = parse(draw_graph(g["e"]).source)
    for name in "dte":
        v = g[name]
        assert v.op_info is not None
        assert d.nodes[d.op_of(d.one(name))] == v.op_info.symbol


def test_value_node_shows_label_data_and_grad_with_four_decimals() -> None:
    g = tiny()
    d = parse(draw_graph(g["e"]).source)
    # de/da = b = -3, de/db = a = 2, de/dc = 1 - tanh(0.5)^2, by hand
    expect = {"a": (2.0, -3.0), "b": (-3.0, 2.0), "c": (0.5, 1 - math.tanh(0.5) ** 2)}
    for name, (data, grad) in expect.items():
        assert d.nodes[d.one(name)] == f"{name}\ndata {data:.4f}\ngrad {grad:.4f}"


def test_show_data_and_show_grad_false_leave_only_the_label() -> None:
    g = tiny()
    d = parse(draw_graph(g["e"], show_data=False, show_grad=False).source)
    assert d.nodes[d.one("a")] == "a"
    assert not any("data " in t or "grad " in t for t in d.nodes.values())


def test_rankdir_reaches_the_graph_attributes() -> None:
    g = tiny()
    assert "rankdir=TB" in draw_graph(g["e"], rankdir="TB").source
    assert "rankdir=LR" in draw_graph(g["e"]).source


def test_a_shared_parent_gets_one_edge_per_use() -> None:
    x = Value(3.0, "x")
    y = x * x
    y.backward()
    d = parse(draw_graph(y).source)
    out_of_x = [t for src, t, _ in d.edges if src == d.one("x")]
    assert len(out_of_x) == 2 and len(set(out_of_x)) == 1, "x feeds the same * node twice"
    assert d.into(out_of_x[0]) == [d.one("x"), d.one("x")]


def test_dot_text_is_byte_identical_for_two_builds_and_across_processes() -> None:
    a = draw_graph(net().loss, highlight=None).source
    b = draw_graph(net().loss).source
    assert a == b
    n1, n2 = net(), net()
    h1 = draw_graph(n1.loss, highlight=n1.hidden[1][0][0], max_nodes=10).source
    h2 = draw_graph(n2.loss, highlight=n2.hidden[1][0][0], max_nodes=10).source
    assert h1 == h2
    code = (
        "import tests.test_draw as t, autograd as ag, sys; n = t.net(); "
        "sys.stdout.write(ag.draw_graph(n.loss, highlight=n.hidden[1][0][0]).source)"
    )
    outs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        root = Path(__file__).resolve().parent.parent
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, check=True
        )
        outs.add(proc.stdout)
    assert len(outs) == 1, "DOT text differs between processes with different hash seeds"


def test_node_ids_are_generated_never_user_text() -> None:
    v = Value(1.0, "a:b")
    w = v * Value(2.0, 'x" -> y')
    w.backward()
    d = parse(draw_graph(w).source)
    assert all(re.fullmatch(r"[vog]\d+", k) for k in d.nodes)
    assert all(re.fullmatch(r"[vog]\d+", s) and re.fullmatch(r"[vog]\d+", t) for s, t, _ in d.edges)


# ---------------------------------------------------------------------------------------------
# Clusters


def test_clusters_nest_neurons_inside_layers_titled_with_scope_names() -> None:
    n = net()
    d = parse(draw_graph(n.loss).source)
    titles = [(t, anc) for t, anc in d.clusters]
    assert ("mlp", []) in titles
    assert ("layer0", ["mlp"]) in titles and ("layer1", ["mlp"]) in titles
    for j in range(3):
        assert (f"neuron{j}", ["mlp", "layer0"]) in titles
    assert ("neuron0", ["mlp", "layer1"]) in titles
    assert len(d.clusters) == 7
    assert "subgraph cluster_" in draw_graph(n.loss).source
    # neuron1 of layer 0 holds its w0, z and a; the inputs and the loss are outside clusters
    w = [k for k, t in d.nodes.items() if t.startswith("w0\ndata -0.5000")]
    assert [d.cluster_of[k] for k in w] == [["mlp", "layer0", "neuron1"]]
    assert d.cluster_of[d.one("x0")] == []
    assert d.cluster_of[d.one("L")] == []


def test_cluster_false_draws_no_subgraphs() -> None:
    src = draw_graph(net().loss, cluster=False).source
    assert "subgraph" not in src
    assert len(parse(src).nodes) == len(parse(draw_graph(net().loss).source).nodes)


# ---------------------------------------------------------------------------------------------
# Heat map


def test_heat_map_darkens_with_relative_abs_grad_and_marks_exact_zeros() -> None:
    n = net()
    d = parse(draw_graph(n.loss).source)
    values = [k for k in d.nodes if k.startswith("v") and "grad " in d.nodes[k]]
    grads = {k: float(re.search(rf"grad ({NUM})", d.nodes[k]).group(1)) for k in values}  # type: ignore[union-attr]
    # constants (the 1.0 of y - 1 is a Value here; 2 of the power is a number): value only
    consts = [k for k in d.nodes if k.startswith("v") and k not in values]
    order = ag.topological_order(n.loss)
    assert len(consts) == sum(1 for v in order if v.grad is None) > 0
    assert all("dotted" in d.attrs[k] and "dashed" not in d.attrs[k] for k in consts)
    nonzero = sorted((abs(g), luminance(fill_of(d.attrs[k]))) for k, g in grads.items() if g)
    # darker (lower luminance) never goes with a smaller |grad| (4-decimal ties aside)
    for (g1, l1), (g2, l2) in itertools.pairwise(nonzero):
        if g2 > g1 + 1e-3:
            assert l2 <= l1 + 1e-9, f"|grad| {g2} drawn lighter than |grad| {g1}"
    top = max(values, key=lambda k: abs(grads[k]))
    assert luminance(fill_of(d.attrs[top])) < 0.3, "the largest |grad| gets the darkest shade"
    # the dead ReLU neuron (layer0.neuron2: z < 0): its weights, bias and z have grad exactly 0
    w, b, z, _ = n.hidden[2]
    assert z.data < 0 and all(v.grad == 0.0 for v in (*w, b, z))
    dead = [k for k in values if d.cluster_of[k][-1:] == ["neuron2"] and grads[k] == 0.0]
    assert len(dead) == 4
    zero_fills = {fill_of(d.attrs[k]) for k in dead}
    assert all("dashed" in d.attrs[k] for k in dead)
    assert not any("dashed" in d.attrs[k] for k, g in grads.items() if g != 0.0)
    assert zero_fills.isdisjoint({fill_of(d.attrs[k]) for k, g in grads.items() if g != 0.0})
    # the legend: relative scale with the max, and the exact-zero style
    gmax = max(abs(v.grad) for v in ag.topological_order(n.loss) if v.grad is not None)
    assert f"max {gmax:.4f}" in d.caption and "100%" in d.caption
    assert "grad exactly 0 (dashed)" in d.caption


def test_color_by_grad_false_has_no_fills_and_no_legend() -> None:
    d = parse(draw_graph(net().loss, color_by_grad=False).source)
    assert not any(k.startswith("v") and "fillcolor" in a for k, a in d.attrs.items())
    assert "|grad|" not in d.caption


def test_before_backward_the_caption_says_to_call_it() -> None:
    a = Value(1.0, "a")
    y = a * 2.0
    assert "call backward()" in parse(draw_graph(y).source).caption


# ---------------------------------------------------------------------------------------------
# Highlight


def brute_force_route_edges(root: Value, h: Value) -> set[tuple[int, int]]:
    """Edges (parent, child) lying on some path h -> root, by enumerating every path."""
    found: set[tuple[int, int]] = set()

    def walk(v: Value, path: list[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
        if v is root:
            yield path
        for c in consumers.get(id(v), []):
            yield from walk(c, [*path, (id(v), id(c))])

    consumers: dict[int, list[Value]] = {}
    for v in ag.topological_order(root):
        for p in v.parents:
            consumers.setdefault(id(p), []).append(v)
    for path in walk(h, []):
        found |= set(path)
    return found


def test_highlight_bolds_exactly_the_edges_on_routes_to_the_root() -> None:
    x, y, k = Value(1.5, "x"), Value(-0.5, "y"), Value(2.0, "k")
    u = x * y
    u.label = "u"
    s = u.sin()
    s.label = "s"
    q = u + k
    q.label = "q"
    r = y.exp()
    r.label = "r"
    m = s * q
    m.label = "m"
    out = m + r
    out.label = "out"
    out.backward()
    d = parse(draw_graph(out, highlight=x).source)
    node = {id(v): d.one(v.label) for v in ag.topological_order(out)}
    expected: set[tuple[str, str]] = set()
    for p, c in brute_force_route_edges(out, x):
        op = d.op_of(node[c])
        expected |= {(node[p], op), (op, node[c])}
    # value edges x->u, u->s, u->q, s->m, q->m, m->out; ops of u, s, q, m, out -> their value
    assert len(expected) == 11
    assert d.bold() == expected
    # y, k and r are not reachable from x: their edges stay thin
    for name in ("y", "k", "r"):
        assert not any(src == d.one(name) for src, _ in d.bold())


def test_highlighted_edges_carry_the_local_derivative_from_the_chain_rule() -> None:
    x, y = Value(1.5, "x"), Value(-0.5, "y")
    u = x * y
    u.label = "u"
    s = u.sin()
    s.label = "s"
    out = s * s
    out.label = "out"
    out.backward()
    d = parse(draw_graph(out, highlight=x).source)
    labels = {(src, dst): a for src, dst, a in d.edges}

    def local(src: str, dst_value: str) -> float:
        a = labels[(d.one(src), d.op_of(d.one(dst_value)))]
        return float(re.search(rf"∂ ({NUM})", a).group(1))  # type: ignore[union-attr]

    assert local("x", "u") == pytest.approx(y.data, abs=1e-4)  # d(xy)/dx = y
    assert local("u", "s") == pytest.approx(math.cos(u.data), abs=1e-4)  # d sin u / du
    # s * s: two edges, each labelled with the other factor s
    both = [a for src, _, a in d.edges if src == d.one("s")]
    assert len(both) == 2 and all(f"∂ {s.data:.4f}" in a for a in both)


def test_weight_caption_is_delta_times_input_with_the_graphs_numbers() -> None:
    n = net()
    w, _, z, _ = n.hidden[1]
    wz, _, _, y = n.out
    d = parse(draw_graph(n.loss, highlight=w[0]).source)
    m = re.search(
        rf"dL/dw0 = delta \* x0 = \(dL/da \* da/dz\) \* x0 = \({F} \* {F}\) \* {F} = {F}",
        d.caption,
    )
    assert m, d.caption
    dlda, dadz, x, total = (float(t) for t in m.groups())
    # independent: dL/da by hand through the output neuron, da/dz = 1 - tanh^2, x = x0
    dl_dy = 2 * (y.data - 1.0)
    dl_da = dl_dy * (1 - y.data**2) * wz[1].data
    assert dlda == pytest.approx(dl_da, abs=1e-4)
    assert dadz == pytest.approx(1 - math.tanh(z.data) ** 2, abs=1e-4)
    assert x == pytest.approx(n.x[0].data, abs=1e-4)
    assert total == pytest.approx(w[0].grad, abs=1e-4)
    assert total == pytest.approx(central_difference(0, 1, 0), abs=1e-4)
    assert f"matches .grad = {w[0].grad:.4f}" in d.caption
    assert shows_explanation(d.caption, w[0], n.loss)
    assert "but .grad" not in d.caption
    # the highlighted weight's node has the thick border
    hid = [k for k, t in d.nodes.items() if t.startswith("w0\ndata -0.5000")]
    assert "penwidth=3.5" in d.attrs[hid[0]]


def test_output_weight_caption_uses_the_output_activation() -> None:
    n = net()
    wz, _, _, y = n.out
    d = parse(draw_graph(n.loss, highlight=wz[2]).source)
    m = re.search(rf"\(dL/da \* da/dz\) \* \w+ = \({F} \* {F}\) \* {F} = {F}", d.caption)
    assert m, d.caption
    dlda, dadz, x, total = (float(t) for t in m.groups())
    assert shows_explanation(d.caption, wz[2], n.loss)
    assert dlda == pytest.approx(2 * (y.data - 1.0), abs=1e-4)
    assert dadz == pytest.approx(1 - y.data**2, abs=1e-4)
    assert x == pytest.approx(n.hidden[2][3].data, abs=1e-4)  # the dead ReLU's output: 0
    assert total == pytest.approx(central_difference(1, 0, 2), abs=1e-4)


def test_weight_of_a_linear_neuron_caption_is_delta_times_input() -> None:
    w, x, b = Value(0.5, "w"), Value(3.0, "x"), Value(0.25, "b")
    with ag.scope("neuron"):
        z = ag.dot([w], [x], b)
    loss = z * z + z  # z has two uses: no single activation
    loss.backward()
    d = parse(draw_graph(loss, highlight=w).source)
    m = re.search(rf"dL/dw = delta \* x = dL/dz \* x = {F} \* {F} = {F}", d.caption)
    assert m, d.caption
    delta, xv, total = (float(t) for t in m.groups())
    assert delta == pytest.approx(2 * z.data + 1, abs=1e-4)
    assert xv == 3.0
    assert total == pytest.approx((2 * z.data + 1) * 3.0, abs=1e-4)


def test_generic_caption_sums_dl_dc_times_dc_dv_over_every_use() -> None:
    v, k = Value(0.7, "v"), Value(-1.3, "k")
    p = v * k
    q = v.exp()
    out = p + q
    out.backward()
    d = parse(draw_graph(out, highlight=v).source)
    routes = re.findall(rf"dL/dc \* dc/dv = {F} \* {F} = {F}", d.caption)
    m = re.search(rf"dL/dv = {F} \+ {F} = {F}", d.caption)
    assert m and len(routes) == 2, d.caption
    (g1, d1, _), (g2, d2, _) = ((float(t) for t in r) for r in routes)
    total = float(m.group(3))
    assert shows_explanation(d.caption, v, out)
    assert (g1, g2) == (1.0, 1.0)
    assert {round(d1, 4), round(d2, 4)} == {round(k.data, 4), round(math.exp(0.7), 4)}
    assert total == pytest.approx(k.data + math.exp(0.7), abs=1e-4)
    assert total == pytest.approx(v.grad, abs=1e-4)


def test_highlighting_the_root_says_dl_dl_is_one() -> None:
    g = tiny()
    assert "is L itself: dL/de = 1" in parse(draw_graph(g["e"], highlight=g["e"]).source).caption


def test_caption_flags_a_grad_accumulated_over_two_backward_calls() -> None:
    v = Value(2.0, "v")
    out = v * 3.0
    out.backward()
    v.grad = 0.0  # an optimizer's zero_grad clears the parameters only...
    out.backward()  # ...so v.grad = 3 but out.grad = 2: the caption's sum gives 6
    assert "but .grad = 3.0000" in parse(draw_graph(out, highlight=v).source).caption


def test_highlight_through_exponentially_many_paths_stays_linear() -> None:
    x = Value(1.0001, "x")
    y = x
    for _ in range(300):  # 2^300 paths from x to the root
        y = (y * 0.5 + y * 0.5).tanh() + y * 0.01
    y.label = "root"
    y.backward()
    d = parse(draw_graph(y, highlight=x, max_nodes=None).source)
    order = ag.topological_order(y)
    # every node but the constants depends on x, so only the constants' edges stay thin
    thin = {(s, t) for s, t, _ in d.edges} - d.bold()
    assert {d.nodes[s].split("\n")[0] for s, _ in thin} == {"data 0.5000", "data 0.0100"}
    assert len(thin) == 3 * 300
    assert len(d.nodes) == len(order) + sum(1 for v in order if v.op_info)
    shown = re.search(rf"matches \.grad = ({NUM})", d.caption)
    assert shown and float(shown.group(1)) == pytest.approx(x.grad, rel=1e-4)
    assert "but .grad" not in d.caption


def test_highlight_must_be_in_the_graph() -> None:
    g = tiny()
    with pytest.raises(ValueError, match="not in the graph"):
        draw_graph(g["d"], highlight=g["c"])
    with pytest.raises(TypeError, match="highlight"):
        draw_graph(g["e"], highlight=1.0)  # type: ignore[arg-type]


def test_bad_arguments_raise_clear_errors() -> None:
    g = tiny()
    with pytest.raises(TypeError, match="root must be a Value"):
        draw_graph(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rankdir"):
        draw_graph(g["e"], rankdir="XY")
    with pytest.raises(TypeError, match="max_nodes"):
        draw_graph(g["e"], max_nodes=True)
    with pytest.raises(ValueError, match="max_nodes"):
        draw_graph(g["e"], max_nodes=-1)


# ---------------------------------------------------------------------------------------------
# Collapsing


def test_above_max_nodes_each_neuron_collapses_into_one_node_with_z_a_delta() -> None:
    n = net()
    size = len(ag.topological_order(n.loss))
    full = parse(draw_graph(n.loss, max_nodes=size).source)  # at the limit: not collapsed
    assert "Collapsed" not in full.caption and full.by_text("w0")
    d = parse(draw_graph(n.loss, max_nodes=size - 1).source)
    assert f"Collapsed: {size} values > max_nodes={size - 1}" in d.caption
    assert "4 neuron" in d.caption
    assert not d.by_text("w0") and not d.by_text("z")
    groups = {k: t for k, t in d.nodes.items() if k.startswith("g")}
    assert len(groups) == 4
    for j, (_, _, z, a) in enumerate(n.hidden):
        (k,) = [k for k, t in groups.items() if t.startswith(f"neuron{j}\nz {z.data:.4f}")]
        assert groups[k] == f"neuron{j}\nz {z.data:.4f}\na {a.data:.4f}\nδ {z.grad:.4f}"
        assert d.cluster_of[k] == ["mlp", "layer0"]
        # its inputs x0, x1 feed it; its output feeds the output neuron
        assert sorted(d.into(k)) == sorted([d.one("x0"), d.one("x1")])
    (out,) = [k for k, t in groups.items() if d.cluster_of[k] == ["mlp", "layer1"]]
    assert len(d.into(out)) == 3 and all(s in groups for s in d.into(out))
    # the dead neuron's delta is exactly 0: dashed
    dead = [k for k, t in groups.items() if t.startswith("neuron2")]
    assert "dashed" in d.attrs[dead[0]]


def test_collapsed_neuron_called_on_a_batch_lists_each_calls_z_a_delta() -> None:
    with ag.scope("n"):
        w, b = Value(0.5, "w0"), Value(0.1, "b")
    xs = [Value(float(i), f"x{i}") for i in range(4)]
    outs = []
    for x in xs:
        with ag.scope("n"):
            z = ag.dot([w], [x], b)
            outs.append(z.tanh())
    loss = ag.sum(outs)
    loss.backward()
    d = parse(draw_graph(loss, max_nodes=len(ag.topological_order(loss)) - 1).source)
    (g,) = [t for k, t in d.nodes.items() if k.startswith("g")]
    assert g.startswith("n (4 calls)")
    first = outs[0].parents[0]
    assert f"z {first.data:.4f}" in g and f"δ {first.grad:.4f}" in g
    assert "1 more calls" in g


def test_too_many_boxes_even_after_collapsing_is_a_value_error_saying_how_to_draw_less() -> None:
    g = tiny()
    n = len(ag.topological_order(g["e"]))  # no neurons, no long chain: nothing collapses
    with pytest.raises(ValueError, match=rf"{n} values leave {n} boxes .* max_nodes=2") as err:
        draw_graph(g["e"], max_nodes=2)
    assert "max_nodes=None" in str(err.value) and "one sample" in str(err.value)
    assert parse(draw_graph(g["e"], max_nodes=n).source).by_text("a")  # at the limit: drawn


def test_collapse_of_an_nn_mlp_gives_one_node_per_neuron() -> None:
    import nn

    m = nn.MLP(2, [3, 2, 1], seed=0)
    y = m([0.5, -1.0])
    y.backward()
    d = parse(draw_graph(y, max_nodes=10).source)
    assert sum(k.startswith("g") for k in d.nodes) == 6  # 3 + 2 + 1 neurons
    assert "Collapsed" in d.caption


def test_highlight_of_an_nn_mlp_weight_matches_central_difference() -> None:
    import nn

    m = nn.MLP(2, [3, 1], activation="tanh", seed=3)
    neuron = m.layers[0].neurons[1]
    w = neuron.w[0]

    def loss_at(val: float) -> float:
        old = w.data
        w.data = val
        try:
            return float(m([0.5, -1.0]).data) ** 2
        finally:
            w.data = old

    y = m([0.5, -1.0])
    loss = y * y
    loss.backward()
    d = parse(draw_graph(loss, highlight=w).source)
    m_ = re.search(rf"\* \w+ = \({F} \* {F}\) \* {F} = {F}", d.caption)
    assert m_, d.caption
    total = float(m_.group(4))
    h = 1e-6
    numeric = (loss_at(w.data + h) - loss_at(w.data - h)) / (2 * h)
    assert total == pytest.approx(numeric, abs=1e-4)
    assert float(m_.group(3)) == 0.5  # x0 of the input


# ---------------------------------------------------------------------------------------------
# Escaping and real output

HOSTILE = [
    'say "hi"',
    "<b>bold?</b>",
    "{ } | < >",
    "back\\slash",
    "odd\\",
    "two\\\\",
    "\\N \\G \\L",
    "line1\nline2",
    "a:b",
    "&amp; &lt;",
    "]]> <!--",
    "tab\there",
]


def hostile_graph() -> Value:
    vals = []
    for i, lab in enumerate(HOSTILE):
        with ag.scope(f"s<{i}>|{{"):
            vals.append(Value(float(i), lab))
    f = ag.define_op(
        "hostile_pair", lambda a, b: a + b, lambda a, b, out: (1.0, 1.0), symbol='<op>"\\'
    )
    y = f(vals[0], vals[1])
    y = ag.sum([y, *vals[2:]])
    y.label = "end\\"
    y.backward()
    return y


def renderers() -> list[str]:
    return [r for r in (REAL_DOT, PURE) if r]


def arrange(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    *,
    dot: str | None = None,
    pure: bool = False,
    beside: bool = False,
) -> Path:
    """PATH = one fresh folder holding only the programs asked for; the beside-interpreter
    folder = another (holding graphviz-pure if ``beside``). Returns the PATH folder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    venv_dir = tmp_path / "venv-bin"
    venv_dir.mkdir(exist_ok=True)
    if dot is not None:
        (bin_dir / "dot").write_text(dot)
        (bin_dir / "dot").chmod(0o755)
    if pure:
        assert PURE
        (bin_dir / "graphviz-pure").symlink_to(PURE)
    if beside:
        assert PURE
        (venv_dir / "graphviz-pure").symlink_to(PURE)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(render_mod, "_interpreter_dir", lambda: venv_dir)
    return bin_dir


def recording_dot(log: Path, target: str) -> str:
    """A `dot` shim that records its arguments and runs ``target``."""
    return textwrap.dedent(
        f"""\
        #!/bin/sh
        echo "$@" >> '{log}'
        exec '{target}' "$@"
        """
    )


@pytest.mark.parametrize("renderer", renderers() or [None])
def test_hostile_labels_give_well_formed_svg_showing_them_literally(
    renderer: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if renderer is None:
        pytest.skip("no renderer installed")
    shim = f"#!/bin/sh\nexec '{renderer}' \"$@\"\n"
    arrange(monkeypatch, tmp_path, dot=shim)
    root = hostile_graph()
    svg = render_graph(root, tmp_path / "h.svg").read_bytes()
    text = svg_text(svg)  # raises ParseError if not well-formed
    squash = "".join(text.split())
    for lab in [*HOSTILE, "end\\", '<op>"\\']:
        for part in lab.split("\n"):
            assert "".join(part.split()) in squash, f"{part!r} missing from the SVG text"
    assert "v0" not in squash.replace("v0.", ""), "\\N must not become the node id"
    for i in range(len(HOSTILE)):
        assert f"s<{i}>|{{" in text


@given(st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=20))
def test_any_printable_label_survives_to_the_svg(label: str) -> None:
    if PURE is None and REAL_DOT is None:
        pytest.skip("no renderer installed")
    v = Value(1.5, label)
    y = v * 2.0
    y.backward()
    svg = render_mod.render_source(draw_graph(y).source, "svg")
    text = "".join(svg_text(svg).split())
    assert "".join(label.split()) in text


def test_control_characters_are_shown_escaped_not_dropped() -> None:
    y = Value(1.0, "bell\x07") * 2.0
    assert "bell\\x07" in parse(draw_graph(y).source).nodes["v0"]


@needs_pure
def test_render_svg_png_and_dot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    n = net()
    svg_path = render_graph(n.loss, tmp_path / "out" / "g.svg", highlight=n.hidden[1][0][0])
    assert isinstance(svg_path, Path) and svg_path == tmp_path / "out" / "g.svg"
    text = svg_text(svg_path.read_bytes())
    for j in range(3):
        assert f"neuron{j}" in text
    w = n.hidden[1][0][0]
    assert f"grad {w.grad:.4f}" in text and f"data {n.loss.data:.4f}" in text
    assert f"{w.grad:.4f}" in text.split("dL/dw")[1]
    png = render_graph(n.loss, tmp_path / "g.PNG")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dot = render_graph(n.loss, tmp_path / "g.dot", rankdir="TB")
    assert dot.read_text(encoding="utf-8") == draw_graph(n.loss, rankdir="TB").source
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.PNG", "g.dot", "out"]
    assert os.listdir(tmp_path / "out") == ["g.svg"], "no temporary file left behind"


def test_render_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "g.dot"
    target.write_text("old")
    render_graph(tiny()["e"], target)
    assert target.read_text().startswith("digraph deltagrad {")
    assert os.listdir(tmp_path) == ["g.dot"]


@pytest.mark.parametrize("name", ["g.jpg", "g.txt", "g", "g.svg.bak"])
def test_unknown_suffix_is_a_value_error_naming_it(name: str, tmp_path: Path) -> None:
    suffix = Path(name).suffix
    with pytest.raises(ValueError, match=re.escape(repr(suffix))):
        render_graph(tiny()["e"], tmp_path / name)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# The renderer fallback chain


@needs_pure
def test_dot_on_path_is_preferred(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "dot.log"
    arrange(monkeypatch, tmp_path, dot=recording_dot(log, REAL_DOT or PURE or ""), pure=True)
    assert render_mod.find_renderer().name == "dot"
    out = render_graph(tiny()["e"], tmp_path / "g.svg")
    assert "-Tsvg" in log.read_text()
    svg_text(out.read_bytes())


@needs_dot
def test_real_dot_alone_renders_svg_png_pdf(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bin_dir = arrange(monkeypatch, tmp_path)
    assert REAL_DOT
    (bin_dir / "dot").symlink_to(REAL_DOT)
    g = tiny()
    svg = render_graph(g["e"], tmp_path / "g.svg").read_bytes()
    assert b"graphviz-pure" not in svg and b"Generated by graphviz" in svg
    assert f"data {-6.0 + math.tanh(0.5):.4f}" in svg_text(svg)
    assert render_graph(g["e"], tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    assert render_graph(g["e"], tmp_path / "g.pdf").read_bytes()[:5] == b"%PDF-"


@needs_pure
def test_graphviz_pure_on_path_when_there_is_no_dot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    arrange(monkeypatch, tmp_path, pure=True)
    r = render_mod.find_renderer()
    assert r.name == "graphviz-pure" and Path(r.path).parent == tmp_path / "bin"
    svg = render_graph(tiny()["e"], tmp_path / "g.svg").read_bytes()
    assert b"graphviz-pure" in svg
    assert render_graph(tiny()["e"], tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(RendererNotFoundError, match="cannot write pdf") as e:
        render_graph(tiny()["e"], tmp_path / "g.pdf")
    assert "apt-get install graphviz" in str(e.value)
    assert not (tmp_path / "g.pdf").exists()


@needs_pure
def test_graphviz_pure_beside_the_interpreter_of_an_unactivated_venv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    arrange(monkeypatch, tmp_path, beside=True)
    r = render_mod.find_renderer()
    assert r.name == "graphviz-pure" and Path(r.path).parent == tmp_path / "venv-bin"
    assert b"graphviz-pure" in render_graph(tiny()["e"], tmp_path / "g.svg").read_bytes()


def test_the_beside_lookup_is_the_unresolved_interpreter_folder() -> None:
    assert render_mod._interpreter_dir() == Path(sys.executable).parent


INSTALLS = ("apt-get install graphviz", "brew install graphviz", "pip install graphviz-pure")


def test_without_any_renderer_the_error_names_three_installs_and_dot_still_works(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    arrange(monkeypatch, tmp_path)
    g = tiny()
    for suffix in (".svg", ".png", ".pdf"):
        with pytest.raises(RendererNotFoundError) as e:
            render_graph(g["e"], tmp_path / f"g{suffix}")
        msg = str(e.value)
        for hint in INSTALLS:
            assert hint in msg
    assert isinstance(e.value, RuntimeError) and isinstance(e.value, graphviz.ExecutableNotFound)
    out = render_graph(g["e"], tmp_path / "g.dot")
    assert out.read_text(encoding="utf-8") == draw_graph(g["e"]).source
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "g.dot", "venv-bin"]


# ---------------------------------------------------------------------------------------------
# Jupyter


@needs_pure
def test_inline_display_works_without_a_dot_program(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    arrange(monkeypatch, tmp_path, pure=True)
    n = net()
    g = draw_graph(n.loss)
    assert isinstance(g, graphviz.Digraph)
    bundle = g._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml"}
    assert "neuron1" in svg_text(bundle["image/svg+xml"].encode("utf-8"))
    png = g._repr_mimebundle_(include=["image/png"])["image/png"]
    assert png[:4] == b"\x89PNG"


def test_inline_display_without_any_renderer_names_the_installs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    arrange(monkeypatch, tmp_path)
    with pytest.raises(RendererNotFoundError, match="pip install graphviz-pure"):
        draw_graph(tiny()["e"])._repr_mimebundle_()


def test_weight_with_a_penalty_sums_delta_x_and_the_penalty_term() -> None:
    def loss_at(wv: float) -> tuple[Value, Value, Value]:
        w, x, b = Value(wv, "w"), Value(-0.4, "x"), Value(0.1, "b")
        with ag.scope("neuron"):
            z = ag.dot([w], [x], b)
            a = z.tanh()
        loss = (a - 1.0) ** 2 + 0.01 * (w * w)
        loss.backward()
        return loss, w, z

    loss, w, z = loss_at(0.7)
    d = parse(draw_graph(loss, highlight=w).source)
    m = re.search(rf"dL/dw = {F} \+ {F} \+ {F} = {F}", d.caption)
    assert m, d.caption
    g = [float(t) for t in m.groups()]
    routes = re.findall(rf"dL/dc \* dc/dw = {F} \* {F} = {F}", d.caption)
    assert [float(t) for r in routes for t in r[:2]] == [0.01, 0.7, 0.01, 0.7]  # d(0.01 w w)/dw
    assert g[0] == pytest.approx(z.grad * -0.4, abs=1e-4)  # delta * x
    h = 1e-6
    numeric = (loss_at(0.7 + h)[0].data - loss_at(0.7 - h)[0].data) / (2 * h)
    assert g[3] == pytest.approx(numeric, abs=1e-4)
    a = 1 - math.tanh(z.data) ** 2
    detail = re.search(
        rf"delta \* x = \(dL/da \* da/dz\) \* x = \({F} \* {F}\) \* {F} = {F}", d.caption
    )
    assert detail, d.caption
    dlda, dadz, x, term = (float(t) for t in detail.groups())
    assert dadz == pytest.approx(a, abs=1e-4) and x == -0.4
    assert dlda == pytest.approx(2 * (math.tanh(z.data) - 1.0), abs=1e-4)
    assert term == pytest.approx(z.grad * -0.4, abs=1e-4)


@pytest.mark.parametrize("label", ["", " ", "\t", "\n", " \r\n "])
@pytest.mark.parametrize("scope", ["a..b", "\t.x", "x. "])
def test_blank_labels_and_scopes_render_with_the_system_renderer(label: str, scope: str) -> None:
    if REAL_DOT is None and PURE is None:
        pytest.skip("no renderer")
    with ag.scope(scope):
        a = Value(1.5, label)
        y = (a * a).tanh()
        y.label = label
    y.backward()
    for opts in ({}, {"show_data": False, "show_grad": False}):
        src = draw_graph(y, **opts).source
        assert "<B></B>" not in src and not re.search(r"<B>\s+</B>", src)
        svg = render_mod.render_source(src, "svg")
        ET.fromstring(svg)  # well-formed


def test_constants_show_their_value_only_in_a_quiet_style_unlike_a_zero_grad() -> None:
    x = Value(-1.0, "x")
    y = (x * 3.0).relu() + 2.5  # a dead ReLU: x.grad is exactly 0; 3.0 and 2.5 are constants
    y.backward()
    d = parse(draw_graph(y).source)
    consts = [k for k, t in d.nodes.items() if t in ("data 3.0000", "data 2.5000")]
    assert len(consts) == 2
    assert all("grad" not in d.nodes[k] and "dotted" in d.attrs[k] for k in consts)
    assert all("fillcolor" not in d.attrs[k] for k in consts)  # never heat-coloured
    (xk,) = d.by_text("x")
    assert d.nodes[xk].endswith("grad 0.0000") and "dashed" in d.attrs[xk]
    assert "constant (no grad)" in d.caption


CAT, SLEEP = shutil.which("cat") or "cat", shutil.which("sleep") or "sleep"
CRASHING_DOT = f"""#!/bin/sh
{CAT} > /dev/null
echo "memory allocation of 144576846964 bytes failed" >&2
echo "stack backtrace:" >&2
echo "   0: std::backtrace_rs::backtrace::libunwind::trace" >&2
kill -ABRT $$
"""
SLOW_DOT = f"#!/bin/sh\n{CAT} > /dev/null\nexec {SLEEP} 30\n"


@pytest.mark.parametrize("program", [CRASHING_DOT, SLOW_DOT])
def test_a_renderer_crash_or_timeout_is_a_renderer_error_naming_it_and_the_size(
    program: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    arrange(monkeypatch, tmp_path, dot=program)
    monkeypatch.setattr(render_mod, "RENDER_TIMEOUT", 0.5)
    monkeypatch.setattr(render_mod.render_source, "__kwdefaults__", {"timeout": 0.5})
    g = tiny()
    n_values = len(ag.topological_order(g["e"]))
    n_ops = sum(1 for v in ag.topological_order(g["e"]) if v.op_info is not None)
    with pytest.raises(ag.RendererError) as err:
        render_graph(g["e"], tmp_path / "g.svg")
    msg = str(err.value)
    assert "dot (" in msg and f"{n_values + n_ops} nodes" in msg and "draw less" in msg
    assert "backtrace" not in msg and "libunwind" not in msg
    assert ("memory allocation" in msg) == (program == CRASHING_DOT)
    assert ("within 0.5 s" in msg) == (program == SLOW_DOT)
    assert not (tmp_path / "g.svg").exists()


def cluster_corners(svg: ET.Element, paths: list[str]) -> dict[str, tuple[float, float]]:
    """Each drawn cluster's top-left corner (x, y) in the SVG, by scope path (``paths[k]`` is
    the scope of ``cluster_<k>``)."""
    out: dict[str, tuple[float, float]] = {}
    for g in svg.iter(f"{SVG_NS}g"):
        if g.get("class") == "cluster":
            k = int((g.findtext(f"{SVG_NS}title") or "").removeprefix("cluster_"))
            shape = g.find(f"{SVG_NS}path")
            if shape is None:
                shape = g.find(f"{SVG_NS}polygon")
            assert shape is not None
            nums = [float(v) for v in COORD.findall(shape.get("d") or shape.get("points") or "")]
            out[paths[k]] = (min(nums[0::2]), min(nums[1::2]))
    return out


def top_level_neurons(k: int) -> Value:
    """k tanh neurons scoped ``neuron0`` ... at the top level (no layer scope), summed."""
    x = [Value(0.5, "x0"), Value(-1.0, "x1")]
    total = Value(0.0)
    for j in range(k):
        with ag.scope(f"neuron{j}"):
            w = [Value(0.1 * (j + 1) * (i + 1), f"w{i}") for i in range(2)]
            total = total + ag.dot(w, x, Value(0.0, "b")).tanh()
    total.backward()
    return total


@pytest.mark.parametrize("renderer", renderers() or [None])
@pytest.mark.parametrize("rankdir", ["LR", "TB"])
def test_sibling_neuron_clusters_appear_in_index_order_with_either_renderer(
    renderer: str | None, rankdir: str
) -> None:
    """Drawn in full, the neuron clusters of every layer come in index order: top to bottom
    for rankdir LR, left to right for TB (both renderers put 0, 2, 1 or 2, 1, 0 without the
    anchors), for layers of 2 to 5 neurons, the README's hand-built net and neurons with no
    layer around them."""
    import nn

    if renderer is None:
        pytest.skip("no renderer installed")
    axis = 1 if rankdir == "LR" else 0  # SVG y grows downwards
    roots = [top_level_neurons(5), readme_net_loss()]
    for widths in ([3, 3, 1], [4, 4, 1], [5, 5, 1], [3, 4, 5, 2]):
        m = nn.MLP(2, widths, activation="tanh", seed=1)
        out = m([0.5, -1.0])
        loss = nn.mse_loss(out if isinstance(out, list) else [out], [0.25] * widths[-1])
        loss.backward()
        roots.append(loss)
    # and the README net with each of its weights highlighted (its routes carry edge labels)
    readme = readme_net_loss()
    weights = [v for v in ag.Graph(readme).nodes if v.label.startswith("w") and not v.parents]
    drawings = [(root, None) for root in roots] + [(readme, w) for w in weights]
    checked = 0
    for root, mark in drawings:
        opts = ag.draw.DrawOptions(rankdir=rankdir, max_nodes=None, highlight=mark)
        p = ag.draw.plan(root, opts)
        corner = cluster_corners(rendered(renderer, ag.draw.drawing(p).source), p.cluster_paths)
        graph = ag.Graph(root)
        layers: dict[str, list[str]] = {}
        for nr in graph.neurons:  # in the order of their z: the index order
            layers.setdefault(ag.draw.scope_parent(nr.name), []).append(nr.name)
        for layer, names in layers.items():
            where = [corner[name][axis] for name in names]
            assert where == sorted(where), (layer, dict(zip(names, where)))
            checked += len(names) > 1
    assert checked == 1 + 1 + 2 + 2 + 2 + 4 + len(weights)  # every layer of two or more


def test_nn_scopes_cluster_as_layer_and_neuron_with_their_index() -> None:
    import nn
    from autograd.draw import scope_parent, scope_title

    assert scope_parent("layers.0.neurons.2") == "layers.0" and scope_parent("layers.0") == ""
    assert scope_title("layers.0.neurons.2") == "neuron 2" and scope_title("mlp.layer0") == "layer0"
    model = nn.MLP(2, [2, 1], seed=0)
    loss = nn.mse_loss(model([1.0, -1.0]), 0.5)
    loss.backward()
    src = ag.draw_graph(loss).source
    assert "<B>layer 0</B>" in src and "<B>neuron 1</B>" in src and "<B>layer 1</B>" in src
    assert "<B>neurons</B>" not in src and "<B>0</B>" not in src


@pytest.mark.parametrize("activation", sorted(__import__("nn").ACTIVATIONS))
def test_caption_and_text_show_the_same_terms_for_every_weight(activation: str) -> None:
    """One explanation model: for every weight and bias of a small MLP, the drawing's caption
    shows exactly the explanation's caption lines, and those are lines of its text."""
    import nn

    model = nn.MLP(2, [2, 1], activation=activation, seed=3)
    loss = nn.mse_loss([model([0.5, -1.5]), model([1.0, 0.25])], [0.3, -0.2])
    loss.backward()
    for p in model.parameters():
        e = ag.explain_grad(p, loss)
        lines = e.caption()
        assert lines and all(line in str(e).splitlines() for line in lines)
        d = parse(draw_graph(loss, highlight=p, max_nodes=None).source)
        flat = " ".join(d.caption.split())
        for line in lines:
            assert " ".join(line.split()) in flat, (p.label, line, d.caption)
        assert "feeds no single activation" not in flat


@pytest.mark.parametrize("label", ["]", "[", "a]]>b", "x[0]"])
def test_brackets_in_labels_render_with_dot(label: str) -> None:
    """dot's HTML-label lexer rejected a lone ']' (found by hypothesis in CI)."""
    if REAL_DOT is None:
        pytest.skip("system dot not installed")
    v = Value(1.5, label)
    y = v * 2.0
    y.backward()
    svg = render_mod.render_source(draw_graph(y).source, "svg")
    assert label.replace(">", "") in "".join(svg_text(svg).split()).replace(">", "")


# ---------------------------------------------------------------------------------------------
# Readable with either renderer: labels fit, index order

#: The test's own text-width assumption: every character is as wide as 0.6 em (Helvetica's
#: digits are 0.556 em, lower-case letters 0.5-0.56, bold digits 0.556; δ Σ ∂ σ about 0.6).
TEST_EM = 0.6
COORD = re.compile(r"-?\d+(?:\.\d+)?")


def rendered(renderer: str, source: str) -> ET.Element:
    proc = subprocess.run([renderer, "-Tsvg"], input=source.encode(), capture_output=True)
    assert proc.returncode == 0, proc.stderr[:300]
    return ET.fromstring(proc.stdout)


def x_extent(shape: ET.Element) -> tuple[float, float]:
    if shape.tag == f"{SVG_NS}ellipse":
        cx, rx = float(shape.get("cx") or 0), float(shape.get("rx") or 0)
        return cx - rx, cx + rx
    nums = [float(v) for v in COORD.findall(shape.get("d") or shape.get("points") or "")]
    return min(nums[0::2]), max(nums[0::2])


def text_extent(t: ET.Element) -> tuple[float, float]:
    width = len(t.text or "") * float(t.get("font-size") or 14) * TEST_EM
    x = float(t.get("x") or 0)
    anchor = t.get("text-anchor")
    if anchor == "middle":
        return x - width / 2, x + width / 2
    return (x - width, x) if anchor == "end" else (x, x + width)


def node_shapes(svg: ET.Element) -> Iterator[tuple[str, ET.Element, list[ET.Element]]]:
    for g in svg.iter(f"{SVG_NS}g"):
        if g.get("class") == "node":
            shapes = [
                e for e in g if e.tag in {f"{SVG_NS}{n}" for n in ("path", "polygon", "ellipse")}
            ]
            yield g.findtext(f"{SVG_NS}title") or "", shapes[-1], list(g.iter(f"{SVG_NS}text"))


def small_drawings() -> list[str]:
    import nn

    m = nn.MLP(2, [3, 1], activation="tanh", seed=3)
    loss = nn.mse_loss(m([0.5, -1.0]), 0.25)
    loss.backward()
    w = m.layers[0].neurons[1].w[0]
    return [
        draw_graph(loss, highlight=w).source,
        draw_graph(loss, highlight=w, max_nodes=20).source,  # collapsed neurons: δ rows
        draw_graph(readme_net_loss(), highlight=None).source,
        draw_graph(deep_mlp_loss(), max_nodes=12).source,  # collapsed layers
        draw_graph(tanh_chain(200), max_nodes=20).source,  # a collapsed chain
    ]


def deep_mlp_loss() -> Value:
    import nn

    m = nn.MLP(2, [8, 8, 8, 1], activation="tanh", seed=2)
    loss = nn.mse_loss(m([0.3, -0.7]), 0.5)
    loss.backward()
    return loss


def tanh_chain(n_values: int) -> Value:
    """y = (y * 0.999 + 0.001).tanh() repeated until the graph has ``n_values`` Values (each
    repetition adds 5: two constants, the product, the sum and the tanh)."""
    y = Value(0.5, "x")
    for _ in range((n_values - 1) // 5):
        y = (y * 0.999 + 0.001).tanh()
    y.backward()
    return y


def readme_net_loss() -> Value:
    from demos.graph import build_readme_net

    return build_readme_net().loss


@pytest.mark.parametrize("renderer", renderers() or [None])
def test_every_label_fits_its_box_and_the_legend_and_edges_are_not_clipped(
    renderer: str | None,
) -> None:
    if renderer is None:
        pytest.skip("no renderer installed")
    for source in small_drawings():
        svg = rendered(renderer, source)
        view = [float(v) for v in (svg.get("viewBox") or "").split()]
        top = svg.find(f"{SVG_NS}g")
        assert top is not None
        shift = float(COORD.findall((top.get("transform") or "").split("translate")[1])[0])
        for title, shape, texts in node_shapes(svg):
            lo, hi = x_extent(shape)
            left, right = lo + shift, hi + shift  # in the picture: must lie inside its width
            assert left >= 0 and right <= view[2], f"{title} clipped: {left}..{right} > {view}"
            for t in texts:
                a, b = text_extent(t)
                assert lo <= a and b <= hi, (
                    f"{title}: {t.text!r} {a:.1f}..{b:.1f} > {lo:.1f}..{hi:.1f}"
                )
        legend = [t for t in svg.iter(f"{SVG_NS}text") if "(max" in (t.text or "")]
        assert len(legend) == 1
        swatch = [p for p in svg.iter(f"{SVG_NS}polygon") if p.get("fill") == "#fffaeb"]
        assert swatch, "the >0% swatch is drawn"
        assert text_extent(legend[0])[1] <= x_extent(swatch[0])[0], "(max ...) under a swatch"


def centre_y(svg: ET.Element, axis: int = 1) -> dict[str, float]:
    """Each node's centre y (``axis=0``: x)."""
    out = {}
    for title, shape, _ in node_shapes(svg):
        nums = [float(v) for v in COORD.findall(shape.get("d") or shape.get("points") or "")]
        ys = nums[axis::2] or [float(shape.get("cy" if axis else "cx") or 0)]
        out[title] = (min(ys) + max(ys)) / 2
    return out


@pytest.mark.parametrize("renderer", renderers() or [None])
@pytest.mark.parametrize("rankdir", ["LR", "TB"])
def test_weights_and_inputs_appear_in_index_order_top_to_bottom(
    renderer: str | None, rankdir: str
) -> None:
    """w0, w1, ..., b and x0, x1, ... in index order: top to bottom (LR), left to right (TB)."""
    import nn

    if renderer is None:
        pytest.skip("no renderer installed")
    m = nn.MLP(3, [4, 2], activation="tanh", seed=5)
    loss = nn.mse_loss(m([0.5, -1.0, 2.0]), [0.1, 0.2])
    loss.backward()
    for root, cluster in ((loss, True), (loss, False), (readme_net_loss(), True)):
        graph = ag.Graph(root)
        source = draw_graph(root, cluster=cluster, rankdir=rankdir).source
        y = centre_y(rendered(renderer, source), axis=1 if rankdir == "LR" else 0)
        checked = 0
        for c in range(len(graph)):
            leaves = [q for q in graph.parents[c] if graph.ops[q] is None]
            for scope in {graph.scope(q) for q in leaves}:
                same = [q for q in leaves if graph.scope(q) == scope]
                if all(graph.consumers[q][0][0] == c for q in same) and len(same) > 1:
                    ys = [y[f"v{q}"] for q in same]  # w0, w1, ..., b; x0, x1, x2
                    assert ys == sorted(ys), [graph.nodes[q].label for q in same]
                    checked += 1
        assert checked >= 3


def moons_loss(samples: int) -> Value:
    import nn
    from nn.data import make_moons

    xs, ys = make_moons(20, seed=0)
    m = nn.MLP(2, [16, 16, 1], activation="relu", seed=1)
    loss = nn.hinge_loss([m(x) for x in xs[:samples]], ys[:samples])
    loss.backward()
    return loss


def test_a_long_chain_collapses_into_k_similar_nodes_and_renders_fast() -> None:
    import time

    reps = 700
    y = tanh_chain(5 * reps + 1)
    n = len(ag.topological_order(y))
    assert n == 5 * reps + 1
    d = parse(draw_graph(y).source)
    (g,) = [k for k in d.nodes if k.startswith("g")]
    # every op but the last tanh (which stays, as the run's output) is inside the box
    ops = 3 * reps - 1
    assert d.nodes[g].startswith(f"{ops} similar nodes\n(* + tanh) × {ops // 3} and 2 more")
    assert ops == 3 * (ops // 3) + 2
    (x,) = d.by_text("x")  # the chain's input stays drawn, with its edge into the run
    assert (x, g) in {(s, t) for s, t, _ in d.edges}
    # the run starts at x * 0.999 (x = 0.5) and ends at the sum that the last tanh reads
    assert f"first: data {0.5 * 0.999:.4f}" in d.nodes[g]
    assert f"last: data {y.parents[0].data:.4f} grad {y.parents[0].grad:.4f}" in d.nodes[g]
    assert "1 run of similar nodes as one node." in d.caption
    assert len(d.nodes) <= 6  # x, the run, the last tanh (and its op)
    for renderer in renderers():
        t = time.perf_counter()
        svg = rendered(renderer, draw_graph(y).source)
        assert time.perf_counter() - t < 5.0, renderer
        assert svg.find(f".//{SVG_NS}g[@class='node']") is not None


def test_layers_collapse_when_neurons_alone_leave_too_many_boxes() -> None:
    loss = deep_mlp_loss()
    d = parse(draw_graph(loss, max_nodes=12).source)
    layers = sorted(t.split("\n")[0] for k, t in d.nodes.items() if k.startswith("g"))
    assert layers == [
        "layer 0 (8 neurons, 8 z)",
        "layer 1 (8 neurons, 8 z)",
        "layer 2 (8 neurons, 8 z)",
        "layer 3 (1 neurons, 1 z)",
    ]
    assert "each of the 4 layers as one node" in d.caption
    assert len(parse(draw_graph(loss, max_nodes=40).source).nodes) > 25  # neurons only


@pytest.mark.parametrize("renderer", renderers() or [None])
def test_a_deep_net_collapses_its_middle_layers_into_one_node_a_screen_wide(
    renderer: str | None,
) -> None:
    """20 layers of 4 tanh neurons: collapsed, the first two and last two layers stay, the 16
    in between are one node, edges run layer to layer, and the picture is a screen wide."""
    import nn

    if renderer is None:
        pytest.skip("no renderer installed")
    m = nn.MLP(2, [4] * 19 + [1], activation="tanh", seed=3)
    loss = nn.mse_loss(m([0.3, -0.7]), 0.5)
    loss.backward()
    d = parse(draw_graph(loss, max_nodes=30).source)
    groups = {k: t.split("\n") for k, t in d.nodes.items() if k.startswith("g")}
    heads = [t[0] for t in groups.values()]
    assert heads == [
        "layer 0 (4 neurons, 4 z)",
        "layer 1 (4 neurons, 4 z)",
        "layer 2 … layer 17",
        "layer 18 (4 neurons, 4 z)",
        "layer 19 (1 neurons, 1 z)",
    ], heads
    (row,) = [k for k, t in groups.items() if t[0] == "layer 2 … layer 17"]
    assert groups[row][1] == "(16 layers, 64 neurons, 64 z)"
    graph = ag.Graph(loss)
    middle = [z for z in graph.neuron_of if 2 <= int(graph.scope(z).split(".")[1]) <= 17]
    big = max((graph.grads[z] or 0.0 for z in middle), key=abs)
    assert groups[row][2] == f"max |δ| {abs(big):.4f}"
    order = list(groups)
    links = {(s, t) for s, t, _ in d.edges if s in groups and t in groups}
    assert links == set(itertools.pairwise(order)), links  # layer to layer, none skipped
    assert "each of the 20 layers as one node; the 16 middle ones (layer 2 … layer 17)" in d.caption
    svg = rendered(renderer, draw_graph(loss, max_nodes=30).source)
    width, height = (float(v) for v in (svg.get("viewBox") or "").split()[2:])
    assert width < 2000 and height < 1500, (width, height)


@pytest.mark.parametrize("renderer", renderers() or [None])
def test_moons_mlps_render_in_seconds_at_a_size_a_screen_shows_neurons_in_order(
    renderer: str | None,
) -> None:
    import time

    if renderer is None:
        pytest.skip("no renderer installed")
    batch = moons_loss(20)
    assert 1700 < len(ag.topological_order(batch)) < 1900
    t = time.perf_counter()
    rendered(renderer, draw_graph(batch).source)
    assert time.perf_counter() - t < 5.0
    one = moons_loss(1)
    assert len(ag.topological_order(one)) == 412
    p_ = ag.draw.plan(one, ag.draw.DrawOptions())
    svg = rendered(renderer, ag.draw.drawing(p_).source)
    w, h = (float(svg.get(a, "0").removesuffix("pt")) for a in ("width", "height"))
    assert max(w, h) * 96 / 72 <= 4000, (w, h)  # pt -> px at 96 dpi
    y = centre_y(svg)
    for layer in ("layers.0", "layers.1"):
        groups = [(nr.scope, f"g{k}") for k, nr in enumerate(p_.groups) if nr.place == layer]
        assert len(groups) == 16
        by_index = sorted(groups, key=lambda sg: int(sg[0].rsplit(".", 1)[1]))
        ys = [y[g] for _, g in by_index]
        assert ys == sorted(ys), layer  # neuron 0 on top, then 1, 2, ... 15


def test_a_graph_under_max_nodes_still_collapses_when_one_column_is_taller_than_a_screen() -> None:
    loss = deep_mlp_loss()  # 2-8-8-8-1: layers 1 and 2 each stack 8 * (8 w + b) = 72 leaves
    n = len(ag.topological_order(loss))
    assert n < ag.draw.MAX_NODES
    d = parse(draw_graph(loss).source)
    assert f"one column would stack {8 * (8 + 1)} boxes (more than 50" in d.caption
    assert sum(k.startswith("g") for k in d.nodes) == 8 + 8 + 8 + 1
    assert not any(k.startswith("g") for k in parse(draw_graph(loss, max_nodes=None).source).nodes)
    # a budget this large is the user asking for everything: 72 <= 1000 // 5
    assert not any(k.startswith("g") for k in parse(draw_graph(loss, max_nodes=1000).source).nodes)
    small = readme_net_loss()  # 27 values, columns of at most 11: drawn in full
    assert "Collapsed" not in parse(draw_graph(small).source).caption
