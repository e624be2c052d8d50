"""Tell deltagrad's ``autograd`` package from a foreign one before anything imports from it.

deltagrad ships two import packages, ``autograd`` and ``nn``. HIPS autograd (``pip install
autograd``, a common dependency of other packages) uses the same import name and ships the same
file, ``autograd/__init__.py``: installing it into the same environment silently overwrites ours,
and ``pip uninstall autograd`` then deletes that file, leaving ``autograd`` a bare folder. Either
way ``from autograd import Value`` fails with a message that gives no hint why; this module turns
that into an ``ImportError`` that says what happened and how to repair it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["REPAIR", "ForeignAutogradError", "require_deltagrad_autograd"]

#: The command that puts deltagrad's ``autograd/__init__.py`` back.
REPAIR = "pip install --force-reinstall deltagrad (in a clone of the repository: pip install -e .)"


class ForeignAutogradError(ImportError):
    """The ``autograd`` package on the path is not deltagrad's (HIPS autograd, or a broken
    install); the message says which, what happened and :data:`REPAIR`."""


def _where(module: ModuleType) -> str:
    file = getattr(module, "__file__", None)
    if file:
        return str(file)
    paths = list(getattr(module, "__path__", []) or [])
    return ", ".join(str(p) for p in paths) or "an unknown location"


def require_deltagrad_autograd() -> ModuleType:
    """Import ``autograd`` and check that it is deltagrad's (``autograd.DISTRIBUTION``).

    Returns:
        The ``autograd`` module.

    Raises:
        ForeignAutogradError: An ``ImportError`` naming HIPS autograd, what it did to
            ``autograd/__init__.py`` and the repair command.
    """
    try:
        module = importlib.import_module("autograd")
    except ImportError as e:
        raise ForeignAutogradError(
            f"deltagrad: `import autograd` failed ({e}). deltagrad's autograd package is "
            "missing or broken; if HIPS autograd (pip install autograd) was installed into this "
            "environment, it overwrote deltagrad's autograd/__init__.py. "
            f"Repair: {REPAIR}"
        ) from e
    if getattr(module, "DISTRIBUTION", None) == "deltagrad":
        return module
    where = _where(module)
    if getattr(module, "__file__", None) is None:
        what = (
            f"the folder {where} has no __init__.py: `pip uninstall autograd` (HIPS autograd) "
            "deleted it, because HIPS autograd and deltagrad ship the same file "
            "autograd/__init__.py"
        )
    else:
        hips = hasattr(module, "grad") and not hasattr(module, "Value")
        whose = "HIPS autograd's" if hips else "another package's (not deltagrad's)"
        what = (
            f"{where} is {whose}: `pip install autograd` (HIPS autograd, which uses the same "
            "import name) overwrote deltagrad's autograd/__init__.py without a warning, and "
            "`pip uninstall autograd` would delete that file too"
        )
    raise ForeignAutogradError(
        f"deltagrad: the package imported as `autograd` is not deltagrad's: {what}. "
        "HIPS autograd and deltagrad cannot share one environment; keep HIPS autograd in "
        f"another virtualenv. Repair: {REPAIR}"
    )
