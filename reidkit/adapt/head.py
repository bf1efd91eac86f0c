"""The adapted part of the model: a residual head on the frozen model's unit vector, and its training.

``y = x + W2 relu(W1 x + b1)`` (or ``y = x + W x`` with ``hidden=0``), with ``x`` the library model's
L2-normalised output. The residual branch starts at zero, so before training the adapted model *is*
the library's model, and weight decay pulls it back there: with a few hundred noisy pseudo-identities a
head that drifts far from the model it came from forgets what that model knew.

The backbone is frozen: its vectors of the library's crops are computed once, so a training step costs
a matrix product, not a forward and backward pass through the network (20 ms a crop on a CPU), and the
library's stored crop vectors are exactly the head's input (re-embedding the library reads no video).

Losses, on pseudo-identities (:mod:`reidkit.adapt.labels`):

* **camera-aware proxies** (after Wang et al., "Camera-aware proxies for unsupervised person
  re-identification", AAAI 2021): one proxy per person *and camera* (the mean of that person's crops in
  that video). A crop is pulled to all the proxies of its person, in every camera, and pushed from
  the hardest proxies of other people: the head learns to ignore what a camera does to a person;
* **batch-hard triplet** (:func:`reidkit.models.losses.batch_hard_triplet`) in batches that put people
  on screen together side by side (:class:`PairedSampler`): the certain negatives are the hard ones.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reidkit.adapt.config import HeadConfig
from reidkit.models.losses import batch_hard_triplet


class ResidualHead(nn.Module):
    def __init__(self, dim: int, hidden: int = 0):
        super().__init__()
        self.dim, self.hidden = dim, hidden
        if hidden:
            self.inner = nn.Linear(dim, hidden)
            self.outer = nn.Linear(hidden, dim, bias=False)
            nn.init.zeros_(self.outer.weight)
        else:
            self.outer = nn.Linear(dim, dim, bias=False)
            nn.init.zeros_(self.outer.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.normalize(x, dim=1)
        branch = self.outer(torch.relu(self.inner(x))) if self.hidden else self.outer(x)
        return x + branch

    def arrays(self) -> dict[str, np.ndarray]:
        """The weights as numpy, in the orientation ``y = x + relu(x @ w1 + b1) @ w2`` (``y = x + x @ w``)."""
        out = {"w2" if self.hidden else "w": self.outer.weight.detach().numpy().T.copy()}
        if self.hidden:
            out["w1"] = self.inner.weight.detach().numpy().T.copy()
            out["b1"] = self.inner.bias.detach().numpy().copy()
        return out


class PairedSampler:
    """Batches of ``P`` people x ``K`` crops, with people on screen together in one batch, and each
    person's crops spread over the cameras that person was seen in (camera-aware sampling)."""

    def __init__(
        self,
        person: np.ndarray,  # (M,) per crop
        camera: np.ndarray,  # (M,) per crop
        partners: dict[int, set[int]],  # person -> people on screen with them
        people_per_batch: int,
        crops_per_person: int,
        rng: np.random.Generator,
    ):
        self.rng = rng
        self.P, self.K = people_per_batch, crops_per_person
        self.partners = partners
        self.by_person: dict[int, dict[int, np.ndarray]] = {}
        for p in np.unique(person):
            rows = np.flatnonzero(person == p)
            self.by_person[int(p)] = {int(c): rows[camera[rows] == c] for c in np.unique(camera[rows])}
        self.people = np.array(sorted(self.by_person))
        self.n_crops = len(person)

    def _crops(self, p: int) -> list[int]:
        cams = list(self.by_person[p].values())
        order = self.rng.permutation(len(cams))
        out: list[int] = []
        for i in range(self.K):
            rows = cams[order[i % len(cams)]]
            out.append(int(rows[self.rng.integers(len(rows))]))
        return out

    def __iter__(self) -> Iterator[np.ndarray]:
        batches = max(1, self.n_crops // (self.P * self.K))
        for _ in range(batches):
            chosen: list[int] = []
            for seed in self.rng.permutation(self.people):
                if len(chosen) >= self.P:
                    break
                if seed in chosen:
                    continue
                chosen.append(int(seed))
                partners = [q for q in self.partners.get(int(seed), ()) if q not in chosen]
                if partners:
                    chosen.append(int(self.rng.choice(partners)))
            yield np.array([r for p in chosen[: self.P] for r in self._crops(p)], np.int64)


def proxies(
    features: torch.Tensor, person: np.ndarray, camera: np.ndarray
) -> tuple[torch.Tensor, np.ndarray]:
    """Unit mean feature per (person, camera) and the person of each proxy."""
    keys = person.astype(np.int64) * (int(camera.max()) + 1) + camera
    unique, inverse = np.unique(keys, return_inverse=True)
    index = torch.as_tensor(inverse)
    sums = torch.zeros(len(unique), features.shape[1]).index_add_(0, index, features)
    return F.normalize(sums, dim=1), (unique // (int(camera.max()) + 1)).astype(np.int64)


def proxy_loss(
    batch: torch.Tensor, people: torch.Tensor, memory: torch.Tensor, owners: torch.Tensor, cfg: HeadConfig
) -> torch.Tensor:
    """Pull each crop to every proxy of its person, push it from the hardest proxies of others."""
    sim = F.normalize(batch, dim=1) @ memory.t() / cfg.temperature
    own = people[:, None] == owners[None, :]
    others = sim.masked_fill(own, float("-inf"))
    k = min(cfg.hard_proxies, int((~own).sum(1).min()))
    hard = others.topk(k, dim=1).values if k > 0 else others[:, :0]
    positives = sim.masked_fill(~own, float("-inf"))
    everything = torch.cat([positives, hard], dim=1)
    return (everything.logsumexp(1) - positives.logsumexp(1)).mean()


def train_head(
    head: ResidualHead,
    features: np.ndarray,  # (M, D) unit crop vectors of the frozen model
    person: np.ndarray,  # (M,)
    camera: np.ndarray,  # (M,)
    partners: dict[int, set[int]],
    epochs: int,
    cfg: HeadConfig,
    rng: np.random.Generator,
) -> list[float]:
    """Train ``head`` in place for ``epochs`` passes over the crops; returns the mean loss per epoch."""
    threads = torch.get_num_threads()
    # Steps are small matrix products: a second thread costs more in handing over than it saves, and on
    # a loaded machine it spins against the other processes (3x slower per epoch measured on 2 cores).
    torch.set_num_threads(1)
    try:
        return _train(head, features, person, camera, partners, epochs, cfg, rng)
    finally:
        torch.set_num_threads(threads)


def _train(
    head: ResidualHead,
    features: np.ndarray,
    person: np.ndarray,
    camera: np.ndarray,
    partners: dict[int, set[int]],
    epochs: int,
    cfg: HeadConfig,
    rng: np.random.Generator,
) -> list[float]:
    x = torch.as_tensor(np.asarray(features, np.float32))
    people = torch.as_tensor(person.astype(np.int64))
    optimiser = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sampler = PairedSampler(person, camera, partners, cfg.people_per_batch, cfg.crops_per_person, rng)
    losses = []
    for _ in range(epochs):
        with torch.no_grad():  # proxies of this epoch, from the head as it is
            memory, owner = proxies(head(x), person, camera)
        owners = torch.as_tensor(owner)
        total, steps = 0.0, 0
        head.train()
        for rows in sampler:
            idx = torch.as_tensor(rows)
            out = head(x[idx])
            loss = cfg.proxy_weight * proxy_loss(out, people[idx], memory, owners, cfg)
            if cfg.triplet_weight:
                loss = loss + cfg.triplet_weight * batch_hard_triplet(
                    F.normalize(out, dim=1), people[idx], cfg.triplet_margin
                )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach())
            steps += 1
        head.eval()
        losses.append(total / max(1, steps))
    return losses
