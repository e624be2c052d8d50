"""The imported `autograd` and `nn` must be this repository's, not the unrelated PyPI packages
(HIPS autograd, and `nn`) that share the import names."""

from pathlib import Path

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
