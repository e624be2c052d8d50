"""Plots a reader can read without the code: every panel has a y-axis label, each
weight_sums history says which run it is, the decision boundary has a class legend.

Each figure is inspected as it is saved (``Figure.savefig`` wrapped), so the checks read the
very figures the files are made of.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import nn
from demos import weight_sums

X4 = [[1.0, 0.5], [0.6, 1.2], [-0.8, -0.4], [-1.1, 0.2]]


@pytest.fixture
def saved(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """{file name: figure} for every figure saved while the test runs.

    A figure is rendered to bytes (``Figure.savefig``, wrapped) and then written by
    ``autograd.write_atomic`` (wrapped): the file written gets the figure rendered last.
    """
    import matplotlib.figure

    import autograd

    figures: dict[str, Any] = {}
    last: list[Any] = []
    original = matplotlib.figure.Figure.savefig
    write = autograd.write_atomic

    def spy(self: Any, fname: Any, *args: Any, **kwargs: Any) -> Any:
        last.append(self)
        return original(self, fname, *args, **kwargs)

    def spy_write(path: Any, data: Any, **kwargs: Any) -> Any:
        if last:
            figures[Path(str(path)).name] = last.pop()
        return write(path, data, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    monkeypatch.setattr(autograd, "write_atomic", spy_write)
    return figures


def _ylabels(fig: Any) -> list[str]:
    return [ax.get_ylabel() for ax in fig.axes]


def test_every_history_panel_has_a_y_label_and_the_title_is_shown(
    tmp_path: Path, saved: dict[str, Any]
) -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    h = nn.fit(model, X4, [1, 1, -1, -1], epochs=3, progress=False)
    nn.plot.history(h, tmp_path / "h.png", title="run A")
    fig = saved["h.png"]
    assert _ylabels(fig) == ["loss", "fraction correct", "lr", "Σ w", "Σ |w|", "Σ w²"]
    assert fig._suptitle is not None and fig._suptitle.get_text() == "run A"
    nn.plot.history(h, tmp_path / "g.png")
    assert saved["g.png"]._suptitle is None


@pytest.mark.parametrize(
    "labels, nout, legend",
    [
        ([1, 1, -1, -1], 1, ["y = -1", "y = +1", "boundary: score = 0"]),
        ([1, 1, 0, 0], 1, ["y = 0", "y = 1", "boundary: score = 0"]),
        ([0, 1, 2, 1], 3, ["class 0", "class 1", "class 2"]),
    ],
)
def test_decision_boundary_has_a_class_legend_and_axis_labels(
    tmp_path: Path, saved: dict[str, Any], labels: list[int], nout: int, legend: list[str]
) -> None:
    model = nn.MLP(2, [4, nout], seed=1)
    nn.plot.decision_boundary(model, X4, labels, tmp_path / "b.png", resolution=10)
    (ax,) = saved["b.png"].axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == legend
    assert ax.get_xlabel() == "x0" and ax.get_ylabel() == "x1"


def test_weight_sums_history_titles_name_their_run(
    tmp_path: Path, saved: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    weight_sums.run(tmp_path, epochs=3, n=10)
    runs = {"no": "no penalty", "l1": "L1 penalty 0.05", "l2": "L2 penalty 0.05"}
    for tag, words in runs.items():
        fig = saved[f"weight_sums_history_{tag}.png"]
        assert words in fig._suptitle.get_text(), tag
        assert all(_ylabels(fig)), tag
        assert (tmp_path / f"weight_sums_history_{tag}.png").exists()
    assert _ylabels(saved["weight_sums.png"]) == ["Σ w", "Σ |w|", "Σ w²"]
