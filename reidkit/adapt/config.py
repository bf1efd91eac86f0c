"""The settings of an adaptation's head (torch-free, so that configs load without the train extra)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_EPOCHS = 12  # of training at most, over all rounds (AdaptConfig.epochs)


@dataclass(frozen=True)
class HeadConfig:
    hidden: int = 0
    lr: float = 3e-4
    weight_decay: float = 5e-4
    people_per_batch: int = 16
    crops_per_person: int = 4
    temperature: float = 0.07  # of the proxy softmax
    hard_proxies: int = 50  # other people's proxies each crop is pushed from (the hardest)
    proxy_weight: float = 1.0
    triplet_weight: float = 1.0
    triplet_margin: float = 0.3
    seed: int = 0
