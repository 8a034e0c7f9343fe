"""Frames of many items (keyframes, clips, segments) through a network in bounded memory.

Used by :func:`harness.features.compute_features`. Two pieces:

* :class:`OrderedPrefetch`: worker threads decode and preprocess items ahead of a consumer that
  reads them in order, chunk by chunk. At most ``max_frames`` decoded frames wait in total, so a
  long clip never sits in memory whole; the item the consumer is reading may always add one chunk
  (the consumer can always progress, however long an item is).
* :class:`FrameBatcher`: copies those chunks into one fixed batch tensor of ``capacity`` frames
  (pinned on CUDA), runs the network when it is full (forward passes of ``forward_frames`` frames
  each), and hands back each item's outputs once all its frames have been through. An item's
  frames may straddle two batches; its outputs are joined before pooling, so the result does not
  depend on where the batches are cut.

Peak host memory of the inputs: ``capacity`` + ``max_frames`` frames, plus one chunk held by each
worker, one the item being read may add beyond the bound, and the one being copied.
Imports torch at module level: import it inside functions.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import torch


class OrderedPrefetch:
    """Chunks of preprocessed frames of items ``0 .. n-1``, produced ahead by worker threads.

    Args:
        n_items: number of items.
        produce: ``produce(j)`` yields item ``j``'s frames as (k, ...) tensors (run in a worker).
        workers: decoding threads.
        max_frames: most frames waiting (decoded, not yet read) over all items.
        max_items_ahead: most items started beyond the one being read.
    """

    def __init__(self, n_items: int, produce: Callable[[int], Iterator[torch.Tensor]], *, workers: int,
                 max_frames: int, max_items_ahead: int) -> None:  # fmt: skip
        self._n = n_items
        self._produce = produce
        self._max_frames = max(1, int(max_frames))
        self._ahead = max(1, int(max_items_ahead))
        self._cond = threading.Condition()
        self._chunks: dict[int, deque[torch.Tensor]] = {}
        self._done: set[int] = set()
        self._errors: dict[int, BaseException] = {}
        self._queued = 0
        self._current = 0
        self._stop = False
        self._submitted = 0
        self._pool = ThreadPoolExecutor(max(1, int(workers)), thread_name_prefix="frames")

    def __enter__(self) -> OrderedPrefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (a worker finishes the frame it is decoding) and wait for them."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _work(self, j: int) -> None:
        try:
            for chunk in self._produce(j):
                k = len(chunk)
                with self._cond:
                    self._cond.wait_for(partial(self._may_add, j, k))
                    if self._stop:
                        return
                    self._chunks[j].append(chunk)
                    self._queued += k
                    self._cond.notify_all()
        except BaseException as exc:  # re-raised in the reader, in item order
            with self._cond:
                self._errors[j] = exc
        finally:
            with self._cond:
                self._done.add(j)
                self._cond.notify_all()

    def _may_add(self, j: int, k: int) -> bool:
        # The item being read may always add a chunk when it has none waiting; the others wait
        # for room, so memory stays bounded and the reader never starves. Called under the lock.
        return self._stop or (j == self._current and not self._chunks[j]) or self._queued + k <= self._max_frames

    def _submit(self, limit: int) -> None:
        while self._submitted < min(self._n, limit):
            j = self._submitted
            with self._cond:
                self._chunks[j] = deque()
            self._pool.submit(self._work, j)
            self._submitted += 1

    def chunks(self, i: int) -> Iterator[torch.Tensor]:
        """Item ``i``'s chunks in order; read items in the order 0, 1, 2, ...

        Raises:
            Exception: whatever producing item ``i`` raised (after its earlier chunks).
        """
        with self._cond:
            self._current = i
            self._cond.notify_all()
        self._submit(i + 1 + self._ahead)
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._chunks[i]) or i in self._done)
                if self._chunks[i]:
                    chunk = self._chunks[i].popleft()
                    self._queued -= len(chunk)
                    self._cond.notify_all()
                else:
                    del self._chunks[i]
                    self._done.discard(i)
                    if i in self._errors:
                        raise self._errors.pop(i)
                    return
            yield chunk


class FrameBatcher:
    """Fills a batch of ``capacity`` frames, runs ``forward`` on it, collects outputs per item.

    Args:
        forward: (m, ...) CPU input -> (m, d) float CPU output; called with at most
            ``forward_frames`` frames at a time.
        capacity: frames per batch (the input tensor held in memory).
        forward_frames: frames per forward pass (bounds activation memory on the device).
        pin: allocate the batch in pinned memory (fast copies to CUDA).
    """

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], capacity: int, forward_frames: int,
                 *, pin: bool = False) -> None:  # fmt: skip
        self._forward = forward
        self.capacity = max(1, int(capacity))
        self._step = max(1, int(forward_frames))
        self._pin = pin
        self._buf: torch.Tensor | None = None
        self._filled = 0
        self._segments: list[tuple[int, int]] = []  # (item, frames) in buffer order
        self._outputs: dict[int, list[torch.Tensor]] = {}
        self._seen: dict[int, int] = {}  # frames of an item run so far
        self._total: dict[int, int] = {}  # frames of an item, once all are added
        self.batches = 0
        self.frames = 0

    def add(self, item: int, chunk: torch.Tensor) -> None:
        """Append frames of ``item``; runs the network whenever the batch is full."""
        while len(chunk):
            if self._buf is None:
                self._buf = torch.empty((self.capacity, *chunk.shape[1:]), dtype=chunk.dtype, pin_memory=self._pin)
            k = min(len(chunk), self.capacity - self._filled)
            self._buf[self._filled : self._filled + k].copy_(chunk[:k])
            self._segments.append((item, k))
            self._filled += k
            chunk = chunk[k:]
            if self._filled == self.capacity:
                self.flush()

    def end_item(self, item: int, frames: int) -> None:
        """All ``frames`` frames of ``item`` have been added."""
        self._total[item] = frames

    def flush(self) -> None:
        """Run the network on the frames in the batch."""
        if not self._filled or self._buf is None:
            return
        batch = self._buf[: self._filled]
        y = torch.cat([self._forward(batch[s : s + self._step]) for s in range(0, self._filled, self._step)])
        for (item, k), out in zip(self._segments, torch.split(y, [k for _, k in self._segments]), strict=True):
            self._outputs.setdefault(item, []).append(out)
            self._seen[item] = self._seen.get(item, 0) + k
        self.batches += 1
        self.frames += self._filled
        self._filled = 0
        self._segments = []

    def finished(self) -> Iterator[tuple[int, torch.Tensor]]:
        """``(item, (frames, d) outputs)`` of every item whose frames have all been run (then forgotten)."""
        for item in [i for i, n in self._total.items() if self._seen.get(i, 0) == n]:
            del self._total[item]
            self._seen.pop(item, None)
            parts = self._outputs.pop(item)
            yield item, parts[0] if len(parts) == 1 else torch.cat(parts)
