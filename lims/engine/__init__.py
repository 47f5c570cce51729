"""The procedure engine: procedure SDK, regulation tables, stability detection, the run
engine with its reading writer, pre-run rules and run provenance.

See :mod:`lims.engine.sdk` for writing a procedure and :mod:`lims.engine.engine` for
running one.
"""

from lims.engine.context import RecordedReading, RunControl, StepContext
from lims.engine.engine import (
    FINAL_STATES,
    RESUMABLE_STATES,
    RunEngine,
    RunHandle,
    RunRequest,
    bench_auto_answerer,
    register_procedure,
)
from lims.engine.errors import (
    EngineError,
    ProcedureDefinitionError,
    RegulationTableError,
    ResumeError,
    RunAborted,
    WriterError,
)
from lims.engine.events import (
    Event,
    EventBus,
    Message,
    PromptRequested,
    ReadingsCommitted,
    ReadingTaken,
    ResultRecorded,
    StateChanged,
    StepFinished,
    StepStarted,
)
from lims.engine.regulation import (
    EnvironmentLimit,
    RegulationTable,
    Release,
    TableValue,
    TestPoint,
    load_regulation_table,
)
from lims.engine.rules import RuleFailure, grant_override
from lims.engine.sdk import (
    Parameter,
    Procedure,
    ProcedureRegistry,
    Step,
    discover_procedures,
)
from lims.engine.stability import StabilityCriteria, StabilityDetector, StabilityResult

__all__ = [
    "FINAL_STATES",
    "RESUMABLE_STATES",
    "EngineError",
    "EnvironmentLimit",
    "Event",
    "EventBus",
    "Message",
    "Parameter",
    "Procedure",
    "ProcedureDefinitionError",
    "ProcedureRegistry",
    "PromptRequested",
    "ReadingTaken",
    "ReadingsCommitted",
    "RecordedReading",
    "RegulationTable",
    "RegulationTableError",
    "Release",
    "ResultRecorded",
    "ResumeError",
    "RuleFailure",
    "RunAborted",
    "RunControl",
    "RunEngine",
    "RunHandle",
    "RunRequest",
    "StabilityCriteria",
    "StabilityDetector",
    "StabilityResult",
    "StateChanged",
    "Step",
    "StepContext",
    "StepFinished",
    "StepStarted",
    "TableValue",
    "TestPoint",
    "WriterError",
    "bench_auto_answerer",
    "discover_procedures",
    "grant_override",
    "load_regulation_table",
    "register_procedure",
]
