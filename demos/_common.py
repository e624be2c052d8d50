"""Shared plumbing of the demos: command line, output folder, graph rendering with a fallback."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import autograd

DEFAULT_OUT = Path("out")


def parse_args(description: str, argv: Sequence[str] | None) -> argparse.Namespace:
    """``--out DIR`` (default ``out/``) and ``--quick`` (smaller settings, as the tests use)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="folder for the files (default: out/)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller settings: fewer epochs, same story"
    )
    return parser.parse_args(argv)


def out_dir(path: str | Path) -> Path:
    """Create the output folder (and its parents) and return it."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


def render(root: autograd.Value, path: Path, **options: Any) -> Path:
    """Render ``root``'s graph to ``path`` (.svg); without any Graphviz program write the
    ``.dot`` source instead and say how to get pictures."""
    try:
        return Path(autograd.render_graph(root, path, **options))
    except autograd.RendererNotFoundError as e:  # neither `dot` nor `graphviz-pure` installed
        dot_path = path.with_suffix(".dot")
        autograd.render_graph(root, dot_path, **options)
        print(f"  (no Graphviz renderer: {e}; wrote {dot_path} instead)")
        return dot_path


def rule(title: str) -> None:
    """A section heading in the demo's printout."""
    print()
    print(f"== {title} " + "=" * max(0, 74 - len(title)))
