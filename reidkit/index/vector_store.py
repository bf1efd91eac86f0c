"""The library's vectors on disk: append-only shards, plus an approximate index once the library is large.

Layout of ``vectors/`` (SQLite stays the truth; everything here can be rebuilt from it)::

    shard-000000.ids   int64 tracklet ids, one per row, ascending
    shard-000000.f32   float32 (rows, D) unit vectors, row i belongs to ids[i]
    shard-000000.sums  uint64 checksum of each row (id and vector), whose sum is the shard's checksum
    ann-<generation>.faiss   the approximate index over the first rows of each shard (large libraries)

What a shard holds is what ``library.sqlite`` says it holds: the ``vector_shards`` table records each
shard's committed row count and a checksum of those rows, in the same transaction as the tracklets.
Rows are only ever appended (written before that commit, so a reader, which maps exactly the committed
rows of its own snapshot, never sees a half-written add), a removed tracklet's row stays and is masked
(its id is in ``removed_vectors``), and a shard is never rewritten in place: a repair writes new shard
files. Opening maps the shards and checks their checksums, reading no vector from SQLite.

What opening reads does not grow with the vectors an approximate index covers: those rows are read
only as candidates to re-score, so opening checks the per-row sums against the shard's checksum
(8 bytes a row instead of 1 KiB) and every row is checked against its sum when it is first read. The
rest (an exact library, the rows added since the index was saved) is checked whole at opening. A shard
from before per-row sums is checked whole, and its next writer writes its sums.

Search is exact (a scan of every live vector) up to :data:`EXACT_MAX_VECTORS`, then approximate: an IVF
index with compact codes (:func:`auto_codes`) finds ``REFINE_FACTOR`` times the candidates asked for, and those are re-scored
exactly from the shards (the refine step), so every returned score is a true cosine. Rows added since
the approximate index was last saved (at most :data:`ANN_TAIL_MAX`, then it is extended and saved again)
are scanned exactly. docs/search.md gives the measurements behind the bound.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reidkit.core.log import get_logger

log = get_logger(__name__)

VECTORS_DIR = "vectors"
# Rows per shard file before the next one starts (64 MiB of 256-d vectors): a repair or a checksum
# failure concerns one shard, and no file grows without bound.
SHARD_ROWS = 1 << 16
# Live vectors up to which search scans them all (exact). Above, an approximate index + exact refine.
# Chosen on clustered synthetic 256-d vectors (bench/library_store.py, docs/search.md): an exact scan
# costs ~0.4 ms per 1,000 vectors per query on one core here, so it stays within ~25 ms up to this size,
# while the approximate index's recall@20 after refining is >= 0.99 from there on.
EXACT_MAX_VECTORS = 65_536
# Rows added after the approximate index was saved that search scans exactly, before the writer
# extends the index with them and saves it again (one more file write per this many rows).
ANN_TAIL_MAX = 16_384
# Approximate candidates per result asked for, re-scored exactly. bench/library_scale.py at 1M
# tracklets (docs/library.md): 20 instead of 10 raised recall@20 of the moments against an exact search
# from 0.65 to 0.72 (recall@5 0.97 to 0.98) for 1-6 ms more CPU per search (three runs).
REFINE_FACTOR = 20
DEFAULT_NPROBE = 16
IVF_TRAIN_PER_LIST = 39  # Faiss's minimum training points per IVF list
_CHECKSUM_CHUNK = 16_384  # rows per pass of the checksum
_ROW_BITS = 32  # an approximate index's ids are positions: shard << 32 | row
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class Shard:
    """One shard as committed in SQLite: its number, how many rows it holds and their checksum."""

    number: int
    rows: int
    checksum: int


@dataclass(frozen=True)
class AnnState:
    """The saved approximate index: its file, the rows of each shard it covers and the file's crc32."""

    file: str
    spec: str
    generation: int
    covered: dict[int, int]  # shard number -> rows [0, n) in the index
    crc32: int
    size: int


