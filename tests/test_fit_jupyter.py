"""fit in Jupyter: the progress bar appears in a kernel (tqdm.auto), History shows as a table."""

from __future__ import annotations

import math
import sys
import types
import xml.etree.ElementTree as ET

import pytest

import nn

X4 = [[1.0, 0.5], [0.6, 1.2], [-0.8, -0.4], [-1.1, 0.2]]
Y4 = [1, 1, -1, -1]


def test_history_html_is_a_table_of_epochs_with_the_weight_sums() -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    states: list[dict[str, float]] = []
    h = nn.fit(model, X4, Y4, epochs=25, progress=False,
               callbacks=[lambda e, hist, m: states.append(m.state_dict())])  # fmt: skip
    root = ET.fromstring(f"<div>{h._repr_html_()}</div>")  # well-formed: parse it as XML
    rows = root.find("table").findall("tr")  # type: ignore[union-attr]
    assert [c.text for c in rows[0]] == [
        "epoch", "loss", "data loss", "accuracy", "lr", "Σ w", "Σ |w|", "Σ w²",
    ]  # fmt: skip
    epochs = [int(r[0].text or "") for r in rows[1:]]
    assert epochs[0] == 0 and epochs[-1] == 24 and epochs == sorted(set(epochs))
    assert 8 <= len(epochs) <= 13
    for r in rows[1:]:
        k = int(r[0].text or "")
        ws = [v for name, v in states[k].items() if ".w." in name]  # weights after epoch k
        assert float(r[1].text or "") == pytest.approx(h.loss[k], rel=1e-5)
        assert r[3].text == f"{h.accuracy[k]:.1%}"
        assert float(r[5].text or "") == pytest.approx(math.fsum(ws), abs=5e-5)
        assert float(r[6].text or "") == pytest.approx(math.fsum(map(abs, ws)), abs=5e-5)
        assert float(r[7].text or "") == pytest.approx(math.fsum(w * w for w in ws), abs=5e-5)
    assert "25 epoch(s)" in "".join(root.itertext())
    empty = nn.History()._repr_html_()
    assert "0 epoch(s)" in empty and "<td>" not in empty


def test_mse_history_leaves_accuracy_blank() -> None:
    h = nn.fit(nn.MLP(2, [1]), X4, [0.5, 0.1, -0.2, 0.3], loss="mse", epochs=2, progress=False)
    row = ET.fromstring(f"<div>{h._repr_html_()}</div>").find("table")[1]  # type: ignore[index]
    assert row[3].text is None


def test_progress_bar_shows_in_a_jupyter_kernel_though_stderr_is_no_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tqdm")
    nn.fit(nn.MLP(2, [1], seed=0), X4, Y4, epochs=3)
    assert "fit" not in capsys.readouterr().err  # a pipe: no bar
    # What tqdm.auto and fit look for to tell a Jupyter kernel.
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", types.ModuleType("ipykernel.zmqshell"))
    nn.fit(nn.MLP(2, [1], seed=0), X4, Y4, epochs=3)
    err = capsys.readouterr().err
    assert "fit: 100%" in err and "3/3" in err, err
