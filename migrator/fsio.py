"""Reading and atomically replacing files: a rewrite lands completely or not at all.

Why: the tool edits files in people's GitOps repos.  A crash, a full disk or Ctrl-C half-way
through a plain `open(path, "w")` leaves a truncated manifest that Argo CD may sync.  So new
content goes to a temp file in the same directory (same filesystem, so `os.replace` is an atomic
rename), is fsync'ed, gets the original file's mode, and only then replaces the original.  If the
file changed since we read it (an editor, a `git pull`), we refuse instead of overwriting that work.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile


class StaleFileError(Exception):
    """The file changed on disk since it was read; writing would discard someone's change."""


def read_text(path) -> tuple[str, str]:
    """(text, sha256 of the raw bytes).  The BOM stays as a leading '\\ufeff'; CRLF stays CRLF.

    Same result as `open(path, encoding='utf-8', newline='').read()`, because the edit engine
    must see (and keep) exactly the characters that are in the file.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    return data.decode("utf-8"), hashlib.sha256(data).hexdigest()


def atomic_write(path, text: str, *, expected_sha256: str | None = None) -> None:
    """Replace `path` with `text` (UTF-8) atomically; the original survives any failure untouched.

    A symlink is written through (its target is replaced, the link stays).  A file with no write
    permission bits is refused even for root: read-only is the owner saying "do not edit".
    """
    target = os.path.realpath(os.fspath(path))
    directory = os.path.dirname(target) or "."
    st = _existing_stat(target)
    if st is not None and (not st.st_mode & 0o222 or not os.access(target, os.W_OK)):
        raise PermissionError(errno.EACCES, "file is read-only; not replacing it", target)
    _check_fresh(target, expected_sha256)
    mode = stat.S_IMODE(st.st_mode) if st is not None else _default_mode()
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(target) + ".", suffix=".tmp")
    try:
        try:
            _write_all(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
        if st is not None:
            _copy_owner(tmp, st)
        _check_fresh(target, expected_sha256)  # narrow the race with editors to the rename itself
        os.replace(tmp, target)
    except BaseException:  # KeyboardInterrupt too: never leave a temp file behind
        _remove_quietly(tmp)
        raise
    _fsync_directory(directory)


def _existing_stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _check_fresh(path: str, expected_sha256: str | None) -> None:
    if expected_sha256 is None:
        return
    try:
        with open(path, "rb") as fh:
            current = hashlib.sha256(fh.read()).hexdigest()
    except FileNotFoundError:
        raise StaleFileError(f"{path}: deleted on disk since it was read") from None
    if current != expected_sha256:
        raise StaleFileError(f"{path}: changed on disk since it was read")


def _default_mode() -> int:
    """What `open(path, 'w')` would have given a new file: 0o666 minus the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _copy_owner(tmp: str, st: os.stat_result) -> None:
    """Keep the original owner/group where we are allowed to (root, or a group we belong to)."""
    try:
        if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
            os.chown(tmp, st.st_uid, st.st_gid)
    except (OSError, AttributeError):
        pass


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable; not every platform can open a directory, so best effort."""
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
