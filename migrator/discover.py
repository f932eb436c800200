"""Which files a scan reads.

Inside a git work tree the answer is git's: tracked files plus untracked ones that are not ignored,
which is exactly what a GitOps controller would apply.  Elsewhere the tree is walked and
`.gitignore` patterns are honoured as far as fnmatch can express them.  Symlinks are never followed
out of the scanned root, and a link that loops is reported rather than hanging the walk.

Each file is read once, by its real path: a symlink to a file inside the root and the file itself
are one candidate (reported under the real path), so findings are not doubled and `fix --write`
does not write the same file twice.  Directories that cannot be read are reported like files that
cannot be read (findings must not vanish silently), and temp files left by a killed write are reported.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Iterator

from migrator.fsio import is_own_temp
from migrator.model import Problem

YAML_SUFFIXES = (".yaml", ".yml")
# Every git call the tool makes: a `.git/config` inside an unpacked archive or a copied tree can name a
# program as core.fsmonitor, which `git ls-files`/`status` would run; the tool never runs repository content.
SAFE_GIT = ("-c", "core.fsmonitor=false")
_ALWAYS_SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".terraform", "__pycache__", ".venv"}


class Candidate:
    """A file to read: its absolute path and the path reported to users (relative to the root).

    Kept for the whole scan, one per file, so it is small: no Path (a PosixPath with its cached parts
    is ~700 bytes), and when the absolute path is the scan root joined with the relative one (every
    file but those reached through a symlink) only the shared root string and the relative path
    (bench/RESULTS.md "Memory").  `abspath` makes the Path on request.
    """

    __slots__ = ("_root", "_abspath", "relpath")

    def __init__(self, abspath: "Path | str", relpath: str, root: str | None = None):
        text = os.fspath(abspath)
        shared = root is not None and text == os.path.join(root, relpath)
        object.__setattr__(self, "_root", root if shared else None)
        object.__setattr__(self, "_abspath", None if shared else text)
        object.__setattr__(self, "relpath", relpath)

    @property
    def abspath_text(self) -> str:
        return self._abspath if self._abspath is not None else os.path.join(self._root, self.relpath)

    @property
    def abspath(self) -> Path:
        return Path(self.abspath_text)

    def __setattr__(self, name, value):
        raise AttributeError(f"Candidate is immutable: cannot set {name}")

    def __eq__(self, other):
        return isinstance(other, Candidate) and (self.abspath_text, self.relpath) == (other.abspath_text, other.relpath)

    def __hash__(self):
        return hash((self.abspath_text, self.relpath))

    def __repr__(self):
        return f"Candidate(abspath={self.abspath!r}, relpath={self.relpath!r})"

    def __reduce__(self):
        return (Candidate, (self.abspath_text, self.relpath, self._root))


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
    seen_real: set[str] = set()  # real paths already read, except those that are root + a relative path in seen_plain
    seen_plain: set[str] = set()
    excluded = ExcludeMatcher(excludes)
    real_dirs: dict[str, str] = {}
    root_text = os.fspath(root)
    root_prefix = root_text.rstrip("/") + "/" if os.sep == "/" else None
    for p in roots:
        # the walk yields one path string at a time: a list of every file's Path was ~700 bytes a file
        # at the scan's start, the peak of a large repository's run (bench/RESULTS.md "Memory")
        files, probs = (_walk_dir(p.resolve(), root) if p.is_dir() else (iter([(os.fspath(p.absolute()), _NOT_LOOKED)]), []))
        found: list[Problem] = []
        for f, mode in files:
            rel = _relative_text(f, root_prefix) or _relative(Path(f), root)
            if rel in seen or excluded(rel):
                continue
            seen.add(rel)
            name = os.path.basename(f)
            if is_own_temp(name):
                found.append(Problem(rel, "temp file left by an interrupted mesh-migrator write; the next "
                                     "`fix --write` in this directory removes it, or delete it", kind="skipped"))
                continue
            reached, problem = _candidate(f, rel, root, root_prefix, real_dirs, mode)
            if problem:
                found.append(problem)
                continue
            real, real_rel = reached
            if real in seen_real or (root_prefix and real.startswith(root_prefix) and real[len(root_prefix):] in seen_plain):
                continue  # the same file reached through a symlink: read once
            if root_prefix and real == root_prefix + rel:
                seen_plain.add(rel)  # its real path is root + rel: kept as rel, a string the candidate holds anyway
            else:
                seen_real.add(real)
            if real_rel != rel and (real_rel in seen or excluded(real_rel)):
                continue
            seen.add(real_rel)
            candidates.append(Candidate(real if real_rel != rel else f, real_rel, root_text))
        problems.extend(probs)  # the walk's own problems (filled while walking) come first, as before
        problems.extend(found)
    candidates.sort(key=lambda c: c.relpath)
    return root, candidates, problems


def _candidate(f: str, rel: str, root: Path, root_prefix: str | None, real_dirs: dict[str, str],
               mode: int | None) -> tuple[tuple[str, str], Problem | None]:
    """((real path, path reported), None) for a file to read, or (…, problem) for one not to.

    One lstat per file (`mode`: the one the git listing made already, or _NOT_LOOKED): a plain regular
    file (nearly all of them) needs nothing more; symlinks are checked (loop, dangling, outside the
    root) and then judged by their target.
    """
    if mode == _NOT_LOOKED:
        mode = _lstat_mode(f)
    link = mode is not None and stat.S_ISLNK(mode)
    if link:
        problem = _check_link(Path(f), root, rel) or _check_regular(f, rel)
    else:
        problem = None if mode is None or stat.S_ISREG(mode) else _special_file(mode, rel)
    if problem:
        return ("", ""), problem
    real = _realpath(f, real_dirs, link)
    if not link:
        return (real, rel), None
    return (real, _relative_text(real, root_prefix) or _relative(Path(real), root)), None


def _realpath(f: str, real_dirs: dict[str, str], link: bool) -> str:
    """os.path.realpath(f), resolving each directory once (a repository has far fewer directories than files).

    Exact: a file that is not itself a symlink resolves to its directory's real path plus its name.
    """
    if link:
        return os.path.realpath(f)
    head, name = os.path.split(f)
    return os.path.join(_real_dir(head, real_dirs), name)


def _real_dir(d: str, real_dirs: dict[str, str]) -> str:
    """os.path.realpath(d) for a directory, from its parent's when d is no symlink: one lstat per
    directory, where realpath walks every component of every directory again (a third of
    discovery on a tree of many small directories).  Paths that are not plain (`..`, `.`, `//`)
    and symlinks go to realpath itself."""
    real = real_dirs.get(d)
    if real is not None:
        return real
    parent, name = os.path.split(d)
    if not name or name in (".", "..") or not parent or parent == d or "//" in d:
        real = os.path.realpath(d)
    else:
        try:
            is_link = stat.S_ISLNK(os.lstat(d).st_mode)
        except OSError:
            is_link = True  # realpath decides what a path that cannot be looked at resolves to
        real = os.path.realpath(d) if is_link else os.path.join(_real_dir(parent, real_dirs), name)
    real_dirs[d] = real
    return real


def _common_root(roots: list[Path]) -> Path:
    dirs = [(p if p.is_dir() else p.parent).resolve() for p in roots]
    return Path(os.path.commonpath([str(d) for d in dirs]))


def _relative_text(f: "str | Path", root_prefix: str | None) -> str | None:
    """_relative(f, root) without making Paths, for the normal case: a normalised absolute path under the
    root (what the walk and git listing give); None when that is not certain (the caller asks _relative)."""
    if root_prefix is None or type(f) is not str or not f.startswith(root_prefix):
        return None
    rel = f[len(root_prefix):]
    if not rel or "//" in rel or rel.endswith("/") or "/./" in f or "/../" in f or rel in (".", "..") or rel.startswith(("./", "../")) \
            or rel.endswith(("/.", "/..")):
        return None
    return rel


def _relative(f: Path, root: Path) -> str:
    try:
        return f.relative_to(root).as_posix()
    except ValueError:
        try:
            return f.resolve().relative_to(root).as_posix()
        except ValueError:
            return f.as_posix()


class ExcludeMatcher:
    """`--exclude`/`exclude:` globs, compiled once: a pattern matches a path, a directory above it, or one
    of its path components (fnmatch semantics, as before).

    Why not a loop over fnmatch: 200,000 patterns (a config file is untrusted input) × every file ×
    every component took over a minute.  Literal patterns are a set lookup; globs are indexed by
    their literal prefix (or, when they start with a wildcard, their literal suffix), so a path
    is tried only against the few patterns that could match it.
    """

    def __init__(self, patterns) -> None:
        self.literal: set[str] = set()
        self.by_prefix: dict[str, list[str]] = {}
        self.by_suffix: dict[str, list[str]] = {}
        self.rest: list[str] = []
        self._compiled: dict = {}
        for pat in dict.fromkeys(str(x).rstrip("/") for x in patterns):
            if not pat:
                continue
            cut = min((i for i in (pat.find(c) for c in "*?[") if i >= 0), default=-1)
            if cut < 0:
                self.literal.add(pat)
            elif cut > 0:
                self.by_prefix.setdefault(pat[:cut], []).append(pat)
            else:
                tail = re.split(r"[*?\[\]]", pat)[-1]
                (self.by_suffix.setdefault(tail, []) if tail else self.rest).append(pat)
        self.prefix_lengths = sorted({len(k) for k in self.by_prefix})
        self.suffix_lengths = sorted({len(k) for k in self.by_suffix})

    def __bool__(self) -> bool:
        return bool(self.literal or self.by_prefix or self.by_suffix or self.rest)

    def __call__(self, rel: str) -> bool:
        """fnmatch(rel, pat) or fnmatch(rel, pat + "/*") or fnmatch(part, pat) for any pattern; the middle one
        holds exactly when a leading directory of rel matches pat, which is what is checked."""
        if not self:
            return False
        parts = rel.split("/")
        texts = [rel, *parts, *("/".join(parts[:k]) for k in range(1, len(parts)))]
        if self.literal and any(t in self.literal for t in texts):
            return True
        return any(self._match(pat, t) for t in texts for pat in self._candidates(t))

    def _candidates(self, text: str):
        for n in self.prefix_lengths:
            if n > len(text):
                break
            yield from self.by_prefix.get(text[:n], ())
        for n in self.suffix_lengths:
            if n > len(text):
                break
            yield from self.by_suffix.get(text[len(text) - n:], ())
        yield from self.rest

    def _match(self, pat: str, text: str) -> bool:
        match = self._compiled.get(pat)
        if match is None:
            match = self._compiled[pat] = re.compile(fnmatch.translate(pat)).match
        return match(text) is not None


def _excluded(rel: str, excludes: tuple[str, ...]) -> bool:
    """One-off check (compiles the patterns each call; discover() keeps one ExcludeMatcher)."""
    return ExcludeMatcher(excludes)(rel)


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


def _check_regular(f: "Path | str", rel: str) -> Problem | None:
    """Only regular files are read: opening a FIFO blocks until a writer appears, a device may never end."""
    try:
        mode = os.stat(f).st_mode
    except OSError:
        return None  # reading it reports the reason
    return None if stat.S_ISREG(mode) else _special_file(mode, rel)


def _special_file(mode: int, rel: str) -> Problem:
    what = next((name for test, name in _SPECIAL_FILES if test(mode)), "not a regular file")
    return Problem(rel, f"{what}, not a regular file; not opened", kind="skipped")


def read_regular(path: Path) -> bytes:
    """The bytes of a regular file, refusing anything else without blocking on it.

    Discovery already skips special files; this closes the gap between that check and the read
    (a file replaced by a FIFO in between): the open is non-blocking and the type is checked on
    the open descriptor.  Raises OSError (ESPIPE-like message) for a non-regular file.  The
    descriptor stays non-blocking: reads of a regular file never wait on it (POSIX), and the two
    fcntl calls that made it blocking again were a tenth of a small file's read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(0, "not a regular file; not opened")
        if st.st_size >= _BIG_READ and not _BIG_READS_MAPPED:
            _map_big_reads()
        return _read_all(fd, st.st_size)
    finally:
        os.close(fd)


