"""Reading and atomically replacing files: a rewrite lands completely or not at all.

Why: the tool edits files in people's GitOps repos.  A crash, a full disk or Ctrl-C half-way
through a plain `open(path, "w")` leaves a truncated manifest that Argo CD may sync.  So new
content goes to a temp file in the same directory (same filesystem, so `os.replace` is an atomic
rename), is fsync'ed, gets the original file's mode, and only then replaces the original.  If the
file changed since we read it (an editor, a `git pull`), we refuse instead of overwriting that work.

The scanned repository is untrusted input (README, SECURITY): every path the tool derives from it
(a manifest's name, a config file's `baseline:`) goes through `inside_root` before anything is
written, so no name or `..` or symlink can steer a write outside the scanned root.

Temp files are named `.NAME.mm<pid>.XXXXXXXX.tmp`.  A run killed with SIGKILL cannot remove its
own; the next write to the same directory removes those whose process is gone (`sweep_stale_temps`),
and a scan reports any it sees (`is_own_temp`), so none lingers unnoticed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from pathlib import Path


class StaleFileError(Exception):
    """The file changed on disk since it was read; writing would discard someone's change."""


class OutsideRootError(ValueError):
    """A path the tool was about to write resolves outside the root it may write in."""


def inside_root(root, path) -> Path:
    """`path` (relative to `root`, or absolute) after resolving `..` and symlinks, proven inside `root`.

    Why one helper: every writer (fix, baseline, generated Secrets and RBAC) calls it, so the rule
    "never write outside the repository" is checked in one place, after resolution, whatever the
    name was built from.  Raises OutsideRootError with a one-line reason.
    """
    base = Path(os.path.realpath(os.fspath(root)))
    target = Path(os.path.realpath(os.path.join(base, os.fspath(path))))
    if target != base and base not in target.parents:
        raise OutsideRootError(f"{path}: resolves to {target}, outside {base}; not written")
    if target == base:
        raise OutsideRootError(f"{path}: is the root directory itself; not written")
    return target


# `.NAME.mm<pid>.XXXXXXXX.tmp`: mkstemp's 8 characters come from [a-z0-9_]
_OWN_TEMP = re.compile(r"^\.(?P<name>.+)\.mm(?P<pid>[0-9]{1,10})\.[a-z0-9_]{8}\.tmp$")
# what versions before the pid was added left behind: reported, never removed (the name alone is not proof)
_OLD_TEMP = re.compile(r"^\.(?P<name>.+\.ya?ml)\.[a-z0-9_]{8}\.tmp$")


_SWEPT: set[str] = set()


def is_own_temp(name: str) -> bool:
    """Whether a file name has the shape of a temp file atomic_write creates."""
    return bool(_OWN_TEMP.match(name) or _OLD_TEMP.match(name))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists (owned by someone else) or cannot tell: leave it alone
    return True


def sweep_stale_temps(directory) -> tuple[list[str], list[str]]:
    """Remove our temp files in `directory` whose writing process is gone; (removed, left) paths.

    Only names matching `_OWN_TEMP` with a dead pid are removed: a live writer's temp file, or one
    from an older version (no pid in the name), is left and returned for the caller to report.
    """
    removed: list[str] = []
    left: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed, left
    for name in names:
        path = os.path.join(directory, name)
        m = _OWN_TEMP.match(name)
        if m and _pid_alive(int(m.group("pid"))):
            continue  # a running writer's (possibly ours): not stale
        if not (m or _OLD_TEMP.match(name)):
            continue
        if m and os.path.isfile(path) and not os.path.islink(path):
            try:
                os.unlink(path)
                removed.append(path)
                continue
            except OSError:
                pass
        left.append(path)
    return removed, left


def wide_encoding(raw: bytes) -> str | None:
    """"UTF-16LE" … when `raw` is UTF-16/32 text (by BOM, or by the NUL pattern of ASCII text), else None.

    Why: such a file contains NUL bytes and was reported as "binary"; the user needs to hear that it
    is text in an encoding YAML tools here do not read, so they convert it rather than delete it.
    """
    for bom, name in ((b"\xff\xfe\x00\x00", "UTF-32LE"), (b"\x00\x00\xfe\xff", "UTF-32BE"),
                      (b"\xff\xfe", "UTF-16LE"), (b"\xfe\xff", "UTF-16BE")):
        if raw.startswith(bom):
            return name
    head = raw[:4096]
    if len(head) < 4 or b"\x00" not in head:
        return None
    if len(head) % 4 == 0 and head[1::4] == head[2::4] == head[3::4] == bytes(len(head) // 4) and b"\x00" not in head[0::4]:
        return "UTF-32LE"
    if len(head) % 4 == 0 and head[0::4] == head[1::4] == head[2::4] == bytes(len(head) // 4) and b"\x00" not in head[3::4]:
        return "UTF-32BE"
    even, odd = head[0::2], head[1::2]
    if len(head) % 2 == 0 and odd == bytes(len(odd)) and b"\x00" not in even:
        return "UTF-16LE"
    if len(head) % 2 == 0 and even == bytes(len(even)) and b"\x00" not in odd:
        return "UTF-16BE"
    return None


def read_text(path) -> tuple[str, str]:
    """(text, sha256 of the raw bytes).  The BOM stays as a leading '\\ufeff'; CRLF stays CRLF.

    Same result as `open(path, encoding='utf-8', newline='').read()`, because the edit engine
    must see (and keep) exactly the characters that are in the file.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    return data.decode("utf-8"), hashlib.sha256(data).hexdigest()


def atomic_write(path, text: str, *, expected_sha256: str | None = None, root=None) -> None:
    """Replace `path` with `text` (UTF-8) atomically; the original survives any failure untouched.

    A symlink is written through (its target is replaced, the link stays).  A file with no write
    permission bits is refused even for root: read-only is the owner saying "do not edit".  With
    `root`, the resolved target must lie inside it (`inside_root`), or nothing is written.
    """
    target = os.fspath(inside_root(root, path)) if root is not None else os.path.realpath(os.fspath(path))
    directory = os.path.dirname(target) or "."
    st = _existing_stat(target)
    if st is not None and (not st.st_mode & 0o222 or not os.access(target, os.W_OK)):
        raise PermissionError(errno.EACCES, "file is read-only; not replacing it", target)
    _check_fresh(target, expected_sha256)
    mode = stat.S_IMODE(st.st_mode) if st is not None else _default_mode()
    if directory not in _SWEPT:  # once per directory and run: a batch of 1,000 files lists each directory once
        _SWEPT.add(directory)
        sweep_stale_temps(directory)
    tmp = _temp_name(directory, os.path.basename(target))
    try:  # the name is known before the file exists, so an interrupt at any point after is cleaned up
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
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


def _temp_name(directory: str, name: str) -> str:
    """A free name for atomic_write's temp file, in the shape _OWN_TEMP matches.

    Not tempfile.mkstemp: a Ctrl-C between mkstemp creating the file and returning its name left a
    temp file nobody removed (tests/test_security.py test 4 caught it under load).  The pid in the name
    means only this process can create it, so the cleanup may remove it whatever the interrupt hit.
    """
    import secrets

    while True:
        tmp = os.path.join(directory, f".{name}.mm{os.getpid()}.{secrets.token_hex(4)}.tmp")
        if not os.path.lexists(tmp):
            return tmp


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
