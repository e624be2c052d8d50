"""The four demos: their printed numbers against independent formulas, their files valid."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import autograd
from demos import graph, moons, neuron, weight_sums

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[1]


def _valid_svg(path: Path) -> ET.Element:
    assert path.suffix == ".svg" and path.exists(), path
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    return root


def _svg_text(root: ET.Element) -> str:
    return " ".join(t.strip() for t in root.itertext() if t.strip())


# ---------------------------------------------------------------------------------------------
# neuron


def test_neuron_weight_grads_are_delta_times_input_recomputed_by_hand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = neuron.run(tmp_path)
    out = capsys.readouterr().out
    x, w, b, y, eta = r["x"], r["w"], r["b"], r["y"], r["eta"]
    # The seed article's formulas, from the raw numbers alone.
    z = sum(wi * xi for wi, xi in zip(w, x)) + b
    a = 1.0 / (1.0 + math.exp(-z))
    loss = (a - y) ** 2 / 2
    delta = (a - y) * a * (1 - a)
    assert r["z"] == pytest.approx(z, rel=1e-14)
    assert r["a"] == pytest.approx(a, rel=1e-14)
    assert r["loss"] == pytest.approx(loss, rel=1e-14)
    assert r["delta"] == pytest.approx(delta, rel=1e-14)
    assert r["z_grad"] == pytest.approx(delta, rel=1e-12)
    assert r["grads"] == pytest.approx([delta * xi for xi in x], rel=1e-12)
    assert r["b_grad"] == pytest.approx(delta, rel=1e-12)
    # The printed lines carry the same numbers: dL/dw_i by hand and from backward().
    lines = re.findall(
        r"dL/dw(\d) = delta \* x\d = .* = ([-+\d.]+)\s+backward\(\): ([-+\d.]+)", out
    )
    assert [int(i) for i, _, _ in lines] == list(range(len(x)))
    for (i, hand, back), xi in zip(lines, x):
        assert float(hand) == pytest.approx(delta * xi, abs=5e-7), f"dL/dw{i}"
        assert float(back) == pytest.approx(delta * xi, abs=5e-7), f"backward dL/dw{i}"
    assert "MISMATCH" not in out
    # One step dw_i = -eta * delta * x_i lowers the loss.
    w_new = [wi - eta * delta * xi for wi, xi in zip(w, x)]
    assert r["w_after"] == pytest.approx(w_new, rel=1e-14)
    z_new = sum(wi * xi for wi, xi in zip(w_new, x)) + b - eta * delta
    loss_new = (1.0 / (1.0 + math.exp(-z_new)) - y) ** 2 / 2
    assert r["loss_after"] == pytest.approx(loss_new, rel=1e-12)
    assert loss_new < loss
    assert f"{loss:.6f}" in out and f"{loss_new:.6f}" in out
    # The rendered graph shows the weight's gradient.
    text = _svg_text(_valid_svg(r["graph"]))
    assert f"{delta * x[0]:.4f}" in text


def test_neuron_runs_as_a_module_with_out_dir(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "demos.neuron", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=True,
    )  # fmt: skip
    assert "dL/dw0 = delta * x0" in out.stdout
    assert (tmp_path / "o" / "neuron.svg").exists()


# ---------------------------------------------------------------------------------------------
# weight sums


@pytest.fixture(scope="module")
def sums_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("weight_sums")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        r = weight_sums.run(folder)
    return r, buf.getvalue()


def test_weight_sums_of_the_2_3_1_network_by_hand(sums_run: tuple[dict[str, Any], str]) -> None:
    r, out = sums_run
    w_ih, w_ho = r["W_input_to_hidden"], r["W_hidden_to_output"]
    assert [len(row) for row in w_ih] == [2, 2, 2] and [len(row) for row in w_ho] == [1, 1, 1]
    flat = [v for row in w_ih + w_ho for v in row]
    s_ih = math.fsum(v for row in w_ih for v in row)
    s_ho = math.fsum(v for row in w_ho for v in row)
    assert r["sum_input_to_hidden"] == pytest.approx(s_ih, abs=1e-12)
    assert r["sum_hidden_to_output"] == pytest.approx(s_ho, abs=1e-12)
    assert r["total"] == pytest.approx(s_ih + s_ho, abs=1e-12)
    assert r["l1"] == pytest.approx(math.fsum(abs(v) for v in flat), abs=1e-12)
    assert r["l2"] == pytest.approx(math.fsum(v * v for v in flat), abs=1e-12)
    assert f"total sum of weights   = {s_ih:+.6f} + {s_ho:+.6f} = {s_ih + s_ho:+.6f}" in out
    for row in w_ih:
        assert "[" + "  ".join(f"{v:+.4f}" for v in row) + "]" in out


def test_l1_zeroes_weights_and_l2_shrinks_them(sums_run: tuple[dict[str, Any], str]) -> None:
    r, out = sums_run
    base, l1_run, l2_run = r["runs"].values()
    zero = r["zero"]
    for run in (base, l1_run, l2_run):
        assert run["near_zero"] == sum(1 for w in run["weights"] if abs(w) < zero)
        assert run["l2"] == pytest.approx(math.fsum(w * w for w in run["weights"]))
        assert run["l1"] == pytest.approx(math.fsum(abs(w) for w in run["weights"]))
    assert l1_run["near_zero"] > base["near_zero"], "L1 drives weights to zero"
    assert l1_run["l1"] < base["l1"]
    assert l2_run["l2"] < base["l2"], "L2 shrinks the weights"
    # Each run's history carries its weight sums per epoch; the last one is the final weights.
    for run in (base, l1_run, l2_run):
        last = run["history"].weight_stats[-1]["total"]
        assert last["l2"] == pytest.approx(run["l2"], rel=1e-12)
        assert len(run["history"]) == 300
    assert f"{l1_run['near_zero']} of 9" in out


def test_weight_sums_writes_its_figures(sums_run: tuple[dict[str, Any], str]) -> None:
    r, _ = sums_run
    folder = Path(r["figure"]).parent
    assert Path(r["figure"]).read_bytes()[:8] == PNG_MAGIC
    for tag in ("no", "l1", "l2"):
        assert (folder / f"weight_sums_history_{tag}.png").read_bytes()[:8] == PNG_MAGIC


# ---------------------------------------------------------------------------------------------
# moons


def test_moons_reaches_95_percent_training_accuracy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = moons.run(tmp_path, epochs=60)
    out = capsys.readouterr().out
    model, X, y = r["model"], r["X"], r["y"]
    import autograd

    with autograd.no_grad():
        hits = sum(1 for xi, yi in zip(X, y) if (model(xi).data > 0) == (yi > 0))
    assert hits / len(X) >= 0.95
    assert r["accuracy"] == hits / len(X)
    assert f"{hits}/100" in out
    assert len(model.parameters()) == 2 * 16 + 16 + 16 * 16 + 16 + 16 + 1
    h = r["history"]
    assert h.loss[-1] < h.loss[0]
    assert h.lr[0] == 1.0 and h.lr[-1] == pytest.approx(1.0 - 0.9 * 59 / 60)
    for key in ("boundary", "history_plot"):
        assert Path(r[key]).read_bytes()[:8] == PNG_MAGIC


# ---------------------------------------------------------------------------------------------
# graph


def test_graph_demo_renders_and_explains_the_weight_gradient(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = graph.run(tmp_path)
    out = capsys.readouterr().out
    w = r["weight"]
    # Central differences of the demo's own loss in that weight (an independent reference).
    eps = 1e-6
    w0 = w.data
    losses = []
    for d in (eps, -eps):
        w.data = w0 + d
        losses.append(graph.build(r["model"]).data)
    w.data = w0
    numeric = (losses[0] - losses[1]) / (2 * eps)
    assert r["grad"] == pytest.approx(numeric, abs=1e-7)
    assert r["explanation"].total == pytest.approx(r["grad"], rel=1e-12)
    assert f"{r['grad']:.6f}" in out and r["text"] in out
    assert "delta" in r["text"]
    text = _svg_text(_valid_svg(r["svg"]))
    assert f"{r['grad']:.4f}" in text
    dot = r["dot"].read_text()
    assert "cluster" in dot and "digraph" in dot
    # the explorer page: one file, every node of the graph, the weight's final grad in its data
    page = r["html"].read_text()
    assert page.count("data-node=") == len(autograd.Graph(r["loss"]))
    assert repr(r["grad"]) in page and "<script src" not in page


# ---------------------------------------------------------------------------------------------
# graph: the README picture (docs/graph.svg) is the demo's first graph

DOCS = ROOT / "docs"
SVG_NS = "{http://www.w3.org/2000/svg}"


def _readme_forward(w: float) -> tuple[float, float, float]:
    """The README net in plain floats, as a function of w0 of layer0.neuron1: (L, y, h1)."""
    x0, x1 = 1.0, -2.0
    h0 = math.tanh(0.6 * x0 + 0.2 * x1 + 0.1)
    h1 = math.tanh(w * x0 + 0.4 * x1 + 0.2)
    h2 = max(0.0, 0.3 * x0 + 0.9 * x1 - 0.3)  # z = -1.8: the dead ReLU
    y = math.tanh(0.8 * h0 - 0.7 * h1 + 0.5 * h2 + 0.1)
    return (y - 1.0) ** 2, y, h1


def test_readme_picture_dot_is_byte_identical_to_what_the_demo_draws(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = graph.run(tmp_path)
    capsys.readouterr()
    produced = r["readme_dot"].read_bytes()
    committed = (DOCS / "graph.dot").read_bytes()
    assert produced == committed, (
        "docs/graph.dot is stale: run `python -m demos.graph --out DIR` and copy "
        "DIR/readme_graph.dot and DIR/readme_graph.svg to docs/graph.dot and docs/graph.svg"
    )
    # docs/graph.svg is the rendering of that DOT: the same node ids, one SVG node each.
    svg = _valid_svg(DOCS / "graph.svg")
    svg_nodes = {
        g.findtext(f"{SVG_NS}title")
        for g in svg.iter(f"{SVG_NS}g")
        if g.get("class") == "node"
    }  # fmt: skip
    dot_nodes = set(re.findall(r"^\t([vo]\d+) \[", committed.decode(), flags=re.M))
    assert dot_nodes and svg_nodes == dot_nodes


def test_readme_picture_caption_gives_dl_dw_as_delta_times_x_equal_to_w_grad(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = graph.run(tmp_path)
    out = capsys.readouterr().out
    w = r["readme_net"].weight
    # Independent references: central differences of the loss in plain floats, and the chain
    # rule by hand: dL/dw = delta * x0, delta = dL/da * da/dz, dL/da = 2(y-1)(1-y^2) * (-0.7).
    eps = 1e-6
    numeric = (_readme_forward(-0.5 + eps)[0] - _readme_forward(-0.5 - eps)[0]) / (2 * eps)
    loss, y, h1 = _readme_forward(-0.5)
    dl_da = 2 * (y - 1.0) * (1 - y * y) * -0.7
    da_dz = 1 - h1 * h1
    by_hand = dl_da * da_dz * 1.0
    assert by_hand == pytest.approx(numeric, abs=1e-8)
    assert w.data == -0.5 and w.label == "w0" and w.scope == "mlp.layer0.neuron1"
    assert r["readme_net"].loss.data == pytest.approx(loss, rel=1e-14)
    assert w.grad == pytest.approx(by_hand, rel=1e-12)
    assert r["readme_grad"] == w.grad
    caption = (
        "dL/dw0 = delta * x0 = (dL/da * da/dz) * x0 = "
        f"({dl_da:.4f} * {da_dz:.4f}) * 1.0000 = {by_hand:.4f}"
    )
    # The committed picture states that gradient; the demo prints the same line.
    texts = [t.text or "" for t in _valid_svg(DOCS / "graph.svg").iter(f"{SVG_NS}text")]
    assert any(t.startswith(caption) for t in texts), f"caption {caption!r} not in the SVG"
    assert f"(matches .grad = {by_hand:.4f})" in " ".join(texts)
    assert caption in out
    # The dead ReLU: z = 0.3 - 1.8 - 0.3 = -1.8, drawn with a gradient of exactly 0.
    assert "data -1.8000" in texts and texts[texts.index("data -1.8000") + 1] == "grad 0.0000"
    assert "dead relu in mlp.layer0.neuron2: z = -1.8000" in out
