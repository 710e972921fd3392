"""The coverage job worker: executes the queued runs of `coverage_runs`, in the server or `netzatlas worker`.

Each worker thread loops: sweep (mark failed what dead processes left running or received), then take an
execution slot and the oldest queued run (runs.execute_next), or sleep until woken or the poll interval ends.
Slots are advisory locks shared by every process on the database, so `jobs_concurrency` bounds the runs
executing at once however many servers and workers there are. Stopping is graceful: the run in progress goes
back to the queue at its next progress report, and a later worker starts it again.
"""

from __future__ import annotations

import logging
import threading

from netzatlas import db
from netzatlas.coverage import runs

log = logging.getLogger("netzatlas.coverage.worker")


def sweep(url: str) -> int:
    """Mark failed the coverage runs and submissions whose process is gone; returns how many."""
    from netzatlas.importers import deliveries

    n = runs.reap(url)
    with db.connect(url, autocommit=True) as conn:
        n += deliveries.reap(conn)
    if n:
        log.warning("marked %d orphaned coverage runs or submissions failed", n)
    return n


class Worker:
    """`threads` threads executing queued runs, at most `slots` at once across the database."""

    def __init__(self, url: str, threads: int = 1, slots: int = 1, poll_s: float = 2.0) -> None:
        self.url = url
        self.slots = slots
        self.poll_s = poll_s
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, name=f"coverage-worker-{i}", daemon=True) for i in range(threads)
        ]

    def start(self) -> Worker:
        for t in self._threads:
            t.start()
        return self

    def wake(self) -> None:
        """Look at the queue now (a job was just enqueued) rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking runs; a run in progress is put back in the queue at its next progress report."""
        self.stopping.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)

    def _loop(self) -> None:
        failing = False
        while not self.stopping.is_set():
            try:
                sweep(self.url)
                done = runs.execute_next(self.url, self.slots, self.stopping)
                failing = False
                if done is not None:
                    continue  # there may be more queued
            except Exception as e:  # the database may be away for a while: log once, keep polling
                if not failing:
                    log.warning("coverage worker: %s", str(e).strip().splitlines()[0] if str(e).strip() else e)
                failing = True
            self._wake.wait(self.poll_s)
            self._wake.clear()
