"""Rate limiting and fault injection for the sandbox, as pure ASGI middleware.

The sandbox app wraps its routes with these two classes so that clients meet the same
failure modes as against the real API: the 1000-requests-per-minute limit with its
``RateLimit-*`` headers and 429 envelope, JSON 5xx errors, Cloudflare-style HTML 502 pages,
slow responses, dropped connections and truncated bodies; and what a network or a load
balancer does to a client: 503/504 with ``Retry-After``, 429s that carry only ``Retry-After``,
connections reset mid-response, connections that hang without a byte, and listings whose
records are created while they are paged. Both are plain ASGI (no Starlette
``BaseHTTPMiddleware``) so they see every byte and can break a response on purpose.

Admin (``/sandbox/``) and OAuth (``/oauth/``) paths are exempt from limiting and from
server-wide faults, so tests can always reconfigure a misbehaving sandbox.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import asdict, dataclass, fields
from email.utils import formatdate
from typing import Any

from gocardless_sandbox.errors import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

EXEMPT_PREFIXES = ("/sandbox/", "/oauth/")
RATE_LIMIT_HEADERS = (b"ratelimit-limit", b"ratelimit-remaining", b"ratelimit-reset")
FAULT_HEADER = b"sandbox-fault"
#: Scope flag set by the fault injector on a response that must reach the client without the
#: limiter's ``RateLimit-*`` headers (the 429 that carries only ``Retry-After``).
BARE_RESPONSE = "sandbox.bare_response"
#: ``request.state`` attribute set on a listing request during which records must be created.
SHIFT_STATE = "sandbox_shift"

CLOUDFLARE_502_HTML = """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>cloudflare</center>
</body>
</html>
"""


def is_exempt(path: str) -> bool:
    """Admin and OAuth routes are never limited nor broken by server-wide faults."""
    return path.startswith(EXEMPT_PREFIXES)


def http_date(epoch_seconds: float) -> str:
    """``Thu, 03 May 2018 16:00:00 GMT``: the format GoCardless uses for ``RateLimit-Reset``."""
    return formatdate(epoch_seconds, usegmt=True)


def token_fingerprint(token: str) -> str:
    """A stable, non-reversible key for a token, so stats can be shown without leaking it."""
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


# --------------------------------------------------------------------------------------------
# Rate limiting
# --------------------------------------------------------------------------------------------


@dataclass
class _Bucket:
    window_start: int
    used: int = 0
    requests: int = 0
    rate_limited: int = 0


class RateLimitMiddleware:
    """Fixed-window rate limit per bearer token, with GoCardless' headers and 429 envelope.

    Windows start on a whole second (the first request of the window, rounded down) and last
    ``window_seconds`` (60 like the real API; tests shorten it). ``RateLimit-Reset`` is the
    HTTP-date at which the window ends, so a client can sleep exactly until then.

    The sandbox keeps a reference to change :attr:`limit_per_minute` at runtime and to read
    :meth:`stats` (keyed by token fingerprint, never by the token itself).

    :param limit_per_minute: requests allowed per token per window.
    :param window_seconds: window length; 60 except in tests.
    :param date_header: also send an exact ``Date`` header. Only useful when the server's own
        ``Date`` is switched off (uvicorn ``date_header=False``), because uvicorn's lags up to
        a second and clients compute their wait as ``Reset - Date``.
    :param clock: wall-clock source (``time.time``), replaceable in tests.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit_per_minute: int = 1000,
        *,
        window_seconds: int = 60,
        date_header: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if window_seconds < 1:
            raise ValueError("window_seconds must be at least 1")
        self.app = app
        self.window_seconds = int(window_seconds)
        self.date_header = date_header
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._limit = 0
        self.limit_per_minute = limit_per_minute

    @property
    def limit_per_minute(self) -> int:
        """Requests allowed per token per window; assignable while the server runs."""
        return self._limit

    @limit_per_minute.setter
    def limit_per_minute(self, value: int) -> None:
        if int(value) < 1:
            raise ValueError("limit_per_minute must be at least 1")
        with self._lock:
            self._limit = int(value)

    def set_limit(self, limit_per_minute: int) -> None:
        """Change the limit; the current windows keep their usage."""
        self.limit_per_minute = limit_per_minute

    def reset(self) -> None:
        """Forget every window and counter (between tests or benchmark runs)."""
        with self._lock:
            self._buckets.clear()

    def stats(self) -> dict[str, Any]:
        """Totals and per-token counts of requests and 429s, safe to serve from an admin route."""
        with self._lock:
            tokens = {
                key: {"requests": b.requests, "rate_limited": b.rate_limited}
                for key, b in self._buckets.items()
            }
            return {
                "limit_per_minute": self._limit,
                "window_seconds": self.window_seconds,
                "requests": sum(t["requests"] for t in tokens.values()),
                "rate_limited": sum(t["rate_limited"] for t in tokens.values()),
                "tokens": tokens,
            }

    def stats_for(self, token: str) -> dict[str, int]:
        """Counts for one token (bare or ``Bearer …``); zeros if it was never seen."""
        with self._lock:
            bucket = self._buckets.get(token_fingerprint(token))
            if bucket is None:
                return {"requests": 0, "rate_limited": 0}
            return {"requests": bucket.requests, "rate_limited": bucket.rate_limited}

    def _take(self, authorization: str) -> tuple[bool, int, int, int]:
        """Count one request; return (allowed, limit, remaining, reset_epoch)."""
        now = self._clock()
        key = token_fingerprint(authorization)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(window_start=int(now))
            elif now >= bucket.window_start + self.window_seconds:
                bucket.window_start = int(now)
                bucket.used = 0
            bucket.requests += 1
            allowed = bucket.used < self._limit
            if allowed:
                bucket.used += 1
            else:
                bucket.rate_limited += 1
            remaining = max(self._limit - bucket.used, 0)
            return allowed, self._limit, remaining, bucket.window_start + self.window_seconds

    def _count_inner_429(self, authorization: str) -> None:
        with self._lock:
            bucket = self._buckets.get(token_fingerprint(authorization))
            if bucket is not None:
                bucket.rate_limited += 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_exempt(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        authorization = _header(scope, b"authorization")
        if not authorization:
            await self.app(scope, receive, send)
            return

        allowed, limit, remaining, reset = self._take(authorization)
        headers = [
            (b"ratelimit-limit", str(limit).encode()),
            (b"ratelimit-remaining", str(remaining).encode()),
            (b"ratelimit-reset", http_date(reset).encode()),
        ]
        if self.date_header:
            headers.append((b"date", http_date(self._clock()).encode()))
        if not allowed:
            body = error_body(429, reason="rate_limit_exceeded", message="Rate limit exceeded")
            await _send_json(send, 429, body, headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message.get("status") == 429:
                    # An injected 429 from further in: count it as one the client received.
                    self._count_inner_429(authorization)
                if not scope.get(BARE_RESPONSE):
                    existing = list(message.get("headers", []))
                    names = {name.lower() for name, _ in existing}
                    # Keep headers an inner layer already set (the fault injector's 429).
                    extra = [(n, v) for n, v in headers if n not in names]
                    message = {**message, "headers": existing + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --------------------------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------------------------


@dataclass
class FaultConfig:
    """Server-wide fault rates (fractions of requests, 0–1), mutable while the server runs.

    One seeded draw per non-exempt request picks at most one fault, in field order, so the
    same seed and request sequence give the same faults. ``slow`` sleeps ``slow_seconds``
    and then serves the request normally.
    """

    error_rate: float = 0.0
    html_error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    drop_rate: float = 0.0
    truncate_rate: float = 0.0
    unavailable_rate: float = 0.0
    gateway_timeout_rate: float = 0.0
    retry_after_only_rate: float = 0.0
    reset_rate: float = 0.0
    hang_rate: float = 0.0
    shift_rate: float = 0.0
    retry_after_seconds: int = 1
    retry_after_http_date: bool = False
    hang_seconds: float = 30.0
    seed: int = 0

    #: rate field -> the fault it draws, in draw order (also the ``Sandbox-Fault`` names).
    FAULT_OF_RATE = (
        ("error_rate", "500"),
        ("html_error_rate", "502-html"),
        ("rate_limit_rate", "429"),
        ("slow_rate", "slow"),
        ("drop_rate", "drop"),
        ("truncate_rate", "truncate"),
        ("unavailable_rate", "503"),
        ("gateway_timeout_rate", "504"),
        ("retry_after_only_rate", "429-retry-after"),
        ("reset_rate", "reset"),
        ("hang_rate", "hang"),
        ("shift_rate", "shift"),
    )
    RATE_FIELDS = tuple(name for name, _ in FAULT_OF_RATE)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Reject fractions outside 0–1 and rates that add up to more than every request."""
        for name in self.RATE_FIELDS:
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if sum(float(getattr(self, n)) for n in self.RATE_FIELDS) > 1.0 + 1e-9:
            raise ValueError("fault rates add up to more than 1")
        for name in ("slow_seconds", "retry_after_seconds", "hang_seconds"):
            if float(getattr(self, name)) < 0:
                raise ValueError(f"{name} must not be negative")

    def update(self, **changes: Any) -> FaultConfig:
        """Apply a partial update (e.g. the body of ``PUT /sandbox/faults``) atomically."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        candidate = FaultConfig(**{**asdict(self), **changes})  # validates
        for name in known:
            setattr(self, name, getattr(candidate, name))
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def pick(self, draw: float) -> str | None:
        """Map one uniform draw in [0, 1) onto a fault name, or None for a normal response."""
        threshold = 0.0
        for name, fault in self.FAULT_OF_RATE:
            threshold += float(getattr(self, name))
            if draw < threshold:
                return fault
        return None


class FaultInjectionMiddleware:
    """Break responses on purpose, per request (``Sandbox-Fault`` header) or per server.

    Header values: ``500`` (JSON ``gocardless`` error), ``502-html`` (Cloudflare HTML page),
    ``429`` (GoCardless rate-limit error with ``RateLimit-*`` headers, reset on the next whole
    second), ``slow=<seconds>`` (sleep, then serve), ``drop`` (headers promise more bytes than
    are sent, then the connection closes: ``requests`` raises ``ChunkedEncodingError``),
    ``truncate`` (the real response with its JSON body cut in half: valid HTTP, invalid JSON),
    and the network faults of :func:`inject_network_fault`: ``503[=<s>|=date[:<s>]]`` and
    ``504[…]`` (JSON error with ``Retry-After``), ``429-retry-after[…]`` (a 429 with only
    ``Retry-After``), ``reset`` (half the response, then a TCP RST), ``hang[=<s>]`` (no byte
    until the client gives up) and ``shift`` (records are created before a listing's next
    page is read).

    :param faults: the server-wide rates; the sandbox keeps the same object and mutates it.
    :param rate_limit_per_minute: the ``RateLimit-Limit`` shown on injected 429s.
    :param injected: where to count the faults served, by name (the sandbox keeps the dict).
    """

    def __init__(
        self,
        app: ASGIApp,
        faults: FaultConfig | None = None,
        *,
        rate_limit_per_minute: int = 1000,
        injected: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.faults = faults if faults is not None else FaultConfig()
        self.rate_limit_per_minute = rate_limit_per_minute
        self._lock = threading.Lock()
        self._seed = self.faults.seed
        self._rng = random.Random(self._seed)
        self.injected: dict[str, int] = injected if injected is not None else {}

    def reseed(self, seed: int | None = None) -> None:
        """Restart the fault sequence (from ``faults.seed`` unless a seed is given)."""
        with self._lock:
            if seed is not None:
                self.faults.seed = seed
            self._seed = self.faults.seed
            self._rng = random.Random(self._seed)

    def _draw(self) -> str | None:
        with self._lock:
            if self.faults.seed != self._seed:  # seed changed at runtime: new sequence
                self._seed = self.faults.seed
                self._rng = random.Random(self._seed)
            return self.faults.pick(self._rng.random())

    def _choose(self, scope: Scope) -> tuple[str | None, str | None]:
        """The fault for this request and its option (``slow=0.4`` -> ``("slow", "0.4")``)."""
        requested = _header(scope, FAULT_HEADER)
        if requested:
            name, _, option = requested.strip().lower().partition("=")
            if name in HEADER_FAULTS:
                return name, option or None
            return None, None
        if is_exempt(scope.get("path", "")):
            return None, None
        return self._draw(), None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fault, option = self._choose(scope)
        if fault is None:
            await self.app(scope, receive, send)
            return
        try:
            check_fault_option(fault, option)
        except ValueError as exc:
            await _send_json(send, 400, error_body(400, reason="invalid_sandbox_fault", message=str(exc)))
            return
        with self._lock:
            self.injected[fault] = self.injected.get(fault, 0) + 1

        if fault == "500":
            await _send_json(send, 500, error_body(500))
        elif fault == "502-html":
            await self._send_html_502(send)
        elif fault == "429":
            await self._send_429(send)
        elif fault == "slow":
            await asyncio.sleep(float(option or self.faults.slow_seconds))
            await self.app(scope, receive, send)
        elif fault in ("drop", "truncate"):
            await self._cut(scope, receive, send, drop=(fault == "drop"))
        else:
            await inject_network_fault(fault, option, self.faults, self.app, scope, receive, send)

    async def _send_html_502(self, send: Send) -> None:
        payload = CLOUDFLARE_502_HTML.encode()
        await send(
            {
                "type": "http.response.start",
                "status": 502,
                "headers": [
                    (b"content-type", b"text/html; charset=UTF-8"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"server", b"cloudflare"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _send_429(self, send: Send) -> None:
        now = time.time()
        reset = math.floor(now) + 1
        headers = [
            (b"ratelimit-limit", str(self.rate_limit_per_minute).encode()),
            (b"ratelimit-remaining", b"0"),
            (b"ratelimit-reset", http_date(reset).encode()),
        ]
        body = error_body(429, reason="rate_limit_exceeded", message="Rate limit exceeded")
        await _send_json(send, 429, body, headers)

    async def _cut(self, scope: Scope, receive: Receive, send: Send, *, drop: bool) -> None:
        """Serve the app's real response, but only the first half of its body.

        ``truncate`` announces the shortened length (a well-formed response with broken JSON);
        ``drop`` announces the full length and then stops, which the server answers by closing
        the connection: the client sees an incomplete read.
        """
        start, body = await _capture(self.app, scope, receive)
        half = body[: len(body) // 2]
        announced = len(body) if drop else len(half)
        await send({**start, "headers": _with_length(start, max(announced, 1 if drop else 0))})
        if drop:
            # more_body=True and then return: uvicorn closes the half-sent response.
            await send({"type": "http.response.body", "body": half, "more_body": True})
        else:
            await send({"type": "http.response.body", "body": half})


async def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[Message, bytes]:
    """Run the app to completion and return its response start message and whole body."""
    start: Message = {}
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    return start, b"".join(chunks)


def _with_length(start: Message, length: int) -> list[tuple[bytes, bytes]]:
    """The start message's headers with ``Content-Length`` replaced by ``length``."""
    headers = [
        (name, value)
        for name, value in start.get("headers", [])
        if name.lower() not in (b"content-length", b"transfer-encoding")
    ]
    headers.append((b"content-length", str(length).encode()))
    return headers


# --------------------------------------------------------------------------------------------
# Network faults: Retry-After answers, resets, hangs, listings that shift while paged
# --------------------------------------------------------------------------------------------

#: Every value the ``Sandbox-Fault`` header accepts (before an optional ``=<option>``).
HEADER_FAULTS = frozenset(fault for _, fault in FaultConfig.FAULT_OF_RATE)


def check_fault_option(fault: str, option: str | None) -> None:
    """Reject a ``Sandbox-Fault`` option the fault cannot use (``slow=abc``, ``reset=3``)."""
    if option is None:
        return
    try:
        if fault in ("slow", "hang"):
            if float(option) < 0:
                raise ValueError
            return
        if fault in ("503", "504", "429-retry-after"):
            retry_after_value(option, FaultConfig())
            return
    except ValueError:
        raise ValueError(f"Sandbox-Fault {fault}={option}: not a valid option") from None
    raise ValueError(f"Sandbox-Fault {fault} takes no option")


def retry_after_value(option: str | None, faults: FaultConfig, *, now: float | None = None) -> str:
    """The ``Retry-After`` header: delay-seconds, or an HTTP-date when asked for.

    ``option`` is the header fault's ``=`` part: ``"3"`` (seconds), ``"date"`` (an HTTP-date
    ``retry_after_seconds`` ahead) or ``"date:3"``; None uses the server-wide settings.
    """
    as_date = faults.retry_after_http_date
    seconds = int(faults.retry_after_seconds)
    if option:
        kind, _, value = option.partition(":")
        if kind == "date":
            as_date, seconds = True, int(value or seconds)
        else:
            as_date, seconds = False, int(kind)
        if seconds < 0:
            raise ValueError(f"Retry-After must not be negative, got {seconds}")
    if as_date:
        # Whole seconds from the next second on, so the date is never already past when sent.
        return http_date(math.floor(time.time() if now is None else now) + 1 + seconds)
    return str(seconds)


async def inject_network_fault(
    fault: str, option: str | None, faults: FaultConfig, app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    """Serve one of the network faults (``503``, ``504``, ``429-retry-after``, ``reset``,
    ``hang``, ``shift``) for a request the injector picked."""
    if fault in ("503", "504"):
        body = error_body(500, message="The service is temporarily unavailable. Please retry later.")
        body["error"]["code"] = int(fault)
        await _send_json(send, int(fault), body, [(b"retry-after", retry_after_value(option, faults).encode())])
    elif fault == "429-retry-after":
        scope[BARE_RESPONSE] = True  # no RateLimit-* headers: the client has only Retry-After
        body = error_body(429, reason="rate_limit_exceeded", message="Rate limit exceeded")
        await _send_json(send, 429, body, [(b"retry-after", retry_after_value(option, faults).encode())])
    elif fault == "reset":
        await _reset_mid_response(app, scope, receive, send)
    elif fault == "hang":
        await _hang(receive, float(option or faults.hang_seconds))
    elif fault == "shift":
        scope.setdefault("state", {})[SHIFT_STATE] = True
        await app(scope, receive, send)


async def _reset_mid_response(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Send the real response's head and half its body, then reset the TCP connection (RST).

    Without access to the socket (a server other than uvicorn) the connection is only closed.
    """
    start, body = await _capture(app, scope, receive)
    await send({**start, "headers": _with_length(start, len(body))})
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    await asyncio.sleep(0.05)  # let the partial response leave the write buffer first
    abort_connection(reset=True)
    await _until_disconnect(receive, timeout=5.0)


async def _hang(receive: Receive, seconds: float) -> None:
    """Send nothing until the client gives up (or ``seconds`` pass), then drop the connection."""
    if not await _until_disconnect(receive, timeout=seconds):
        abort_connection(reset=False)
        await _until_disconnect(receive, timeout=5.0)


async def _until_disconnect(receive: Receive, *, timeout: float) -> bool:
    """Wait for the client to close the connection; False when ``timeout`` passes first."""

    async def wait() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        return False
    return True


def abort_connection(*, reset: bool) -> bool:
    """Close the current request's TCP connection at once; with ``reset``, as an RST.

    ASGI gives an app no handle on its socket, so this finds the transport of uvicorn's
    request cycle, the coroutine that runs the app (``RequestResponseCycle.run_asgi``).
    Returns False when there is none (another server): the caller then just returns.
    """
    task = asyncio.current_task()
    frame = getattr(task.get_coro(), "cr_frame", None) if task else None
    cycle = frame.f_locals.get("self") if frame is not None else None
    transport = getattr(cycle, "transport", None)
    if transport is None or transport.is_closing():
        return False
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    return True
