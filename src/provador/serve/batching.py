"""Dynamic batching: concurrent requests share one model call.

Requests put their images on a queue and wait on a future. One worker thread
takes whatever is waiting (up to `max_batch` images, waiting at most
`window_ms` for more), runs the model once, and hands each request its rows.
Under load, batches grow by themselves, so throughput grows with load; alone,
a request waits at most the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class _Job:
    images: np.ndarray
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop  # the future's loop: resolved from the worker thread through it


class DynamicBatcher:
    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], max_batch: int = 64, window_ms: float = 1.0):
        self._model = predict
        self.max_batch = max_batch
        self.window = window_ms / 1000
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._run, name="provador-batcher", daemon=True)
        self._worker.start()
        self._busy = False
        self.batches = 0  # counters for tests and /v1/model
        self.images = 0

    async def predict(self, images: np.ndarray) -> np.ndarray:
        """The probabilities (N, classes) for images (N, H, W), computed in a shared batch.

        A batch's requests on one event loop are woken by a single call into the loop,
        not one thread-safe call per request."""
        loop = asyncio.get_running_loop()
        job = _Job(images, loop.create_future(), loop)
        self._jobs.put(job)
        return await job.future

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
                probabilities = self._model(np.concatenate([job.images for job in jobs]))
            except Exception as exc:  # hand the error to every waiting request, keep serving
                _settle([(job, None, exc) for job in jobs])
                continue
            self.batches += 1
            self.images += len(probabilities)
            outcomes, start = [], 0
            for job in jobs:
                outcomes.append((job, probabilities[start : start + len(job.images)], None))
                start += len(job.images)
            _settle(outcomes)


def _settle(outcomes: list) -> None:
    """Resolve each job's future in its own event loop, one call per loop."""
    by_loop: dict = {}
    for job, result, error in outcomes:
        by_loop.setdefault(job.loop, []).append((job.future, result, error))
    for loop, batch in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting any more
            loop.call_soon_threadsafe(_settle_in_loop, batch)


def _settle_in_loop(batch: list) -> None:
    for future, result, error in batch:
        if future.done():  # the request was cancelled (client went away)
            continue
        future.set_exception(error) if error is not None else future.set_result(result)