class VectorStoreDamaged(Exception):
    """The vector files do not hold what SQLite says (missing, short or checksum mismatch)."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


_WEIGHTS = np.random.default_rng(0x5EED).integers(1, 2**63, size=4096, dtype=np.uint64) | np.uint64(1)


def row_checksums(ids: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each ``(id, vector)`` row (uint64): a weighted sum of the row's 64-bit words (a
    word changed, or two swapped, changes it) mixed with its id. Runs at memory speed (one integer
    matrix-vector product per chunk)."""
    ids = np.asarray(ids, np.int64).reshape(-1)
    vectors = np.ascontiguousarray(vectors, np.float32)
    if len(ids) == 0:
        return np.zeros(0, np.uint64)
    words = vectors.reshape(len(ids), -1)
    words = words.view(np.uint64) if words.shape[1] % 2 == 0 else words.view(np.uint32)
    weights = _WEIGHTS[: words.shape[1]]
    id_mix = (ids.view(np.uint64) + np.uint64(0x9E3779B97F4A7C15)) * np.uint64(0xBF58476D1CE4E5B9)
    out = np.empty(len(ids), np.uint64)
    for start in range(0, len(ids), _CHECKSUM_CHUNK):
        chunk = words[start : start + _CHECKSUM_CHUNK]
        if chunk.dtype != np.uint64:
            chunk = chunk.astype(np.uint64)
        with np.errstate(over="ignore"):
            rows = (chunk @ weights) ^ id_mix[start : start + _CHECKSUM_CHUNK]
            out[start : start + _CHECKSUM_CHUNK] = rows * np.uint64(0x94D049BB133111EB)
    return out


def sum_checksums(row_sums: np.ndarray) -> int:
    """The checksum of rows from their :func:`row_checksums`: their sum mod 2**64 (additive, so a
    shard's is kept up to date per add)."""
    return int(np.asarray(row_sums, np.uint64).sum(dtype=np.uint64)) & _MASK64


def vector_checksum(ids: np.ndarray, vectors: np.ndarray) -> int:
    """A 64-bit checksum of ``(id, vector)`` rows: the sum of their :func:`row_checksums`."""
    return sum_checksums(row_checksums(ids, vectors))


