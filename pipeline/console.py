"""What every ``modocr`` command shares: the stderr console and the error → exit code mapping.

Exit codes: 0 done, 1 a runtime failure, 2 bad configuration or usage, 130 interrupted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from pipeline.errors import ConfigError, PipelineError
from pipeline.logs import configure_logging
from pipeline.settings import Settings, load_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

logger = logging.getLogger(__name__)

err = Console(stderr=True)
"""Human output (tables, progress, errors); machine output (``--json``) goes to stdout."""


def load_and_configure() -> Settings:
    """Settings from the environment, with logging configured from them."""
    settings = load_settings()
    configure_logging(settings)
    return settings


def run_command(factory: Callable[[Settings], Coroutine[Any, Any, Any]]) -> Any:  # noqa: ANN401
    """Load settings, run the coroutine, turn errors into one line and an exit code."""
    try:
        settings = load_and_configure()
        return asyncio.run(factory(settings))
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from None
    except PipelineError as exc:
        err.print(f"[red]error:[/] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        err.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:
        logger.exception("modocr failed")
        err.print(f"[red]unexpected error:[/] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
