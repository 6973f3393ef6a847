"""GoCardless Pro API client: transport, retries, rate limiting, cursor pagination, OAuth.

The bottom layer: imports nothing else of the package, and nothing of Airflow;
:mod:`gocardless_commerce.orchestration.hook` builds it from Airflow connections.
"""

from gocardless_commerce.client.client import ENVIRONMENT_URLS, GoCardlessClient
from gocardless_commerce.client.errors import (
    ApiError,
    AuthenticationError,
    GoCardlessError,
    GoneError,
    InternalError,
    InvalidApiUsageError,
    InvalidStateError,
    MalformedResponseError,
    NotFoundError,
    PermissionsError,
    RateLimitError,
    TransportError,
    ValidationFailedError,
    is_transient,
)
from gocardless_commerce.client.oauth import CONNECT_URLS, exchange_code, oauth_urls
from gocardless_commerce.client.pagination import Page, RawPage, RawRecords, RecordHead
from gocardless_commerce.client.rate_limit import RateLimit, RateLimitWaits
from gocardless_commerce.client.records import Rejected, parse_created_at

__all__ = [
    "CONNECT_URLS",
    "ENVIRONMENT_URLS",
    "ApiError",
    "AuthenticationError",
    "GoCardlessClient",
    "GoCardlessError",
    "GoneError",
    "InternalError",
    "InvalidApiUsageError",
    "InvalidStateError",
    "MalformedResponseError",
    "NotFoundError",
    "Page",
    "PermissionsError",
    "RateLimit",
    "RateLimitError",
    "RateLimitWaits",
    "RawPage",
    "RawRecords",
    "RecordHead",
    "Rejected",
    "TransportError",
    "ValidationFailedError",
    "exchange_code",
    "is_transient",
    "oauth_urls",
    "parse_created_at",
]
