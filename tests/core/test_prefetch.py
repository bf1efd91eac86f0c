"""prefetch: an iterator run a few items ahead in a thread."""

from __future__ import annotations

import pytest

from reidkit.core.prefetch import prefetch


def test_prefetch_passes_items_and_errors() -> None:
    assert list(prefetch(iter(range(50)), 3)) == list(range(50))

    def broken():  # type: ignore[no-untyped-def]
        yield 1
        raise ValueError("bad packet")

    got = []
    with pytest.raises(ValueError, match="bad packet"):
        for item in prefetch(broken(), 2):
            got.append(item)
    assert got == [1]
    early = prefetch(iter(range(10_000)), 2)
    assert next(early) == 0
    early.close()  # stops the thread without draining
