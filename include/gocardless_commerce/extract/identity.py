"""Which records of a stream this sync has already landed, in bounded memory.

A listing can return a record twice: a page served again, the same record on two pages of a
listing that shifted, or two copies of one id with different content. A copy identical to one
already landed is not landed (nor counted) again; a copy with other content is a *conflict*:
it is counted, logged and both versions are quarantined for inspection.

The ids are not kept: each stream holds two sorted NumPy arrays of 64-bit hashes (id, content),
16 bytes a record, so a 700k-record backfill costs about 11 MB instead of ~70 MB of strings.
Hashes only live for one sync process (Python salts ``hash`` per process), which is all the
comparison needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import numpy as np


@dataclass(frozen=True, slots=True)
class SortedChunk:
    """A chunk's records sorted out (positions into the chunk).

    ``land``: the last copy of each id not already landed identically in this run.
    ``conflicts``: id → the positions of its copies in this chunk whose content differs from
    the version landed before (``earlier_landed``: an earlier chunk holds that version).
    """

    land: list[int]
    repeated: int
    conflicts: dict[str, list[int]] = field(default_factory=dict)
    earlier_landed: set[str] = field(default_factory=set)


class SeenRecords:
    """Id and content hashes of the records one stream landed in this run (see module doc)."""

    def __init__(self) -> None:
        self._ids = np.empty(0, dtype=np.int64)
        self._contents = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._ids)

    def sort_out(self, ids: Sequence[str], raws: Sequence[msgspec.Raw]) -> SortedChunk:
        """Sort one chunk out against itself and against the chunks landed before it."""
        contents = [hash(bytes(raw)) for raw in raws]
        repeated = 0
        if len(set(ids)) == len(ids):  # the usual case: no id twice in the chunk
            unique = list(range(len(ids)))
            versions: dict[str, list[int]] = {}
        else:
            versions = {}  # id -> position of each distinct content, in order
            last: dict[str, int] = {}
            for position, record_id in enumerate(ids):
                copies = versions.get(record_id)
                if copies is None:
                    versions[record_id] = [position]
                elif all(contents[c] != contents[position] for c in copies):
                    copies.append(position)
                else:
                    repeated += 1
                last[record_id] = position
            unique = sorted(last.values())
        id_hashes = np.fromiter((hash(ids[p]) for p in unique), dtype=np.int64, count=len(unique))
        content_hashes = np.array([contents[p] for p in unique], dtype=np.int64)
        at = np.searchsorted(self._ids, id_hashes)
        if len(self._ids):
            at = np.minimum(at, len(self._ids) - 1)
            seen = self._ids[at] == id_hashes
        else:
            seen = np.zeros(len(unique), dtype=bool)
        if not versions and not seen.any():  # all new, no copies: land everything
            self._remember(id_hashes, content_hashes, seen, at)
            return SortedChunk(land=unique, repeated=0)
        seen_list = seen.tolist()
        landed_content = self._contents[at].tolist() if len(self._ids) else [0] * len(unique)
        land: list[int] = []
        conflicts: dict[str, list[int]] = {}
        earlier_landed: set[str] = set()
        for index, position in enumerate(unique):
            record_id = ids[position]
            copies = versions.get(record_id) or [position]
            if seen_list[index]:
                differing = [c for c in copies if contents[c] != landed_content[index]]
                repeated += len(copies) - len(differing)
                if not differing:
                    continue
                conflicts[record_id] = differing
                earlier_landed.add(record_id)
            elif len(copies) > 1:
                conflicts[record_id] = copies
            land.append(position)
        self._remember(id_hashes, content_hashes, seen, at)
        return SortedChunk(land=land, repeated=repeated, conflicts=conflicts, earlier_landed=earlier_landed)

    def landed(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` this stream landed in this run."""
        if not len(self._ids) or not ids:
            return set()
        hashes = np.fromiter((hash(i) for i in ids), dtype=np.int64, count=len(ids))
        at = np.minimum(np.searchsorted(self._ids, hashes), len(self._ids) - 1)
        return {i for i, hit in zip(ids, (self._ids[at] == hashes).tolist()) if hit}

    def _remember(self, id_hashes: np.ndarray, content_hashes: np.ndarray, seen: np.ndarray, at: np.ndarray) -> None:
        """Add the new ids (a merge of two sorted arrays); ids seen before take their latest content."""
        if seen.any():
            self._contents[at[seen]] = content_hashes[seen]
        new = ~seen
        if not new.any():
            return
        order = np.argsort(id_hashes[new], kind="stable")
        new_ids, new_contents = id_hashes[new][order], content_hashes[new][order]
        where = np.searchsorted(self._ids, new_ids)
        self._ids = np.insert(self._ids, where, new_ids)
        self._contents = np.insert(self._contents, where, new_contents)
