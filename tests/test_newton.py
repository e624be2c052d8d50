"""demos.newton's tests (collected through tests/test_demos.py, which imports them)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from demos import newton

ROOT = Path(__file__).resolve().parents[1]
__all__ = [
    "test_newton_demo_numbers_against_closed_forms_and_differences",
    "test_newton_runs_as_a_module_with_out_dir",
]


def test_newton_demo_numbers_against_closed_forms_and_differences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = newton.run(tmp_path, quick=True)
    out = capsys.readouterr().out
    best = 2.0 - 2.0 * math.log(2.0)
    # Newton on L = e^w - 2w by hand: w <- w - (e^w - 2) / e^w = w - 1 + 2 e^-w.
    w = newton.W0
    for k, got in enumerate(r["newton_w"]):
        assert got == pytest.approx(w, rel=1e-12), k
        gap = max(math.exp(w) - 2 * w - best, 0.0)
        assert r["newton_gap"][k] == pytest.approx(gap, rel=1e-9, abs=1e-15)
        w = w - 1.0 + 2.0 * math.exp(-w)
    # Gradient descent by hand: w <- w - eta (e^w - 2); Newton ends far closer to w* = ln 2.
    w = newton.W0
    for gap in r["gd_gap"]:
        assert gap == pytest.approx(math.exp(w) - 2 * w - best, rel=1e-12)
        w -= newton.ETA * (math.exp(w) - 2.0)
    assert r["newton_gap"][-1] < 1e-12 < r["gd_gap"][-1]
    assert r["png"].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # The seed neuron's Hessian: (sigma'^2 + (a - y) sigma'') x x^T, from the raw numbers.
    z = sum(wi * xi for wi, xi in zip(newton.W, newton.X)) + newton.B
    a = 1.0 / (1.0 + math.exp(-z))
    c = (a * (1 - a)) ** 2 + (a - newton.Y) * a * (1 - a) * (1 - 2 * a)
    for i, xi in enumerate(newton.X):
        for j, xj in enumerate(newton.X):
            assert r["hessian"][i][j] == pytest.approx(c * xi * xj, rel=1e-12, abs=1e-15)
            assert r["numeric"][i][j] == pytest.approx(c * xi * xj, abs=1e-7)
    assert f"{r['hessian'][0][1]:+.6f}" in out and "ok" in out


def test_newton_runs_as_a_module_with_out_dir(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "demos.newton", "--quick", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=True,
    )  # fmt: skip
    assert "Newton w" in done.stdout and (tmp_path / "o" / "newton.png").exists()
