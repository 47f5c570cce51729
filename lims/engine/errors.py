"""Exceptions of the procedure engine."""

from __future__ import annotations

__all__ = [
    "EngineError",
    "ProcedureDefinitionError",
    "RegulationTableError",
    "ResumeError",
    "RunAborted",
    "RunStopped",
    "WriterError",
]


class EngineError(Exception):
    """Base class of the engine's errors; the message is one line for the operator."""


class RegulationTableError(EngineError):
    """A regulation table that cannot be used; the message names the file and the key."""

    def __init__(self, path: str, where: str, message: str) -> None:
        self.path = path
        self.where = where
        self.message = message
        super().__init__(f"{path}: {where}: {message}" if where else f"{path}: {message}")


class ProcedureDefinitionError(EngineError):
    """A procedure class that does not declare what the SDK requires."""


class ResumeError(EngineError):
    """A run that cannot be resumed (finished, changed procedure, unknown run)."""


class WriterError(EngineError):
    """The reading writer could not commit readings to the database."""


class RunAborted(BaseException):
    """Raised inside a step when the run is aborted; procedures must not catch it."""


class RunDetached(BaseException):
    """Internal: a paused run is left as it is (paused, resumable elsewhere); its worker
    thread ends and its lease is given up."""


class RunStopped(BaseException):
    """Internal: the run ends at a step boundary because the operator stopped it."""
