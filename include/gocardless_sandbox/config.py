"""Settings of one sandbox: how much data to generate, its simulated clock and its OAuth app.

Everything that makes two sandboxes differ lives here, so the same config always yields the
same data (the generator is a pure function of seed, scale knobs and ``now``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

#: Admin requests (``/sandbox/…``) carry the admin secret in this header; the CLI reads the
#: secret from this environment variable.
ADMIN_SECRET_HEADER = "Sandbox-Admin-Secret"
ADMIN_SECRET_ENV = "GC_SANDBOX_ADMIN_SECRET"

#: The partner app registered with the sandbox's OAuth server unless configured otherwise.
DEFAULT_OAUTH_CLIENT_ID = "sandbox_client_id"
DEFAULT_OAUTH_CLIENT_SECRET = "sandbox_client_secret"
DEFAULT_OAUTH_REDIRECT_URIS = (
    "http://localhost:8080/gocardless/oauth/callback",
    "http://127.0.0.1:8080/gocardless/oauth/callback",
    "http://localhost:8080/oauth/callback",
    "http://127.0.0.1:8080/oauth/callback",
)


def today_utc() -> datetime:
    """The default simulated ``now``: the current UTC day at midnight."""
    current = datetime.now(UTC)
    return current.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class SandboxConfig:
    """Scale, clock and OAuth settings of a sandbox.

    :param seed: same seed and same ``now`` give byte-identical data.
    :param merchants: number of organisations (each with one creditor and a pre-issued token).
    :param payments_per_merchant: payments generated for every merchant (exact).
    :param history_months: length of the generated history, ending at ``now``.
    :param customers_per_merchant: customers per merchant; derived from the payments when None.
    :param now: the simulated clock at start; today at midnight UTC when None.
    :param rate_limit_per_minute: requests per access token per minute (the real API's 1000).
    :param db_path: SQLite file; a file in a fresh temporary directory when None.
    :param admin_secret: what the ``Sandbox-Admin-Secret`` header of ``/sandbox/`` admin
        requests must hold; random per server when None (``SandboxServer.admin_secret``).
    """

    seed: int = 7
    merchants: int = 2
    payments_per_merchant: int = 500
    history_months: int = 18
    customers_per_merchant: int | None = None
    now: datetime | None = None
    rate_limit_per_minute: int = 1000
    db_path: str | Path | None = None
    oauth_client_id: str = DEFAULT_OAUTH_CLIENT_ID
    oauth_client_secret: str = field(default=DEFAULT_OAUTH_CLIENT_SECRET, repr=False)
    oauth_redirect_uris: tuple[str, ...] = field(default=DEFAULT_OAUTH_REDIRECT_URIS)
    admin_secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.now is None:
            self.now = today_utc()
        elif self.now.tzinfo is None:
            self.now = self.now.replace(tzinfo=UTC)
        self.oauth_redirect_uris = tuple(self.oauth_redirect_uris)
        if self.merchants < 1:
            raise ValueError("merchants must be at least 1")
        if self.payments_per_merchant < 0 or self.history_months < 1:
            raise ValueError("payments_per_merchant must be >= 0 and history_months >= 1")

    @property
    def customers(self) -> int:
        """Customers per merchant: the knob, or one per eight payments (at least three)."""
        if self.customers_per_merchant is not None:
            return max(1, self.customers_per_merchant)
        return max(3, -(-self.payments_per_merchant // 8))
