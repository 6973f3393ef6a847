"""Great Expectations suites for the commerce tables: quarantine bad rows, stop bad batches.

Row-level rules (a malformed or inconsistent GoCardless record) send the failing rows to
``commerce.quarantine`` with every rule they broke, and the rest loads. Batch-level rules (the
table's shape, the insight identities) describe a bug, not a bad record: they are reported in
``batch_failures`` and :func:`raise_for_batch_failures` stops the task before anything loads.

GX validates a *prepared copy* of the DataFrame: a ``__row__`` column to identify failing rows
(GX reports them via ``unexpected_index_column_names``), NULLs of enumerated columns replaced
by a sentinel (GX's set expectations skip NULLs), exact ``Decimal`` amounts as floats (only
signs and bounds are checked on them) and a few helper columns for cross-row rules. The
returned ``valid`` rows are the caller's rows, untouched. GX is imported inside the functions
(it takes seconds to import; DAG files must not pay for it).
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from gocardless_commerce.model import mapping, schema, source_rules
from gocardless_commerce.model.frames import RawFrames, as_payload, as_timestamp

log = logging.getLogger(__name__)

ROW_MARKER = "__row__"
MISSING = "<missing>"  # stands for NULL in enumerated columns, so "in set" rules catch it
SAMPLE_ROWS = 3

TRANSACTIONS_TABLE = "commerce.transactions"
SUBSCRIPTIONS_TABLE = "commerce.subscriptions"
TRANSACTIONS_INSIGHT_TABLE = "commerce.transactions_insight"
SUBSCRIPTIONS_INSIGHT_TABLE = "commerce.subscriptions_insight"


class BatchValidationError(RuntimeError):
    """A batch broke a batch-level expectation; nothing of it may load."""


@dataclass(frozen=True)
class RuleResult:
    """What one rule saw in one validated frame. ``evaluated``: the rows it applied to (rows
    whose checked value is not missing), or 1 for a rule on the whole table; ``failed``: the
    rows that broke it (1 for a broken table rule). ``column`` is the contract column checked,
    ``None`` when the rule reads a helper column or the whole table."""

    rule: str
    column: str | None
    level: str  # "row" (quarantines rows) or "batch" (fails the run)
    evaluated: int
    failed: int
    description: str


@dataclass(frozen=True)
class ValidationOutcome:
    valid: pd.DataFrame  # the input rows that passed every row-level rule, input dtypes
    quarantine: pd.DataFrame  # columns of schema.QUARANTINE
    batch_failures: list[str] = field(default_factory=list)  # one message per failed batch rule
    docs_url: str | None = None  # file:// URL of the GX Data Docs page of this validation, when built
    rule_results: tuple[RuleResult, ...] = ()  # one per rule, in rule order
    #: GX's ExpectationSuiteValidationResult, to render a Data Docs page later (model.data_docs)
    gx_result: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Rule:
    """One named expectation. ``row`` rules quarantine rows; the others fail the batch."""

    name: str
    build: Callable[[Any], Any]  # great_expectations.expectations module → Expectation
    row: bool = True


def raise_for_batch_failures(outcome: ValidationOutcome) -> None:
    """Raise :class:`BatchValidationError` naming every failed batch rule and sample rows."""
    if outcome.batch_failures:
        details = "\n".join(f"- {failure}" for failure in outcome.batch_failures)
        docs = f"\nGX Data Docs: {outcome.docs_url}" if outcome.docs_url else ""
        raise BatchValidationError(
            f"{len(outcome.batch_failures)} batch-level expectation(s) failed; nothing loaded:\n{details}{docs}"
        )


# --------------------------------------------------------------------------- preparing frames


def _filled(series: pd.Series) -> pd.Series:
    return pd.Series([v if isinstance(v, str) and v else MISSING for v in series], index=series.index, dtype=object)


def _as_float(series: pd.Series) -> pd.Series:
    return pd.Series([float(v) if isinstance(v, (Decimal, int, float)) and not pd.isna(v) else None for v in series],
                     index=series.index, dtype="float64")


def _as_text(series: pd.Series) -> pd.Series:
    """Exact decimal text (``"10.50"``) for equality checks; NULL stays NULL."""
    return pd.Series([None if v is None or pd.isna(v) else str(v) for v in series], index=series.index, dtype=object)


def _occurrence(frame: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """0 for the first row of each key, 1, 2… for its duplicates."""
    return frame.groupby([frame[k].fillna(MISSING) for k in keys], sort=False, dropna=False).cumcount()


def _prepare(frame: pd.DataFrame, enumerated: Sequence[str], amounts: Sequence[str]) -> pd.DataFrame:
    prepared = frame.reset_index(drop=True).copy()
    prepared[ROW_MARKER] = range(len(prepared))
    for column in enumerated:
        if column in prepared:
            prepared[column] = _filled(prepared[column])
    for column in amounts:
        if column in prepared:
            prepared[column] = _as_float(prepared[column])
    return prepared


# --------------------------------------------------------------------------- rules


def _not_null(column: str) -> Rule:
    return Rule(f"{column}_not_null", lambda gxe: gxe.ExpectColumnValuesToNotBeNull(column=column))


def _in_set(column: str, values: Sequence, row: bool = True) -> Rule:
    return Rule(f"{column}_in_set", lambda gxe: gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(values)), row)


def _between(name: str, column: str, row: bool = True, **bounds) -> Rule:
    return Rule(name, lambda gxe: gxe.ExpectColumnValuesToBeBetween(column=column, **bounds), row)


def _source_rule(name: str) -> Rule:
    """A rule the transform judged on the GoCardless record (``source_rules``): ``_<name>`` is
    True on the rows that kept it."""
    return Rule(name, lambda gxe: gxe.ExpectColumnValuesToBeInSet(column=f"_{name}", value_set=[True]))


def _source_rule_columns(issues: pd.Series, names: Sequence[str]) -> dict[str, pd.Series]:
    return {f"_{name}": pd.Series([name not in found for found in issues], index=issues.index, dtype=bool)
            for name in names}


def _amount_given(frame: pd.DataFrame, issues: pd.Series) -> pd.Series:
    """True where the row has an amount, or where a source rule already says why it has none."""
    kinds = frame["type"] if "type" in frame else pd.Series([None] * len(frame), index=frame.index)
    given = []
    for amount, kind, found in zip(frame["amount"], kinds, issues, strict=True):
        refused = source_rules.AMOUNT_INTEGER in found or (
            kind == mapping.FEE and source_rules.FEE_ITEM_AMOUNT_READABLE in found)
        given.append(True if refused or (amount is not None and not pd.isna(amount)) else None)
    return pd.Series(given, index=frame.index, dtype=object)


def _columns_match(columns: Sequence[str]) -> Rule:
    return Rule("columns_match_contract",
                lambda gxe: gxe.ExpectTableColumnsToMatchSet(column_set=list(columns), exact_match=True), row=False)


def _equal(name: str, column_a: str, column_b: str) -> Rule:
    """Batch rule: two text columns equal wherever the expected one (``column_b``) is defined."""
    return Rule(name, lambda gxe: gxe.ExpectColumnPairValuesToBeEqual(
        column_A=column_a, column_B=column_b, ignore_row_if="either_value_is_missing"), row=False)


_KEYS = ("user_id", "data_connection_id", "id", "source_id")


def _record_rules(now: datetime) -> list[Rule]:
    """Rules shared by transactions and subscriptions (one row per GoCardless record)."""
    return [
        *(_not_null(key) for key in _KEYS),
        Rule("id_unique", lambda gxe: gxe.ExpectColumnValuesToBeInSet(column="_occurrence", value_set=[0])),
        _in_set("currency", mapping.CURRENCIES),
        # missing, not unreadable: an amount the transform refused is named by its source rule
        Rule("amount_not_null", lambda gxe: gxe.ExpectColumnValuesToNotBeNull(column="_amount_given")),
        _not_null("source_created_at"),
        _between("amount_non_negative", "_amount_non_negative", min_value=0),
        _between("source_created_at_not_in_future", "source_created_at", max_value=now),
    ]


def transaction_rules(now: datetime) -> list[Rule]:
    return [
        *_record_rules(now),
        _in_set("type", mapping.TRANSACTION_TYPES),
        _in_set("status", mapping.TRANSACTION_STATUSES),
        # a pair-equality on a derived column: ExpectColumnPairValuesToBeInSet iterates rows (slow)
        Rule("scheme_matches_currency", lambda gxe: gxe.ExpectColumnPairValuesToBeEqual(
            column_A="_currency", column_B="_scheme_currency", ignore_row_if="either_value_is_missing")),
        _between("refund_within_payment_amount", "_refund_excess", max_value=0),
        *map(_source_rule, source_rules.TRANSACTION_RULES),
    ]


def subscription_rules(now: datetime) -> list[Rule]:
    return [
        *_record_rules(now),
        _in_set("status", mapping.SUBSCRIPTION_STATUSES),
        _in_set("frequency_unit", mapping.FREQUENCY_UNITS),
        _between("frequency_interval_positive", "_frequency_interval", min_value=1),
        *map(_source_rule, source_rules.SUBSCRIPTION_RULES),
    ]


_INSIGHT_KEYS = ("user_id", "data_connection_id", "month", "currency")


def _insight_rules(columns: Mapping[str, str], amounts: Sequence[str], rates: Sequence[str]) -> list[Rule]:
    counts = [c for c, kind in columns.items() if kind == "int"]
    return [
        *(Rule(f"{key}_not_null", lambda gxe, key=key: gxe.ExpectColumnValuesToNotBeNull(column=key), row=False)
          for key in _INSIGHT_KEYS),
        Rule("key_unique", lambda gxe: gxe.ExpectCompoundColumnsToBeUnique(column_list=list(_INSIGHT_KEYS)), row=False),
        _in_set("currency", mapping.CURRENCIES, row=False),
        *(_between(f"{c}_non_negative", c, row=False, min_value=0) for c in (*amounts, *counts)),
        *(_between(f"{c}_between_0_and_1", c, row=False, min_value=0, max_value=1) for c in rates),
    ]


def transactions_insight_rules() -> list[Rule]:
    return [
        *_insight_rules(schema.TRANSACTIONS_INSIGHT, ("payments_amount", "payouts_amount", "refunds_amount"),
                        ("failure_rate", "chargeback_rate")),
        _equal("shopping_cart_average_identity", "_shopping_cart_average", "_shopping_cart_average_expected"),
        _equal("net_amount_identity", "_net_amount", "_net_amount_expected"),
    ]


def subscriptions_insight_rules() -> list[Rule]:
    movements = ("new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr")
    return [
        *_insight_rules(schema.SUBSCRIPTIONS_INSIGHT, ("mrr", *movements), ("customer_churn_rate",)),
        _equal("mrr_movement_invariant", "_mrr", "_mrr_expected"),
        _equal("arpa_identity", "_arpa", "_arpa_expected"),
    ]


# --------------------------------------------------------------------------- helper columns

_TEXT_NULL = "NULL"  # identities compare text; both sides say NULL when undefined


def _identity_text(values) -> list[str]:
    return [_TEXT_NULL if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v) for v in values]


def _transaction_helpers(frame: pd.DataFrame, payment_amounts: Mapping[str, Decimal] | None = None) -> dict[str, pd.Series]:
    """``payment_amounts`` adds payments that are not in ``frame`` (a chunk of refunds) by transaction id."""
    kinds, amounts = frame["type"], frame["amount"]
    must_be_positive = {mapping.PAYMENT, mapping.PAYMENT_REFUND, mapping.PAYOUT}
    payment_amounts = {**(payment_amounts or {}), **{
        i: a for i, k, a in zip(frame["id"], kinds, amounts, strict=True) if k == mapping.PAYMENT and isinstance(a, Decimal)
    }}
    excess = []
    for kind, amount, initial in zip(kinds, amounts, frame["initial_transaction_id"], strict=True):
        paid = payment_amounts.get(initial)
        ok = kind == mapping.PAYMENT_REFUND and isinstance(amount, Decimal) and paid is not None
        excess.append(float(amount - paid) if ok else None)
    return {
        "_occurrence": _occurrence(frame, ("data_connection_id", "id")),
        "_amount_non_negative": _as_float(amounts.where(kinds.isin(must_be_positive), None)),
        "_scheme_currency": pd.Series([mapping.SCHEME_CURRENCY.get(s) for s in frame["scheme"]], dtype=object),
        "_currency": pd.Series([c if isinstance(c, str) and c else None for c in frame["currency"]], dtype=object),
        "_refund_excess": pd.Series(excess, dtype="float64"),
    }


def _subscription_helpers(frame: pd.DataFrame) -> dict[str, pd.Series]:
    intervals = [0 if v is None or pd.isna(v) else int(v) for v in frame["frequency_interval"]]
    return {
        "_occurrence": _occurrence(frame, ("data_connection_id", "id")),
        "_amount_non_negative": _as_float(frame["amount"]),
        "_frequency_interval": pd.Series(intervals, dtype="int64"),
    }


def _transactions_insight_helpers(frame: pd.DataFrame) -> dict[str, pd.Series]:
    from fractions import Fraction

    from gocardless_commerce.model.money import CENTS, round_half_up

    expected_average = [
        round_half_up(Fraction(amount) / int(nb), CENTS) if isinstance(amount, Decimal) and not pd.isna(nb) and nb else None
        for amount, nb in zip(frame["payments_amount"], frame["payments_nb"], strict=True)
    ]
    expected_net = [
        p - r - f if all(isinstance(v, Decimal) for v in (p, r, f)) else None
        for p, r, f in zip(frame["payments_amount"], frame["refunds_amount"], frame["fees_amount"], strict=True)
    ]
    return {
        "_shopping_cart_average": pd.Series(_identity_text(frame["shopping_cart_average"]), dtype=object),
        "_shopping_cart_average_expected": pd.Series(_identity_text(expected_average), dtype=object),
        "_net_amount": pd.Series(_identity_text(frame["net_amount"]), dtype=object),
        "_net_amount_expected": pd.Series(_identity_text(expected_net), dtype=object),
    }


def _subscriptions_insight_helpers(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """``_mrr_expected``: previous month's mrr + movements (NULL on a group's first month)."""
    from fractions import Fraction

    from gocardless_commerce.model.insights import add_months
    from gocardless_commerce.model.money import CENTS, round_half_up

    by_key = {}
    for position, row in enumerate(frame[["user_id", "data_connection_id", "currency", "month", "mrr"]].itertuples(index=False)):
        by_key[(row.user_id, row.data_connection_id, row.currency, row.month)] = row.mrr
    expected_mrr = []
    for row in frame.itertuples(index=False):
        month = row.month if isinstance(row.month, date) else None
        previous = by_key.get((row.user_id, row.data_connection_id, row.currency, add_months(month, -1))) if month else None
        parts = (previous, row.new_mrr, row.expansion_mrr, row.reactivation_mrr, row.contraction_mrr, row.churned_mrr)
        if all(isinstance(v, Decimal) for v in parts):
            expected_mrr.append(previous + row.new_mrr + row.expansion_mrr + row.reactivation_mrr
                                - row.contraction_mrr - row.churned_mrr)
        else:
            expected_mrr.append(None)
    expected_arpa = [
        round_half_up(Fraction(mrr) / int(nb), CENTS) if isinstance(mrr, Decimal) and not pd.isna(nb) and nb else None
        for mrr, nb in zip(frame["mrr"], frame["customers_nb"], strict=True)
    ]
    return {
        "_mrr": pd.Series(_identity_text(frame["mrr"]), dtype=object),
        "_mrr_expected": pd.Series([None if v is None else str(v) for v in expected_mrr], dtype=object),
        "_arpa": pd.Series(_identity_text(frame["arpa"]), dtype=object),
        "_arpa_expected": pd.Series(_identity_text(expected_arpa), dtype=object),
    }


# --------------------------------------------------------------------------- running GX


def default_docs_dir() -> Path:
    from gocardless_commerce import settings

    return settings.data_dir() / "gx_data_docs"


@dataclass(frozen=True)
class _SuiteResult:
    failed_rows: dict[int, list[str]]  # prepared row position → failed row rules, in rule order
    batch_failures: list[str]
    docs_url: str | None
    rule_results: tuple[RuleResult, ...]
    gx_result: Any


def _raised(exception_info: Any) -> str | None:
    """The exception message GX swallowed while computing an expectation, if any."""
    if isinstance(exception_info, dict):
        if exception_info.get("raised_exception"):
            return str(exception_info.get("exception_message"))
        for value in exception_info.values():
            message = _raised(value)
            if message:
                return message
    return None


#: Checkpoints by table and expectations. Building a context and adding a suite's expectations
#: costs about as much as validating 10,000 rows, and a stage validates chunk after chunk with
#: the same rules: the later chunks reuse the first one's checkpoint. Data Docs pages are
#: rendered from the results (:mod:`.data_docs`), not by a checkpoint action.
_CHECKPOINTS: dict[tuple, Any] = {}


def _expectations(rules: Sequence[Rule]) -> list:
    import great_expectations.expectations as gxe

    built = []
    for rule in rules:
        expectation = rule.build(gxe)
        expectation.meta = {"rule": rule.name, "level": "row" if rule.row else "batch"}
        built.append(expectation)
    return built


def _checked_column(kwargs: Mapping[str, Any]) -> str | None:
    """The contract column a rule checks; helper columns (``_…``) and table rules have none."""
    columns = [kwargs[k] for k in ("column", "column_A") if isinstance(kwargs.get(k), str)]
    columns += list(kwargs.get("column_list") or [])
    named = [c for c in columns if not c.startswith("_")]
    return ", ".join(named) if named else None


def describe_expectation(kind: str, kwargs: Mapping[str, Any]) -> str:
    """The expectation as a reader sees it: its GX type and arguments (long sets shortened)."""
    shown = []
    for key, value in kwargs.items():
        if key in ("batch_id", "result_format", "meta") or value is None:
            continue
        if isinstance(value, (list, tuple, set)):
            values = [str(v) for v in value]
            value = "[" + ", ".join(values[:8]) + (", …" if len(values) > 8 else "") + "]"
        shown.append(f"{key}={value}")
    return f"{kind}({', '.join(shown)})"


def _rule_result(rule: Rule, result: Any, failed_rows: int) -> RuleResult:
    details = result.result or {}
    config = result.expectation_config
    if "element_count" in details:
        evaluated = int(details["element_count"] or 0) - int(details.get("missing_count") or 0)
        failed = failed_rows if rule.row else int(details.get("unexpected_count") or 0)
        failed = failed or (0 if result.success else 1)  # a rule that could not run failed too
    else:
        evaluated, failed = 1, 0 if result.success else 1
    return RuleResult(rule.name, _checked_column(config.kwargs), "row" if rule.row else "batch",
                      evaluated, failed, describe_expectation(config.type, config.kwargs))


def _run_suite(table: str, prepared: pd.DataFrame, rules: Sequence[Rule], sample_columns: Sequence[str],
               docs_page: Path | None) -> _SuiteResult:
    by_name = {rule.name: rule for rule in rules}
    expectations = _expectations(rules)
    key = (table, tuple(repr(expectation) for expectation in expectations))
    checkpoint = _CHECKPOINTS.get(key)
    if checkpoint is None:
        checkpoint = _new_checkpoint(table, expectations)
        if len(_CHECKPOINTS) >= 8:
            _CHECKPOINTS.clear()
        _CHECKPOINTS[key] = checkpoint
    run = checkpoint.run(batch_parameters={"dataframe": prepared})

    failed_rows: dict[int, list[str]] = defaultdict(list)
    batch_failures, rule_results, gx_result = [], [], None
    order = {rule.name: position for position, rule in enumerate(rules)}
    for suite_result in run.run_results.values():
        gx_result = suite_result
        for result in sorted(suite_result.results, key=lambda r: order[r.expectation_config.meta["rule"]]):
            rule = by_name[result.expectation_config.meta["rule"]]
            details = result.result or {}
            error = _raised(result.exception_info)
            rows = [int(i[ROW_MARKER]) for i in details.get("unexpected_index_list") or [] if ROW_MARKER in i]
            quarantines = rule.row and rows and not error and not result.success
            rule_results.append(_rule_result(rule, result, len(rows) if quarantines else 0))
            if result.success:
                continue
            if quarantines:
                for row in rows:
                    failed_rows[row].append(rule.name)
            else:
                batch_failures.append(_describe_failure(table, rule, result, rows, error, prepared, sample_columns))
    docs_url = None
    if docs_page is not None and gx_result is not None:
        from gocardless_commerce.model import data_docs

        docs_url = data_docs.write_page(gx_result, docs_page)
        log.info("GX Data Docs for %s: %s", table, docs_url)
    return _SuiteResult(dict(failed_rows), batch_failures, docs_url, tuple(rule_results), gx_result)


def _new_checkpoint(table: str, expectations: list) -> Any:
    """An ephemeral GX context with the table's suite, its pandas batch and a checkpoint."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    name = table.replace(".", "_")
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    suite = context.suites.add(gx.ExpectationSuite(name=name))
    for expectation in expectations:
        suite.add_expectation(expectation)
    batch = context.data_sources.add_pandas(name).add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": [ROW_MARKER]}
    return context.checkpoints.add(gx.Checkpoint(
        name=name, validation_definitions=[definition], actions=[], result_format=result_format))


