"""Tell people how the morning's reconciliation went: the log by default, Slack or email by choice.

A deployment points ``GC_RECONCILIATION_NOTIFIER`` at any callable ``notifier(message, report)``
(``"package.module:function"``): ``message`` is the summary text, ``report`` the job as a dict
(``needs_attention`` is true when a merchant is in ``Error`` or an actionable event matched
nothing). :func:`slack_webhook` is ready to use with ``GC_RECONCILIATION_SLACK_WEBHOOK_URL``.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

NOTIFIER_ENV = "GC_RECONCILIATION_NOTIFIER"
SLACK_WEBHOOK_ENV = "GC_RECONCILIATION_SLACK_WEBHOOK_URL"

Notifier = Callable[[str, dict[str, Any]], None]


def log_notifier(message: str, report: dict[str, Any]) -> None:
    """The default: the summary in the task log, as a warning when someone should look."""
    log.log(logging.WARNING if report.get("needs_attention") else logging.INFO, "%s", message)


def slack_webhook(message: str, report: dict[str, Any]) -> None:
    """Post the summary to a Slack incoming webhook (URL from the environment, never logged)."""
    import requests

    url = os.environ[SLACK_WEBHOOK_ENV]
    icon = ":warning:" if report.get("needs_attention") else ":white_check_mark:"
    response = requests.post(url, json={"text": f"{icon} {message}"}, timeout=10)
    response.raise_for_status()


def load_notifier(path: str | None = None) -> Notifier:
    """The configured notifier: ``path`` or ``$GC_RECONCILIATION_NOTIFIER``, else the log."""
    path = path or os.environ.get(NOTIFIER_ENV)
    if not path:
        return log_notifier
    module, _, name = path.partition(":") if ":" in path else path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def notify(lines: list[str], report: dict[str, Any]) -> None:
    """Send the summary; always log it too, and never let a broken notifier hide the result."""
    message = "\n".join(lines)
    notifier = load_notifier()
    if notifier is not log_notifier:
        log_notifier(message, report)
    try:
        notifier(message, report)
    except Exception:  # the reconciliation itself is done; a notifier outage must not undo it
        log.exception("The reconciliation notifier %s failed", os.environ.get(NOTIFIER_ENV))