def _read_all(fd: int, size: int) -> bytes:
    """Everything up to end of file: one read of the stat-ed size plus one byte, instead of a buffered
    file object per file.  A read of a regular file returns less than asked only at its end, so a
    short first read is the whole file; a file that grew meanwhile is read on to its end."""
    first = os.read(fd, size + 1)
    if len(first) <= size:
        return first
    chunks = [first]
    while chunks[-1]:
        chunks.append(os.read(fd, max(size, 1 << 16)))
    return b"".join(chunks)


#: file buffers at least this big get their own memory mapping (see _map_big_reads)
_BIG_READ = 1 << 20
_BIG_READS_MAPPED: list[bool] = []


def _map_big_reads() -> None:
    """Make glibc give every allocation of 1 MiB or more its own mapping, returned to the system on free.

    Why: glibc raises its mmap threshold to the largest block freed so far, so after the first
    multi-megabyte file every later file buffer comes from the heap; the heap keeps the freed space,
    later small allocations split it, and the next big file extends the heap again.  With fifty 5 MB
    dashboards that was ~10 MB of a scan's peak RSS that no object held (bench/RESULTS.md "Memory").
    Once per process, on the first big file; a no-op where there is no glibc `mallopt`.
    """
    _BIG_READS_MAPPED.append(True)
    try:
        import ctypes

        mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
        if mallopt is not None and sys.platform.startswith("linux"):
            mallopt(-3, _BIG_READ)  # M_MMAP_THRESHOLD (malloc.h); a fixed value also stops the dynamic raise
    except (OSError, AttributeError, TypeError):  # pragma: no cover - no C library to ask
        pass


