"""docs/tutorial.ipynb runs in a real Jupyter kernel and still prints the numbers it teaches.

The notebook is re-executed with nbclient + ipykernel (the repository first on the kernel's
path). Any cell error fails. Its key numbers are read from the printed lines and compared with
the seed articles' formulas computed here, and every printed number with the outputs committed
in the notebook (so a change that moves a number, or a stale committed output, fails).

``python -m tests.test_tutorial`` re-executes the notebook and writes the outputs back.
"""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"
NUMBER = re.compile(r"[-+]?\d+\.\d+(?:e[-+]?\d+)?")


def execute(path: Path = NOTEBOOK, cwd: Path | None = None) -> Any:
    """The notebook at ``path``, executed top to bottom in a fresh python3 kernel."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=300,
        record_timing=False,  # no timestamps in the committed file
        resources={"metadata": {"path": str(cwd or path.parent)}},
    )
    client.execute(env=env)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = _coalesce(cell.outputs)
    return nb


def _coalesce(outputs: list[Any]) -> list[Any]:
    """Join consecutive stream outputs and keep what a terminal would show after each \\r
    (a progress bar's last state), so the committed notebook reads cleanly."""
    out: list[Any] = []
    for o in outputs:
        if o.get("output_type") == "stream" and out and out[-1].get("name") == o.get("name"):
            out[-1]["text"] += o["text"]
        else:
            out.append(o)
    for o in out:
        if o.get("output_type") == "stream":
            o["text"] = "\n".join(ln.rsplit("\r", 1)[-1] for ln in o["text"].split("\n"))
    return out


def _text(cell: Any, stream: str = "stdout") -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == stream)


def _printed(nb: Any) -> str:
    return "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")


def _value(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} = ([-+]?\d+\.\d+)", text, flags=re.M)
    assert m, f"the notebook no longer prints '{name} = ...'"
    return float(m.group(1))


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    try:
        import ipykernel  # noqa: F401
        import nbclient  # noqa: F401
    except ImportError as e:  # the dev extra installs both
        if os.environ.get("CI") == "true":
            pytest.fail(f"the notebook test needs nbclient and ipykernel (the dev extra): {e}")
        pytest.skip(f"nbclient/ipykernel not installed: {e}")
    return execute(cwd=tmp_path_factory.mktemp("tutorial"))


