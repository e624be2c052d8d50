"""README.md is the user's manual: every ```python block runs as written, in order.

The blocks run in one namespace, as a reader pasting them into one Python session would, in a
fresh folder (so the files they write are checked to land under ``out/``, never beside the
README). A ```text block right after a python block that starts with ``SomeError: `` shows an
error on purpose: the block must raise exactly that error, message included. Fragments that
are not meant to run are tagged ``text``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import traceback
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^(`{3,})([\w+-]*)\s*$")
ERROR = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)): ")


class Block(NamedTuple):
    lang: str
    line: int  # 1-based line of the first code line
    code: str
    follows: bool  # directly after the previous block (only blank lines between)


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, in order (an unclosed fence is an error)."""
    out: list[Block] = []
    lines = text.splitlines()
    i, last_end = 0, -10
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(1), m.group(2)
        start = i + 1
        j = start
        while j < len(lines) and lines[j].rstrip() != fence:
            j += 1
        if j == len(lines):
            raise ValueError(f"README.md:{i + 1}: unclosed ``` fence")
        between = lines[last_end + 1 : i] if last_end >= 0 else ["x"]
        follows = all(not ln.strip() for ln in between)
        out.append(Block(lang, start + 1, "\n".join(lines[start:j]) + "\n", follows))
        last_end = j
        i = j + 1
    return out


def test_the_extractor_finds_blocks_and_error_outputs() -> None:
    md = "x\n```python\na = 1\n```\n```text\nValueError: no\n```\n\n```sh\nls\n```\n"
    got = blocks(md)
    assert [(b.lang, b.line, b.code, b.follows) for b in got] == [
        ("python", 3, "a = 1\n", False),
        ("text", 6, "ValueError: no\n", True),
        ("sh", 10, "ls\n", True),
    ]


def _shown(all_blocks: list[Block], k: int) -> tuple[str | None, str | None]:
    """(error, output) the README shows right after python block k: a ```text block that
    follows it directly is an error when it starts with ``SomeError: ``, else printed output."""
    nxt = all_blocks[k + 1] if k + 1 < len(all_blocks) else None
    if nxt is None or nxt.lang != "text" or not nxt.follows:
        return None, None
    if ERROR.match(nxt.code):
        return nxt.code.strip(), None
    return None, nxt.code.strip()


def _check_output(printed: str, shown: str, where: str) -> None:
    """What the block printed is what the README shows; a line ``...`` stands for any lines."""
    parts = [p.strip("\n") for p in re.split(r"^\.\.\.$", shown, flags=re.M)]
    if len(parts) == 1:
        assert printed.strip() == shown, f"the block at {where} printed something else"
        return
    pos = 0
    for part in filter(None, parts):
        at = printed.find(part, pos)
        assert at >= 0, f"the block at {where} did not print:\n{part}\n---got---\n{printed}"
        pos = at + len(part)


def _files(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}


def test_every_python_block_of_the_readme_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    all_blocks = blocks(README.read_text(encoding="utf-8"))
    python = [k for k, b in enumerate(all_blocks) if b.lang == "python"]
    assert len(python) >= 10, "the README lost its examples?"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for k in python:
        block = all_blocks[k]
        where = f"README.md:{block.line}"
        code = compile(block.code, where, "exec")  # a fragment fails here: tag it `text`
        expected, output = _shown(all_blocks, k)
        stdout = io.StringIO()
        try:
            with contextlib.redirect_stdout(stdout):
                exec(code, namespace)
        except Exception as e:
            got = f"{type(e).__name__}: {e}".strip()
            if expected is None:
                tb = "".join(traceback.format_exception(e))
                pytest.fail(f"the block at {where} raised {got}\n{tb}")
            assert got == expected, f"the block at {where} raised another error than shown"
        else:
            assert expected is None, f"the block at {where} should raise {expected!r}"
            if output is not None:
                _check_output(stdout.getvalue(), output, where)
    stray = sorted(str(p) for p in _files(tmp_path) if p.parts[0] != "out")
    assert not stray, f"README blocks wrote files outside out/: {stray}"
    assert _files(tmp_path), "no block wrote a file: the check above proved nothing"


def test_out_is_ignored_by_git() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "/out/" in ignored or "out/" in ignored
    assert not os.path.exists(ROOT / "graph.svg") and not os.path.exists(ROOT / "moons.json")
