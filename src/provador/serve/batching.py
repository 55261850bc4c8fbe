"""Dynamic batching: concurrent requests share one model call.

Requests put their images on a queue and wait on a future. One worker thread
takes whatever is waiting (up to `max_batch` images, waiting at most
`window_ms` for more), runs the model once, and hands each request its rows.
Under load, batches grow by themselves, so throughput grows with load; alone,
a request waits at most the window.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Job:
    images: np.ndarray
    future: Future = field(default_factory=Future)


class DynamicBatcher:
    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], max_batch: int = 64, window_ms: float = 1.0):
        self.predict = predict
        self.max_batch = max_batch
        self.window = window_ms / 1000
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._run, name="provador-batcher", daemon=True)
        self._worker.start()
        self._busy = False
        self.batches = 0  # counters for tests and /v1/model
        self.images = 0

    def submit(self, images: np.ndarray) -> Future:
        """Queue images (N, H, W); the future resolves to their probabilities (N, classes)."""
        job = _Job(images)
        self._jobs.put(job)
        return job.future

    def close(self) -> None:
        self._jobs.put(None)
        self._worker.join(timeout=5)

    def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        jobs, count = [first], len(first.images)
        # Wait for company only under load (the last batch had several requests):
        # a lone client never pays the window.
        deadline = time.monotonic() + (self.window if self._busy else 0.0)
        while count < self.max_batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    job = self._jobs.get(timeout=remaining)
                except queue.Empty:
                    break
            if job is None:
                return jobs, True
            jobs.append(job)
            count += len(job.images)
        return jobs, False

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._jobs.get()
            if first is None:
                return
            jobs, stop = self._collect(first)
            self._busy = len(jobs) > 1
            try:
                probabilities = self.predict(np.concatenate([job.images for job in jobs]))
            except Exception as exc:  # hand the error to every waiting request, keep serving
                for job in jobs:
                    job.future.set_exception(exc)
                continue
            self.batches += 1
            self.images += len(probabilities)
            start = 0
            for job in jobs:
                job.future.set_result(probabilities[start : start + len(job.images)])
                start += len(job.images)