def _walk_dir(directory: Path, root: Path) -> tuple[Iterator[tuple[str, int | None]], list[Problem]]:
    """The files under directory, as an iterator, and the problems met (complete once it is exhausted)."""
    listed = _git_files(directory)
    if listed is not None:
        files, unreadable = listed
        return files, [_unreadable_dir(directory / d, root, why) for d, why in unreadable]
    return _plain_walk(directory, root)


def _unreadable_dir(path: Path, root: Path, why: str) -> Problem:
    return Problem(_relative(path, root).rstrip("/") + "/", f"cannot read directory: {why}; files in it were not scanned")


_GIT_UNREADABLE = re.compile(r"could not open directory '(.*)': (.*)$")


def _git_files(directory: Path) -> tuple[Iterator[tuple[str, int | None]], list[tuple[str, str]]] | None:
    """Tracked + untracked-not-ignored files under directory, or None when it is not in a work tree.

    One git call: outside a repository, in a bare one or inside `.git/`, `ls-files` fails (128) just as
    `rev-parse --is-inside-work-tree` would have said, and a second process start is 5–10 ms of a scan.
    """
    try:
        out = subprocess.run(
            ["git", *SAFE_GIT, "-C", str(directory), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
            capture_output=True, timeout=120,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    unreadable = []  # git lists what it can and warns about directories it cannot open
    for line in os.fsdecode(out.stderr).splitlines():
        m = _GIT_UNREADABLE.search(line)
        if m:
            unreadable.append((m.group(1), m.group(2)))
    return _listed(directory, out.stdout), unreadable


def _listed(directory: Path, listing: bytes) -> Iterator[tuple[str, int | None]]:
    """The files of `git ls-files -z` output that are present, one at a time, as (path string, lstat
    mode or None when lstat could not look): discover() judges the file by that same lstat."""
    base = os.fspath(directory)
    for raw in listing.split(b"\0"):
        if not raw:
            continue
        name = os.fsdecode(raw)
        if not _may_read(name.rsplit("/", 1)[-1]):
            continue  # no need to stat the rest of the repository
        p = os.path.join(base, name)
        try:
            mode: int | None = os.lstat(p).st_mode
        except FileNotFoundError:
            continue  # deleted-but-tracked files are gone from the tree
        except OSError:
            mode = None  # cannot even be checked: reading it reports the reason, it is not dropped
        if mode is None or stat.S_ISLNK(mode) or stat.S_ISREG(mode):
            yield p, mode


def _may_read(name: str) -> bool:
    """The file names the walks pass on to discover(): YAML files, and temp files left by an interrupted
    write (reported, not read).  A directory walk yields nothing else."""
    return name.endswith(YAML_SUFFIXES) or is_own_temp(name)


#: a walk's `mode` for a file it did not lstat (discover's _candidate does)
_NOT_LOOKED = -1


def _lstat_mode(p: str) -> int | None:
    """The file's lstat mode, or None when lstat fails (reading it reports the reason)."""
    try:
        return os.lstat(p).st_mode
    except OSError:
        return None


def _plain_walk(directory: Path, root: Path) -> tuple[Iterator[tuple[str, int]], list[Problem]]:
    """os.walk without following links, honouring .gitignore files met on the way (problems: filled while walking)."""
    problems: list[Problem] = []
    return _walk_files(directory, root, problems), problems


def _walk_files(directory: Path, root: Path, problems: list[Problem]) -> Iterator[tuple[str, int]]:
    ignores: list[tuple[Path, list[str]]] = []

    def unreadable(exc: OSError) -> None:
        problems.append(_unreadable_dir(Path(exc.filename or directory), root, exc.strerror or str(exc)))

    for dirpath, dirnames, filenames in os.walk(directory, followlinks=False, onerror=unreadable):
        here = Path(dirpath)
        gi = here / ".gitignore"
        if gi.is_file():
            ignores.append((here, _read_gitignore(gi)))
        dirnames[:] = sorted(d for d in dirnames if d not in _ALWAYS_SKIP_DIRS and not _ignored(here / d, ignores, True))
        for name in sorted(filenames):
            if not _may_read(name):
                continue
            if ignores and _ignored(here / name, ignores, False):
                continue
            yield os.path.join(dirpath, name), _NOT_LOOKED  # a string: a Path a file costs ~700 bytes and pathlib interns every name


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
