"""Logging for runs nobody watches: one line per message on stderr, never anything on stdout.

`configure_logging` is called by the CLI and by every worker process it starts. Python warnings
(torch's, tokenizers', ...) are routed through logging too, so they obey `--log-level` and arrive as
one line each ("brandscan: warning: UserWarning: text (file:line)") instead of a multi-line block.
"""
from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class OneLineFormatter(logging.Formatter):
    """`brandscan: warning: message` with any newlines folded, so a log line is one record."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.levelno <= logging.DEBUG:
            message += " | " + self.formatException(record.exc_info)
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        return f"brandscan: {record.levelname.lower()}: {' | '.join(lines)}"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Looks up sys.stderr at each record: test runners and redirections swap it."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: int) -> None:
    """Send every log record at `level` or above to stderr as one line; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(OneLineFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    warnings.showwarning = _log_warning


def _log_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    # Instead of logging.captureWarnings' "path:line: Category: text" block with a source excerpt.
    logging.getLogger("py.warnings").warning("%s: %s (%s:%d)", category.__name__, message, filename, lineno)


def parse_level(name: str) -> int:
    from brandscan.engine.errors import ConfigError

    try:
        return LEVELS[name.lower()]
    except KeyError:
        raise ConfigError(f"--log-level {name!r}: expected one of: {', '.join(LEVELS)}") from None
