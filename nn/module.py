"""``Module``: parameters by name, gradients reset, state dicts and JSON save/load.

A module owns Values (its *local* parameters, e.g. a neuron's ``w`` and ``b``) and child
modules (a layer's neurons). Names are dotted paths, PyTorch style: ``layers.0.neurons.2.w.1``.

Save files are JSON, never pickle::

    {"format": "deltagrad.nn/1", "architecture": {...}, "state": {"w.0": 0.25, ...}}

Floats are written with ``repr`` and read back by ``float``, so a round trip is bit-exact.
Loading checks the whole file (format, architecture, every key and value) before it touches a
single parameter, so a failed load leaves the model exactly as it was.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from autograd import Value, write_atomic
from autograd.io import check_path

from ._validate import finite_float

__all__ = ["FORMAT", "IncompatibleKeys", "Module"]

#: The format tag written into (and required in) every save file.
FORMAT = "deltagrad.nn/1"


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` skipped (always empty under ``strict=True``)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _public_attributes(obj: object) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in getattr(obj, "__dict__", {}).items() if not k.startswith("_")]


def _all_of(val: object, kind: type) -> bool:
    """``val`` is a non-empty list or tuple of ``kind`` instances."""
    return isinstance(val, (list, tuple)) and len(val) > 0 and all(isinstance(v, kind) for v in val)


class Module:
    """Base class of ``Neuron``, ``Layer`` and ``MLP`` (and of your own modules).

    A subclass says what it owns by overriding :meth:`local_parameters` (Values it holds
    directly) and :meth:`named_children` (sub-modules); everything else (naming, state dicts,
    save/load, ``zero_grad``) is derived from those two. Without overrides, both are found
    PyTorch style, from the instance's attributes in the order they were set: a Module, or a
    list/tuple of Modules, is a child (``blocks.0``); a leaf Value, or a list/tuple of leaf
    Values, is a parameter (``w``, ``w.1``; a bias when named ``b`` or ``bias*``). Attributes
    whose names start with ``_`` are skipped: keep per-call Values there.

    Attributes:
        name: This module's segment of the autograd scope path: the path ``named_parameters``
            gives it (``"layers.0"``, ``"neurons.2"``; ``""`` for the root), so that a
            parameter's scope plus its own name is its ``named_parameters`` key.
    """

    name: str = ""

    # -- what a module owns: the two hooks -----------------------------------------------------

    def local_parameters(self) -> list[tuple[str, Value, bool]]:
        """The Values this module holds itself: ``(name, value, is_bias)`` in order.

        By default the leaf Values among the public attributes (see the class docstring), so
        that a subclass written as in PyTorch does not silently own no parameters."""
        out: list[tuple[str, Value, bool]] = []
        for attr, val in _public_attributes(self):
            is_bias = attr == "b" or attr.startswith("bias")
            if isinstance(val, Value):
                if val.is_leaf:
                    out.append((attr, val, is_bias))
            elif _all_of(val, Value) and all(v.is_leaf for v in val):
                out.extend((f"{attr}.{i}", v, is_bias) for i, v in enumerate(val))
        return out

    def named_children(self) -> list[tuple[str, Module]]:
        """The direct sub-modules: ``(name, module)`` in order.

        By default the Modules among the public attributes (see the class docstring)."""
        out: list[tuple[str, Module]] = []
        for attr, val in _public_attributes(self):
            if isinstance(val, Module):
                out.append((attr, val))
            elif _all_of(val, Module):
                out.extend((f"{attr}.{i}", m) for i, m in enumerate(val))
        return out

    def architecture(self) -> dict[str, Any]:
        """A JSON-able description of the structure; a save file must match it to load."""
        return {"type": type(self).__name__}

    # -- derived views ---------------------------------------------------------------------------

    def _walk(self, prefix: str = "") -> list[tuple[str, Value, bool]]:
        out = [(prefix + n, v, b) for n, v, b in self.local_parameters()]
        for cname, child in self.named_children():
            out.extend(child._walk(f"{prefix}{cname}."))
        return out

    def named_parameters(self) -> list[tuple[str, Value]]:
        """Every parameter with its dotted name, in :meth:`parameters` order.

        Returns:
            ``[(name, value), ...]``, e.g. ``("layers.0.neurons.2.w.1", w)``.
        """
        return [(n, v) for n, v, _ in self._walk()]

    def parameters(self) -> list[Value]:
        """Every parameter: for each neuron its weights then its bias; neurons, then layers, in
        order. The same order every call."""
        return [v for _, v, _ in self._walk()]

    def weights(self) -> list[Value]:
        """The parameters that are weights (not biases), in :meth:`parameters` order."""
        return [v for _, v, is_bias in self._walk() if not is_bias]

    def biases(self) -> list[Value]:
        """The parameters that are biases, in :meth:`parameters` order."""
        return [v for _, v, is_bias in self._walk() if is_bias]

    def zero_grad(self) -> None:
        """Set ``.grad`` of every parameter to 0 (do this before each ``backward``)."""
        for p in self.parameters():
            p.grad = 0.0

    # -- state dicts -----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, float]:
        """Every parameter's value by name (a fresh dict of plain floats)."""
        return {n: v.data for n, v in self.named_parameters()}

    def load_state_dict(self, d: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Set parameter values from ``d`` (as returned by :meth:`state_dict`).

        Everything is checked before anything is written, so on error the model is unchanged.

        Args:
            d: ``{name: number}``. Numbers must be real (``bool`` is refused) and finite.
            strict: If true, the keys must be exactly this module's parameter names. If false
                (PyTorch semantics), missing and unexpected keys are skipped and reported; the
                values that are loaded are still checked.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``.

        Raises:
            TypeError: ``d`` is no mapping, a key is no str, a value is no real number.
            KeyError: Under ``strict``, missing or unexpected keys (all of them are named).
            ValueError: A value is NaN or infinite.
        """
        return self._load_checked(d, strict, "load_state_dict")

    def _load_checked(self, state: object, strict: bool, where: str) -> IncompatibleKeys:
        if not isinstance(state, Mapping):
            raise TypeError(
                f"{where}: expected a mapping of name -> float, got {type(state).__name__}"
            )
        params = self.named_parameters()
        own = {n for n, _ in params}
        for k in state:
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be str, got {type(k).__name__}: {k!r}")
        missing = [n for n, _ in params if n not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise KeyError(f"{where}: {' and '.join(parts)}")
        updates: list[tuple[Value, float]] = []
        for n, v in params:
            if n in state:
                updates.append((v, finite_float(state[n], n, where)))
        for v, x in updates:
            v.data = x
        return IncompatibleKeys(missing, unexpected)

    # -- files -----------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the parameters and the architecture to ``path`` as JSON.

        Written by :func:`autograd.write_atomic`: a failed save leaves any old file intact and
        no stray file behind, a new file gets the umask's mode (0644 under umask 022), a
        symlink is written through, and temp files of a killed save are removed by the next.

        Args:
            path: The file to write (a str or path-like; missing folders are created).

        Raises:
            TypeError: ``path`` is no str or path-like.
            OSError: The file cannot be written (the message names ``path``).
            ValueError: ``path`` is empty, or a parameter is NaN or infinite (JSON has no
                such numbers).
        """
        p = check_path(path, "save")
        state = self.state_dict()
        for k, x in state.items():
            if not math.isfinite(x):
                raise ValueError(f"save {p!r}: parameter {k!r} is {x!r}, not finite")
        doc = {"format": FORMAT, "architecture": self.architecture(), "state": state}
        text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
        try:
            write_atomic(p, text)
        except OSError as e:
            msg = f"save: {e.strerror or e}"
            raise (type(e)(e.errno, msg) if e.errno is not None else type(e)(msg)) from e

    def load(self, path: str | os.PathLike[str]) -> None:
        """Load parameters saved by :meth:`save` from ``path``.

        The file must carry this library's format tag, describe the same architecture as this
        module and hold exactly this module's parameter names with finite real values. All of
        that is checked before any parameter changes.

        Args:
            path: The file to read (a str or path-like; an int file descriptor is refused).

        Raises:
            OSError: The file cannot be read.
            ValueError: Not JSON (nesting too deep and numbers too long included), wrong format
                tag, another architecture, a non-finite value, an empty ``path``.
            TypeError: A value is no real number (``bool``, str, null, ...), or ``path`` is no
                str or path-like.
            KeyError: Missing or unexpected parameter names.
        """
        p = check_path(path, "load")
        where = f"load {p!r}"
        try:
            with open(p, encoding="utf-8") as f:
                text = f.read()
        except UnicodeDecodeError as e:
            raise ValueError(f"{where}: not a UTF-8 text file: {e}") from None
        try:
            doc = json.loads(text, object_pairs_hook=_no_duplicates)
        except _DuplicateKey as e:
            raise ValueError(f"{where}: duplicate key {e.args[0]!r}") from None
        except RecursionError:
            raise ValueError(f"{where}: not a model file (JSON nested too deeply)") from None
        except ValueError as e:  # JSONDecodeError, or an int past Python's 4300-digit limit
            raise ValueError(f"{where}: not valid JSON: {e}") from None
        if not isinstance(doc, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(doc).__name__}")
        if doc.get("format") != FORMAT:
            raise ValueError(
                f"{where}: not a deltagrad model file (format {doc.get('format')!r}, "
                f"expected {FORMAT!r})"
            )
        extra = sorted(set(doc) - {"format", "architecture", "state"})
        if extra:
            raise ValueError(f"{where}: unexpected top-level keys {extra}")
        arch = self.architecture()
        if doc.get("architecture") != arch:
            raise ValueError(
                f"{where}: the file is for architecture {doc.get('architecture')!r}, "
                f"this model is {arch!r}"
            )
        if "state" not in doc:
            raise KeyError(f"{where}: no 'state' in the file")
        self._load_checked(doc["state"], True, where)


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out