def test_every_cell_runs_without_error(executed: Any) -> None:
    for i, cell in enumerate(executed.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        assert not errors, f"cell {i} raised {errors[0].get('ename')}: {errors[0].get('evalue')}"


def test_the_neuron_numbers_are_the_seed_articles_formulas(executed: Any) -> None:
    text = _printed(executed)
    x, w, b, y, eta = [1.0, -2.0, 0.5], [0.4, 0.3, -0.6], 0.1, 1.0, 1.0
    z = sum(wi * xi for wi, xi in zip(w, x)) + b
    a = 1 / (1 + math.exp(-z))
    delta = (a - y) * a * (1 - a)  # dL/da * da/dz for L = (a - y)^2 / 2, a = sigmoid(z)
    for name, want in [
        ("z", z), ("a", a), ("L", (a - y) ** 2 / 2), ("dL/da", a - y),
        ("da/dz", a * (1 - a)), ("delta", delta), ("z.grad", delta),
    ]:  # fmt: skip
        assert _value(text, name) == pytest.approx(want, abs=1e-9), name
    for i, xi in enumerate(x):
        assert _value(text, f"dL/dw{i} = delta * x{i}") == pytest.approx(delta * xi, abs=1e-9)
    w_new = [wi - eta * delta * xi for wi, xi in zip(w, x)]
    z_new = sum(wi * xi for wi, xi in zip(w_new, x)) + b - eta * delta
    after = (1 / (1 + math.exp(-z_new)) - y) ** 2 / 2
    assert _value(text, "loss after") == pytest.approx(after, abs=1e-9)
    assert _value(text, "loss after") < _value(text, "loss before")


def test_the_weight_sums_and_penalties_of_the_2_3_1_net(executed: Any) -> None:
    import nn

    text = _printed(executed)
    state = nn.MLP(2, [3, 1], activation="tanh", seed=3).state_dict()
    first = [v for k, v in state.items() if k.startswith("layers.0.") and ".w." in k]
    second = [v for k, v in state.items() if k.startswith("layers.1.") and ".w." in k]
    assert len(first) == 6 and len(second) == 3
    every = first + second
    assert _value(text, "sum W_input_to_hidden") == pytest.approx(math.fsum(first), abs=1e-9)
    assert _value(text, "sum W_hidden_to_output") == pytest.approx(math.fsum(second), abs=1e-9)
    assert _value(text, "total sum of weights") == pytest.approx(math.fsum(every), abs=1e-9)
    assert _value(text, "L1 = sum |w|") == pytest.approx(math.fsum(map(abs, every)), abs=1e-9)
    assert _value(text, "L2 = sum w^2") == pytest.approx(math.fsum(v * v for v in every), abs=1e-9)
    l1 = 0.05 * math.fsum(map(abs, every))
    l2 = 0.05 * math.fsum(v * v for v in every)
    assert float(re.search(r"L1 penalty = (\S+);", text)[1]) == pytest.approx(l1, abs=1e-9)
    assert float(re.search(r"L2 penalty = (\S+);", text)[1]) == pytest.approx(l2, abs=1e-9)


def test_init_variances_match_xavier_and_he(executed: Any) -> None:
    text = _printed(executed)
    found = re.findall(r"^(\w+): variance (\S+), theory (\S+)$", text, flags=re.M)
    assert [f[0] for f in found] == ["xavier_uniform", "xavier_normal", "he_uniform", "he_normal"]
    for name, var, theory in found:
        want = 2 / (2 + 3) if name.startswith("xavier") else 2 / 2
        assert float(theory) == pytest.approx(want, abs=1e-4), name
        # 200000 draws: the sample variance is within a few standard errors of the formula.
        assert float(var) == pytest.approx(want, rel=0.02), name


def test_training_shows_l1_sparsity_the_history_table_and_inline_pictures(executed: Any) -> None:
    text = _printed(executed)
    runs = dict(re.findall(r"^(no penalty|L1|L2): (.*)$", text, flags=re.M))
    assert set(runs) == {"no penalty", "L1", "L2"}
    near = {k: int(re.search(r"near zero (\d+) of 9", v)[1]) for k, v in runs.items()}
    assert near["L1"] > near["no penalty"] and near["L2"] <= near["L1"]
    l2 = {k: float(re.search(r"L2 (\d+\.\d+)", v)[1]) for k, v in runs.items()}
    assert l2["L2"] < l2["no penalty"]
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    data = [o.get("data", {}) for o in outputs]
    assert any("image/svg+xml" in d for d in data), "draw_graph shows no inline graph"
    assert any("image/png" in d for d in data), "no inline matplotlib figure"
    tables = [d["text/html"] for d in data if "text/html" in d and "<table>" in d["text/html"]]
    assert any("History" in t and "Σ |w|" in t for t in tables), "History is not a table"
    bars = "".join(_text(c, "stderr") for c in executed.cells if c.cell_type == "code")
    assert "fit: 100%" in bars or any("application/vnd.jupyter.widget-view+json" in d for d in data)


def test_committed_outputs_are_the_ones_the_notebook_prints_now(executed: Any) -> None:
    import nbformat

    committed = nbformat.read(NOTEBOOK, as_version=4)
    assert len(committed.cells) == len(executed.cells)
    for i, (old, new) in enumerate(zip(committed.cells, executed.cells)):
        if old.cell_type != "code":
            continue
        assert bool(old.outputs) == bool(new.outputs), f"cell {i}: committed without outputs?"
        was, now = NUMBER.findall(_text(old)), NUMBER.findall(_text(new))
        assert len(was) == len(now), f"cell {i} prints other lines than committed"
        np.testing.assert_allclose(
            [float(v) for v in now], [float(v) for v in was], rtol=1e-9, atol=1e-12,
            err_msg=f"cell {i}: a number changed (re-run python -m tests.test_tutorial)",
        )  # fmt: skip


if __name__ == "__main__":  # re-execute and write the outputs back into the notebook
    import nbformat

    nb = execute()
    nbformat.write(nb, NOTEBOOK)
    print(f"wrote {NOTEBOOK}", file=sys.stderr)
