"""The command line's error boundary: one line on the terminal, the details in the log.

The log itself (:mod:`lims.logs`) blanks secrets; this module re-exports what the command
line's boundary uses.
"""

from __future__ import annotations

from lims.logs import configure_logging, exception_message, safe_traceback, scrub

__all__ = ["configure_logging", "exception_message", "safe_traceback", "scrub"]
