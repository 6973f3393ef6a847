"""``GoCardlessHook``: builds a :class:`GoCardlessClient` from Airflow connections.

Two kinds of connection, so any secrets backend can hold them:

* the **provider** connection (``gocardless_default``) is our partner app: login = OAuth
  client id, password = client secret, extra ``{"is_sandbox": true, "base_url": "…"}``;
* one **merchant** connection per data connection (``gocardless_<data connection id>``, see
  :func:`gocardless_commerce.settings.merchant_conn_id`):
  password = that merchant's access token, extra may carry its own ``base_url``.

Connections are read in :meth:`GoCardlessHook.get_client`, never in ``__init__``, so
building DAGs (and hooks) at parse time never touches the connection backend. The client
package itself stays importable without Airflow; this module is the bridge.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from gocardless_commerce.client import GoCardlessClient
from gocardless_commerce.client import oauth
from gocardless_commerce.orchestration.provider_info import UI_FIELD_BEHAVIOUR
from gocardless_commerce.settings import ConfigurationError

#: Client options a connection's extra may set (explicit ``client_kwargs`` win over them).
CLIENT_OPTIONS = ("timeout", "max_retries", "backoff_base", "backoff_max", "rate_limit_reserve")


def provider_oauth_root(extra: dict[str, Any]) -> str:
    """The OAuth host of the provider connection's extra: its ``base_url`` (our sandbox serves
    OAuth on the API host), else GoCardless live or sandbox per ``is_sandbox`` (default sandbox)."""
    base_url = GoCardlessHook._base_url(extra)
    if base_url:
        return oauth.connect_url(base_url=base_url)
    try:
        return oauth.connect_url(oauth.environment_of(extra))
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


class GoCardlessHook(BaseHook):
    """Access one merchant's GoCardless account on behalf of our partner app.

    :param merchant_conn_id: connection whose password is the merchant's access token.
    :param gocardless_conn_id: the provider (partner app) connection.
    :param client_kwargs: extra :class:`GoCardlessClient` arguments (timeouts, retries…).
    """

    conn_name_attr = "gocardless_conn_id"
    default_conn_name = "gocardless_default"
    conn_type = "gocardless"
    hook_name = "GoCardless"

    def __init__(
        self,
        merchant_conn_id: str | None = None,
        gocardless_conn_id: str = default_conn_name,
        *,
        client_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.merchant_conn_id = merchant_conn_id
        self.gocardless_conn_id = gocardless_conn_id
        self.client_kwargs = dict(client_kwargs or {})

    # -- connections ------------------------------------------------------------------------

    def _provider(self) -> tuple[str | None, str | None, dict[str, Any]]:
        """(client_id, client_secret, extra) of the provider connection; empty if it is absent.

        A missing provider connection is tolerated for API calls (the merchant connection or
        the token prefix can pick the host) but not for OAuth, which needs the app's secret.
        """
        try:
            conn = self.get_connection(self.gocardless_conn_id)
        except AirflowNotFoundException:
            return None, None, {}
        return conn.login, conn.password, dict(conn.extra_dejson)

    @staticmethod
    def _base_url(extra: dict[str, Any]) -> str | None:
        return (extra.get("base_url") or "").rstrip("/") or None

    @staticmethod
    def _environment(extra: dict[str, Any], token: str | None = None) -> str:
        """``is_sandbox`` decides; without it, the token's ``live_``/``sandbox_`` prefix does."""
        if "is_sandbox" in extra:
            try:
                return oauth.environment_of(extra)
            except ValueError as error:
                raise ConfigurationError(str(error)) from None
        if token and token.startswith("live_"):
            return "live"
        if token and token.startswith("sandbox_"):
            return "sandbox"
        raise ConfigurationError(
            "No is_sandbox flag or base_url in the GoCardless connections, and the token does "
            "not say its environment"
        )

    def get_client(self, **overrides: Any) -> GoCardlessClient:
        """A client for the merchant, on the host the connections choose.

        Host: merchant ``base_url`` > provider ``base_url`` > ``is_sandbox`` (provider, then
        merchant extra) > token prefix. Options: ``overrides`` > ``client_kwargs`` > extras.
        """
        if not self.merchant_conn_id:
            raise ConfigurationError("GoCardlessHook needs merchant_conn_id to build an API client")
        merchant = self.get_connection(self.merchant_conn_id)
        token = merchant.password
        if not token:
            raise ConfigurationError(f"Connection {self.merchant_conn_id!r} has no access token (password)")
        _, _, provider_extra = self._provider()
        merchant_extra = dict(merchant.extra_dejson)
        settings = {**provider_extra, **merchant_extra}
        options: dict[str, Any] = {k: settings[k] for k in CLIENT_OPTIONS if k in settings}
        if isinstance(options.get("timeout"), list):
            options["timeout"] = tuple(options["timeout"])
        options.update(self.client_kwargs)
        options.update(overrides)
        base_url = self._base_url(merchant_extra) or self._base_url(provider_extra)
        if base_url:
            options.setdefault("base_url", base_url)
        else:
            options.setdefault("environment", self._environment(settings, token))
        return GoCardlessClient(token, **options)

    def get_conn(self) -> GoCardlessClient:
        """Airflow's generic accessor; same as :meth:`get_client`."""
        return self.get_client()

    # -- OAuth ------------------------------------------------------------------------------

    def oauth_urls(self) -> dict[str, str]:
        """``authorize``, ``access_token`` and ``revoke`` URLs for the provider's environment."""
        _, _, extra = self._provider()
        root = provider_oauth_root(extra)
        return {name: f"{root}/oauth/{name}" for name in ("authorize", "access_token", "revoke")}

    def authorize_url(
        self, redirect_uri: str, *, state: str | None = None, scope: str = "read_only", **kwargs: Any
    ) -> str:
        """Where to send a merchant to connect their account (read-only by default)."""
        client_id, _, extra = self._require_provider()
        return oauth.authorize_url(
            provider_oauth_root(extra), client_id, redirect_uri, scope=scope, state=state, **kwargs
        )

    def exchange_code(self, code: str, redirect_uri: str) -> dict[str, Any]:
        """Swap the code from the OAuth redirect for ``{"access_token", "organisation_id", …}``.

        The caller stores the token in a merchant connection; it is never logged here.
        """
        client_id, client_secret, extra = self._require_provider()
        return oauth.exchange_code(
            provider_oauth_root(extra),
            client_id=client_id,
            client_secret=client_secret,
            code=code,
            redirect_uri=redirect_uri,
        )

    def _require_provider(self) -> tuple[str, str, dict[str, Any]]:
        client_id, client_secret, extra = self._provider()
        if not client_id or not client_secret:
            raise ConfigurationError(
                f"Connection {self.gocardless_conn_id!r} needs the app's client id (login) "
                "and client secret (password) for OAuth"
            )
        return client_id, client_secret, extra

    # -- UI ---------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check a merchant token with one cheap call; for the provider alone, check fields."""
        try:
            if self.merchant_conn_id:
                with self.get_client(max_retries=1) as client:
                    client.list_page("creditors", {"limit": 1})
                return True, f"Connected to {client.base_url}"
            self._require_provider()
            return True, "Client id and secret are set"
        except Exception as exc:  # reported in the UI, never raised
            return False, str(exc)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The form as Airflow before 3.2 asked hooks for it (3.2+ reads the provider info)."""
        behaviour = dict(UI_FIELD_BEHAVIOUR)
        behaviour["hidden_fields"] = behaviour.pop("hidden-fields")
        return behaviour
