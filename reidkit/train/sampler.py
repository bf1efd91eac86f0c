"""PK identity sampling: every batch holds P identities with K images each (what triplet losses need).

The batches of an epoch are a pure function of ``(seed, epoch)``, so a resumed run replays exactly the
batches an unbroken run would have seen. Each batch item is ``(index, aug_seed)``: the dataset seeds its
augmentation from ``aug_seed``, which keeps augmentation identical whatever the number of workers.

In distributed training every rank builds the same epoch and takes every ``world_size``-th batch, so each
process gets P×K images per step and the global batch is P×K×world_size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

BatchItem = tuple[int, int]  # (sample index, augmentation seed)


class PKSampler:
    """A batch sampler for ``torch.utils.data.DataLoader(batch_sampler=...)``; no torch needed here."""

    def __init__(
        self, pids: Sequence[int], p: int, k: int, seed: int = 0, rank: int = 0, world_size: int = 1
    ):
        if p < 1 or k < 1:
            raise ValueError(f"P and K must be positive, got P={p} K={k}")
        self.by_pid: dict[int, list[int]] = defaultdict(list)
        for index, pid in enumerate(pids):
            self.by_pid[int(pid)].append(index)
        if len(self.by_pid) < p:
            raise ValueError(f"P={p} identities per batch but the train set has only {len(self.by_pid)}")
        self.p, self.k, self.seed = p, k, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.position = 0  # batches of the current epoch already handed out (for mid-epoch resume)
        self._cache: tuple[int, list[list[BatchItem]]] | None = None

    def epoch_batches(self, epoch: int) -> list[list[BatchItem]]:
        """All batches of ``epoch`` (every rank's), in order."""
        rng = np.random.default_rng([self.seed, epoch])
        # Per identity: shuffle its images, top up to K by drawing with replacement, cut into K-chunks.
        chunks: dict[int, list[list[int]]] = {}
        for pid in sorted(self.by_pid):
            items = list(rng.permutation(self.by_pid[pid]))
            if len(items) < self.k:
                items += list(rng.choice(self.by_pid[pid], size=self.k - len(items), replace=True))
            n = len(items) // self.k
            chunks[pid] = [[int(i) for i in items[c * self.k : (c + 1) * self.k]] for c in range(n)]
        batches: list[list[BatchItem]] = []
        available = [pid for pid in sorted(chunks) if chunks[pid]]
        while len(available) >= self.p:
            chosen = rng.choice(len(available), size=self.p, replace=False)
            batch = [i for c in sorted(int(c) for c in chosen) for i in chunks[available[c]].pop()]
            seeds = rng.integers(0, 2**63 - 1, size=len(batch))
            batches.append([(i, int(s)) for i, s in zip(batch, seeds, strict=True)])
            available = [pid for pid in available if chunks[pid]]
        return batches

    def rank_batches(self, epoch: int) -> list[list[BatchItem]]:
        """This rank's batches of ``epoch``; every rank gets the same number, so none waits in all-reduce."""
        if self._cache is None or self._cache[0] != epoch:
            batches = self.epoch_batches(epoch)
            per_rank = len(batches) // self.world_size
            self._cache = (epoch, batches[self.rank :: self.world_size][:per_rank])
        return self._cache[1]

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.position = epoch, 0

    def __iter__(self) -> Iterator[list[BatchItem]]:
        batches = self.rank_batches(self.epoch)
        while self.position < len(batches):
            batch = batches[self.position]
            self.position += 1
            yield batch

    def __len__(self) -> int:
        return len(self.rank_batches(self.epoch))

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed, self.epoch, self.position = int(state["seed"]), int(state["epoch"]), int(state["position"])
