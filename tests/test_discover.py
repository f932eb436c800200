"""Which files a scan reads: git's view inside a work tree, .gitignore outside, --exclude, no escapes."""

from __future__ import annotations

import shutil
import subprocess

from conftest import FIXTURES
from migrator.discover import discover

DR = (FIXTURES / "spire-istio-1.22" / "apps/payments/destinationrule-stripe.yaml").read_text()


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True, capture_output=True)


def test_git_work_tree_uses_tracked_and_untracked_not_ignored(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "spire-istio-1.22", repo)
    (repo / ".gitignore").write_text("rendered/\n")
    (repo / "rendered").mkdir()
    (repo / "rendered" / "out.yaml").write_text(DR)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "init")
    (repo / "new-untracked.yaml").write_text(DR)
    (repo / "apps/payments/service.yaml").unlink()  # deleted but still tracked
    _, files, problems = discover([str(repo)])
    rels = {c.relpath for c in files}
    assert "new-untracked.yaml" in rels
    assert "rendered/out.yaml" not in rels
    assert "apps/payments/service.yaml" not in rels
    assert not problems


def test_plain_directory_honours_gitignore_and_exclude(tmp_path):
    (tmp_path / ".gitignore").write_text("# generated\nbuild/\n*.rendered.yaml\n")
    for rel in ("a.yaml", "build/b.yaml", "c.rendered.yaml", "vendor/d.yml", "e.txt"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(DR)
    _, files, _ = discover([str(tmp_path)], excludes=("vendor",))
    assert [c.relpath for c in files] == ["a.yaml"]


def test_explicit_file_is_read_whatever_its_name(tmp_path):
    f = tmp_path / "dr.txt"
    f.write_text(DR)
    root, files, _ = discover([str(f)])
    assert root == tmp_path.resolve() and [c.relpath for c in files] == ["dr.txt"]


def test_paths_are_relative_to_the_common_root(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "x.yaml").write_text(DR)
    root, files, _ = discover([str(tmp_path / "a"), str(tmp_path / "b")])
    assert root == tmp_path.resolve()
    assert [c.relpath for c in files] == ["a/x.yaml", "b/x.yaml"]


def test_read_all_returns_a_file_read_short_in_one_go_and_reads_a_grown_one_to_its_end(tmp_path, monkeypatch):
    """read_regular asks for the stat-ed size plus one byte: a shorter answer is the whole file (one
    read, no second call to find the end); a file that grew since the stat is read on to its end."""
    import os

    from migrator import discover as disc

    calls = []
    real_read = os.read
    monkeypatch.setattr(disc.os, "read", lambda fd, n: calls.append(n) or real_read(fd, n))
    f = tmp_path / "dr.yaml"
    f.write_bytes(b"kind: DestinationRule\n" * 3)
    assert disc.read_regular(f) == b"kind: DestinationRule\n" * 3
    assert calls == [f.stat().st_size + 1]

    calls.clear()
    r, w = os.pipe()  # a descriptor that holds more than the size it is read with: as a file that grew
    os.write(w, b"x" * 100)
    os.close(w)
    try:
        assert disc._read_all(r, 10) == b"x" * 100
    finally:
        os.close(r)
    assert calls[0] == 11 and len(calls) >= 3  # the first read, then on to the end (an empty read)


def test_directory_real_paths_built_from_their_parents_equal_realpath(tmp_path):
    """discover resolves each directory from its parent's real path (one lstat a directory); through
    symlinked directories, links to links, `..` and a loop it must answer exactly what realpath does."""
    import itertools
    import os

    from migrator.discover import _real_dir

    (tmp_path / "real/a/b/c").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    os.symlink(tmp_path / "real/a", tmp_path / "link")  # absolute target
    os.symlink("link/b", tmp_path / "link2")  # relative target, through another link
    os.symlink("../../other", tmp_path / "real/a/b/up")  # relative, out of its tree
    os.symlink("loop", tmp_path / "loop")
    dirs = [str(tmp_path / p) for p in ("real/a/b/c", "link/b/c", "link2/c", "link2/up", "real/a/b/up", "loop",
                                        "real/a/../a/b", "link/../real", "missing/x")]
    for order in itertools.islice(itertools.permutations(dirs), 0, 400, 37):  # one shared cache, several orders
        cache: dict[str, str] = {}
        assert [_real_dir(d, cache) for d in order] == [os.path.realpath(d) for d in order]
