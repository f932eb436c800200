"""migrator.parallel.map_shared: every index exactly once, whoever computes it, even when a worker dies."""

from __future__ import annotations

import os

import pytest

from migrator.parallel import map_shared


def _square(i: int) -> tuple[int, int]:
    return i * i, os.getpid()


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_every_index_once_with_its_result(jobs):
    out = list(map_shared(200, _square, jobs))
    assert sorted(i for i, _ in out) == list(range(200))
    assert all(value[0] == i * i for i, value in out)


def test_the_parent_and_a_worker_share_the_work():
    import time

    def slow(i: int) -> int:
        time.sleep(0.002)
        return os.getpid()

    pids = {pid for _, pid in map_shared(100, slow, 2)}
    assert os.getpid() in pids and len(pids) == 2


def test_indexes_a_dead_worker_took_are_done_by_the_parent():
    parent = os.getpid()

    def dies_in_worker(i: int) -> int:
        if os.getpid() != parent and i % 7 == 3:
            os._exit(1)  # killed mid-batch: what it took but did not send must not be lost
        return i

    out = dict(map_shared(60, dies_in_worker, 2))
    assert sorted(out) == list(range(60)) and all(out[i] == i for i in out)


def test_an_error_in_the_work_surfaces_in_the_parent():
    def boom(i: int) -> int:
        if i == 5:
            raise RuntimeError("unforeseen")
        return i

    with pytest.raises(RuntimeError, match="unforeseen"):
        list(map_shared(20, boom, 2))


def test_no_work_and_no_fork_for_nothing():
    assert list(map_shared(0, _square, 2)) == []


def test_ctrl_c_during_a_parallel_scan_exits_130_and_leaves_no_worker(tmp_path):
    """The parent terminates its workers when interrupted; none outlives the run."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    repo = tmp_path / "ctrlc-repo"
    for i in range(400):
        d = repo / f"team-{i % 20}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"dr-{i}.yaml").write_text(
            "apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n"
            f"  name: dr-{i}\n  namespace: team-{i % 20}\nspec:\n  host: api-{i}.example.com\n"
            "  trafficPolicy:\n    tls:\n      mode: SIMPLE\n" + "# padding\n" * 2000)

    def alive() -> list[str]:
        out = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and str(repo).encode() in (proc / "cmdline").read_bytes():
                    out.append(proc.name)
            except OSError:
                continue
        return out

    p = subprocess.Popen([sys.executable, "-m", "migrator", "scan", str(repo), "--jobs", "2", "--format", "json"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(alive()) < 2 and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # until a worker is forked
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode in (130, 1), err  # 1: the scan finished before the signal
    if p.returncode == 130:
        assert "interrupted" in err
    time.sleep(0.2)
    assert alive() == []


def test_parent_only_indexes_are_done_by_the_parent_once_each():
    """A worker hands back an index marked parent_only undone, and the parent does it when it arrives
    (chart templates: the parent holds the release search)."""
    import time

    def slow(i: int) -> int:
        time.sleep(0.001)
        return os.getpid()

    out = list(map_shared(120, slow, 2, parent_only=lambda i: i % 3 == 0))
    assert sorted(i for i, _ in out) == list(range(120))  # every index once
    by_pid = {i: pid for i, pid in out}
    assert all(by_pid[i] == os.getpid() for i in range(0, 120, 3))
    assert any(pid != os.getpid() for pid in by_pid.values())  # the worker did the others' share
