"""The procedure SDK: what a module in ``procedures/`` declares and how its steps run.

A procedure is a subclass of :class:`Procedure` that declares its identity, the bench
roles it needs and its parameters, and whose body is a sequence of named steps::

    class Jjg635(Procedure):
        id = "jjg635"
        version = "1.0.0"
        title_zh = "一氧化碳、二氧化碳红外气体分析器检定"
        title_en = "Verification of NDIR CO/CO2 gas analyzers"
        kind = ServiceKind.VERIFICATION
        regulation = "JJG 635-2011"
        roles = {"analyzer": "gas_analyzer", "dilutor": "gas_dilutor",
                 "env": "environment_monitor"}
        parameters = (Parameter("span", "量程 Span", like="umol/mol"),)
        table_file = "jjg635.toml"          # beside the module

        @step("zero", "零点 Zero", check_environment=True)
        def zero(self, ctx: StepContext) -> None:
            ctx.confirm("connect_zero", "连接零点气", "Connect the zero gas")
            ...

Steps run in the order they are defined; a procedure whose steps depend on the table
(one step per test point) overrides :meth:`Procedure.steps`.

Procedures are found through :func:`discover_procedures`: every module of the
``procedures`` package and every entry point in the group ``carbon_lims.procedures``.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from lims.engine.errors import ProcedureDefinitionError
from lims.engine.regulation import RegulationTable, load_regulation_table
from lims.models.enums import ServiceKind
from lims.units import UnitParseError, parse_quantity

if TYPE_CHECKING:
    from lims.engine.context import StepContext

__all__ = [
    "ENTRY_POINT_GROUP",
    "Parameter",
    "Procedure",
    "ProcedureRegistry",
    "Step",
    "discover_procedures",
    "step",
]

ENTRY_POINT_GROUP = "carbon_lims.procedures"

StepFunction = Callable[["StepContext"], None]


@dataclass(frozen=True)
class Step:
    """One named step of a procedure body.

    ``uses`` lists the standards and reference materials (by tag) the step uses: their
    validity is checked again before the step runs; ``check_environment`` re-checks the
    environment limits of the regulation table before the step.
    """

    name: str
    title: str
    run: StepFunction
    uses: tuple[str, ...] = ()
    check_environment: bool = False


@dataclass(frozen=True)
class Parameter:
    """A run parameter: a Quantity of the dimension of ``like``, or text when ``like`` is None."""

    name: str
    title: str
    like: str | None = None
    default: str | None = None
    required: bool = True

    def parse(self, raw: str | None) -> Any:
        """Validate one raw value (text as typed); raise ValueError naming the parameter."""
        if raw is None:
            raw = self.default
        if raw is None:
            if self.required:
                raise ValueError(f"parameter {self.name!r} ({self.title}) is required")
            return None
        if self.like is None:
            return raw
        try:
            return parse_quantity(raw, like=self.like)
        except UnitParseError as exc:
            raise ValueError(f"parameter {self.name!r}: {exc}") from None


_F = TypeVar("_F", bound=Callable[..., None])


def step(
    name: str, title: str = "", *, uses: Iterable[str] = (), check_environment: bool = False
) -> Callable[[_F], _F]:
    """Mark a method ``(self, ctx)`` as a step of the procedure body."""

    def mark(fn: _F) -> _F:
        fn.__lims_step__ = (name, title or name, tuple(uses), check_environment)  # type: ignore[attr-defined]
        return fn

    return mark


class Procedure:
    """Base class of every procedure (see the module docstring)."""

    id: ClassVar[str]
    version: ClassVar[str]
    title_zh: ClassVar[str]
    title_en: ClassVar[str]
    kind: ClassVar[ServiceKind]
    regulation: ClassVar[str]
    roles: ClassVar[dict[str, str]] = {}
    parameters: ClassVar[tuple[Parameter, ...]] = ()
    table_file: ClassVar[str] = "regulation.toml"

    _REQUIRED: ClassVar[tuple[str, ...]] = (
        "id",
        "version",
        "title_zh",
        "title_en",
        "kind",
        "regulation",
    )

    def __init__(self, table: RegulationTable | None = None) -> None:
        missing = [a for a in self._REQUIRED if not hasattr(type(self), a)]
        if missing:
            raise ProcedureDefinitionError(
                f"procedure {type(self).__name__} does not declare {', '.join(missing)}"
            )
        if not isinstance(self.kind, ServiceKind):
            raise ProcedureDefinitionError(
                f"procedure {self.id}: kind must be ServiceKind.VERIFICATION or CALIBRATION"
            )
        self.table = table if table is not None else load_regulation_table(self.table_path())
        if self.table.procedure != self.id:
            raise ProcedureDefinitionError(
                f"{Path(self.table.path).name}: table is for procedure "
                f"{self.table.procedure!r}, not {self.id!r}"
            )
        names = [s.name for s in self.steps()]
        if not names:
            raise ProcedureDefinitionError(f"procedure {self.id} has no steps")
        if len(set(names)) != len(names):
            raise ProcedureDefinitionError(f"procedure {self.id}: duplicate step names {names}")

    @classmethod
    def source_path(cls) -> Path:
        """The file of the procedure's source code."""
        path = inspect.getsourcefile(cls)
        if path is None:
            raise ProcedureDefinitionError(f"procedure {cls.__name__}: source file not found")
        return Path(path)

    @classmethod
    def source_sha256(cls) -> str:
        """SHA-256 of the procedure's source file (stored with each run)."""
        return hashlib.sha256(cls.source_path().read_bytes()).hexdigest()

    @classmethod
    def table_path(cls) -> Path:
        """The regulation table beside the procedure's module."""
        return cls.source_path().parent / cls.table_file

    def steps(self) -> Sequence[Step]:
        """The body: the methods marked with :func:`step`, in definition order."""
        found: list[Step] = []
        seen: set[str] = set()
        for klass in reversed(type(self).__mro__):
            for attr, fn in vars(klass).items():
                mark = getattr(fn, "__lims_step__", None)
                if mark is None or attr in seen:
                    continue
                seen.add(attr)
                name, title, uses, env = mark
                found.append(Step(name, title, getattr(self, attr), uses, env))
        return found

    def parse_parameters(self, raw: dict[str, str]) -> dict[str, Any]:
        """Validate run parameters (text as typed); ValueError names the first bad one."""
        known = {p.name for p in self.parameters}
        for key in raw:
            if key not in known:
                raise ValueError(
                    f"unknown parameter {key!r} for {self.id} (known: {', '.join(sorted(known))})"
                )
        return {p.name: p.parse(raw.get(p.name)) for p in self.parameters}


