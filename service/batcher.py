"""Micro-batching of query embeddings over a few single-thread lanes.

Concurrent requests share model calls. Queries queue up while the model is busy, and each free lane
takes its share of the queue (up to ``max_batch``) as one call. There are as many lanes as cores,
and a lane call runs on one thread only (``QueryEncoder.encode(..., lane=True)``): on 2 cores shared
with the event loop, two single-thread calls side by side get through far more queries than one call
spread over both cores, which stalls whenever the event loop takes a core (docs/BENCHMARKS.md).

A lone query on an idle service is the exception: it runs alone on every core (``lane=False``), the
fastest way to answer one question, and no lane starts a call until it is done.

Each lane is a thread that takes its next batch itself as soon as its call ends: a lane never waits
for the event loop, which under load has a queue of its own. Only the answers go back through the
event loop (``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections import deque
from collections.abc import Callable

import numpy as np

#: ``encode(texts, lane)``: vectors for ``texts``; ``lane`` asks for a single-thread call.
EncodeFn = Callable[[list[str], bool], np.ndarray]
Waiting = tuple[str, asyncio.Future, asyncio.AbstractEventLoop]


class MicroBatcher:
    def __init__(self, encode: EncodeFn, lanes: int = 2, max_batch: int = 64) -> None:
        self._encode = encode
        self.lanes = max(1, lanes)
        self.max_batch = max(1, max_batch)
        self._queue: deque[Waiting] = deque()
        self._changed = threading.Condition()
        self._busy = 0  # lanes in a call
        self._solo = False  # a call on every core is running: no lane may start
        self._stopping = False
        self._threads: list[threading.Thread] = []

    async def start(self) -> None:
        self._stopping = False
        self._threads = [threading.Thread(target=self._lane, name=f"encoder-{n}", daemon=True)
                         for n in range(self.lanes)]
        for t in self._threads:
            t.start()

    async def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
            left = list(self._queue)
            self._queue.clear()
        for _, future, loop in left:  # nobody will encode these any more
            with contextlib.suppress(RuntimeError):  # that event loop is closed
                loop.call_soon_threadsafe(_settle, [(future, RuntimeError("batcher stopped"))])
        for t in self._threads:
            await asyncio.to_thread(t.join, 5)
        self._threads = []

    async def encode(self, text: str) -> np.ndarray:
        """The vector of one query, computed together with whatever else is waiting."""
        if not self._threads:
            raise RuntimeError("batcher not started")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._changed:
            self._queue.append((text, future, loop))
            self._changed.notify()
        return await future

    def _take(self) -> tuple[list[Waiting], bool] | None:
        """Wait for work; return a batch and whether it runs on every core (None: stop)."""
        with self._changed:
            while not self._stopping and (not self._queue or self._solo):
                self._changed.wait()
            if self._stopping:
                return None
            idle = self.lanes - self._busy
            size = min(self.max_batch, math.ceil(len(self._queue) / idle))  # share with the other idle lanes
            batch = [self._queue.popleft() for _ in range(size)]
            solo = self.lanes > 1 and self._busy == 0 and len(batch) == 1 and not self._queue
            self._busy += 1
            self._solo = solo
            return batch, solo

    def _lane(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            batch, solo = taken
            try:
                vectors: np.ndarray | None = self._encode([text for text, _, _ in batch], not solo)
                error: BaseException | None = None
            except Exception as exc:  # every waiting request gets the error
                vectors, error = None, exc
            with self._changed:
                self._busy -= 1
                if solo:
                    self._solo = False
                self._changed.notify_all()
            answers: dict[asyncio.AbstractEventLoop, list] = {}
            for n, (_, future, loop) in enumerate(batch):
                answers.setdefault(loop, []).append((future, error if vectors is None else vectors[n]))
            for loop, settled in answers.items():  # one wake-up of each event loop per call
                with contextlib.suppress(RuntimeError):  # that event loop is closed
                    loop.call_soon_threadsafe(_settle, settled)


def _settle(answers: list[tuple[asyncio.Future, np.ndarray | BaseException]]) -> None:
    for future, result in answers:
        if future.done():  # the request went away
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
