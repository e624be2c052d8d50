"""Finding and running a Graphviz renderer, and writing its output safely.

The ``graphviz`` Python package only ever runs the program named ``dot``. We look further, in
this order, and use the first that exists:

1. ``dot`` on ``PATH`` (Graphviz from apt, brew, conda, the Windows installer): svg, png, pdf.
2. ``graphviz-pure`` on ``PATH`` (``pip install graphviz-pure``: a Rust port of ``dot`` with the
   same flags): svg, png, no pdf.
3. ``graphviz-pure`` beside the running interpreter (``Path(sys.executable).parent``): a
   virtualenv that was pip-installed into but never activated has it there, not on ``PATH``.

With none of them, :class:`RendererNotFoundError` says how to get one; writing DOT text needs
no renderer at all.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import graphviz

from . import io as _io

__all__ = [
    "INSTALL_HINT",
    "Renderer",
    "RendererError",
    "RendererNotFoundError",
    "find_renderer",
    "render_source",
    "write_atomic",
]

#: How to get a renderer, named in every "no renderer" error.
INSTALL_HINT = (
    "install Graphviz with `apt-get install graphviz` (Debian/Ubuntu) or "
    "`brew install graphviz` (macOS), or run `pip install graphviz-pure` "
    "(a pip-only renderer with the same command-line flags; svg and png, no pdf)"
)


class RendererNotFoundError(graphviz.ExecutableNotFound):  # type: ignore[misc]
    """No program that can render the requested format was found.

    A :class:`RuntimeError` (and a ``graphviz.ExecutableNotFound``, so code written for the
    ``graphviz`` package catches it too). The message names the ways to install a renderer.
    """

    def __init__(self, message: str) -> None:
        # ExecutableNotFound formats its own message from a command; we give a whole one.
        RuntimeError.__init__(self, message)


@dataclass(frozen=True)
class Renderer:
    """A Graphviz-compatible program found on this machine.

    Attributes:
        name: ``"dot"`` or ``"graphviz-pure"``.
        path: The executable to run.
        formats: Output formats (``-T`` values) it can write.
    """

    name: str
    path: str
    formats: frozenset[str]


_DOT_FORMATS = frozenset({"svg", "png", "pdf"})
_PURE_FORMATS = frozenset({"svg", "png"})


def _interpreter_dir() -> Path | None:
    """The folder of the running interpreter, unresolved: a venv's ``bin`` holds a symlink
    to the system Python, and resolving it would leave the venv."""
    exe = sys.executable
    return Path(exe).parent if exe else None


def find_renderer() -> Renderer:
    """The renderer :func:`render_source` will run: ``dot``, else ``graphviz-pure``.

    Returns:
        The first of: ``dot`` on ``PATH``; ``graphviz-pure`` on ``PATH``; ``graphviz-pure``
        beside the running interpreter.

    Raises:
        RendererNotFoundError: none of them exists (the message says how to install one).
    """
    dot = shutil.which("dot")
    if dot:
        return Renderer("dot", dot, _DOT_FORMATS)
    pure = shutil.which("graphviz-pure")
    if not pure:
        here = _interpreter_dir()
        if here is not None:
            pure = shutil.which("graphviz-pure", path=str(here))
    if pure:
        return Renderer("graphviz-pure", pure, _PURE_FORMATS)
    where = _interpreter_dir()
    beside = f" or in {where}" if where is not None else ""
    raise RendererNotFoundError(
        f"no Graphviz renderer found: neither `dot` nor `graphviz-pure` is on PATH{beside}. "
        f"To render svg/png/pdf, {INSTALL_HINT}. Writing a .dot file needs no renderer."
    )


class RendererError(RuntimeError):
    """The renderer crashed, failed or ran out of time on a drawing.

    The message names the renderer, the size of the drawing and how to draw less; never the
    renderer's own backtrace (only the first line of what it printed).
    """


#: Seconds a renderer may take before :func:`render_source` gives up on it.
RENDER_TIMEOUT = 60.0

_DRAWN_NODE = re.compile(r"^\t[vog]\d+ \[", re.M)
_DRAWN_EDGE = re.compile(r"^\t\w+ -> \w+", re.M)


def _size(source: str) -> str:
    nodes = len(_DRAWN_NODE.findall(source)) or source.count("\n")
    return f"{nodes} nodes and {len(_DRAWN_EDGE.findall(source))} edges"


def _first_line(err: bytes) -> str:
    for line in err.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line:
            return line[:300]
    return "no output"


def render_source(source: str, fmt: str, *, timeout: float | None = RENDER_TIMEOUT) -> bytes:
    """Lay out and draw DOT ``source`` with the renderer of :func:`find_renderer`.

    Args:
        source: DOT text.
        fmt: A Graphviz output format: ``"svg"``, ``"png"`` or ``"pdf"`` (``dot`` only).
        timeout: Seconds before the renderer is stopped (``None``: wait for ever).

    Returns:
        The rendered bytes.

    Raises:
        RendererNotFoundError: no renderer, or the one found cannot write ``fmt``.
        RendererError: the renderer failed, crashed or timed out (a ``RuntimeError``; the
            message names the renderer and the drawing's size).
    """
    r = find_renderer()
    if fmt not in r.formats:
        raise RendererNotFoundError(
            f"{r.name} ({r.path}) cannot write {fmt}; it writes {', '.join(sorted(r.formats))}. "
            f"For {fmt}, install Graphviz's `dot` (`apt-get install graphviz` or "
            f"`brew install graphviz`), or write .svg or .png instead."
        )
    less = (
        "draw less: a smaller max_nodes (neurons collapse), the graph of one sample instead "
        "of a batch, or write .dot and render it yourself"
    )
    try:
        proc = subprocess.run(
            [r.path, f"-T{fmt}"],
            input=source.encode("utf-8"),
            capture_output=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise RendererError(
            f"{r.name} ({r.path}) did not finish the {fmt} of a drawing of {_size(source)} "
            f"within {timeout:g} s; {less}"
        ) from None
    if proc.returncode != 0 or not proc.stdout:
        how = f"exit status {proc.returncode}" if proc.returncode >= 0 else "killed by a signal"
        raise RendererError(
            f"{r.name} ({r.path}) failed to render the {fmt} of a drawing of {_size(source)} "
            f"({how}): {_first_line(proc.stderr)}; {less}"
        )
    return proc.stdout


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with the library's atomic writer, creating missing folders
    (see :func:`autograd.io.write_atomic`)."""
    _io.write_atomic(path, data, make_parents=True)
