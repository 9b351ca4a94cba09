"""Micro-batching of query embeddings: concurrent requests share one model call.

One query alone is encoded at once (no added wait when the service is idle). While a model call
runs, arriving queries queue up; the next call takes all of them (up to ``max_batch``), and under
load (the previous call was shared) it waits at most ``wait_ms`` for more to arrive. On 2 cores
one batched call of 32 short queries costs far less than 32 single calls: that is where
throughput under load comes from.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

EncodeFn = Callable[[list[str]], np.ndarray]


class MicroBatcher:
    def __init__(self, encode: EncodeFn, max_batch: int = 64, wait_ms: float = 2.0) -> None:
        self._encode = encode
        self.max_batch = max_batch
        self.wait = wait_ms / 1000
        self._queue: asyncio.Queue[tuple[str, asyncio.Future]] | None = None
        self._task: asyncio.Task | None = None
        # One model call at a time: ONNX Runtime already uses every core for a single call.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def encode(self, text: str) -> np.ndarray:
        if self._queue is None:
            raise RuntimeError("batcher not started")
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        await self._queue.put((text, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        last_size = 1
        while True:
            batch = [await self._queue.get()]
            # Under load (the previous call was shared) wait briefly for company; when idle, go at once.
            deadline = loop.time() + (self.wait if last_size > 1 else 0.0)
            while len(batch) < self.max_batch:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            last_size = len(batch)
            texts = [t for t, _ in batch]
            try:
                vectors = await loop.run_in_executor(self._executor, self._encode, texts)
            except Exception as exc:  # surface the error to every waiting request
                for _, f in batch:
                    if not f.done():
                        f.set_exception(exc)
                continue
            for (_, f), v in zip(batch, vectors, strict=True):
                if not f.done():
                    f.set_result(v)
