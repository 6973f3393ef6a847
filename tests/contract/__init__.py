"""Contract fixtures: GoCardless API bodies written from the API reference, not from our code.

The client's tests feed these to the client, and the sandbox's tests check the simulator's own
bodies against them, so the two can only agree by both agreeing with the real API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ERRORS_DIR = Path(__file__).parent / "errors"
ERROR_FIXTURES = sorted(p.stem for p in ERRORS_DIR.glob("*.json"))
ENVELOPE_KEYS = {"documentation_url", "message", "type", "code", "request_id", "errors"}
# Fixtures whose first ``reason`` is one example among many (the type and status are the contract).
REASON_VARIES = {"invalid_api_usage", "invalid_state", "gocardless"}


def error_fixture(name: str, **overrides: Any) -> dict[str, Any]:
    """The ``{"error": {...}}`` body of fixture ``name``, with top-level error fields overridden."""
    body = json.loads((ERRORS_DIR / f"{name}.json").read_text())
    body["error"].update(overrides)
    return body


def assert_error_envelope(body: dict[str, Any], like: str) -> None:
    """Fail unless ``body`` has the shape, status and type of fixture ``like``."""
    expected = error_fixture(like)["error"]
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == ENVELOPE_KEYS, sorted(error)
    assert (error["code"], error["type"]) == (expected["code"], expected["type"]), error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["request_id"], str) and error["request_id"]
    assert error["documentation_url"].startswith("https://developer.gocardless.com/api-reference#")
    assert isinstance(error["errors"], list) and error["errors"]
    for item in error["errors"]:
        assert ("reason" in item) != ("field" in item), item
        assert isinstance(item["message"], str)
    if like not in REASON_VARIES and "reason" in expected["errors"][0]:
        assert error["errors"][0]["reason"] == expected["errors"][0]["reason"], error
