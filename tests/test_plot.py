"""nn.plot: optional matplotlib, valid image files written atomically, series from weight sums."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import nn

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
X4 = [[1.0, 0.5], [0.6, 1.2], [-0.8, -0.4], [-1.1, 0.2]]
Y4 = [1.0, 1.0, -1.0, -1.0]


def _trained(epochs: int = 5) -> tuple[nn.MLP, nn.History]:
    model = nn.MLP(2, [3, 2, 1], seed=0)
    return model, nn.fit(model, X4, Y4, epochs=epochs, progress=False)


def test_importing_nn_does_not_import_matplotlib_or_tqdm() -> None:
    code = "import sys, nn; print('matplotlib' in sys.modules, 'tqdm' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert out.stdout.split() == ["False", "False"]


def test_missing_matplotlib_raises_import_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, h = _trained(2)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install deltagrad\[plot\]"):
        nn.plot.history(h, tmp_path / "h.png")
    assert list(tmp_path.iterdir()) == []


def test_history_png_and_svg_are_valid_files(tmp_path: Path) -> None:
    _, h = _trained()
    png = nn.plot.history(h, tmp_path / "h.png")
    assert png == tmp_path / "h.png"
    assert png.read_bytes()[:8] == PNG_MAGIC
    svg = nn.plot.history(h, str(tmp_path / "sub" / "h.svg"))
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["h.png", "h.svg", "sub"]


def test_weight_series_are_each_layers_sum_l1_l2_per_epoch() -> None:
    model = nn.MLP(2, [3, 2, 1], seed=0)
    states: list[dict[str, float]] = []
    h = nn.fit(model, X4, Y4, epochs=4, progress=False,
               callbacks=[lambda e, hist, m: states.append(m.state_dict())])  # fmt: skip
    series = nn.plot.weight_series(h.weight_stats)
    assert set(series) == {"sum", "l1", "l2"}
    assert list(series["sum"]) == ["layer0", "layer1", "layer2", "total"]
    for epoch, state in enumerate(states):
        every = []
        for li in range(3):
            ws = [v for k, v in state.items() if k.startswith(f"layers.{li}.") and ".w." in k]
            every += ws
            assert series["sum"][f"layer{li}"][epoch] == pytest.approx(math.fsum(ws))
            assert series["l1"][f"layer{li}"][epoch] == pytest.approx(math.fsum(map(abs, ws)))
            assert series["l2"][f"layer{li}"][epoch] == pytest.approx(math.fsum(w * w for w in ws))
        assert series["l2"]["total"][epoch] == pytest.approx(math.fsum(w * w for w in every))


def test_failed_save_keeps_the_old_file_and_leaves_no_temp_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import matplotlib.figure

    _, h = _trained(2)
    target = tmp_path / "h.png"
    target.write_bytes(b"old")

    def broken(self: object, *args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        nn.plot.history(h, target)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["h.png"]


def test_unknown_suffix_is_refused_before_writing(tmp_path: Path) -> None:
    _, h = _trained(1)
    with pytest.raises(ValueError, match=r"h\.gif"):
        nn.plot.history(h, tmp_path / "h.gif")
    assert list(tmp_path.iterdir()) == []


def test_decision_boundary_png_for_scores_and_for_class_logits(tmp_path: Path) -> None:
    model, _ = _trained(20)
    path = nn.plot.decision_boundary(model, X4, Y4, tmp_path / "b.png", resolution=30)
    assert path.read_bytes()[:8] == PNG_MAGIC
    three = nn.MLP(2, [4, 3], seed=1)
    svg = nn.plot.decision_boundary(three, X4, [0, 1, 2, 1], tmp_path / "c.svg", resolution=20)
    assert ET.parse(svg).getroot().tag.endswith("svg")


def test_decision_boundary_needs_two_dimensional_points(tmp_path: Path) -> None:
    model = nn.MLP(3, [2, 1], seed=0)
    with pytest.raises(ValueError, match="2-D points"):
        nn.plot.decision_boundary(model, [[1.0, 2.0, 3.0]], [1.0], tmp_path / "b.png")
    with pytest.raises(ValueError, match="4 points but y has 3"):
        nn.plot.decision_boundary(model, X4, Y4[:3], tmp_path / "b.png")
