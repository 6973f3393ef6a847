"""One HTTP exchange with the GoCardless API: headers, timeouts, rate limit, error mapping.

The transport performs exactly one attempt and turns whatever happens into either a decoded
JSON body or a typed :mod:`~gocardless_commerce.client.errors` exception. It does not retry;
the client wraps it in a tenacity policy. Keeping the two apart means every attempt, retries
included, goes through the same counters and the same pre-emptive rate-limit wait.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import requests
from requests.adapters import HTTPAdapter

from gocardless_commerce.client.errors import (
    STATUS_ONLY_ERRORS,
    MalformedResponseError,
    TransportError,
    error_from_envelope,
)
from gocardless_commerce.client.rate_limit import (
    RateLimit,
    RateLimitWaits,
    parse_rate_limit,
    seconds_until_reset,
    server_wait_hint,
)

log = logging.getLogger("gocardless_commerce.client")

API_VERSION = "2015-07-06"
_JSON_DECODER = msgspec.json.Decoder()


def mask_token(token: str) -> str:
    """``sandbox_abc123`` -> ``sandbox_****``: enough to tell environments apart, nothing more."""
    prefix, sep, _ = token.partition("_")
    if sep and prefix in {"sandbox", "live"}:
        return f"{prefix}_****"
    return "****"


def resource_of(path: str) -> str:
    """The resource a path addresses (``/payments/PM1`` -> ``payments``), for counters."""
    return path.strip("/").split("/", 1)[0] or "/"


class Transport:
    """A pooled ``requests.Session`` that speaks GoCardless.

    :param access_token: bearer token; only ever placed in the ``Authorization`` header.
    :param base_url: API root without trailing slash.
    :param timeout: ``(connect, read)`` seconds applied to every request.
    :param rate_limit_reserve: when ``RateLimit-Remaining`` falls to this, wait for the reset
        before the next request instead of spending the last calls (and risking a 429).
    :param session: an existing session to reuse; the caller then owns closing it.
    :param sleep: how to sleep (``time.sleep``); injectable for tests.
    """

    def __init__(
        self,
        access_token: str,
        base_url: str,
        *,
        timeout: tuple[float, float],
        rate_limit_reserve: int,
        user_agent: str,
        session: requests.Session | None = None,
        pool_size: int = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.rate_limit_reserve = rate_limit_reserve
        self._sleep = sleep
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        # Per-request headers rather than session headers: a shared session never carries
        # this token into someone else's requests.
        self._headers = {
            "Authorization": f"Bearer {access_token}",
            "GoCardless-Version": API_VERSION,
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": user_agent,
        }
        self.request_count = 0
        self.requests_by_resource: Counter[str] = Counter()
        self.rate_limited_count = 0
        self.rate_limit_waits = RateLimitWaits()
        self.last_rate_limit: RateLimit | None = None
        self._resume_at: float | None = None  # monotonic time the budget comes back
        # A few threads may share one transport (payout items are fetched concurrently):
        # counters and the rate-limit state change under this lock; requests run outside it.
        self._lock = threading.Lock()

    # -- rate limit -------------------------------------------------------------------------

    def _note_rate_limit(self, response: requests.Response) -> None:
        state = parse_rate_limit(response.headers)
        if state is None:
            return
        self.last_rate_limit = state
        if response.status_code == 429:
            return  # the retry policy waits for this reset; don't wait twice
        if state.remaining is not None and state.remaining <= self.rate_limit_reserve:
            wait = seconds_until_reset(response.headers)
            if wait:
                with self._lock:
                    self._resume_at = time.monotonic() + wait

    def wait_for_budget(self) -> None:
        """Sleep until the window resets if the last response left too little budget."""
        with self._lock:
            if self._resume_at is None:
                return
            wait = self._resume_at - time.monotonic()
            if wait <= 0:
                self._resume_at = None
        if wait > 0:
            log.info("GoCardless rate limit nearly spent; waiting %.2fs for the reset", wait)
            self.record_wait(wait)
            self._sleep(wait)

    def record_wait(self, seconds: float) -> None:
        with self._lock:
            self.rate_limit_waits.count += 1
            self.rate_limit_waits.seconds += seconds

    # -- one exchange -----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        decoder: msgspec.json.Decoder = _JSON_DECODER,
    ) -> dict[str, Any]:
        """Perform one attempt; return the decoded body (``{}`` for 204) or raise.

        :param decoder: decodes a successful body; it must yield a dict (e.g. a
            ``dict[str, msgspec.Raw]`` decoder leaves the values undecoded). Error bodies are
            always decoded in full.
        """
        self.wait_for_budget()
        with self._lock:
            self.request_count += 1
            self.requests_by_resource[resource_of(path)] += 1
        data = msgspec.json.encode(body) if body is not None else None
        try:
            response = self.session.request(
                method,
                f"{self.base_url}{path}",
                params=params,
                data=data,
                headers={**self._headers, **(headers or {})},
                timeout=self.timeout,
            )
        except requests.Timeout as exc:
            if isinstance(exc, requests.ConnectTimeout):
                raise TransportError(f"{method} {path}: connect timeout after {self.timeout[0]}s") from None
            raise TransportError(f"{method} {path}: read timeout after {self.timeout[1]}s") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise TransportError(f"{method} {path}: connection failed ({_reason(exc)})") from None
        except requests.RequestException as exc:
            raise TransportError(f"{method} {path}: {_reason(exc)}", transient=False) from None
        self._note_rate_limit(response)
        return self._decode(method, response, decoder)

    def _decode(
        self, method: str, response: requests.Response, decoder: msgspec.json.Decoder = _JSON_DECODER
    ) -> dict[str, Any]:
        status = response.status_code
        if status == 204 or (status < 300 and not response.content and method == "DELETE"):
            return {}
        try:
            body = (decoder if status < 400 else _JSON_DECODER).decode(response.content)
        except msgspec.DecodeError:
            body = None
        if status < 400:
            if isinstance(body, dict):
                return body
            raise malformed_response(response)
            return body
        envelope = body.get("error") if isinstance(body, dict) else None
        if not isinstance(envelope, dict):
            if status in STATUS_ONLY_ERRORS:
                # A proxy or gateway answered (HTML, empty body): the status alone still says
                # the token was refused, which must reach the merchant as AUTH_ERROR.
                content_type = response.headers.get("Content-Type") or "no content type"
                raise STATUS_ONLY_ERRORS[status](status, {"message": f"no GoCardless error body ({content_type})"})
            raise malformed_response(response)
        if status == 429:
            with self._lock:
                self.rate_limited_count += 1
        raise error_from_envelope(status, envelope, retry_after=server_wait_hint(status, response.headers))

    def close(self) -> None:
        if self._owns_session:
            self.session.close()


REQUEST_ID_HEADERS = ("X-Request-Id", "Request-Id", "CF-Ray")
#: A GoCardless request id inside a body too broken to decode (a truncated error envelope).
_REQUEST_ID_IN_BODY = re.compile(rb'"request_id"\s*:\s*"([A-Za-z0-9_-]{1,64})"')


def malformed_response(response: requests.Response, detail: str | None = None) -> MalformedResponseError:
    """The error for a body that is not the promised JSON, described without its content.

    The request id comes from a response header or, failing that, from the envelope's
    ``request_id`` field; nothing else of the body is read into the error.
    """
    request_id = next((response.headers[h] for h in REQUEST_ID_HEADERS if response.headers.get(h)), None)
    if request_id is None and (found := _REQUEST_ID_IN_BODY.search(response.content[:65536])):
        request_id = found.group(1).decode()
    return MalformedResponseError(
        response.status_code,
        content_type=response.headers.get("Content-Type"),
        size=len(response.content),
        request_id=request_id,
        detail=detail,
        retry_after=server_wait_hint(response.status_code, response.headers),
    )


#: Low-level causes, most specific first, and how a log line names them.
_CAUSES: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset by peer"),
    (ConnectionAbortedError, "connection aborted"),
    (BrokenPipeError, "broken pipe"),
)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it wraps (args, ``reason``, ``__cause__``/``__context__``)."""
    seen: list[BaseException] = []
    pending = [exc]
    while pending:
        current = pending.pop()
        if current in seen or len(seen) > 20:
            continue
        seen.append(current)
        nested = [a for a in current.args if isinstance(a, BaseException)]
        nested += [x for x in (getattr(current, "reason", None), current.__cause__, current.__context__)
                   if isinstance(x, BaseException)]
        pending.extend(nested)
    return seen


def _reason(exc: BaseException) -> str:
    """A short cause for a requests failure, without URLs (they may carry query strings)."""
    chain = _causes(exc)
    for kind, text in _CAUSES:
        if any(isinstance(e, kind) for e in chain):
            return text
    if any("IncompleteRead" in type(e).__name__ or "IncompleteRead" in str(e) for e in chain):
        return "incomplete read: connection closed mid-response"
    if any(type(e).__name__ == "RemoteDisconnected" for e in chain):
        return "server closed the connection without a response"
    inner = chain[-1] if chain else exc
    return type(inner).__name__


__all__ = ["API_VERSION", "Transport", "malformed_response", "mask_token", "resource_of"]
