"""Counter-based random numbers for the simulator.

A draw is a pure function of (bench seed, instrument, what is drawn, simulated time): it
does not depend on how many draws came before, so a simulator started afresh at simulated
time T (a resumed run) draws exactly what the original one drew from T on, and replies do
not depend on how often something else read the instrument.

Every simulated device uses it the same way::

    noise = Noise(bench_seed, "analyzer")
    value = true_value + noise.gauss("concentration", clock.now(), sd)

Two draws of the same ``what`` at the same simulated time are equal (a reading repeated
without time passing repeats its noise); draws for different quantities use different
``what`` names.
"""

from __future__ import annotations

import hashlib
import math

__all__ = ["Noise"]

_TWO_53 = float(1 << 53)


class Noise:
    """Random numbers of one instrument of one bench (see the module docstring)."""

    __slots__ = ("_prefix",)

    def __init__(self, seed: int, instrument: str) -> None:
        self._prefix = f"{seed}\x1f{instrument}\x1f".encode()

    def _words(self, what: str, t: float) -> tuple[int, int]:
        key = self._prefix + what.encode() + b"\x1f" + float(t).hex().encode()
        digest = hashlib.blake2b(key, digest_size=16).digest()
        return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little")

    def uniform(self, what: str, t: float) -> float:
        """A number uniform in [0, 1)."""
        return (self._words(what, t)[0] >> 11) / _TWO_53

    def gauss(self, what: str, t: float, sd: float, mean: float = 0.0) -> float:
        """A normal deviate N(mean, sd²) (Box–Muller); ``mean`` exactly when ``sd`` is 0."""
        if sd == 0:
            return mean
        a, b = self._words(what, t)
        u1 = ((a >> 11) + 1) / _TWO_53  # (0, 1]: the logarithm is finite
        u2 = (b >> 11) / _TWO_53
        return mean + sd * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def bytes(self, what: str, t: float, n: int) -> bytes:
        """``n`` random bytes."""
        key = self._prefix + what.encode() + b"\x1f" + float(t).hex().encode()
        return hashlib.shake_256(key).digest(n)
