"""Which files a scan reads.

Inside a git work tree the answer is git's: tracked files plus untracked ones that are not ignored,
which is exactly what a GitOps controller would apply.  Elsewhere the tree is walked and
`.gitignore` patterns are honoured as far as fnmatch can express them.  Symlinks are never followed
out of the scanned root, and a link that loops is reported rather than hanging the walk.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from migrator.model import Problem

YAML_SUFFIXES = (".yaml", ".yml")
_ALWAYS_SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".terraform", "__pycache__", ".venv"}


@dataclass(frozen=True)
class Candidate:
    """A file to read: its absolute path and the path reported to users (relative to the root)."""

    abspath: Path
    relpath: str


class UsageError(Exception):
    """Bad command-line input (a path that does not exist …): exit code 2."""


def discover(paths: list[str], excludes: tuple[str, ...] = ()) -> tuple[Path, list[Candidate], list[Problem]]:
    """Resolve the scan's root and candidate YAML files for the given paths (files or directories)."""
    if not paths:
        paths = ["."]
    roots = [Path(p) for p in paths]
    for p in roots:
        if not p.exists() and not p.is_symlink():
            raise UsageError(f"{p}: no such file or directory")
    root = _common_root(roots)
    candidates: list[Candidate] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for p in roots:
        files, probs = (_walk_dir(p.resolve(), root) if p.is_dir() else ([p.absolute()], []))
        problems.extend(probs)
        for f in files:
            rel = _relative(f, root)
            if rel in seen or _excluded(rel, excludes):
                continue
            seen.add(rel)
            if p.is_dir() and not f.name.endswith(YAML_SUFFIXES):
                continue
            if f.is_symlink():
                problem = _check_link(f, root, rel)
                if problem:
                    problems.append(problem)
                    continue
            problem = _check_regular(f, rel)
            if problem:
                problems.append(problem)
                continue
            candidates.append(Candidate(f, rel))
    candidates.sort(key=lambda c: c.relpath)
    return root, candidates, problems


def _common_root(roots: list[Path]) -> Path:
    dirs = [(p if p.is_dir() else p.parent).resolve() for p in roots]
    return Path(os.path.commonpath([str(d) for d in dirs]))


def _relative(f: Path, root: Path) -> str:
    try:
        return f.relative_to(root).as_posix()
    except ValueError:
        try:
            return f.resolve().relative_to(root).as_posix()
        except ValueError:
            return f.as_posix()


def _excluded(rel: str, excludes: tuple[str, ...]) -> bool:
    for pattern in excludes:
        pat = pattern.rstrip("/")
        if fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(rel, pat + "/*") or any(
            fnmatch.fnmatch(part, pat) for part in rel.split("/")
        ):
            return True
    return False


def _check_link(f: Path, root: Path, rel: str) -> Problem | None:
    """A symlink is read only when it resolves, without looping, to a file inside the root."""
    try:
        target = f.resolve(strict=True)
    except RuntimeError:
        return Problem(rel, "symlink loop; not followed", kind="skipped")
    except OSError as exc:
        if getattr(exc, "errno", None) == 40:  # ELOOP
            return Problem(rel, "symlink loop; not followed", kind="skipped")
        return Problem(rel, "dangling symlink; not followed", kind="skipped")
    try:
        target.relative_to(root)
    except ValueError:
        return Problem(rel, f"symlink points outside the scanned root ({target}); not followed", kind="skipped")
    return None


_SPECIAL_FILES = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                  (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _check_regular(f: Path, rel: str) -> Problem | None:
    """Only regular files are read: opening a FIFO blocks until a writer appears, a device may never end."""
    try:
        mode = f.stat().st_mode
    except OSError:
        return None  # reading it reports the reason
    if stat.S_ISREG(mode):
        return None
    what = next((name for test, name in _SPECIAL_FILES if test(mode)), "not a regular file")
    return Problem(rel, f"{what}, not a regular file; not opened", kind="skipped")


def read_regular(path: Path) -> bytes:
    """The bytes of a regular file, refusing anything else without blocking on it.

    Discovery already skips special files; this closes the gap between that check and the read
    (a file replaced by a FIFO in between): the open is non-blocking and the type is checked on
    the open descriptor.  Raises OSError (ESPIPE-like message) for a non-regular file.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file; not opened")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read()
    finally:
        os.close(fd)


def _walk_dir(directory: Path, root: Path) -> tuple[list[Path], list[Problem]]:
    files = _git_files(directory)
    if files is not None:
        return files, []
    return _plain_walk(directory, root)


def _git_files(directory: Path) -> list[Path] | None:
    """Tracked + untracked-not-ignored files under directory, or None when it is not in a work tree."""
    try:
        inside = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--is-inside-work-tree"],
            capture_output=True, text=True, timeout=30,
        )
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return None
        out = subprocess.run(
            ["git", "-C", str(directory), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
            capture_output=True, timeout=120,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    files = []
    for raw in out.stdout.split(b"\0"):
        if not raw:
            continue
        p = directory / os.fsdecode(raw)
        if p.is_file() or p.is_symlink():  # deleted-but-tracked files are gone from the tree
            files.append(p)
    return files


def _plain_walk(directory: Path, root: Path) -> tuple[list[Path], list[Problem]]:
    """os.walk without following links, honouring .gitignore files met on the way."""
    files: list[Path] = []
    ignores: list[tuple[Path, list[str]]] = []
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=False):
        here = Path(dirpath)
        gi = here / ".gitignore"
        if gi.is_file():
            ignores.append((here, _read_gitignore(gi)))
        dirnames[:] = sorted(d for d in dirnames if d not in _ALWAYS_SKIP_DIRS and not _ignored(here / d, ignores, True))
        for name in sorted(filenames):
            p = here / name
            if not _ignored(p, ignores, False):
                files.append(p)
    return files, []


def _read_gitignore(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#") and not ln.startswith("!")]


def _ignored(p: Path, ignores: list[tuple[Path, list[str]]], is_dir: bool) -> bool:
    for base, patterns in ignores:
        try:
            rel = p.relative_to(base).as_posix()
        except ValueError:
            continue
        for pat in patterns:
            dir_only = pat.endswith("/")
            pat = pat.strip("/")
            if dir_only and not is_dir:
                continue
            if "/" in pat:
                if fnmatch.fnmatch(rel, pat):
                    return True
            elif fnmatch.fnmatch(p.name, pat):
                return True
    return False
