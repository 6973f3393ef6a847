"""``…/providers``: the GoCardless partner app, stored as the Airflow connection
``gocardless_default`` (client id = login, client secret = password, the rest in its extra).

Credentials are write-only: no route returns or logs the client secret; ``GET /providers``
says whether they are set. ``enabled`` and ``auto_connect`` live in the same connection's
extra, so one secrets backend holds the whole provider.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gocardless_commerce import settings
from gocardless_commerce.api import models
from gocardless_commerce.api.access import READ, WRITE_METHODS
from gocardless_commerce.api.errors import ApiError
from gocardless_commerce.client.oauth import parse_is_sandbox
from gocardless_commerce.data_types import DATA_TYPES
from gocardless_commerce.orchestration.connections import load_connection, save_connection

router = APIRouter(tags=["providers"])
DESCRIPTION = "GoCardless partner app (OAuth client)"


class ProviderConnection:
    """The provider connection's parts, read once (absent = nothing set yet)."""

    def __init__(self) -> None:
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = load_connection(settings.GOCARDLESS_PROVIDER_CONN_ID)
        except AirflowNotFoundException:
            conn = None
        self.client_id: str | None = conn.login if conn else None
        self.client_secret: str | None = conn.password if conn else None
        self.extra: dict[str, Any] = dict(conn.extra_dejson) if conn else {}

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @property
    def enabled(self) -> bool:
        return bool(self.extra.get("enabled", True))

    @property
    def auto_connect(self) -> bool:
        return bool(self.extra.get("auto_connect", False))

    def save(self, **extra: Any) -> None:
        save_connection(settings.GOCARDLESS_PROVIDER_CONN_ID, login=self.client_id, password=self.client_secret,
                        extra={**self.extra, **extra}, description=DESCRIPTION)

    def require_usable(self) -> None:
        """Data connections need credentials and an enabled provider (409 otherwise)."""
        if not self.configured:
            raise ApiError(409, "Set the GoCardless credentials first (PUT …/providers/gocardless/credentials)")
        if not self.enabled:
            raise ApiError(409, "The GoCardless provider is disabled (PUT …/providers/gocardless {\"enable\": true})")

    def view(self) -> models.Provider:
        try:
            is_sandbox = parse_is_sandbox(self.extra["is_sandbox"]) if "is_sandbox" in self.extra else None
        except ValueError:
            is_sandbox = None
        return models.Provider(
            enabled=self.enabled, available=self.configured, auto_connect=self.auto_connect,
            data_types=list(DATA_TYPES),
            credentials_config=models.CredentialsConfig(
                configured=self.configured, is_sandbox=is_sandbox, base_url=self.extra.get("base_url")),
        )


@router.get("/providers", dependencies=[READ])
def list_providers() -> list[models.Provider]:
    return [ProviderConnection().view()]


@router.put("/providers/gocardless/credentials", dependencies=[WRITE_METHODS["PUT"]])
def put_credentials(body: models.CredentialsRequest) -> models.Provider:
    provider = ProviderConnection()
    credentials = body.credentials
    provider.client_id, provider.client_secret = credentials.client_id, credentials.client_secret.get_secret_value()
    provider.extra.pop("base_url", None)
    extra: dict[str, Any] = {"is_sandbox": credentials.is_sandbox}
    if credentials.base_url:
        extra["base_url"] = str(credentials.base_url).rstrip("/")
    provider.save(**extra)
    return ProviderConnection().view()


@router.put("/providers/gocardless/settings", dependencies=[WRITE_METHODS["PUT"]])
def put_settings(body: models.ProviderSettingsRequest) -> models.Provider:
    ProviderConnection().save(auto_connect=body.auto_connect)
    return ProviderConnection().view()


@router.put("/providers/gocardless", dependencies=[WRITE_METHODS["PUT"]])
def put_enable(body: models.ProviderEnableRequest) -> models.Provider:
    ProviderConnection().save(enabled=body.enable)
    return ProviderConnection().view()