def auto_nprobe(index: Any) -> int:
    """IVF lists to search when the library sets none: a quarter of them (at least DEFAULT_NPROBE).

    On clustered synthetic 256-d vectors (20 tracklets per person, bench/library_store.py) recall@20
    after the exact refine was 0.91 / 0.96 / 0.99 with 1/16 / 1/8 / 1/4 of 256 lists searched, at
    1.2 / 2.5 / 4.8 ms per query for 180k vectors: recall is what a person search cannot lose.
    """
    if index is None:
        return DEFAULT_NPROBE
    import faiss

    try:
        nlist = int(faiss.extract_index_ivf(index).nlist)
    except RuntimeError:  # not IVF
        return DEFAULT_NPROBE
    return max(DEFAULT_NPROBE, nlist // 4)


def auto_codes(dim: int) -> str:
    """The codes an "auto" IVF index stores: 4-bit product quantisation read with SIMD fast-scan
    (``PQ<dim/8>x4fs``, 16 bytes per 256-d vector), or 8-bit scalar codes where ``dim`` does not split.

    Measured on 300k clustered 256-d vectors, 64 of 256 lists searched, 200 candidates re-scored
    exactly: recall@20 0.974 with either, 1.3 ms per query with PQ32x4fs against 15 ms with SQ8.
    The refine makes the coarse codes harmless to the scores (exact) and, here, to recall.
    """
    m = dim // 8
    return f"PQ{m}x4fs" if m >= 2 and m % 2 == 0 and dim % m == 0 else "SQ8"


def ivf_lists(n: int) -> int:
    """IVF lists for an index trained at ``n`` vectors: ~sqrt(n), a power of two, 64..4096.

    Fewer lists than Faiss's 4*sqrt(N) rule: the index is trained once, at the crossing, and keeps
    its lists as the library grows ~15x past it; nprobe lists are scanned per query either way.
    """
    return int(min(4096, max(64, 2 ** round(math.log2(max(1.0, math.sqrt(n)))))))


def _needs_training(spec: str) -> bool:
    head = spec.upper()
    return head.startswith(("IVF", "PQ", "OPQ")) or ",PQ" in head


def train_size(spec: str, per_list: int = IVF_TRAIN_PER_LIST) -> int:
    """Vectors an explicit Faiss ``spec`` needs before it can be trained (1 for HNSW)."""
    head = spec.split(",")[0].upper()
    if head.startswith("IVF"):
        digits = "".join(ch for ch in head[3:] if ch.isdigit())
        return per_list * int(digits or 1)
    return 1000 if _needs_training(spec) else 1


class VectorStore:
    """The vector shards of one library, mapped read-only, and its approximate index.

    ``state`` (shards, removed ids, approximate index) always comes from SQLite; the store maps that
    much of the files and no more. A writer appends with :meth:`append` and, once SQLite committed,
    adopts the new state with :meth:`load` (only changed shards are re-mapped).
    """

    def __init__(self, folder: Path, dim: int):
        self.folder = folder
        self.dim = dim
        self.shards: list[Shard] = []
        self._ids: dict[int, np.ndarray] = {}
        self._vectors: dict[int, np.ndarray] = {}
        self._live: dict[int, np.ndarray | None] = {}  # None: every row live
        self._sums: dict[int, np.ndarray | None] = {}  # per-row checksums; None: none on disk
        # Rows [0, n) of a shard not checked yet: each is checked against its sum when first read.
        self._unchecked: dict[int, int] = {}
        # Which of those rows a read has checked since (searches re-read the same candidates).
        self._read_ok: dict[int, np.ndarray] = {}
        self._removed: np.ndarray = np.zeros(0, np.int64)
        self.ann_state: AnnState | None = None
        self.ann: Any = None
        self._ann_selector: Any = None
        self._ann_for_search: Any = None
        self._writable: tuple[str, Any] | None = None  # (file, index) the writer built, kept in memory
        self._nprobe_asked: int | None = None  # None: auto_nprobe of the index
        # Approximate candidates per result asked for, re-scored exactly (a reader's own setting).
        self.refine_factor = REFINE_FACTOR
        self._nprobe, self._ef_search = DEFAULT_NPROBE, 64

    # ------------------------------------------------------------------------------------------ files
    def ids_path(self, number: int) -> Path:
        return self.folder / f"shard-{number:06d}.ids"

    def vectors_path(self, number: int) -> Path:
        return self.folder / f"shard-{number:06d}.f32"

    def sums_path(self, number: int) -> Path:
        return self.folder / f"shard-{number:06d}.sums"

    def shard_files(self, number: int) -> tuple[Path, Path, Path]:
        """Every file of shard ``number``: ids, vectors, per-row sums."""
        return self.ids_path(number), self.vectors_path(number), self.sums_path(number)

    def file_rows(self, number: int) -> int:
        """Complete rows present in a shard's files (committed or not)."""
        ids, vec = self.ids_path(number), self.vectors_path(number)
        if not ids.exists() or not vec.exists():
            return 0
        return min(ids.stat().st_size // 8, vec.stat().st_size // (4 * self.dim))

    def shard_numbers_on_disk(self) -> list[int]:
        numbers = set()
        for path in self.folder.glob("shard-*.*"):
            stem = path.name.split(".")[0]
            with suppress(ValueError):
                numbers.add(int(stem.split("-")[1]))
        return sorted(numbers)

    # ---------------------------------------------------------------------------------------- reading
    def load(
        self,
        shards: Sequence[Shard],
        removed: np.ndarray,
        ann_state: AnnState | None,
        *,
        verify: bool = True,
        nprobe: int | None = None,
        ef_search: int = 64,
    ) -> None:
        """Map ``shards`` (their committed rows), mask ``removed`` ids and open the approximate index.

        Raises :class:`VectorStoreDamaged` when a file is missing, short or fails its checksum; a
        damaged approximate index is dropped instead (search falls back to an exact scan). The rows the
        approximate index covers are checked when read (:meth:`_check_rows`), the others here.
        """
        ann, open_ann = self.ann, ann_state != self.ann_state or (ann_state is not None and self.ann is None)
        if open_ann:
            ann = self._open_ann(ann_state, verify) if ann_state is not None else None
            ann_state = ann_state if ann is not None else None
        covered = ann_state.covered if ann is not None and ann_state is not None else {}
        mapped: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray | None, int]] = {}
        kept = set()  # shards mapped as they were
        for shard in shards:
            number = shard.number
            if number in self._ids and self._shard_unchanged(shard):
                kept.add(number)
                mapped[number] = (
                    self._ids[number],
                    self._vectors[number],
                    self._sums[number],
                    self._unchecked[number],
                )
                continue
            # Not verified again (the writer's own rows): what was not checked yet stays so.
            unchecked = min(self._unchecked.get(number, 0), shard.rows)
            mapped[number] = self._map(shard, covered.get(number, 0) if verify else None, unchecked)
        self.shards = list(shards)
        self._ids = {n: m[0] for n, m in mapped.items()}
        self._vectors = {n: m[1] for n, m in mapped.items()}
        self._sums = {n: m[2] for n, m in mapped.items()}
        self._unchecked = {n: m[3] for n, m in mapped.items()}
        self._read_ok = {n: ok for n, ok in self._read_ok.items() if n in kept}
        self._set_removed(removed)
        if open_ann:
            self.ann_state, self.ann = ann_state, ann
        self.set_search_params(nprobe, ef_search)

    def _shard_unchanged(self, shard: Shard) -> bool:
        old = next((s for s in self.shards if s.number == shard.number), None)
        return old == shard

    def _map(
        self, shard: Shard, check_from: int | None, unchecked: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
        """Map a shard's committed rows: ``(ids, vectors, row sums or None, rows not checked yet)``.

        ``check_from``: rows from there on are checked now, those before it when first read (None:
        nothing is checked now, and ``unchecked`` rows stay unchecked). Without row sums (a shard
        from before them, or sums that do not add up) every row is checked now.
        """
        ids_path, vec_path, sums_path = self.shard_files(shard.number)
        if shard.rows == 0:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32), None, 0
        if self.folder.exists() and not self.folder.is_dir():
            raise VectorStoreDamaged(
                self.folder, "is a file, not a folder (move it away; the next `reidkit index` rebuilds it)"
            )
        if self.file_rows(shard.number) < shard.rows:
            missing = ids_path if vec_path.exists() and not ids_path.exists() else vec_path
            raise VectorStoreDamaged(missing, f"holds fewer than the {shard.rows} rows the database records")
        # Plain array views of the maps: indexing a np.memmap goes through its Python __getitem__,
        # a cost per lookup that the refine step pays for every shard it reads candidates from.
        ids = np.asarray(np.memmap(ids_path, np.int64, "r", shape=(shard.rows,)))
        vectors = np.asarray(np.memmap(vec_path, np.float32, "r", shape=(shard.rows, self.dim)))
        sums = None
        with suppress(OSError, ValueError):
            if sums_path.stat().st_size >= 8 * shard.rows:
                sums = np.asarray(np.memmap(sums_path, np.uint64, "r", shape=(shard.rows,)))
        if check_from is None:
            return ids, vectors, sums, unchecked if sums is not None else 0
        if sums is None or sum_checksums(sums) != shard.checksum:
            sums = None  # absent or damaged: derived data, written again by the next writer
            check_from = 0
            if vector_checksum(ids, vectors) != shard.checksum:
                raise VectorStoreDamaged(
                    vec_path, "its vectors do not match their checksum (damaged on disk)"
                )
        elif check_from < shard.rows:
            rows = np.arange(check_from, shard.rows)
            self._compare(shard.number, rows, ids[check_from:], vectors[check_from:], sums)
        return ids, vectors, sums, check_from

    def _compare(
        self, number: int, rows: np.ndarray, ids: np.ndarray, vectors: np.ndarray, sums: np.ndarray
    ) -> None:
        bad = np.flatnonzero(row_checksums(ids, vectors) != sums[rows])
        if len(bad):
            raise VectorStoreDamaged(
                self.vectors_path(number),
                f"row {int(rows[bad[0]])} does not match its checksum (damaged on disk)",
            )

    def _check_rows(self, number: int, rows: np.ndarray) -> None:
        """Check ``rows`` of a shard that opening left unchecked against their sums, before a read."""
        unchecked = self._unchecked.get(number, 0)
        if unchecked == 0:
            return
        sums = self._sums.get(number)
        if sums is None:
            return
        ok = self._read_ok.setdefault(number, np.zeros(unchecked, bool))
        rows = rows[rows < unchecked]
        rows = rows[~ok[rows]]
        if len(rows):
            self._compare(number, rows, self._ids[number][rows], self._vectors[number][rows], sums)
            ok[rows] = True

    def _check_block(self, number: int, first: int, end: int) -> None:
        """:meth:`_check_rows` for rows [first, end); a block from row 0 on marks the shard checked."""
        unchecked = self._unchecked.get(number, 0)
        if first >= unchecked:
            return
        self._check_rows(number, np.arange(first, min(end, unchecked)))
        if first == 0 and end >= unchecked:
            self._unchecked[number] = 0
            self._read_ok.pop(number, None)

    def write_missing_sums(self) -> None:
        """Write the row sums of shards that have none (a writer, for shards from before them). They
        are derived data checked against SQLite's checksum on every open, so a write cut short only
        means a whole-shard check until the next writer."""
        for s in self.shards:
            if s.rows and self._sums.get(s.number) is None and s.number in self._vectors:
                self._check_block(s.number, 0, s.rows)
                sums = row_checksums(self._ids[s.number], self._vectors[s.number])
                with open(self.sums_path(s.number), "wb") as fh:
                    fh.write(sums.tobytes())
                    fh.flush()
                    os.fsync(fh.fileno())
                self._sums[s.number] = np.asarray(np.memmap(self.sums_path(s.number), np.uint64, "r"))

    def _set_removed(self, removed: np.ndarray) -> None:
        removed = np.unique(np.asarray(removed, np.int64))
        unchanged = np.array_equal(removed, self._removed)
        self._removed = removed
        old_live, self._live = self._live, {}
        for number, ids in self._ids.items():
            if unchanged and number in old_live and self._shard_mask_current(number, old_live[number]):
                self._live[number] = old_live[number]  # an add: only its shard is looked at again
                continue
            if len(removed) == 0 or len(ids) == 0:
                self._live[number] = None
                continue
            dead = np.isin(ids, removed, assume_unique=False)
            self._live[number] = ~dead if dead.any() else None
        self._ann_selector = None

    def _shard_mask_current(self, number: int, live: np.ndarray | None) -> bool:
        """Whether a shard's mask still fits it, the removed ids being the same: rows appended since
        have new ids (never reused), so they are live; only a mask's length must follow them."""
        return live is None or len(live) == len(self._ids[number])

    @property
    def removed(self) -> np.ndarray:
        """Ids of removed tracklets whose rows the shards still hold (masked)."""
        return self._removed

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)

    @property
    def live_count(self) -> int:
        total = 0
        for s in self.shards:
            live = self._live[s.number]
            total += len(self._ids[s.number]) if live is None else int(np.count_nonzero(live))
        return total

    def live_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Every live ``(ids, vectors)`` (a copy; O(library): for rebuilding, not for searching)."""
        ids, vectors = [], []
        for s in self.shards:
            self._check_block(s.number, 0, s.rows)
            live = self._live[s.number]
            block_ids, block = self._ids[s.number], self._vectors[s.number]
            ids.append(np.asarray(block_ids if live is None else block_ids[live]))
            vectors.append(np.asarray(block if live is None else block[live]))
        if not ids:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        return np.concatenate(ids), np.concatenate(vectors).reshape(-1, self.dim)

    def sample(self, limit: int) -> np.ndarray:
        """Up to ``limit`` live vectors spread evenly over the store (a copy of just those)."""
        total = self.rows
        if total == 0:
            return np.zeros((0, self.dim), np.float32)
        step = max(1, math.ceil(total / limit))
        out = []
        offset = 0
        for s in self.shards:
            first = (-offset) % step
            rows = np.arange(first, s.rows, step)
            live = self._live[s.number]
            if live is not None:
                rows = rows[live[rows]]
            self._check_rows(s.number, rows)
            out.append(np.asarray(self._vectors[s.number][rows]))
            offset += s.rows
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    # ---------------------------------------------------------------------------------------- search
    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` live vectors with the highest inner product with ``query``: ``(ids, scores)``, best first."""
        query = np.ascontiguousarray(query, np.float32).reshape(-1)
        if self.ann is None:
            return self._exact(query, k, {s.number: 0 for s in self.shards})
        covered = self.ann_state.covered if self.ann_state is not None else {}
        tail_ids, tail_scores = self._exact(query, k, covered)
        cand_ids, cand_scores = self._approximate(query, k)
        ids = np.concatenate([tail_ids, cand_ids])
        scores = np.concatenate([tail_scores, cand_scores])
        order = np.argsort(-scores, kind="stable")[:k]
        return ids[order], scores[order]

    def _exact(self, query: np.ndarray, k: int, start_rows: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Scan every live row from ``start_rows[shard]`` on (0: the whole shard)."""
        best_ids: list[np.ndarray] = []
        best_scores: list[np.ndarray] = []
        for s in self.shards:
            first = start_rows.get(s.number, 0)
            if first >= s.rows:
                continue
            self._check_block(s.number, first, s.rows)
            scores = _scores(self._vectors[s.number][first:], query)
            live = self._live[s.number]
            if live is not None:
                scores = np.where(live[first:], scores, -np.inf)
            take = min(k, len(scores))
            top = np.argpartition(-scores, take - 1)[:take] if take < len(scores) else np.arange(len(scores))
            top = top[np.isfinite(scores[top])]
            best_ids.append(np.asarray(self._ids[s.number][first:][top]))
            best_scores.append(scores[top].astype(np.float32))
        if not best_ids:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        ids, scores = np.concatenate(best_ids), np.concatenate(best_scores)
        order = np.argsort(-scores, kind="stable")[:k]
        return ids[order], scores[order]

    def _approximate(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Candidates from the approximate index, re-scored exactly from the shards."""
        ann = self._ann_for_search if self._ann_for_search is not None else self.ann
        n = max(k * self.refine_factor, 64)
        params = self._search_params()
        if params is not None:
            _, positions = ann.search(query[None, :], n, params=params)
        else:
            _, positions = ann.search(query[None, :], n)
        positions = positions[0][positions[0] >= 0]
        if len(positions) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        shards = positions >> _ROW_BITS
        rows = positions & ((1 << _ROW_BITS) - 1)
        ids, scores = [], []
        for number in np.unique(shards):
            mine = np.sort(rows[shards == number])
            live = self._live.get(int(number))
            if live is not None:
                mine = mine[live[mine]]
            if int(number) not in self._vectors or len(mine) == 0:
                continue
            self._check_rows(int(number), mine)
            ids.append(np.asarray(self._ids[int(number)][mine]))
            scores.append(_scores(np.asarray(self._vectors[int(number)][mine]), query))
        if not ids:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        all_ids, all_scores = np.concatenate(ids), np.concatenate(scores)
        order = np.argsort(-all_scores, kind="stable")[:k]
        return all_ids[order], all_scores[order]

    def _search_params(self) -> Any:
        """Faiss search parameters that skip removed rows inside the approximate index, or None."""
        import faiss

        if self._ann_selector is None:
            covered = self.ann_state.covered if self.ann_state is not None else {}
            dead = []
            for number, live in self._live.items():
                if live is None:
                    continue
                rows = np.flatnonzero(~live[: covered.get(number, 0)])
                dead.append((np.int64(number) << _ROW_BITS) | rows.astype(np.int64))
            positions = np.concatenate(dead) if dead else np.zeros(0, np.int64)
            self._ann_selector = (
                (faiss.IDSelectorNot(faiss.IDSelectorBatch(positions)), positions)
                if len(positions)
                else False
            )
        if self._ann_selector is False:
            return None
        selector = self._ann_selector[0]
        if _is_hnsw(self.ann):
            return faiss.SearchParametersHNSW(sel=selector, efSearch=self._ef_search)  # type: ignore[attr-defined]
        return faiss.SearchParametersIVF(sel=selector, nprobe=self._nprobe)  # type: ignore[call-arg]

    @property
    def nprobe(self) -> int:
        """IVF lists searched per query by the approximate index."""
        return self._nprobe

    def set_search_params(self, nprobe: int | None, ef_search: int) -> None:
        """``nprobe=None``: :func:`auto_nprobe` of the loaded index."""
        self._nprobe_asked, self._ef_search = nprobe, int(ef_search)
        self._nprobe = int(nprobe) if nprobe is not None else auto_nprobe(self.ann)
        if self.ann is not None:
            _set_search_params(self.ann, self._nprobe, self._ef_search)
        self._ann_for_search = None

    def use_gpu(self, use_gpu: bool | None) -> None:
        """Search the approximate index on the GPUs Faiss sees (None: when there are any)."""
        if self.ann is not None:
            self._ann_for_search = _maybe_gpu(self.ann, use_gpu)

    def load_arrays(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Hold ``ids``/``vectors`` in memory instead of mapping files (a reader that cannot repair them)."""
        self.shards = [Shard(-1, len(ids), 0)]
        self._ids = {-1: np.asarray(ids, np.int64)}
        self._vectors = {-1: np.ascontiguousarray(vectors, np.float32).reshape(len(ids), self.dim)}
        self._live = {-1: None}
        self._sums, self._unchecked, self._read_ok = {-1: None}, {-1: 0}, {}
        self._removed = np.zeros(0, np.int64)
        self.ann_state, self.ann, self._ann_selector, self._ann_for_search = None, None, None, None

    # ---------------------------------------------------------------------------------------- writing
    def next_shard(self, rows: int) -> tuple[int, int]:
        """(shard number, rows already committed there) for an add of ``rows`` rows: the last shard,
        or a new one when it would grow past :data:`SHARD_ROWS` (an add never spans two shards)."""
        if self.shards and (self.shards[-1].rows == 0 or self.shards[-1].rows + rows <= SHARD_ROWS):
            return self.shards[-1].number, self.shards[-1].rows
        on_disk = self.shard_numbers_on_disk()
        known = [s.number for s in self.shards]
        return max([*on_disk, *known], default=-1) + 1, 0

    def append(self, number: int, committed_rows: int, ids: np.ndarray, vectors: np.ndarray) -> Shard:
        """Write rows after the committed ones of shard ``number`` (fsynced); returns the shard to commit.

        Bytes past ``committed_rows`` (a write killed earlier) are cut off first.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        ids = np.ascontiguousarray(ids, np.int64)
        vectors = np.ascontiguousarray(vectors, np.float32).reshape(len(ids), self.dim)
        sums = row_checksums(ids, vectors)
        sums_path = self.sums_path(number)
        if committed_rows and (
            self._sums.get(number) is None or sums_path.stat().st_size < 8 * committed_rows
        ):
            # A shard from before row sums: its committed rows' sums first (they were checked whole).
            sums = np.concatenate(
                [
                    row_checksums(self._ids[number][:committed_rows], self._vectors[number][:committed_rows]),
                    sums,
                ]
            )
            sums_path.unlink(missing_ok=True)
        for path, row_bytes, data, rows_before in (
            (self.ids_path(number), 8, ids, committed_rows),
            (self.vectors_path(number), 4 * self.dim, vectors, committed_rows),
            (sums_path, 8, sums, committed_rows + len(ids) - len(sums)),
        ):
            with open(path, "ab") as fh:
                if fh.tell() != rows_before * row_bytes:
                    fh.truncate(rows_before * row_bytes)
                    fh.seek(rows_before * row_bytes)
                fh.write(data.tobytes())
                fh.flush()
                os.fsync(fh.fileno())
        old = next((s for s in self.shards if s.number == number), Shard(number, 0, 0))
        checksum = (old.checksum + sum_checksums(sums[len(sums) - len(ids) :])) & _MASK64
        return Shard(number, committed_rows + len(ids), checksum)

    def truncate(self, number: int, rows: int) -> None:
        """Cut a shard's files back to ``rows`` rows (what a killed write left past the committed rows)."""
        for path, row_bytes in (
            (self.ids_path(number), 8),
            (self.vectors_path(number), 4 * self.dim),
            (self.sums_path(number), 8),
        ):
            if path.exists() and path.stat().st_size > rows * row_bytes:
                with open(path, "r+b") as fh:
                    fh.truncate(rows * row_bytes)

    def write_shards(self, first_number: int, ids: np.ndarray, vectors: np.ndarray) -> list[Shard]:
        """Write ``ids``/``vectors`` (ascending ids) into new shards numbered from ``first_number``."""
        shards = []
        for i, start in enumerate(range(0, len(ids), SHARD_ROWS)):
            number = first_number + i
            for path in self.shard_files(number):
                path.unlink(missing_ok=True)
            shards.append(
                self.append(number, 0, ids[start : start + SHARD_ROWS], vectors[start : start + SHARD_ROWS])
            )
        return shards

    def delete_unlisted(self, keep: Iterable[int], keep_ann: str | None) -> None:
        """Delete shard files not in ``keep`` and approximate-index files other than ``keep_ann``."""
        keep = set(keep)
        for number in self.shard_numbers_on_disk():
            if number not in keep:
                for path in self.shard_files(number):
                    path.unlink(missing_ok=True)
        for path in self.folder.glob("ann-*.faiss*"):
            if path.name != keep_ann:
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------------------------ approximate index
    def wants_ann(self, spec: str) -> bool:
        """Whether the library is large enough for an approximate index (``spec``: the library's index)."""
        if spec.upper() == "FLAT":
            return False
        if spec.lower() == "auto":
            return self.live_count > EXACT_MAX_VECTORS
        return self.live_count >= train_size(spec)

    def uncovered_rows(self) -> int:
        covered = self.ann_state.covered if self.ann_state is not None else {}
        return sum(max(0, s.rows - covered.get(s.number, 0)) for s in self.shards)

    def build_ann(self, spec: str, generation: int) -> AnnState:
        """Extend the loaded approximate index with the rows it does not cover, or train a new one;
        write it to a new file (fsynced) and return its state, for the caller to commit."""
        import faiss

        state = self.ann_state
        index = None
        if state is not None and state.spec == self._ann_spec(spec, state):
            index = self._writable_ann(state)
        if index is None:
            index, state = self._train_ann(spec), None
        covered = dict(state.covered) if state is not None else {}
        for s in self.shards:
            first = covered.get(s.number, 0)
            if first < s.rows:
                self._check_block(s.number, first, s.rows)
                rows = np.arange(first, s.rows, dtype=np.int64)
                index.add_with_ids(
                    np.ascontiguousarray(self._vectors[s.number][first:], np.float32),
                    (np.int64(s.number) << _ROW_BITS) | rows,
                )
            covered[s.number] = s.rows
        name = f"ann-{generation}.faiss"
        path = self.folder / name
        tmp = path.with_name(name + ".tmp")
        faiss.write_index(index, str(tmp))
        with open(tmp, "rb") as fh:
            crc = _crc32_file(fh)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        spec_used = state.spec if state is not None else self._ann_spec(spec, None)
        self._writable = (name, index)
        return AnnState(name, spec_used, generation, covered, crc, path.stat().st_size)

    def _ann_spec(self, spec: str, state: AnnState | None) -> str:
        if spec.lower() != "auto":
            return spec
        codes = auto_codes(self.dim)
        if state is not None and state.spec.startswith("IVF") and state.spec.endswith("," + codes):
            return state.spec  # trained once: kept as the library grows
        return f"IVF{ivf_lists(self.live_count)},{codes}"

    def _train_ann(self, spec: str) -> Any:
        import faiss

        spec = self._ann_spec(spec, None)
        if spec.upper().startswith("HNSW"):
            return faiss.index_factory(self.dim, f"IDMap2,{spec}", faiss.METRIC_INNER_PRODUCT)
        index = faiss.index_factory(self.dim, spec, faiss.METRIC_INNER_PRODUCT)
        if not index.is_trained:
            _, vectors = self.live_vectors()
            lists = _ivf_nlist(index)
            limit = max(IVF_TRAIN_PER_LIST, 64) * max(1, lists)
            if len(vectors) > limit:
                picks = np.random.default_rng(0).choice(len(vectors), limit, replace=False)
                vectors = vectors[np.sort(picks)]
            index.train(np.ascontiguousarray(vectors, np.float32))
        _set_search_params(index, self._nprobe, self._ef_search)
        return index

    def _writable_ann(self, state: AnnState) -> Any:
        """The index of ``state`` loaded fully in memory (a memory-mapped one cannot be added to)."""
        import faiss

        if self._writable is not None and self._writable[0] == state.file:
            return self._writable[1]
        try:
            return faiss.read_index(str(self.folder / state.file))
        except RuntimeError:
            return None

    def _open_ann(self, state: AnnState, verify: bool) -> Any:
        import faiss

        if self._writable is not None and self._writable[0] == state.file:
            return self._writable[1]
        path = self.folder / state.file
        try:
            if verify:
                with open(path, "rb") as fh:
                    if _crc32_file(fh) != state.crc32:
                        raise VectorStoreDamaged(path, "does not match its checksum")
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP)
        except (OSError, RuntimeError, VectorStoreDamaged) as exc:
            log.warning("%s: unusable (%s); searching exactly until it is rebuilt", path, exc)
            return None
        _set_search_params(index, self._nprobe, self._ef_search)
        return index


def _scores(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Inner products of ``vectors`` (N, D) with ``query``, on this thread.

    A scan is memory-bound: one core saturates it, and a threaded BLAS call was 4x slower than this
    on the shared 2-core machine (its threads wait for cores other processes hold).
    """
    return np.einsum("ij,j->i", vectors, query, dtype=np.float32)


def _crc32_file(fh: Any) -> int:
    crc = 0
    while chunk := fh.read(1 << 24):
        crc = zlib.crc32(chunk, crc)
    return crc


def _ivf_nlist(index: Any) -> int:
    import faiss

    try:
        return int(faiss.extract_index_ivf(index).nlist)
    except RuntimeError:
        return 1


def _is_hnsw(index: Any) -> bool:
    import faiss

    inner = faiss.downcast_index(index.index) if hasattr(index, "id_map") else index
    return getattr(inner, "hnsw", None) is not None


def _set_search_params(index: Any, nprobe: int, ef_search: int) -> None:
    """Set ``nprobe`` on an IVF index and ``efSearch`` on an HNSW one (through an IDMap2 wrapper)."""
    import faiss

    inner = faiss.downcast_index(index.index) if hasattr(index, "id_map") else index
    with suppress(RuntimeError):  # not an IVF index
        faiss.extract_index_ivf(inner).nprobe = nprobe
    hnsw = getattr(inner, "hnsw", None)
    if hnsw is not None:
        hnsw.efSearch = ef_search


def _maybe_gpu(index: Any, use_gpu: bool | None) -> Any:
    """A copy of the index on every GPU Faiss sees, for searching (``use_gpu=None``: when there are any).

    Only the search copy moves: the CPU index stays the one that is added to and saved. IVF indexes
    have GPU implementations (``index_cpu_to_all_gpus`` keeps the ``nprobe`` set before copying); HNSW
    has none and stays on the CPU, as does any index the cloner refuses. Untested here: the development
    machines run faiss-cpu, where ``get_num_gpus()`` is 0 and this returns ``index`` unchanged.
    """
    if use_gpu is False:
        return index
    import faiss

    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if gpus == 0:
        if use_gpu:
            log.warning("use_gpu requested but this Faiss build has no GPUs; searching on CPU")
        return index
    try:
        return faiss.index_cpu_to_all_gpus(index)
    except Exception as exc:  # an index type without a GPU implementation (e.g. HNSW)
        log.info("searching on CPU: %s", exc)
        return index
