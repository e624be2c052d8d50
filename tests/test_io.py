"""autograd.write_atomic, the one writer of every file the library writes: the umask's mode,
symlinks written through, fsync + atomic replace, temp files cleaned on error and stale ones
(of a killed writer) removed by the next write; and that save, render_graph and nn.plot use it."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd as ag
import nn


@pytest.fixture
def umask() -> Iterator[Any]:
    """Set a umask for one test and restore the old one afterwards."""
    old = os.umask(0o022)
    os.umask(old)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def temp_files(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".tmp"))


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


posix_only = pytest.mark.skipif(os.name == "nt", reason="umask, symlinks and pids are POSIX")


@posix_only
@settings(max_examples=12)
@given(mask=st.sampled_from([0o022, 0o002, 0o077, 0o027, 0o000]), text=st.booleans())
def test_new_file_gets_the_umask_mode(mask: int, text: bool, tmp_path_factory: Any) -> None:
    folder = tmp_path_factory.mktemp("mode")
    old = os.umask(mask)
    try:
        ag.write_atomic(folder / "f.bin", "x" if text else b"x")
        plain = folder / "plain.bin"
        with open(plain, "wb"):
            pass
    finally:
        os.umask(old)
    assert mode(folder / "f.bin") == 0o666 & ~mask == mode(plain), oct(mask)


@posix_only
def test_every_writer_gives_0644_under_umask_022(tmp_path: Path, umask: Any) -> None:
    umask(0o022)
    model = nn.MLP(2, [2, 1], seed=0)
    model.save(tmp_path / "m.json")
    out = model([0.5, -1.0])
    assert isinstance(out, ag.Value)
    ag.render_graph(out, tmp_path / "g.dot")
    h = nn.fit(model, [[0.0, 1.0], [1.0, 0.0]], [1, -1], epochs=2, progress=False)
    nn.plot.history(h, tmp_path / "h.png")
    for name in ("m.json", "g.dot", "h.png"):
        assert mode(tmp_path / name) == 0o644, f"{name}: {oct(mode(tmp_path / name))}"


@posix_only
def test_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    p = tmp_path / "secret.json"
    p.write_bytes(b"old")
    p.chmod(0o600)
    ag.write_atomic(p, b"new")
    assert p.read_bytes() == b"new" and mode(p) == 0o600


@posix_only
def test_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "store" / "model.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    nn.MLP(2, [1], seed=0).save(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert '"format"' in real.read_text()
    assert temp_files(tmp_path) == [] and temp_files(real.parent) == []


@posix_only
def test_stale_temp_files_of_dead_writers_are_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "model.json"
    dead = dead_pid()
    # what a save killed mid-write leaves behind, for this target and for another one
    stale = [f".model.json.{dead}-0123abcd.tmp", f".model.json.{dead}-deadbeef.tmp"]
    other = f".other.json.{dead}-0123abcd.tmp"
    alive = f".model.json.{os.getppid()}-00000000.tmp"  # a running process may still write it
    unrelated = ".model.json.notes.tmp"
    for name in [*stale, other, alive, unrelated]:
        (tmp_path / name).write_bytes(b"partial")
    nn.MLP(2, [1], seed=0).save(target)
    assert temp_files(tmp_path) == sorted([other, alive, unrelated])
    assert target.exists()


@posix_only
def test_a_save_killed_by_sigkill_leaves_nothing_the_next_save_keeps(tmp_path: Path) -> None:
    """A real SIGKILL while the temp file is open: the next save removes what it left."""
    target = tmp_path / "model.json"
    code = textwrap.dedent(
        f"""
        import os, sys, time
        import autograd.io as io
        real_fsync = os.fsync
        def stall(fd):
            print("writing", flush=True)
            time.sleep(60)
        io.os.fsync = stall
        io.write_atomic({str(target)!r}, b"x" * 100000)
        """
    )
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
        left = temp_files(tmp_path)
        assert len(left) == 1 and left[0].startswith(f".model.json.{proc.pid}-"), left
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert temp_files(tmp_path) == left  # nothing cleans up after a SIGKILL ...
    nn.MLP(2, [1], seed=0).save(target)
    assert temp_files(tmp_path) == []  # ... until the next save of the same target
    nn.MLP(2, [1], seed=0).load(target)


class Boom(Exception):
    pass


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_any_error_removes_the_temp_file_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: Any, where: str
) -> None:
    import autograd.io as io

    target = tmp_path / "f.svg"
    target.write_bytes(b"old")

    def fail(*a: object, **k: object) -> None:
        raise Boom(where)

    if where == "write":
        monkeypatch.setattr(io.os, "fdopen", lambda fd, m: _FailingFile(fd))
    else:
        monkeypatch.setattr(io.os, where, fail)
    with pytest.raises((Boom, OSError)):
        ag.write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert temp_files(tmp_path) == []


class _FailingFile:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> _FailingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def write(self, data: bytes) -> None:
        raise OSError(28, "No space left on device")


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"cannot write .*f\.bin"):
        ag.write_atomic(tmp_path / "missing" / "f.bin", b"x")
    ag.write_atomic(tmp_path / "made" / "f.bin", b"x", make_parents=True)
    assert (tmp_path / "made" / "f.bin").read_bytes() == b"x"
    with pytest.raises(IsADirectoryError, match="folder"):
        ag.write_atomic(tmp_path, b"x")


@pytest.mark.parametrize(
    ("path", "data", "err", "match"),
    [
        ("", b"x", ValueError, "must name a file"),
        ("  ", b"x", ValueError, "must name a file"),
        (3, b"x", TypeError, "path must be a str"),
        (None, b"x", TypeError, "path must be a str"),
        (b"f.bin", b"x", TypeError, "path must be a str"),
        ("f.bin", 3, TypeError, "data must be bytes or str"),
    ],
)
def test_bad_arguments_are_named(path: object, data: object, err: type, match: str) -> None:
    with pytest.raises(err, match=match):
        ag.write_atomic(path, data)  # type: ignore[arg-type]


def test_the_writer_is_documented_public_api() -> None:
    assert "write_atomic" in ag.__all__
    doc = ag.write_atomic.__doc__ or ""
    assert "Args:" in doc and "Returns:" in doc
