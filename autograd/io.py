"""One atomic file writer for every file the library writes (JSON, SVG, PNG, PDF, DOT).

:func:`write_atomic` guarantees what a reader and a crash may see:

* Readers see the old file or the whole new one, never a part: the bytes go to a temporary
  file in the target's folder, are flushed to disk (``fsync``), then :func:`os.replace` swaps
  it in (an atomic rename on one file system).
* A new file gets the mode ``open(path, "w")`` would give it: 0o666 minus the umask (0644
  under umask 022). A file that exists keeps its permission bits.
* A symlink is written through: its target is replaced and the link stays a link.
* On any error (a full disk, Ctrl-C) the temporary file is removed and the old file is intact.
* A process killed mid-write (SIGKILL, power loss) cannot clean up, so temporary files carry a
  fixed, recognisable name, ``.NAME.<pid>-<8 hex digits>.tmp``; the next write of the same
  target removes those whose process is no longer running.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import threading
from pathlib import Path

__all__ = ["check_path", "write_atomic"]

_lock = threading.Lock()
_in_flight: set[str] = set()  # temp files this process is writing now (any thread)


def _temp_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(name)}\.(\d+)-[0-9a-f]{{8}}\.tmp")


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id runs (``True`` when that cannot be told safely)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs under another user
        return True
    return True


def _remove_stale(folder: Path, name: str) -> None:
    """Delete temp files of ``folder/name`` left by writers that no longer run."""
    pattern = _temp_pattern(name)
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    me = os.getpid()
    for entry in entries:
        m = pattern.fullmatch(entry)
        if m is None:
            continue
        pid = int(m.group(1))
        path = os.path.join(folder, entry)
        with _lock:
            if path in _in_flight:
                continue
        if pid == me or not _pid_alive(pid):
            # our own pid but not in flight: left by an earlier process that had our pid
            with contextlib.suppress(OSError):
                os.unlink(path)


def check_path(path: object, who: str = "write_atomic") -> str:
    """``path`` as a file path string: a str or ``os.PathLike`` that names something.

    An int is refused (``open(3)`` would use file descriptor 3), and so are ``""`` and blanks
    (``Path("")`` is ``"."``, the current folder). Every function of the library that takes a
    file path checks it with this.

    Args:
        path: The argument to check.
        who: The function named in the error (``"save"``, ``"load"``, ...).

    Returns:
        ``os.fspath(path)``.

    Raises:
        TypeError: ``path`` is no str or path-like (bytes paths included).
        ValueError: ``path`` is empty or blank.
    """
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{who}: path must be a str or os.PathLike, got {type(path).__name__}: {path!r}"
        )
    p = os.fspath(path)
    if not isinstance(p, str):
        raise TypeError(f"{who}: path must be a text path, got {p!r}")
    if not p.strip():
        raise ValueError(f"{who}: path must name a file, got {p!r}")
    return p


def write_atomic(
    path: str | os.PathLike[str], data: bytes | str, *, make_parents: bool = False
) -> Path:
    """Replace the file at ``path`` with ``data``, atomically (see the module docstring).

    Args:
        path: The file to write. A symlink is followed and its target replaced.
        data: The content: bytes, or text (written as UTF-8).
        make_parents: Create missing folders (else a missing folder is a
            ``FileNotFoundError``, as for ``open``).

    Returns:
        The file written: ``path`` with symlinks resolved, as a :class:`pathlib.Path`.

    Raises:
        TypeError: ``path`` is no str or path-like, or ``data`` is no bytes or str.
        ValueError: ``path`` is empty.
        OSError: The file cannot be written; the message names it, and nothing changed.
    """
    p = check_path(path)
    if p.endswith(("/", os.sep)) or os.path.isdir(p):
        raise IsADirectoryError(errno.EISDIR, f"cannot write {p!r}: it is a folder, not a file")
    data = _as_bytes(data)
    target = Path(os.path.realpath(p))  # write through symlinks (the link itself stays)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"cannot write {p!r}: it is a folder, not a file")
    folder = target.parent
    tmp: str | None = None
    try:
        if make_parents:
            folder.mkdir(parents=True, exist_ok=True)
        _remove_stale(folder, target.name)
        try:
            mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = None
        fd, tmp = _new_temp(folder, target.name)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
        done, tmp = tmp, None
        with _lock:
            _in_flight.discard(done)
        _fsync_folder(folder)
    except OSError as e:
        msg = f"cannot write {p!r}: {e.strerror or e}"
        raise (type(e)(e.errno, msg) if e.errno is not None else type(e)(msg)) from e
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            with _lock:
                _in_flight.discard(tmp)
    return target


def _as_bytes(data: object) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"write_atomic: data must be bytes or str, got {type(data).__name__}")


def _new_temp(folder: Path, name: str) -> tuple[int, str]:
    """Create this writer's temp file beside the target: ``.NAME.<pid>-<hex>.tmp``, which a
    later save of the same target recognises (and removes once the pid is gone)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        candidate = str(folder / f".{name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        with _lock:
            _in_flight.add(candidate)
        try:
            return os.open(candidate, flags, 0o666), candidate  # the umask applies, as open()
        except FileExistsError:
            with _lock:
                _in_flight.discard(candidate)
        except BaseException:
            with _lock:
                _in_flight.discard(candidate)
            raise


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a best effort where folders cannot be opened."""
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
