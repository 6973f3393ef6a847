"""``GoCardlessClient``: the read-mostly GoCardless Pro client the extract tasks use.

Layers, as in gocardless-pro-python: :class:`~.transport.Transport` does one HTTP exchange,
this module adds the retry policy and resource-level calls, :func:`~.pagination.paginate`
walks cursors. The retry-or-fail decision is :func:`~.errors.is_transient`, applied by a
single tenacity policy; 429s wait for the rate-limit reset instead of backing off blindly.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from typing import Any, Literal
from urllib.parse import quote

import msgspec
import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential_jitter

from gocardless_commerce.client.errors import MalformedResponseError, RateLimitError, is_transient
from gocardless_commerce.client.pagination import (
    RAW_BODY_DECODER,
    Page,
    RawPage,
    RawRecords,
    page_from_body,
    paginate,
    raw_page_from_body,
    raw_records,
)
from gocardless_commerce.client.rate_limit import RateLimit, RateLimitWaits
from gocardless_commerce.client.transport import Transport, mask_token

log = logging.getLogger("gocardless_commerce.client")

ENVIRONMENT_URLS = {
    "live": "https://api.gocardless.com",
    "sandbox": "https://api-sandbox.gocardless.com",
}
MAX_SERVER_WAIT = 65.0  # a rate-limit window is 60 s; a longer Retry-After is capped to this


def _default_user_agent() -> str:
    try:
        version = metadata.version("gocardless-commerce")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"gocardless-commerce-pipeline/{version} python-requests/{requests.__version__}"


class _WaitForServerOr(wait_base):
    """Wait as long as the server asked (``Retry-After`` on a 503/504/429, or the rate-limit
    reset after a 429), capped at :data:`MAX_SERVER_WAIT`; otherwise use ``fallback``."""

    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        hint = getattr(error, "retry_after", None)
        if hint is not None:
            return min(max(hint, 0.05), MAX_SERVER_WAIT)
        return self.fallback(retry_state)


class GoCardlessClient:
    """A GoCardless Pro API client for one access token (one merchant).

    :param access_token: the merchant's OAuth or dashboard token (``sandbox_…``/``live_…``).
    :param base_url: API root; overrides ``environment`` (our local sandbox, tests).
    :param environment: ``"live"`` or ``"sandbox"``, the real GoCardless hosts.
    :param timeout: ``(connect, read)`` seconds, or one number for both, on every request.
    :param max_retries: retries after the first attempt for transient failures.
    :param backoff_base: first backoff in seconds; doubles per retry, plus jitter.
    :param backoff_max: upper bound of one backoff (429 waits follow the reset instead).
    :param rate_limit_reserve: requests kept in hand per window; at or below this
        ``RateLimit-Remaining`` the client waits for the reset rather than risk a 429.
    :param session: a ``requests.Session`` to reuse (its owner closes it).
    :param user_agent: ``User-Agent`` header; defaults to this project's name and version.
    :param pool_size: connections kept per host by the session's adapter.
    :param sleep: how to sleep; injectable for tests.
    """

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str | None = None,
        environment: Literal["sandbox", "live"] | None = None,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        rate_limit_reserve: int = 5,
        session: requests.Session | None = None,
        user_agent: str | None = None,
        pool_size: int = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not access_token:
            raise ValueError("access_token is required")
        if base_url is None:
            if environment not in ENVIRONMENT_URLS:
                raise ValueError("pass environment='live' or 'sandbox', or a base_url")
            base_url = ENVIRONMENT_URLS[environment]
        if max_retries < 0:
            raise ValueError("max_retries must not be negative")
        if not isinstance(timeout, tuple):
            timeout = (float(timeout), float(timeout))
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_count = 0
        self._masked_token = mask_token(access_token)
        self._sleep = sleep
        self._transport = Transport(
            access_token,
            base_url,
            timeout=timeout,
            rate_limit_reserve=rate_limit_reserve,
            user_agent=user_agent or _default_user_agent(),
            session=session,
            pool_size=pool_size,
            sleep=sleep,
        )

    # -- introspection ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def request_count(self) -> int:
        """Every HTTP attempt made, retries included."""
        return self._transport.request_count

    @property
    def requests_by_resource(self) -> Counter[str]:
        return self._transport.requests_by_resource

    @property
    def rate_limited_count(self) -> int:
        """429 responses received (each one was retried after the reset)."""
        return self._transport.rate_limited_count

    @property
    def rate_limit_waits(self) -> RateLimitWaits:
        """Sleeps for a window reset: pre-emptive ones and those after a 429."""
        return self._transport.rate_limit_waits

    @property
    def last_rate_limit(self) -> RateLimit | None:
        return self._transport.last_rate_limit

    def __repr__(self) -> str:
        return f"GoCardlessClient(base_url={self.base_url!r}, access_token={self._masked_token!r})"

    __str__ = __repr__

    # -- retry policy -----------------------------------------------------------------------

    def _retrying(self) -> Retrying:
        backoff = wait_exponential_jitter(
            initial=self.backoff_base, max=self.backoff_max, jitter=self.backoff_base
        )
        return Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=_WaitForServerOr(backoff),
            before_sleep=self._before_retry,
            sleep=self._sleep,
            reraise=True,
        )

    def _before_retry(self, retry_state: RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        self.retry_count += 1
        if isinstance(error, RateLimitError):
            self._transport.record_wait(wait)
        method, path = retry_state.args[:2]
        log.warning(
            "GoCardless %s %s failed (%s: %s); retry %d/%d in %.2fs",
            method,
            path,
            type(error).__name__,
            error,
            retry_state.attempt_number,
            self.max_retries,
            wait,
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._retrying()(self._transport.request, method, path, **kwargs)

    # -- resources --------------------------------------------------------------------------

    def list_page(self, resource: str, params: Mapping[str, Any] | None = None) -> Page:
        """One page of ``GET /<resource>`` (no cursor following)."""
        return page_from_body(resource, self._call("GET", f"/{resource}", params=params))

    def iter_pages(self, resource: str, params: Mapping[str, Any] | None = None) -> Iterator[Page]:
        """Every page of ``GET /<resource>``, lazily: page N+1 is fetched when it is asked for.

        :param resource: plural name, e.g. ``payments``, ``events``, ``payout_items``.
        :param params: filters such as ``created_at[gte]``; ``limit`` defaults to 500.
        """
        return paginate(
            lambda query: self._call("GET", f"/{resource}", params=query), resource, params
        )

    def iter_raw_pages(self, resource: str, params: Mapping[str, Any] | None = None) -> Iterator[RawPage]:
        """:meth:`iter_pages`, each record left as the exact JSON the API sent
        (:class:`~.pagination.RawPage`): for callers that store records, not read them."""
        return paginate(
            lambda query: self._call("GET", f"/{resource}", params=query, decoder=RAW_BODY_DECODER),
            resource,
            params,
            page_from=raw_page_from_body,
        )

    def iter_records(
        self, resource: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record of ``GET /<resource>``, page by page."""
        for page in self.iter_pages(resource, params):
            yield from page.records

    def get(self, resource: str, id: str) -> dict[str, Any]:
        """``GET /<resource>/<id>``, unwrapped from its envelope."""
        body = self._call("GET", _record_path(resource, id))
        return body.get(resource, body)

    def get_raw(self, resource: str, id: str) -> RawRecords:
        """:meth:`get`, the record left as the JSON the API sent and checked against its
        schema like a listed one (a bad record comes back in ``rejected``)."""
        body = self._call("GET", _record_path(resource, id), decoder=RAW_BODY_DECODER)
        if resource not in body:
            raise MalformedResponseError(200, detail=f"response without a {resource!r} object")
        return raw_records(resource, msgspec.Raw(b"[" + bytes(body[resource]) + b"]"))

    def post(
        self, path: str, body: Mapping[str, Any] | None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """``POST <path>`` with an enveloped JSON body; returns the decoded response.

        A key is generated when none is given, and every retry reuses it, so a create that
        timed out after the server acted cannot be applied twice.
        """
        key = idempotency_key or str(uuid.uuid4())
        return self._call(
            "POST", _path(path), body=dict(body or {}), headers={"Idempotency-Key": key}
        )

    def delete(self, path: str) -> dict[str, Any]:
        """``DELETE <path>``; returns the decoded response (``{}`` when there is none)."""
        return self._call("DELETE", _path(path))

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the pooled connections (unless the session was passed in)."""
        self._transport.close()

    def __enter__(self) -> GoCardlessClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _record_path(resource: str, id: str) -> str:
    """``/<resource>/<id>``, the id percent-encoded. An empty, ``.`` or ``..`` id cannot be
    sent as a path segment (URL normalisation turns ``/payments/..`` into ``/``, another
    endpoint), and names no GoCardless record: it is refused before any request."""
    if id in ("", ".", ".."):
        raise UnrequestableIdError(f"{id!r} cannot name a {resource} record: not requested")
    return f"/{resource}/{quote(id, safe='')}"


class UnrequestableIdError(ValueError):
    """An id (read from another record's links) that no GET by id can be made for."""


def _path(path: str) -> str:
    return path if path.startswith("/") else f"/{path}"
