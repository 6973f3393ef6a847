"""The API's request and response shapes (after Qard API v6), validated by pydantic.

Request models forbid unknown fields, so a typo is a 422 naming the field instead of a setting
silently ignored. Secrets are ``SecretStr``: they never appear in a model's repr or in a
response.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, SecretStr, field_validator, model_validator

from gocardless_commerce.api.paging import DEFAULT_PER_PAGE, MAX_PER_PAGE
from gocardless_commerce.data_types import DATA_TYPES
from gocardless_commerce.names import CONTROL_CHARACTERS, NAME_MAX_LENGTH, USER_ID_MAX_LENGTH

DataType = Literal[DATA_TYPES]  # type: ignore[valid-type]
PROVIDER_NAME = "gocardless"
ProviderName = Literal["gocardless"]
SYNC_STATUSES = ("QUEUED", "FETCHING", "SUCCESS", "AUTH_ERROR", "FETCH_ERROR", "INTERNAL_ERROR")


#: A timestamp with its zone: the warehouse keeps UTC without one, the API says so (RFC 3339).
UtcDateTime = Annotated[datetime, AfterValidator(lambda value: value if value.tzinfo else value.replace(tzinfo=UTC))]


#: Text that can be stored and shown: no control characters; a name has something besides
#: blanks, a credential no blanks at all. The characters themselves, not regex escapes: OpenAPI
#: tools read patterns as ECMA regexes, where ``\s`` and ``\uXXXX`` differ from Python's.
_BLANKS = "\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
NAME_PATTERN = f"^[^{CONTROL_CHARACTERS}]*[^{_BLANKS}{CONTROL_CHARACTERS}][^{CONTROL_CHARACTERS}]*$"
TOKEN_PATTERN = f"^[^{_BLANKS}{CONTROL_CHARACTERS}]+$"


def _no_lone_surrogate(text: str) -> str:
    """JSON may carry a lone surrogate (``"\\ud800"``); no database, log or header can hold one."""
    if any("\ud800" <= c <= "\udfff" for c in text):
        raise ValueError("the text holds a lone UTF-16 surrogate")
    return text


StoredText = Annotated[str, AfterValidator(_no_lone_surrogate)]


#: Ids in a path: what the registry can hold (a user id is part of a DAG id; a data connection
#: id is a UUID). Anything else is a 422 from this API, never a request routed elsewhere.
USER_ID_PATTERN = r"^[A-Za-z0-9_.-]+$"
UserIdPath = Annotated[str, Path(min_length=1, max_length=USER_ID_MAX_LENGTH, pattern=USER_ID_PATTERN)]
DataConnectionIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", regex_engine="python-re")


# -- provider ---------------------------------------------------------------------------------
class Credentials(Request):
    is_sandbox: bool
    client_id: StoredText = Field(min_length=1, max_length=200, pattern=TOKEN_PATTERN)
    # SecretStr takes no pattern: the schema says it, the validator checks it (never echoing it)
    client_secret: SecretStr = Field(min_length=1, max_length=500, json_schema_extra={"pattern": TOKEN_PATTERN})
    base_url: HttpUrl | None = Field(
        None, description="An OAuth and API host other than GoCardless's (the local sandbox)")

    @field_validator("client_secret")
    @classmethod
    def _storable_secret(cls, secret: SecretStr) -> SecretStr:
        if not re.fullmatch(TOKEN_PATTERN, secret.get_secret_value()):
            raise ValueError("the client secret holds blanks or control characters")
        _no_lone_surrogate(secret.get_secret_value())
        return secret


class CredentialsRequest(Request):
    credentials: Credentials


class ProviderSettingsRequest(Request):
    auto_connect: bool


class ProviderEnableRequest(Request):
    enable: bool


class CredentialsConfig(BaseModel):
    """What the credentials say, never what they hide: no client secret, ever."""

    fields: list[str] = ["is_sandbox", "client_id", "client_secret", "base_url"]
    configured: bool
    is_sandbox: bool | None
    base_url: str | None


class Provider(BaseModel):
    name: ProviderName = PROVIDER_NAME
    enabled: bool
    available: bool = Field(description="Credentials are set: data connections can be made")
    auth_required: bool = True
    auto_connect: bool
    data_types: list[DataType]
    credentials_config: CredentialsConfig


# -- users ------------------------------------------------------------------------------------
class LegalUserRequest(Request):
    id: str | None = Field(
        None, min_length=1, max_length=USER_ID_MAX_LENGTH, pattern=USER_ID_PATTERN,
        description="Our id for the user (part of its DAG id); a UUID when omitted")
    name: StoredText = Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN)
    siren: str | None = Field(None, pattern=r"^[0-9]{9}$")
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class DataConnection(BaseModel):
    id: str
    user_id: str
    provider_name: ProviderName = PROVIDER_NAME
    status: Literal["AUTH_REQUIRED", "CONNECTING", "CONNECTED", "AUTH_ERROR", "DISCONNECTED"]
    status_reason: str | None
    requested_data_types: list[DataType]
    organisation_id: str | None
    dag_id: str | None = Field(description="The merchant's sync DAG while it has one")
    redirect_url: str | None = Field(None, description="Where to send the merchant to grant access (AUTH_REQUIRED)")


class User(BaseModel):
    id: str
    type: Literal["LEGAL"] = "LEGAL"
    name: str
    siren: str | None
    country: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    data_connections: list[DataConnection]


# -- data connections -------------------------------------------------------------------------
class DataConnectionRequest(Request):
    provider_name: ProviderName
    requested_data_types: list[DataType] = Field(default_factory=lambda: list(DATA_TYPES), min_length=1)


class DataConnectionPatch(Request):
    model_config = ConfigDict(extra="forbid", regex_engine="python-re", json_schema_extra={"minProperties": 1})

    # Absent, not null: the document says so (minProperties 1), and a null would say nothing.
    status: Literal["DISCONNECTED", "AUTH_REQUIRED"] = None  # type: ignore[assignment]
    requested_data_types: list[DataType] = Field(None, min_length=1)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _something_to_change(self) -> DataConnectionPatch:
        if self.status is None and self.requested_data_types is None:
            raise ValueError("give status and/or requested_data_types")
        return self


# -- sync ---------------------------------------------------------------------------------------
class SyncRequest(Request):
    data_types: list[DataType] = Field(default_factory=lambda: list(DATA_TYPES), min_length=1)


class SyncCounts(BaseModel):
    api_requests: int
    records_landed: int
    records_changed: int
    records_quarantined: int


class DataSync(BaseModel):
    id: str = Field(description="The Airflow run id")
    user_id: str
    data_connection_id: str
    status: Literal[SYNC_STATUSES]  # type: ignore[valid-type]
    data_types: list[str]
    created_at: UtcDateTime | None
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    failed_tasks: list[str]
    counts: SyncCounts | None = Field(description="From the extraction (meta.sync_runs), once it finished")


# -- reads ------------------------------------------------------------------------------------
class Paging(Request):
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE)


class PageQuery(Paging):
    start_date: date | None = Field(None, description="Inclusive")
    end_date: date | None = Field(None, description="Inclusive")
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    # start_date after end_date is an empty range, not an error: OpenAPI cannot say the latter.


class TransactionQuery(PageQuery):
    type: str | None = Field(None, max_length=40, pattern=r"^[A-Z_]+$")
    status: str | None = Field(None, max_length=40, pattern=r"^[A-Z_]+$")


class SubscriptionQuery(PageQuery):
    status: str | None = Field(None, max_length=40, pattern=r"^[A-Z_]+$")


class Money(BaseModel):
    value: str = Field(pattern=r"^-?[0-9]+\.[0-9]{2,}$", description="Exact decimal, as text")
    currency: str


class Page(BaseModel):
    page: int
    per_page: int
    total: int
    last_page: int


class UserPage(Page):
    result: list[User]


class SyncPage(Page):
    result: list[DataSync]


class CommerceTransaction(BaseModel):
    id: str
    type: str
    status: str
    description: str | None
    amount: Money
    fee: Money | None
    source_id: str
    source_type: str
    created_at: UtcDateTime | None
    value_date: date | None
    initial_transaction_id: str | None
    scheme: str | None
    subscription_id: str | None
    customer_id: str | None
    payout_id: str | None
    gateway_state: str | None
    settled_on: date | None


class CommerceSubscription(BaseModel):
    id: str
    status: str
    source_status: str
    plan_name: str | None
    amount: Money
    mrr: Money
    frequency_unit: str
    frequency_interval: int
    start_date: date | None
    ended_at: UtcDateTime | None
    created_at: UtcDateTime | None
    customer_id: str | None


class TransactionsInsight(BaseModel):
    month: date
    currency: str
    payments: Money
    payments_nb: int
    shopping_cart_average: Money | None
    payouts: Money
    payouts_nb: int
    refunds: Money
    refunds_nb: int
    failed_nb: int
    failure_rate: str | None
    chargebacks_nb: int
    chargeback_rate: str | None
    fees: Money
    net: Money
    payments_mom_growth: str | None
    is_partial_month: bool = Field(description="The month is not over (today, UTC, is inside it): its figures are month to date")


class SubscriptionsInsight(BaseModel):
    month: date
    currency: str
    mrr: Money
    subscription_nb: int
    new_mrr: Money
    expansion_mrr: Money
    contraction_mrr: Money
    churned_mrr: Money
    reactivation_mrr: Money
    customers_nb: int
    arpa: Money | None
    customer_churn_rate: str | None
    net_mrr_churn_rate: str | None
    is_partial_month: bool = Field(description="The month is not over (today, UTC, is inside it): its figures are month to date")


class TransactionPage(Page):
    result: list[CommerceTransaction]


class SubscriptionPage(Page):
    result: list[CommerceSubscription]


class TransactionsInsightPage(Page):
    result: list[TransactionsInsight]


class SubscriptionsInsightPage(Page):
    result: list[SubscriptionsInsight]



# -- data quality -----------------------------------------------------------------------------
DataConnectionIdQuery = Annotated[str | None, Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


class DataQualityRunQuery(Paging):
    data_connection_id: DataConnectionIdQuery = None


class QuarantineQuery(Paging):
    data_connection_id: DataConnectionIdQuery = None
    table: str | None = Field(None, max_length=60, pattern=r"^commerce\.[a-z_]+$",
                              description="The commerce table, e.g. commerce.transactions")
    rule: str | None = Field(None, max_length=80, pattern=r"^[a-z0-9_]+$", description="A rule name, e.g. currency_in_set")


class RuleCount(BaseModel):
    rule: str
    column: str | None = Field(description="The commerce column checked; null for a derived value or the whole table")
    level: Literal["row", "batch"] = Field(description="row: quarantines the row; batch: fails the run")
    evaluated: int = Field(description="Rows the rule applied to, over all chunks (1 per chunk for a table rule)")
    failed: int = Field(description="Rows that broke it, over all chunks")
    chunks: int
    description: str = Field(description="The Great Expectations expectation behind the rule")


class TableRules(BaseModel):
    table: str
    rules: list[RuleCount]
    failed_rules: int = Field(description="How many of its rules failed at least once")


class DataQualityRun(BaseModel):
    run_id: str = Field(description="The Airflow run id")
    data_connection_id: str
    validated_at: UtcDateTime
    tables: list[TableRules]
    data_docs_url: str | None = Field(description="The run's Data Docs page, relative to /commerce/")


class DataQualityRunPage(Page):
    result: list[DataQualityRun]


class FailedRule(BaseModel):
    rule: str
    reason: str | None = Field(description="The expectation behind the rule in the run that quarantined the row")


class QuarantinedRow(BaseModel):
    data_connection_id: str
    source_table: str
    source_id: str = Field(description="The GoCardless id of the record")
    occurrence: int
    row_id: str | None
    first_run_id: str
    last_run_id: str
    failed_rules: list[FailedRule]
    row: dict = Field(description="The commerce row as the model built it")


class QuarantinePage(Page):
    result: list[QuarantinedRow]
