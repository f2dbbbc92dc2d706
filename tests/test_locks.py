"""Folder locks (interplay.locks): what a second writer sees, and file systems that cannot lock."""

from __future__ import annotations

import errno

import pytest

from interplay import locks
from interplay.errors import UserError


def test_a_held_folder_names_its_holder_and_is_free_once_released(tmp_path, folder_in_use):
    lock = tmp_path / "run" / locks.FOLDER_LOCK
    assert locks.holder(lock) is None  # no file yet
    with folder_in_use(tmp_path / "run") as pid:
        assert locks.holder(lock).startswith(f"process {pid} on ")
        with pytest.raises(UserError, match=f"--out x: process {pid} on .* is using it now"):
            locks.hold_for_process(lock, "--out x")
    assert locks.holder(lock) is None  # its process was killed: nothing stale
    locks.hold_for_process(lock, "--out x")
    locks.hold_for_process(lock, "--out x")  # the same process again: already its own
    locks.release_under(tmp_path / "run")
    assert locks.holder(lock) is None and lock.read_text() == ""


def test_a_file_system_without_locks_runs_unlocked_rather_than_failing(tmp_path, monkeypatch):
    """Some network mounts refuse flock (ENOLCK): the run goes on without a lock, as on Windows."""

    def refuse(*args):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(locks.fcntl, "flock", refuse)
    locks.hold_for_process(tmp_path / "a" / locks.FOLDER_LOCK, "--out a")
    with locks.Waiting(tmp_path / "b.lock", lambda holder: pytest.fail("nothing to wait for")):
        pass
    locks.release_under(tmp_path / "a")
    assert locks.holder(tmp_path / "a" / locks.FOLDER_LOCK) is None
