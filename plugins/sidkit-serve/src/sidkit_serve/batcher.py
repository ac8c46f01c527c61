"""Micro-batching: requests that arrive within ``max_wait_ms`` of each other (up to
``max_batch`` histories) are ranked by one decoder call, in a worker thread so the event
loop keeps accepting requests. One call at a time: a model is not shared between threads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs

__all__ = ["MicroBatcher"]


@attrs.define
class _Job:
    histories: list[list[int]]
    k: int
    future: asyncio.Future


@attrs.define
class MicroBatcher:
    """Collects ``submit`` calls and answers them with ``rank(histories, k) -> rows`` (one
    list of items per history) called once per batch with the batch's largest ``k``."""

    rank: Callable[[Sequence[Sequence[int]], int], list[Any]]
    max_batch: int = 64
    max_wait_ms: float = 5.0
    calls: int = 0  # decoder calls so far (tests and /info read it)
    _queue: asyncio.Queue | None = None
    _task: asyncio.Task | None = None
    _pool: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sidkit-serve-decoder")
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    async def submit(self, histories: list[list[int]], k: int) -> list[Any]:
        """The rows for ``histories`` at depth ``k``, ranked together with other requests."""
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(histories, k, future))
        return await future

    async def _collect(self) -> list[_Job]:
        jobs = [await self._queue.get()]
        size = len(jobs[0].histories)
        deadline = asyncio.get_running_loop().time() + self.max_wait_ms / 1000
        while size < self.max_batch:
            timeout = deadline - asyncio.get_running_loop().time()
            if timeout <= 0:
                break
            try:
                job = await asyncio.wait_for(self._queue.get(), timeout)
            except asyncio.TimeoutError:
                break
            jobs.append(job)
            size += len(job.histories)
        return jobs

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._collect()
            histories = [h for job in jobs for h in job.histories]
            k = max(job.k for job in jobs)
            try:
                rows = await loop.run_in_executor(self._pool, self.rank, histories, k)
                self.calls += 1
            except Exception as exc:  # every waiting request gets the error, the loop lives on
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            start = 0
            for job in jobs:
                part = rows[start : start + len(job.histories)]
                start += len(job.histories)
                if not job.future.done():
                    job.future.set_result([row[: job.k] for row in part])
