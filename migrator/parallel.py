"""Run one function over many indexes in this process and forked workers, sharing the work as it goes.

Why not multiprocessing.Pool: with `--jobs 2` on two cores the pool's two workers did all the work
while the parent mostly waited, yet the parent's start-up, discovery and rules are a third of a
scan; every result crossed a pipe and was pickled twice; and the pool's feeder queued every task at
once, so the split could not follow how long files took (bench/RESULTS.md).  Here the parent is one
of the `jobs` processes: it and `jobs - 1` forked workers take the next indexes from one shared
counter (largest files first, in small batches), workers send their results back through a pipe
that a thread of the parent drains, and the parent keeps its own results without pickling them.

A worker that dies (killed, out of memory) loses only the indexes it had taken: the parent runs
those itself afterwards, so every index is done exactly once or the error surfaces in the parent.
Indexes the caller marks `parent_only` are handed back by a worker undone, and the parent does them
when they arrive (work that needs what only the parent has, such as a search still running).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from typing import Any, Callable, Iterator

#: indexes a process takes at a time: one while the large files at the front are handed out (so no
#: process gets two of them), then a few (fewer round trips on the shared counter)
FIRST_BATCH, BATCH = 1, 8


class _ParentOnly:
    """What a worker sends back for an index it may not do (map_shared's `parent_only`)."""


def map_shared(count: int, work: Callable[[int], Any], jobs: int,
               parent_only: Callable[[int], bool] | None = None) -> Iterator[tuple[int, Any]]:
    """(i, work(i)) for every i in range(count), in completion order, computed by `jobs` processes.

    `work` runs in forked workers as it is (no pickling of the function); its results must pickle.
    `parent_only(i)`: true for an index only this process may do (asked in the workers only).
    """
    if jobs <= 1 or count == 0 or not hasattr(os, "fork"):
        for i in range(count):
            yield i, work(i)
        return
    ctx = multiprocessing.get_context("fork")
    counter, lock = ctx.RawValue("q", 0), ctx.Lock()
    front = FIRST_BATCH * jobs * 4

    def take() -> range:
        with lock:
            start = counter.value
            step = FIRST_BATCH if start < front else BATCH
            counter.value = start + step
        return range(start, min(start + step, count))

    received: list[tuple[int, Any]] = []
    workers, pipes, readers = [], [], []
    try:
        for _ in range(jobs - 1):  # every fork before any thread starts
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_worker, args=(take, work, send, parent_only), daemon=True)
            proc.start()
            send.close()  # the worker holds the only write end: its exit ends the reader's loop
            workers.append(proc)
            pipes.append(recv)
        for recv in pipes:
            reader = threading.Thread(target=_drain, args=(recv, received), daemon=True)
            reader.start()
            readers.append(reader)
        done = bytearray(count)  # 1 when index i was yielded: a set of ints was ~1 MB at 20,000 files
        while True:
            batch = take()
            if not batch:
                break
            for i in batch:
                done[i] = 1
                yield i, work(i)
            yield from _flush(received, done, work)
        for reader in readers:
            reader.join()
        yield from _flush(received, done, work)
        for i in range(count):  # taken by a worker that died before sending them
            if not done[i]:
                done[i] = 1
                yield i, work(i)
    finally:
        for proc in workers:
            if proc.is_alive():
                proc.terminate()
            proc.join()


def _flush(received: list, done: bytearray, work: Callable[[int], Any]) -> Iterator[tuple[int, Any]]:
    """The results the reader threads have collected so far (list.pop is atomic under the GIL); an
    index a worker handed back (parent_only) is done here, now."""
    while received:
        i, value = received.pop()
        done[i] = 1
        yield i, (work(i) if type(value) is _ParentOnly else value)


def _worker(take: Callable[[], range], work: Callable[[int], Any], send, parent_only: Callable[[int], bool] | None = None) -> None:
    """A forked worker: take batches until none is left, send each batch's results when it is done.

    One message a batch, not one a result: most files of a large repository are skipped in
    microseconds, and a message (pickle, pipe write, the parent's reader thread waking for the GIL)
    cost more than the file did (istio/istio: --jobs 2 was slower than serial)."""
    try:
        while True:
            batch = take()
            if not batch:
                break
            send.send([(i, _ParentOnly() if parent_only is not None and parent_only(i) else work(i)) for i in batch])
    finally:
        send.close()
        os._exit(0)  # no atexit handlers or inherited buffers of the parent flushed twice


def _drain(recv, out: list) -> None:
    """Reader thread: move a worker's results into `out` until its pipe closes."""
    try:
        while True:
            out.extend(recv.recv())
    except (EOFError, OSError):
        pass
    finally:
        recv.close()
