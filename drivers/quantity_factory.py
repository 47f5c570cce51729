"""Quantities for instrument readings, built without pint's per-call constructor overhead.

``registry.Quantity(value, unit)`` costs 5-10 µs even with a cached Unit object: the
constructor re-checks upcast types, looks up the application registry, runs imports
inside functions and validates the magnitude on every call. Next to a loopback SCPI
query served by the in-process simulator it measured 13-17 % of the query time (about
25 µs of client-thread CPU per reading), more than the 10 % budget of issue #3.

A :class:`QuantityFactory` makes Quantities of one registry in one unit. For a plain
``int``/``float`` it builds the object the way the constructor would (an instance of
the registry's Quantity class holding the magnitude and the unit container) in well
under a microsecond. That shortcut is used only after checking, once per registry and
unit on the installed pint version, that it yields exactly the state the public
constructor yields; otherwise, and for any other magnitude type, the public
constructor is called.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["QuantityFactory", "factory_for"]

_PROBE = 1.5


class QuantityFactory:
    """Quantities of ``registry`` in ``unit`` (a unit string the registry understands)."""

    __slots__ = ("_cls", "_container", "_shortcut", "_unit", "registry", "unit_text")

    def __init__(self, registry: Any, unit: str) -> None:
        self.registry = registry
        self.unit_text = unit
        self._unit = registry.Unit(unit)
        self._cls = registry.Quantity
        self._container = self._unit._units
        self._shortcut = self._shortcut_is_exact()

    def _shortcut_is_exact(self) -> bool:
        """Whether the shortcut gives the public constructor's object state for a float."""
        if self.registry.force_ndarray or self.registry.force_ndarray_like:
            return False
        reference = self._cls(_PROBE, self._unit)
        try:
            built = self._build(_PROBE)
        except (AttributeError, TypeError):  # e.g. a future pint with __slots__ or frozen
            return False
        state, expected = getattr(built, "__dict__", None), getattr(reference, "__dict__", None)
        if state is None or expected is None or state.keys() != expected.keys():
            return False
        return all(
            type(state[k]) is type(expected[k]) and state[k] == expected[k] for k in expected
        ) and bool(built == reference)

    def _build(self, value: float) -> Any:
        """What pint's constructor does for a plain number, without its per-call checks."""
        q = object.__new__(self._cls)
        q._magnitude = value
        q._units = self._container
        return q

    def __call__(self, value: float) -> Any:
        """``value`` in this factory's unit, a Quantity of this factory's registry."""
        kind = type(value)
        if self._shortcut and (kind is float or kind is int):  # not bool: pint refuses it
            return self._build(value)
        return self._cls(value, self._unit)

    @property
    def uses_shortcut(self) -> bool:
        """Whether plain numbers take the fast path (False: pint's constructor every time)."""
        return self._shortcut


_FACTORIES: dict[str, QuantityFactory] = {}
_LOCK = threading.Lock()


def factory_for(registry: Any, unit: str) -> QuantityFactory:
    """The factory for ``unit`` in ``registry``, made on first use.

    Cached per unit string and replaced when the application installs another
    registry, so readings always belong to the current application registry.
    """
    factory = _FACTORIES.get(unit)
    if factory is None or factory.registry is not registry:
        with _LOCK:
            factory = _FACTORIES.get(unit)
            if factory is None or factory.registry is not registry:
                factory = _FACTORIES[unit] = QuantityFactory(registry, unit)
    return factory
