"""Advisory locks on folders, so that two processes never write one run or one study stage at once.

`flock` on a small file: the kernel drops a lock when its holder exits however it exits (`kill -9`
included), so a crashed run never leaves a stale lock behind. The file says who holds it (process id
and host), for the message of whoever finds it taken. Where `fcntl` is missing (Windows) nothing is
locked.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable

from interplay.errors import UserError

try:
    import fcntl
except ImportError:  # Windows: no flock; nothing is locked there
    fcntl = None  # type: ignore[assignment]

FOLDER_LOCK = ".interplay.lock"  # the lock file a command keeps in the --out folder it writes

_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}

# Locks held for the life of this process (training runs), by path: taking one again is a no-op.
_HELD: dict[str, Any] = {}


def holder(path: Path) -> str | None:
    """Who holds the lock at `path` now (what its file says), or None when nobody does."""
    if fcntl is None:
        return None
    try:
        with open(path) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return f.read().strip() or "another process"
            fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        return None
    return None


def _take(path: Path, on_wait: Callable[[str], None] | None) -> Any:
    """Open and lock `path` exclusively; wait for it (telling `on_wait` who holds it) or, without
    `on_wait`, raise BlockingIOError at once. Returns the open file (closing it releases the lock), or
    None where the file system cannot lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is None:
                raise
            on_wait(holder(path) or "another process")
            fcntl.flock(f, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in _NO_LOCKS:
                raise
            f.close()  # a file system without locks (some network mounts): run unlocked, as on Windows
            return None
        f.truncate(0)
        f.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        f.flush()
    except BaseException:
        f.close()
        raise
    return f


class Waiting:
    """`with Waiting(path, on_wait):` holds the lock for the block, waiting for another holder first."""

    def __init__(self, path: Path, on_wait: Callable[[str], None]) -> None:
        self.path, self.on_wait, self._file = path, on_wait, None

    def __enter__(self) -> Waiting:
        if fcntl is not None:
            self._file = _take(self.path, self.on_wait)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._file is not None:
            _let_go(self._file)


def hold_for_process(path: Path, what: str) -> None:
    """Lock `path` until this process exits; if another process holds it, a UserError naming it and `what`."""
    key = str(path.resolve())
    if fcntl is None or key in _HELD:
        return
    for _ in range(3):  # `holder` takes the lock for an instant to look: not a reason to refuse
        try:
            _HELD[key] = _take(path, None)
            return
        except BlockingIOError:
            time.sleep(0.1)
    raise UserError(f"{what}: {holder(path) or 'another process'} is using it now; wait for it to finish, "
                    "or use another --out")


def release_under(folder: Path) -> None:
    """Let go of this process's `hold_for_process` locks inside `folder`: a study runs one command after
    another in one process, and a stage that ended (or failed) must not keep its folder locked."""
    root = str(Path(folder).resolve())
    for key in [k for k in _HELD if k == root or k.startswith(root + os.sep)]:
        f = _HELD.pop(key)
        if f is not None:
            _let_go(f)


def _let_go(f: Any) -> None:
    """Empty a held lock file (it names its holder only while held) and close it, which releases the lock."""
    f.truncate(0)
    f.close()
