"""The exception tree of modocr; nothing else belongs here.

PipelineError
├── ConfigError                    bad configuration: exit code 2 at start
├── TransientError                 retriable = True
│   ├── MistralUnavailableError    connect/read timeout, 5xx, malformed body
│   ├── RateLimitedError           429; .retry_after: float | None
│   ├── DatabaseUnavailableError   connection lost, serialization failure
│   └── BrokerUnavailableError     the Kafka broker did not answer
└── PermanentError                 retriable = False
    ├── InvalidMessageError        undecodable or schema-invalid record
    ├── UnsupportedContentError    content the engines cannot or must not read
    ├── MistralRejectedError       4xx other than 408/429; .status_code, .code
    ├── NotFoundError
    └── ConflictError              unique / foreign-key violation, stale version
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error modocr raises on purpose."""

    retriable: bool = False


class ConfigError(PipelineError):
    """The configuration is invalid; the process stops at start with exit code 2."""


class TransientError(PipelineError):
    """Retrying later may succeed."""

    retriable = True


class MistralUnavailableError(TransientError):
    """The Mistral API timed out, refused the connection, answered 5xx or garbage."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RateLimitedError(TransientError):
    """The Mistral API answered 429; ``retry_after`` is its wait in seconds, if given."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.code = code
        self.status_code = 429


class DatabaseUnavailableError(TransientError):
    """The database connection failed or a transaction must be retried."""


class BrokerUnavailableError(TransientError):
    """The Kafka broker did not answer in time."""


class PermanentError(PipelineError):
    """Retrying cannot help; the input goes to the dead-letter topic."""

    retriable = False


class InvalidMessageError(PermanentError):
    """A record could not be decoded or does not match its schema."""


class UnsupportedContentError(PermanentError):
    """A document is corrupt, encrypted, too large, of an unsupported type or unsafe."""


class MistralRejectedError(PermanentError):
    """The Mistral API refused the request (4xx other than 408/429)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.error_type = error_type


class NotFoundError(PermanentError):
    """The requested row or resource does not exist."""


class ConflictError(PermanentError):
    """A unique or foreign-key constraint, or an optimistic-lock version, was violated."""
