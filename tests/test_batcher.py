"""The micro-batcher: concurrent queries share calls, answers go to the right request, errors reach
every waiter, and a lone query on an idle service takes the all-cores path."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from service.batcher import MicroBatcher


class RecordingEncoder:
    """Encodes a text as [len(text), index of the call]; records every call and how many overlapped."""

    def __init__(self, seconds: float = 0.0, fail_on: str | None = None) -> None:
        self.calls: list[tuple[list[str], bool]] = []
        self.spans: list[tuple[float, float]] = []  # (start, end) of each call, in call order
        self.seconds = seconds
        self.fail_on = fail_on
        self.running = 0
        self.most_running = 0
        self.lock = threading.Lock()

    def __call__(self, texts: list[str], lane: bool) -> np.ndarray:
        with self.lock:
            self.calls.append((list(texts), lane))
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            call = len(self.calls)
            self.spans.append((time.monotonic(), float("inf")))
        try:
            time.sleep(self.seconds)
            if self.fail_on is not None and self.fail_on in texts:
                raise ValueError("model failed")
            return np.array([[len(t), call] for t in texts], dtype=np.float32)
        finally:
            with self.lock:
                self.running -= 1
                self.spans[call - 1] = (self.spans[call - 1][0], time.monotonic())


async def _with_batcher(encoder: RecordingEncoder, lanes: int, work):
    batcher = MicroBatcher(encoder, lanes=lanes, max_batch=64)
    await batcher.start()
    try:
        return await work(batcher)
    finally:
        await batcher.stop()


def test_each_request_gets_its_own_vector_and_calls_are_shared():
    encoder = RecordingEncoder(seconds=0.02)
    texts = ["x" * n for n in range(1, 65)]

    async def work(batcher):
        return await asyncio.gather(*(batcher.encode(t) for t in texts))

    vectors = asyncio.run(_with_batcher(encoder, 2, work))
    assert [int(v[0]) for v in vectors] == [len(t) for t in texts]
    assert len(encoder.calls) < len(texts) / 4  # shared, not one call per query
    assert sorted(t for call, _ in encoder.calls for t in call) == sorted(texts)  # each text encoded once
    assert encoder.most_running == 2  # both lanes worked side by side
    assert all(lane for call, lane in encoder.calls if len(call) > 1)  # batches run on single-thread lanes


def test_a_lone_query_on_an_idle_service_runs_on_every_core():
    encoder = RecordingEncoder()

    async def work(batcher):
        out = []
        for text in ("one", "two", "three"):
            out.append(await batcher.encode(text))
        return out

    vectors = asyncio.run(_with_batcher(encoder, 2, work))
    assert [int(v[0]) for v in vectors] == [3, 3, 5]
    assert encoder.calls == [(["one"], False), (["two"], False), (["three"], False)]


def test_nothing_runs_beside_an_all_cores_call():
    encoder = RecordingEncoder(seconds=0.05)

    async def work(batcher):
        first = asyncio.create_task(batcher.encode("alone"))
        await asyncio.sleep(0.01)  # the lone query is running on every core now
        rest = await asyncio.gather(*(batcher.encode(f"q{n}") for n in range(6)))
        return await first, rest

    asyncio.run(_with_batcher(encoder, 2, work))
    assert encoder.calls[0] == (["alone"], False)
    solo_end = encoder.spans[0][1]
    assert all(start >= solo_end for start, _ in encoder.spans[1:])  # nothing started while it ran
    assert encoder.most_running == 2  # then the six that waited were shared by the two lanes
    assert sorted(len(call) for call, _ in encoder.calls[1:]) == [3, 3]
    assert all(lane for _, lane in encoder.calls[1:])


def test_a_failed_call_fails_each_of_its_requests_and_the_batcher_goes_on():
    encoder = RecordingEncoder(seconds=0.01, fail_on="bad")

    async def work(batcher):
        results = await asyncio.gather(*(batcher.encode(t) for t in ["ok1", "bad", "ok2", "ok3"]),
                                       return_exceptions=True)
        after = await batcher.encode("later")
        return results, after

    results, after = asyncio.run(_with_batcher(encoder, 1, work))
    failed_call = next(call for call, _ in encoder.calls if "bad" in call)
    for text, result in zip(["ok1", "bad", "ok2", "ok3"], results, strict=True):
        if text in failed_call:
            assert isinstance(result, ValueError)
        else:
            assert int(result[0]) == len(text)
    assert int(after[0]) == 5


def test_encode_before_start_is_refused():
    batcher = MicroBatcher(RecordingEncoder())
    with pytest.raises(RuntimeError):
        asyncio.run(batcher.encode("too early"))


def test_stop_ends_the_lane_threads():
    encoder = RecordingEncoder()

    async def work(batcher):
        await batcher.encode("one")
        return list(batcher._threads)

    threads = asyncio.run(_with_batcher(encoder, 2, work))
    assert threads and not any(t.is_alive() for t in threads)


def test_queries_still_waiting_when_the_batcher_stops_get_an_error():
    encoder = RecordingEncoder(seconds=0.2)

    async def work():
        batcher = MicroBatcher(encoder, lanes=1)
        await batcher.start()
        running = asyncio.create_task(batcher.encode("running"))
        await asyncio.sleep(0.05)  # the only lane is busy with it
        waiting = asyncio.create_task(batcher.encode("waiting"))
        await asyncio.sleep(0.01)
        await batcher.stop()
        return await asyncio.gather(running, waiting, return_exceptions=True)

    running, waiting = asyncio.run(work())
    assert int(running[0]) == len("running")  # a call in flight is finished
    assert isinstance(waiting, RuntimeError)
