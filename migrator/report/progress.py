"""A progress bar on a TTY that appears only for runs longer than about a second."""

from __future__ import annotations

import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def delayed_progress(total: int, delay: float = 1.0):
    """Return an advance(n) callable; the bar is started lazily after `delay` seconds."""
    state = {"start": time.monotonic(), "bar": None, "task": None, "done": 0}

    def advance(n: int) -> None:
        state["done"] += n
        if state["bar"] is None and time.monotonic() - state["start"] > delay and state["done"] < total:
            bar = Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task("scan", total=total, completed=state["done"])
        elif state["bar"] is not None:
            state["bar"].update(state["task"], completed=state["done"])
            if state["done"] >= total:
                state["bar"].stop()

    return advance
