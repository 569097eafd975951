"""UploadStore's write on a real folder: what a crash or a concurrent writer leaves does not matter."""

from __future__ import annotations

import errno
import itertools
import os
import stat
from pathlib import Path

import pytest

from gateway.services import storage
from gateway.services.storage import UploadStore


async def test_an_upload_is_stored_once_whole_and_private(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    data = os.urandom(300_000)
    md5 = storage.md5_hex(data)
    assert await store.save(7, data, md5, ".png") == (f"{md5}.png", True)
    stored = tmp_path / "7" / f"{md5}.png"
    assert stored.read_bytes() == data
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert await store.save(7, data, md5, ".png") == (f"{md5}.png", False)
    assert sorted(p.name for p in (tmp_path / "7").iterdir()) == [f"{md5}.png"]  # no temporary left


def test_a_temporary_left_by_a_crashed_process_with_this_pid_is_stepped_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "_temporary_names", itertools.count())
    leftover = tmp_path / f".upload-{os.getpid()}-0.part"
    leftover.write_bytes(b"half an upload")
    target = tmp_path / "abc.png"
    assert UploadStore._write_once(target, b"whole") is True
    assert target.read_bytes() == b"whole"
    assert leftover.read_bytes() == b"half an upload"
    assert sorted(p.name for p in tmp_path.iterdir()) == [leftover.name, "abc.png"]


def test_the_same_bytes_written_meanwhile_keep_the_first_file(tmp_path: Path) -> None:
    target = tmp_path / "abc.png"
    target.write_bytes(b"first")
    assert UploadStore._write_once(target, b"first") is False
    assert [p.name for p in tmp_path.iterdir()] == ["abc.png"]


def test_a_full_disk_at_fsync_is_the_error_told_even_if_the_close_fails_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC may come at the fsync (delayed allocation), and an NFS close may fail after it: the answer
    must still say the disk is full (507), and nothing may be left behind."""
    real_close = os.close

    def full_fsync(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def failing_close(fd: int) -> None:
        real_close(fd)
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(storage.os, "fsync", full_fsync)
    monkeypatch.setattr(storage.os, "close", failing_close)
    with pytest.raises(OSError, match="No space left") as raised:
        UploadStore._write_once(tmp_path / "abc.png", b"data")
    monkeypatch.undo()
    assert raised.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []
