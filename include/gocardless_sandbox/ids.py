"""Deterministic, unique, GoCardless-looking ids (``PM00…``) from per-prefix counters.

Each id is a bijection of a counter (multiplying by a constant coprime to 36 modulo 36¹⁰), so
ids never collide, look random, and depend only on the seed and the creation order.
"""

from __future__ import annotations

import hashlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SPACE = 36**10
MULTIPLIER = 25_214_903_917  # odd and not a multiple of 3, so coprime to 36


def _encode(number: int) -> str:
    chars = []
    for _ in range(10):
        number, digit = divmod(number, 36)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


class IdFactory:
    """Hands out ids per prefix; :attr:`counters` is persisted so restarts continue."""

    def __init__(self, seed: int, counters: dict[str, int] | None = None) -> None:
        self.seed = seed
        self.counters: dict[str, int] = dict(counters or {})
        self._offsets: dict[str, int] = {}

    def _offset(self, prefix: str) -> int:
        offset = self._offsets.get(prefix)
        if offset is None:
            digest = hashlib.sha256(f"{self.seed}:{prefix}".encode()).digest()
            offset = self._offsets[prefix] = int.from_bytes(digest[:8], "big") % SPACE
        return offset

    def new(self, prefix: str) -> str:
        counter = self.counters.get(prefix, 0)
        self.counters[prefix] = counter + 1
        number = ((self._offset(prefix) + counter) * MULTIPLIER) % SPACE
        return f"{prefix}00{_encode(number)}"
