"""The procedure SDK: what a module in ``procedures/`` declares and how its steps run.

A procedure is a subclass of :class:`Procedure`. It declares its identity, the bench roles
it needs, the parameters it takes and from where (the item's registered data, the
regulation table, a documented default), optionally a :meth:`Procedure.plan` hook that
derives what depends on them and chooses its test points and materials, and its body as a
list of named steps::

    class Jjg635(Procedure):
        id = "jjg635"
        version = "1.0.0"
        title_zh = "一氧化碳、二氧化碳红外气体分析器检定"
        title_en = "Verification of NDIR CO/CO2 gas analyzers"
        kind = ServiceKind.VERIFICATION
        regulation = "JJG 635-2011"
        roles = {"analyzer": "gas_analyzer", "dilutor": "gas_dilutor",
                 "env": "environment_monitor"}
        under_test = "gas_analyzer"
        parameters = (Parameter("span", "量程 Full scale", like="umol/mol", item="span"),)
        table_file = "jjg635.toml"          # beside the module

        def plan(self, p: PlanningContext) -> None:
            ...                             # derive, choose gases, list the points

        def steps(self) -> Sequence[Step]:
            return [Step("zero", "零点 Zero", self.zero, check_environment=True), ...]

        def zero(self, ctx: StepContext) -> None:
            analyzer = ctx.instrument(GasAnalyzer, "analyzer")
            ...

Every procedure declares its body the same way: :meth:`Procedure.steps` returns the steps
in order, built from the table and the run's plan (one step per planned test point).

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
from typing import TYPE_CHECKING, Any, ClassVar

from lims.engine.errors import ProcedureDefinitionError
from lims.engine.regulation import RegulationTable, load_regulation_table
from lims.models.enums import ServiceKind
from lims.units import UnitParseError, parse_quantity
from lims.vocabulary import BiText

if TYPE_CHECKING:
    from lims.engine.context import StepContext
    from lims.services.planning.context import PlanningContext
    from lims.services.planning.model import RunPlan

__all__ = [
    "ENTRY_POINT_GROUP",
    "Parameter",
    "Procedure",
    "ProcedureRegistry",
    "Step",
    "discover_procedures",
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
    """A run parameter: a Quantity of the dimension of ``like``, or text when ``like`` is None.

    Where its value comes from, in order: ``item`` — a datum of the work-order item
    (``range_min``, ``range_max``, ``span``, ``accuracy_class``, ``decision_rule`` or a
    nameplate key of the equipment's specs); ``table`` — a regulation-table limit key;
    ``default`` — the procedure's documented default. A parameter none of these gives may
    be derived by :meth:`Procedure.plan` or typed by the operator.
    """

    name: str
    title: str
    like: str | None = None
    default: str | None = None
    required: bool = True
    item: str | None = None
    table: str | None = None
    choices: tuple[str, ...] = ()

    def parse(self, raw: str | None) -> Any:
        """Validate one raw value (text as typed); raise ValueError naming the parameter."""
        if raw is None:
            raw = self.default
        if raw is None:
            if self.required:
                raise ValueError(f"parameter {self.name!r} ({self.title}) is required")
            return None
        if self.like is None:
            if self.choices and raw.strip() not in self.choices:
                raise ValueError(
                    f"parameter {self.name!r}: {raw!r} is not one of {', '.join(self.choices)}"
                )
            return raw.strip() if self.choices else raw
        try:
            return parse_quantity(raw, like=self.like)
        except UnitParseError as exc:
            raise ValueError(f"parameter {self.name!r}: {exc}") from None


class Procedure:
    """Base class of every procedure (see the module docstring)."""

    id: ClassVar[str]
    version: ClassVar[str]
    title_zh: ClassVar[str]
    title_en: ClassVar[str]
    kind: ClassVar[ServiceKind]
    regulation: ClassVar[str]
    roles: ClassVar[dict[str, str]] = {}
    #: The bench role of the instrument under test (its identity is checked against the item).
    under_test: ClassVar[str | None] = None
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

    def __init__(self, table: RegulationTable | None = None, plan: RunPlan | None = None) -> None:
        #: The run's plan (None when the procedure is only being inspected).
        self.run_plan = plan
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
        """The body: the steps in order (built from the table and :attr:`run_plan`)."""
        raise ProcedureDefinitionError(f"procedure {self.id} declares no steps")

    def plan(self, p: PlanningContext) -> None:
        """Derive parameters, choose materials and list the test points of a run.

        Called once while the run is planned, with the declared parameters resolved. The
        default lists the regulation table's points. Raise ``p.refuse(...)`` when the run
        cannot be done as registered.
        """
        for point in self.table.points:
            p.add_point(point.name, BiText(point.name, point.name), point.nominal)

    def planned_points(self) -> list[str]:
        """Keys of the test points of :attr:`run_plan` (the table's points without a plan)."""
        if self.run_plan is not None:
            return [pt.key for pt in self.run_plan.points]
        return [pt.name for pt in self.table.points]

    def run_parameters(self) -> dict[str, Any]:
        """The plan's parameters, parsed by the declarations (empty without a plan)."""
        if self.run_plan is None:
            return {}
        return self.parse_parameters(self.run_plan.parameter_texts)

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
