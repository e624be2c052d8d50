"""The imported `autograd` and `nn` must be this repository's, not the unrelated PyPI packages
(HIPS autograd, and `nn`) that share the import names."""

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import autograd
import nn

ROOT = Path(__file__).resolve().parent.parent


def test_autograd_is_deltagrads_own_package() -> None:
    assert Path(autograd.__file__).resolve().parent == ROOT / "autograd", autograd.__file__
    assert autograd.DISTRIBUTION == "deltagrad"
    assert hasattr(autograd, "Value") and hasattr(autograd, "OPS")


def test_nn_is_deltagrads_own_package() -> None:
    assert Path(nn.__file__).resolve().parent == ROOT / "nn", nn.__file__


def test_pytest_puts_the_repo_first_on_the_path() -> None:
    import sys

    assert str(ROOT) in [str(Path(p).resolve()) for p in sys.path if p]


# ---------------------------------------------------------------------------------------------
# A foreign `autograd` (HIPS autograd) first on the path: every entry point says so


FOREIGN = "def grad(fun, argnum=0):\n    return fun\n"  # what HIPS autograd's __init__ exports


def _run(args: list[str], cwd: Path, path: list[Path] | None = None, timeout: float = 120):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _assert_names_hips_and_repair(proc: subprocess.CompletedProcess[str], what: str) -> None:
    assert proc.returncode != 0, proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("nn._compat.ForeignAutogradError: deltagrad:"), proc.stderr
    assert "HIPS autograd" in last, proc.stderr
    assert what in last, proc.stderr
    assert "pip install --force-reinstall deltagrad" in last, proc.stderr
    assert "pip install -e ." in last, proc.stderr
    assert "cannot import name" not in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "code",
    [
        "import nn",
        "import nn.layers",
        "from nn import MLP",
        "import demos",
        "import demos.neuron",
    ],
)
def test_foreign_autograd_first_on_the_path_raises_an_import_error_naming_hips(
    tmp_path: Path, code: str
) -> None:
    (tmp_path / "autograd").mkdir()
    (tmp_path / "autograd" / "__init__.py").write_text(FOREIGN)
    proc = _run([sys.executable, "-c", code], tmp_path, [tmp_path, ROOT])
    _assert_names_hips_and_repair(proc, "overwrote deltagrad's autograd/__init__.py")
    assert str(tmp_path / "autograd" / "__init__.py") in proc.stderr
    # The error is an ImportError, so `except ImportError` code paths see it as one.
    probe = f"try:\n    {code}\nexcept ImportError as e:\n    print(type(e).__mro__[1].__name__)"
    proc = _run([sys.executable, "-c", probe], tmp_path, [tmp_path, ROOT])
    assert proc.stdout.strip() == "ImportError", proc.stderr


def test_foreign_autograd_stops_the_demo_command_with_the_same_message(tmp_path: Path) -> None:
    (tmp_path / "autograd").mkdir()
    (tmp_path / "autograd" / "__init__.py").write_text(FOREIGN)
    proc = _run([sys.executable, "-m", "demos.neuron", "--out", "o"], tmp_path, [tmp_path, ROOT])
    _assert_names_hips_and_repair(proc, "overwrote")
    assert not (tmp_path / "o").exists()


def test_autograd_without_its_init_file_says_pip_uninstall_deleted_it(tmp_path: Path) -> None:
    # After `pip uninstall autograd` our autograd/ folder is left without __init__.py.
    shutil.copytree(ROOT / "autograd", tmp_path / "autograd")
    shutil.copytree(ROOT / "nn", tmp_path / "nn")
    (tmp_path / "autograd" / "__init__.py").unlink()
    # -S: no site-packages, where an editable install of this repository would supply an
    # autograd/__init__.py (a regular package found later on the path wins over the bare folder).
    proc = _run([sys.executable, "-S", "-c", "import nn"], tmp_path, [tmp_path])
    _assert_names_hips_and_repair(proc, "has no __init__.py: `pip uninstall autograd`")


def test_our_own_autograd_passes_the_check() -> None:
    from nn._compat import require_deltagrad_autograd

    assert require_deltagrad_autograd() is autograd


# ---------------------------------------------------------------------------------------------
# The wheel, installed into a fresh venv outside the repository