class ProcedureRegistry:
    """Procedure classes by id."""

    def __init__(self, procedures: Iterable[type[Procedure]] = ()) -> None:
        self._by_id: dict[str, type[Procedure]] = {}
        for cls in procedures:
            self.register(cls)

    def register(self, cls: type[Procedure]) -> None:
        """Add a procedure class; two classes with one id are refused."""
        pid = getattr(cls, "id", None)
        if not isinstance(pid, str) or not pid:
            raise ProcedureDefinitionError(f"procedure {cls.__name__} declares no id")
        other = self._by_id.get(pid)
        if other is not None and other is not cls:
            raise ProcedureDefinitionError(
                f"two procedures with id {pid!r}: {other.__module__} and {cls.__module__}"
            )
        self._by_id[pid] = cls

    def get(self, procedure_id: str) -> type[Procedure]:
        """The class for ``procedure_id``; KeyError listing the known ids."""
        try:
            return self._by_id[procedure_id]
        except KeyError:
            known = ", ".join(sorted(self._by_id)) or "none"
            raise KeyError(f"unknown procedure {procedure_id!r} (known: {known})") from None

    def ids(self) -> list[str]:
        """Known procedure ids, sorted."""
        return sorted(self._by_id)


def _procedure_classes(module: Any) -> list[type[Procedure]]:
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Procedure)
        and obj is not Procedure
        and obj.__module__.startswith(module.__name__)
        and "id" in vars(obj)
    ]


def discover_procedures(package: str = "procedures") -> ProcedureRegistry:
    """Find procedures: the modules of ``package`` (recursively) and the entry points."""
    registry = ProcedureRegistry()
    try:
        root = importlib.import_module(package)
    except ModuleNotFoundError:
        root = None
    if root is not None and hasattr(root, "__path__"):
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            for cls in _procedure_classes(importlib.import_module(info.name)):
                registry.register(cls)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if inspect.isclass(obj) and issubclass(obj, Procedure):
            registry.register(obj)
        else:
            for cls in _procedure_classes(obj):
                registry.register(cls)
    return registry
