import asyncio
import threading
import time

import numpy as np
import pytest

from provador.serve.batching import DynamicBatcher


def slow_double(images: np.ndarray) -> np.ndarray:
    time.sleep(0.02)  # a model call that takes a while: requests pile up meanwhile
    return images.reshape(len(images), -1)[:, :1] * 2


def predict_all(batcher: DynamicBatcher, arrays: list, return_exceptions: bool = False) -> list:
    """Send every array at once, as concurrent requests would, and wait for all answers."""

    async def main():
        return await asyncio.gather(*(batcher.predict(a) for a in arrays), return_exceptions=return_exceptions)

    return asyncio.run(asyncio.wait_for(main(), timeout=10))


def test_concurrent_jobs_share_model_calls_and_get_their_own_rows():
    batcher = DynamicBatcher(slow_double, max_batch=16, window_ms=5)
    results = predict_all(batcher, [np.full((1, 2, 2), i) for i in range(40)])
    batcher.close()
    assert [int(r[0, 0]) for r in results] == [2 * i for i in range(40)]
    assert batcher.images == 40
    assert batcher.batches <= 6  # 40 images in batches of up to 16, not 40 calls


def test_max_batch_is_respected():
    sizes = []
    batcher = DynamicBatcher(lambda x: (sizes.append(len(x)), x[:, 0, :1])[1], max_batch=8, window_ms=20)
    predict_all(batcher, [np.zeros((3, 2, 2)) for _ in range(10)])
    batcher.close()
    assert sum(sizes) == 30 and max(sizes) <= 9  # whole requests: one of 3 may top up a batch of 6


def test_a_failing_model_call_fails_its_requests_and_the_batcher_goes_on():
    calls = []

    def flaky(images):
        calls.append(len(images))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return images[:, 0, :1]

    batcher = DynamicBatcher(flaky, window_ms=0)
    with pytest.raises(RuntimeError, match="boom"):
        predict_all(batcher, [np.zeros((1, 2, 2))])
    assert predict_all(batcher, [np.ones((1, 2, 2))])[0][0, 0] == 1
    batcher.close()
    assert not any(t.name == "provador-batcher" and t.is_alive() for t in threading.enumerate())


def test_a_cancelled_request_does_not_stop_the_rest():
    batcher = DynamicBatcher(slow_double, max_batch=16, window_ms=5)

    async def main():
        tasks = [asyncio.create_task(batcher.predict(np.full((1, 2, 2), i))) for i in range(40)]
        await asyncio.sleep(0)
        tasks[7].cancel()  # a client that went away while its images wait in the queue
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    batcher.close()
    assert isinstance(results[7], asyncio.CancelledError)
    assert [int(r[0, 0]) for i, r in enumerate(results) if i != 7] == [2 * i for i in range(40) if i != 7]
    assert batcher.batches <= 6