def _pip_failed_offline(proc: subprocess.CompletedProcess[str]) -> bool:
    text = proc.stdout + proc.stderr
    return any(s in text for s in ("No matching distribution", "Could not find a version"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build the wheel (hatchling, no isolation) and install it with its dependencies into a
    new venv; return the venv's python and a working folder outside the repository."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    proc = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(ROOT)],
        base,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (wheel,) = dist.glob("deltagrad-*.whl")
    venv = base / "venv"
    proc = _run([sys.executable, "-m", "venv", str(venv)], base)
    assert proc.returncode == 0, proc.stderr
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    py = bindir / "python"
    proc = _run([str(py), "-m", "pip", "install", "-q", str(wheel)], base, timeout=300)
    if proc.returncode != 0 and _pip_failed_offline(proc) and os.environ.get("CI") != "true":
        pytest.skip(f"cannot install the wheel's dependencies (offline?): {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stderr
    work = base / "work"
    work.mkdir()
    return {"python": py, "bin": bindir, "wheel": wheel, "work": work}


def test_installed_wheel_runs_a_demo_by_the_deltagrad_command(installed: dict[str, Path]) -> None:
    work, py = installed["work"], installed["python"]
    # The repository is not on the path: the packages come from the venv's site-packages.
    proc = _run([str(py), "-c", "import autograd, nn, demos; print(autograd.__file__)"], work)
    assert proc.returncode == 0, proc.stderr
    assert "site-packages" in proc.stdout and str(ROOT) not in proc.stdout, proc.stdout
    deltagrad = installed["bin"] / "deltagrad"
    proc = _run([str(deltagrad), "demo", "--list"], work)
    assert proc.returncode == 0, proc.stderr
    assert [ln.split()[0] for ln in proc.stdout.splitlines()] == [
        "neuron", "weight_sums", "moons", "graph", "newton",
    ]  # fmt: skip
    proc = _run([str(deltagrad), "demo", "neuron", "--out", "here"], work)
    assert proc.returncode == 0, proc.stderr
    # The seed article's neuron: z = w.x + b, L = (sigmoid(z) - y)^2 / 2 (see demos/neuron.py).
    z = 0.4 * 1.0 + 0.3 * -2.0 + -0.6 * 0.5 + 0.1
    loss = (1.0 / (1.0 + math.exp(-z)) - 1.0) ** 2 / 2
    assert f"{loss:.6f}" in proc.stdout, proc.stdout
    assert "MISMATCH" not in proc.stdout
    drawn = sorted(p.name for p in (work / "here").iterdir())
    assert drawn in (["neuron.svg"], ["neuron.dot"]), drawn
    proc = _run([str(py), "-m", "demos", "demo", "nosuch"], work)
    assert proc.returncode == 2 and "invalid choice: 'nosuch'" in proc.stderr, proc.stderr


def test_real_hips_autograd_install_and_uninstall_then_the_repair(
    installed: dict[str, Path],
) -> None:
    """The sequence of the issue, with HIPS autograd from PyPI: install over ours, uninstall,
    then the repair command the error message gives."""
    work, py = installed["work"], installed["python"]
    pip = [str(py), "-m", "pip"]
    proc = _run([*pip, "install", "-q", "--no-deps", "autograd"], work, timeout=300)
    if proc.returncode != 0 and _pip_failed_offline(proc) and os.environ.get("CI") != "true":
        pytest.skip(f"cannot download HIPS autograd (offline?): {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stderr
    try:
        proc = _run([str(py), "-c", "import nn"], work)
        _assert_names_hips_and_repair(proc, "overwrote deltagrad's autograd/__init__.py")
        proc = _run([str(installed["bin"] / "deltagrad"), "demo", "--list"], work)
        _assert_names_hips_and_repair(proc, "overwrote")
        proc = _run([*pip, "uninstall", "-q", "-y", "autograd"], work)
        assert proc.returncode == 0, proc.stderr
        proc = _run([str(py), "-c", "import nn"], work)
        _assert_names_hips_and_repair(proc, "has no __init__.py")
    finally:  # the repair the message gives (offline: the wheel itself, no dependencies)
        proc = _run(
            [*pip, "install", "-q", "--force-reinstall", "--no-deps", str(installed["wheel"])],
            work,
        )
        assert proc.returncode == 0, proc.stderr
    proc = _run([str(py), "-c", "import nn, autograd; print(autograd.DISTRIBUTION)"], work)
    assert proc.returncode == 0 and proc.stdout.strip() == "deltagrad", proc.stderr
