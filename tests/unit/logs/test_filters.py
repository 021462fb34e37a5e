"""The logging filters: secrets masked; under ZDR, unexpected exceptions lose their message."""

from __future__ import annotations

import logging

from pipeline.errors import InvalidMessageError
from pipeline.logs import RedactSecretsFilter, ZdrExceptionFilter


def _record(message: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("t", logging.ERROR, __file__, 1, message, None, exc_info)


def _throw(exc: BaseException) -> None:
    raise exc


def _raised(exc: BaseException) -> BaseException:
    """``exc`` with a traceback, as a logging call inside ``except`` would see it."""
    try:
        _throw(exc)
    except BaseException as caught:  # noqa: BLE001 - building a record with a traceback
        return caught
    raise AssertionError("unreachable")


def test_bearer_tokens_are_masked() -> None:
    """A bearer token in a message is replaced by [redacted]."""
    record = _record("sent Authorization: Bearer sk-abcdef123456")
    RedactSecretsFilter().filter(record)
    assert "sk-abcdef123456" not in record.getMessage()
    assert "[redacted]" in record.getMessage()


def test_zdr_withholds_the_message_of_unexpected_exceptions() -> None:
    """A bug's exception text (which may quote content) is replaced by its type and place."""
    record = _record("handler failed", _raised(ValueError("user text CANARY-91")))
    ZdrExceptionFilter().filter(record)
    rendered = logging.Formatter().format(record)
    assert "CANARY-91" not in rendered
    assert "ValueError at" in rendered


def test_zdr_keeps_modocr_errors() -> None:
    """modocr's own errors carry ids only: they are logged whole."""
    record = _record("dead-lettered", _raised(InvalidMessageError("schema violation: text")))
    ZdrExceptionFilter().filter(record)
    assert "schema violation" in logging.Formatter().format(record)
