from __future__ import annotations

from collections import Counter

import pytest

from reidkit.train.sampler import PKSampler

# 10 identities with 1..10 images each.
PIDS = [pid for pid in range(10) for _ in range(pid + 1)]


def ids_of(batch: list[tuple[int, int]]) -> list[int]:
    return [PIDS[i] for i, _ in batch]


def test_batches_hold_p_identities_with_k_images_each() -> None:
    sampler = PKSampler(PIDS, p=3, k=2, seed=1)
    batches = list(sampler)
    assert batches and len(batches) == len(sampler)
    for batch in batches:
        counts = Counter(ids_of(batch))
        assert len(counts) == 3 and set(counts.values()) == {2}


def test_identities_with_fewer_than_k_images_are_drawn_with_replacement() -> None:
    sampler = PKSampler(PIDS, p=2, k=4, seed=0)
    seen = [i for e in range(5) for b in sampler.epoch_batches(e) for i, _ in b if PIDS[i] == 0]
    assert seen and set(seen) == {0}  # identity 0 has one image, repeated K times


def test_epochs_are_a_pure_function_of_seed_and_epoch() -> None:
    a, b = PKSampler(PIDS, 3, 2, seed=5), PKSampler(PIDS, 3, 2, seed=5)
    assert a.epoch_batches(2) == b.epoch_batches(2)
    assert a.epoch_batches(2) != a.epoch_batches(3)
    assert a.epoch_batches(2) != PKSampler(PIDS, 3, 2, seed=6).epoch_batches(2)


def test_state_dict_resumes_mid_epoch_exactly() -> None:
    sampler = PKSampler(PIDS, 3, 2, seed=2)
    sampler.set_epoch(4)
    it = iter(sampler)
    first = [next(it), next(it)]
    state = sampler.state_dict()
    rest = list(it)
    resumed = PKSampler(PIDS, 3, 2, seed=99)
    resumed.load_state_dict(state)
    assert list(resumed) == rest
    assert first + rest == sampler.epoch_batches(4)


def test_distributed_ranks_get_disjoint_equal_slices() -> None:
    ranks = [PKSampler(PIDS, 2, 2, seed=3, rank=r, world_size=3) for r in range(3)]
    slices = [r.rank_batches(0) for r in ranks]
    assert len({len(s) for s in slices}) == 1 and slices[0]
    everything = ranks[0].epoch_batches(0)
    assert all(batch in everything for s in slices for batch in s)
    flat = [tuple(map(tuple, b)) for s in slices for b in s]
    assert len(flat) == len(set(flat))


def test_too_few_identities_is_an_error() -> None:
    with pytest.raises(ValueError, match="identities"):
        PKSampler([0, 0, 1], p=3, k=2)
