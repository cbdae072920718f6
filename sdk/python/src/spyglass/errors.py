"""SDK errors and the one place that decides whether they reach the application.

With fail-silently on (the default) an SDK error is logged at DEBUG on the `spyglass` logger and
the application carries on as if Spyglass were not there. With it off, errors on the application
thread are raised and errors on export threads are logged at ERROR, so they are seen."""

from __future__ import annotations

import logging

logger = logging.getLogger("spyglass")


class SpyglassError(Exception):
    """Base class of the errors the SDK raises when fail-silently is off."""


class ConfigError(SpyglassError, ValueError):
    """An option or environment variable has a value the SDK cannot use."""


class _Policy:
    # One mutable flag, read on error paths only; `init` sets it before anything else runs.
    fail_silently = True


policy = _Policy()


def handle_sdk_error(exc: BaseException, where: str) -> None:
    """Called from an `except` block on the application thread."""
    if policy.fail_silently:
        logger.debug("spyglass: %s failed; ignored (fail_silently)", where, exc_info=exc)
        return
    if isinstance(exc, SpyglassError):
        raise exc
    raise SpyglassError(f"spyglass: {where} failed: {exc!r}") from exc


def report_background_error(message: str, *args: object, exc: BaseException | None = None) -> None:
    """An error on an export or replay thread: never raised, only logged."""
    if policy.fail_silently:
        logger.debug(message, *args, exc_info=exc)
    else:
        logger.error(message, *args, exc_info=exc)


def report_background_warning(message: str, *args: object) -> None:
    if policy.fail_silently:
        logger.debug(message, *args)
    else:
        logger.warning(message, *args)