def _describe_failure(table, rule, result, rows, error, prepared, sample_columns) -> str:
    kind = result.expectation_config.type
    if error:
        return f"{table}: {rule.name} ({kind}) could not run: {error}"
    details = result.result or {}
    if rows:
        columns = [c for c in sample_columns if c in prepared.columns]
        sample = [_jsonable(r) for r in prepared.iloc[rows[:SAMPLE_ROWS]][columns].to_dict("records")]
        return f"{table}: {rule.name} ({kind}) failed on {len(rows)} row(s), e.g. {sample}"
    observed = {k: details[k] for k in ("observed_value", "details") if k in details}
    return f"{table}: {rule.name} ({kind}) failed: {_jsonable(observed)}"


def _jsonable(value: Any) -> Any:
    """Plain JSON values: Decimal → text, dates → ISO, NaN/NaT → None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if value is None or isinstance(value, (str, bool)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


# --------------------------------------------------------------------------- public API


def _source_payloads(frames: RawFrames | None, object_types: Sequence[str]) -> dict[tuple[str, str, str], dict]:
    if frames is None:
        return {}
    payloads = {}
    for object_type in object_types:
        raw = getattr(frames, mapping.SOURCE_TABLE_OF[object_type])
        if raw is None or raw.empty:
            continue
        for dc, rid, payload in zip(raw["data_connection_id"], raw["id"], raw["payload"], strict=True):
            payloads[(object_type, dc, rid)] = as_payload(payload)
    return payloads


def _validate_records(
    table: str,
    frame: pd.DataFrame,
    contract: Mapping[str, str],
    rules: list[Rule],
    helpers: Callable[[pd.DataFrame], dict[str, pd.Series]],
    enumerated: Sequence[str],
    object_type_of: Callable[[pd.Series], pd.Series],
    *,
    run_id: str,
    frames: RawFrames | None,
    docs_dir,
    build_docs: bool,
) -> ValidationOutcome:
    """Row rules quarantine; batch rules (the column contract, rules that could not run) fail.

    The transform's ``schema.ISSUES`` column (absent: no issues) becomes one helper column per
    source rule, and is not part of the rows returned.
    """
    original = frame.reset_index(drop=True)
    issues = original.pop(schema.ISSUES) if schema.ISSUES in original else pd.Series([()] * len(original), dtype=object)
    prepared = _prepare(original, enumerated, ())
    extra: dict[str, pd.Series] = {}
    if set(contract) <= set(original.columns):
        names = [rule.name for rule in rules if rule.name in source_rules.ALL]
        extra = {**helpers(original), **_source_rule_columns(issues, names),
                 "_amount_given": _amount_given(original, issues)}
    for name, series in extra.items():
        prepared[name] = series.set_axis(prepared.index)
    rules = [*rules, _columns_match([*contract, ROW_MARKER, *extra])]
    result = _run_suite(table, prepared, rules, ("id", "source_id", "data_connection_id"),
                        _docs_page(table, docs_dir, build_docs))

    bad = sorted(result.failed_rows)
    object_types = object_type_of(original)
    payloads = _source_payloads(frames, sorted({t for t in object_types.iloc[bad] if t in mapping.SOURCE_TABLE_OF}))
    quarantine: dict[str, list] = defaultdict(list)
    occurrences: dict[tuple, int] = defaultdict(int)
    records = original.iloc[bad].to_dict("records")
    for position, row in zip(bad, records, strict=True):
        source_id = row.get("source_id") if isinstance(row.get("source_id"), str) else ""
        dc = row.get("data_connection_id") if isinstance(row.get("data_connection_id"), str) else ""
        occurrences[(dc, source_id)] += 1
        values = {
            "first_run_id": run_id,
            "last_run_id": run_id,
            "source_table": table,
            "data_connection_id": dc,
            "user_id": row.get("user_id"),
            "source_id": source_id,
            "occurrence": occurrences[(dc, source_id)],
            "row_id": row.get("id") if isinstance(row.get("id"), str) else None,
            "failed_rules": list(result.failed_rows[position]),
            "payload": {"row": _jsonable(row),
                        "source": payloads.get((object_types.iloc[position], dc, source_id))},
        }
        for name in schema.QUARANTINE:
            quarantine[name].append(values[name])
    valid = original.drop(index=bad).reset_index(drop=True)
    return ValidationOutcome(valid, schema.frame(quarantine, schema.QUARANTINE), result.batch_failures,
                             result.docs_url, result.rule_results, result.gx_result)


def _docs_page(table: str, docs_dir, build_docs: bool) -> Path | None:
    """``<docs_dir>/<table>/index.html``: the page of a validation run on its own (a model run
    renders its pages itself, one per run and chunk: :mod:`.data_docs`)."""
    if not build_docs:
        return None
    return (Path(docs_dir) if docs_dir is not None else default_docs_dir()) / table.replace(".", "_") / "index.html"


def _transaction_object_type(frame: pd.DataFrame) -> pd.Series:
    return frame["source_type"].map(lambda s: s.split(":", 1)[0] if isinstance(s, str) else None)


def validate_transactions(
    transactions: pd.DataFrame,
    *,
    now: datetime,
    run_id: str,
    frames: RawFrames | None = None,
    payment_amounts: Mapping[str, Decimal] | None = None,
    docs_dir: str | Path | None = None,
    build_docs: bool = True,
) -> ValidationOutcome:
    """Validate ``commerce.transactions`` rows; quarantine the rows that break a row rule.

    ``frames`` (optional) supplies the raw GoCardless record for each quarantined row's
    ``payload["source"]``. ``payment_amounts`` (transaction id → amount) lets a chunk of
    refunds be checked against payments validated in another chunk. ``docs_dir`` defaults to
    ``settings.data_dir() / "gx_data_docs"``; the page is written to its
    ``commerce_transactions/index.html`` (``build_docs=False``: none).
    """
    now = as_timestamp(now)
    return _validate_records(
        TRANSACTIONS_TABLE, transactions, schema.TRANSACTIONS, transaction_rules(now),
        functools.partial(_transaction_helpers, payment_amounts=payment_amounts),
        ("type", "status", "currency"), _transaction_object_type,
        run_id=run_id, frames=frames, docs_dir=docs_dir, build_docs=build_docs,
    )


def validate_subscriptions(
    subscriptions: pd.DataFrame,
    *,
    now: datetime,
    run_id: str,
    frames: RawFrames | None = None,
    docs_dir: str | Path | None = None,
    build_docs: bool = True,
) -> ValidationOutcome:
    """Validate ``commerce.subscriptions`` rows; quarantine the rows that break a row rule."""
    now = as_timestamp(now)
    return _validate_records(
        SUBSCRIPTIONS_TABLE, subscriptions, schema.SUBSCRIPTIONS, subscription_rules(now), _subscription_helpers,
        ("status", "frequency_unit", "currency"), lambda f: pd.Series(["subscription"] * len(f), dtype=object),
        run_id=run_id, frames=frames, docs_dir=docs_dir, build_docs=build_docs,
    )


def _validate_insight(table, frame, contract, rules, helpers, amounts, docs_dir, build_docs) -> ValidationOutcome:
    original = frame.reset_index(drop=True)
    prepared = _prepare(original, ("currency",), ())
    extra = helpers(original) if set(contract) <= set(original.columns) else {}
    for name, series in extra.items():
        prepared[name] = series.set_axis(prepared.index)
    for column in amounts:
        if column in prepared:
            prepared[column] = _as_float(prepared[column])
    rules = [*rules, _columns_match([*contract, ROW_MARKER, *extra])]
    result = _run_suite(table, prepared, rules, (*_INSIGHT_KEYS, *extra), _docs_page(table, docs_dir, build_docs))
    return ValidationOutcome(original, schema.empty(schema.QUARANTINE), result.batch_failures, result.docs_url,
                             result.rule_results, result.gx_result)


def validate_transactions_insight(
    insight: pd.DataFrame, *, docs_dir: str | Path | None = None, build_docs: bool = True
) -> ValidationOutcome:
    """Batch-level checks of ``commerce.transactions_insight`` (a failure is a bug: no quarantine)."""
    decimals = [c for c, kind in schema.TRANSACTIONS_INSIGHT.items() if kind == "decimal"]
    return _validate_insight(TRANSACTIONS_INSIGHT_TABLE, insight, schema.TRANSACTIONS_INSIGHT,
                             transactions_insight_rules(), _transactions_insight_helpers, decimals, docs_dir, build_docs)


def validate_subscriptions_insight(
    insight: pd.DataFrame, *, docs_dir: str | Path | None = None, build_docs: bool = True
) -> ValidationOutcome:
    """Batch-level checks of ``commerce.subscriptions_insight``, including the MRR movement invariant."""
    decimals = [c for c, kind in schema.SUBSCRIPTIONS_INSIGHT.items() if kind == "decimal"]
    return _validate_insight(SUBSCRIPTIONS_INSIGHT_TABLE, insight, schema.SUBSCRIPTIONS_INSIGHT,
                             subscriptions_insight_rules(), _subscriptions_insight_helpers, decimals, docs_dir, build_docs)
