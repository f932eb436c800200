"""Atomic writes: the original file is either fully replaced or untouched, and no temp file is left."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile

import pytest

from conftest import interrupt_right_after_create
from migrator import fsio
from migrator.fsio import StaleFileError, atomic_write, read_text

ORIGINAL = "\ufeffapiVersion: v1\r\nkind: ConfigMap\r\n"


@pytest.fixture
def target(tmp_path):
    path = tmp_path / "cm.yaml"
    path.write_bytes(ORIGINAL.encode("utf-8"))
    return path


def leftovers(directory) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".tmp"))


def test_read_text_keeps_bom_and_crlf_and_hashes_raw_bytes(target):
    text, sha = read_text(target)
    assert text == ORIGINAL
    with open(target, encoding="utf-8", newline="") as fh:
        assert text == fh.read()
    assert sha == hashlib.sha256(ORIGINAL.encode("utf-8")).hexdigest()


def test_atomic_write_round_trips_and_keeps_mode(target):
    os.chmod(target, 0o640)
    _, sha = read_text(target)
    atomic_write(target, ORIGINAL + "data: {}\r\n", expected_sha256=sha)
    assert target.read_bytes() == (ORIGINAL + "data: {}\r\n").encode("utf-8")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert leftovers(target.parent) == []


def test_atomic_write_new_file_gets_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "new.yaml", "a: 1\n")
    finally:
        os.umask(old)
    assert (tmp_path / "new.yaml").read_text() == "a: 1\n"
    assert stat.S_IMODE(os.stat(tmp_path / "new.yaml").st_mode) == 0o640


def test_atomic_write_through_symlink_keeps_the_link(target):
    link = target.parent / "link.yaml"
    link.symlink_to(target.name)
    atomic_write(link, "a: 2\n")
    assert link.is_symlink() and target.read_text() == "a: 2\n"


def test_stale_file_is_not_overwritten(target):
    _, sha = read_text(target)
    target.write_text("changed by an editor\n")
    with pytest.raises(StaleFileError, match="changed on disk since it was read"):
        atomic_write(target, "ours\n", expected_sha256=sha)
    assert target.read_text() == "changed by an editor\n"
    assert leftovers(target.parent) == []


def test_stale_when_file_was_deleted(target):
    _, sha = read_text(target)
    target.unlink()
    with pytest.raises(StaleFileError):
        atomic_write(target, "ours\n", expected_sha256=sha)
    assert not target.exists()


def test_change_racing_the_write_is_detected_before_the_rename(target, monkeypatch):
    """An editor saving while we fsync: the second freshness check catches it."""
    _, sha = read_text(target)
    real_fsync = os.fsync

    def fsync_and_race(fd):
        real_fsync(fd)
        if not target.read_bytes().startswith(b"raced"):
            target.write_bytes(b"raced\n")

    monkeypatch.setattr(fsio.os, "fsync", fsync_and_race)
    with pytest.raises(StaleFileError):
        atomic_write(target, "ours\n", expected_sha256=sha)
    assert target.read_bytes() == b"raced\n"
    assert leftovers(target.parent) == []


def test_read_only_file_is_refused(target):
    os.chmod(target, 0o444)
    try:
        with pytest.raises(PermissionError, match="read-only"):
            atomic_write(target, "ours\n")
        assert target.read_bytes() == ORIGINAL.encode("utf-8")
        assert leftovers(target.parent) == []
    finally:
        os.chmod(target, 0o644)


def _in_unprivileged_child(fn) -> int:
    """Run `fn` as an unprivileged user (root ignores directory permissions); return its exit code.

    Not root: run in a child anyway, so the code path is the same.  The child reports with its
    exit status: 0 = fn raised PermissionError, 1 = it wrote, 2 = another error.
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 2
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            fn()
            code = 1
        except PermissionError:
            code = 0
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_read_only_directory_fails_and_leaves_original():
    directory = tempfile.mkdtemp(prefix="mm-ro-")
    path = os.path.join(directory, "cm.yaml")
    try:
        with open(path, "wb") as fh:
            fh.write(ORIGINAL.encode("utf-8"))
        os.chmod(path, 0o666)  # the file itself is writable for everyone ...
        os.chmod(directory, 0o555)  # ... but the directory is not, so no temp file can be created
        assert _in_unprivileged_child(lambda: atomic_write(path, "ours\n")) == 0
        with open(path, "rb") as fh:
            assert fh.read() == ORIGINAL.encode("utf-8")
        assert leftovers(directory) == []
    finally:
        os.chmod(directory, 0o755)
        os.unlink(path)
        os.rmdir(directory)


def test_full_disk_leaves_original_and_no_temp_file(target, monkeypatch):
    real_write = os.write
    calls = []

    def write_then_enospc(fd, data):
        calls.append(len(data))
        if len(calls) == 1:  # a partial write first, like a filesystem filling up
            return real_write(fd, bytes(data[:5]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsio.os, "write", write_then_enospc)
    with pytest.raises(OSError) as exc:
        atomic_write(target, "x" * 10000)
    assert exc.value.errno == errno.ENOSPC
    assert len(calls) == 2  # the partial write was retried, then failed
    assert target.read_bytes() == ORIGINAL.encode("utf-8")
    assert leftovers(target.parent) == []


def test_interrupt_before_replace_leaves_no_partial_file(target, monkeypatch):
    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(fsio.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, "half-written?\n")
    assert target.read_bytes() == ORIGINAL.encode("utf-8")
    assert leftovers(target.parent) == []


def test_failure_in_chmod_cleans_up(target, monkeypatch):
    def no_chmod(path, mode):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(fsio.os, "chmod", no_chmod)
    with pytest.raises(OSError):
        atomic_write(target, "ours\n")
    assert target.read_bytes() == ORIGINAL.encode("utf-8")
    assert leftovers(target.parent) == []


def test_temp_file_is_in_the_same_directory(target, monkeypatch):
    """Same directory means same filesystem, which is what makes os.replace atomic."""
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((os.path.dirname(src), os.path.dirname(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(fsio.os, "replace", spy)
    atomic_write(target, "ours\n")
    assert seen == [(str(target.parent), str(target.parent))]
    assert target.read_text() == "ours\n"


def test_an_interrupt_right_after_the_temp_file_is_created_leaves_nothing(tmp_path, monkeypatch):
    """A Ctrl-C between the temp file's creation and the cleanup's reach (inside tempfile.mkstemp, as
    it was) left `.a.yaml.mm<pid>.*.tmp` behind; the name is now known before the file exists."""
    target = tmp_path / "a.yaml"
    target.write_text("a: 1\n")
    interrupt_right_after_create(monkeypatch, lambda: atomic_write(target, "a: 2\n"))
    assert target.read_text() == "a: 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml"]
