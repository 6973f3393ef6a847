"""Extract one data connection's GoCardless account into the ``raw`` schema.

Two modes, chosen from the stored state:

* **backfill** (first run, or ``full_refresh``): list every resource. Slowly-changing
  resources (creditors, customers, bank accounts, mandates, subscriptions) are listed whole,
  because a payment in the window may belong to an old mandate; payments, refunds, payouts and
  events are listed from ``history_months`` back. A full refresh then flags rows the API no
  longer returns as removed (GoCardless hard-deletes removed customers).
* **incremental**: GoCardless has no ``updated_at`` filter, so changes are found through
  events: read ``/events`` since the stored cursor (minus an overlap, because GoCardless
  creates events asynchronously), then re-read those events per ``resource_type`` with
  ``include=`` so the changed records' current state arrives in the same pages — no GET per
  record — and list each resource created since its own cursor. The cost follows what changed,
  not the size of the history.

Records land in chunks, each in its own transaction (memory stays bounded), through one
warehouse connection held while chunks follow each other closely
(:class:`~gocardless_commerce.warehouse.engine.Session`; with DuckDB, a bounded buffer pool);
records stay the JSON the API sent, only the fields the sync reads are decoded. Cursors are
written only after every chunk of every stream has committed, so a failed or killed run
resumes from the old cursors and the upserts make the replay harmless (nothing lost, nothing
duplicated). The commerce tables are built from ``raw`` only after the whole extraction task
succeeded, so readers of ``commerce`` never see a partial extraction.
"""

from __future__ import annotations

import calendar
import json
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gocardless_commerce import settings
from gocardless_commerce.extract import landing
from gocardless_commerce.extract.identity import SeenRecords
from gocardless_commerce.client import GoCardlessClient
from gocardless_commerce.client.client import UnrequestableIdError
from gocardless_commerce.client.errors import GoneError, NotFoundError
from gocardless_commerce.client.pagination import DEFAULT_PAGE_SIZE, RawRecords, RecordHead
from gocardless_commerce.client.records import Rejected
from gocardless_commerce.client.timestamps import format_timestamp, parse_naive_utc, parse_timestamp
from gocardless_commerce.warehouse.engine import Session, transaction

log = logging.getLogger(__name__)

#: Listed whole on a backfill: few records, and facts in the window refer to old ones.
DIMENSION_RESOURCES = ("creditors", "customers", "customer_bank_accounts", "mandates", "subscriptions")
#: Listed from ``history_months`` back on a backfill.
FACT_RESOURCES = ("payments", "refunds", "payouts")
#: GoCardless serves payout items only for payouts created in the last 6 months (else 410).
PAYOUT_ITEMS_MONTHS = 6
#: Concurrent payout-item listings (one request per payout: latency-bound).
PAYOUT_ITEM_FETCHERS = 4
EVENTS = "events"
#: Mandate event actions after which GoCardless may have changed the mandate's subscriptions
#: without a subscription event (they are re-listed: one request per mandate).
MANDATE_ACTIONS_CHANGING_SUBSCRIPTIONS = frozenset(
    {"cancelled", "expired", "failed", "replaced", "reinstated", "transferred", "consumed", "blocked"}
)


def duckdb_settings() -> dict[str, str]:
    """DuckDB settings of the sync's connection (see :class:`~.warehouse.engine.Session`).

    The memory limit (:func:`settings.sync_duckdb_memory_limit`) bounds DuckDB's buffers
    (table blocks, primary-key indexes), which otherwise grow with the tables upserted into;
    beyond it DuckDB evicts to its temp directory (``<file>.tmp``). One thread: the API
    client, not DuckDB, is what the sync waits for. The indexes stay in memory, so a big
    merchant's sync outgrows the limit: the chunk is then retried with the limit doubled
    (:meth:`~.warehouse.engine.Session.run`).
    """
    return {"memory_limit": settings.sync_duckdb_memory_limit(), "threads": "1"}


def months_before(moment: datetime, months: int) -> datetime:
    """``moment`` minus whole calendar months, the day clamped to the target month's length."""
    year, month_index = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month_index + 1)[1])
    return moment.replace(year=year, month=month_index + 1, day=day)


@dataclass
class StreamStats:
    records: int = 0  # distinct records landed (a copy already landed in this run is not counted)
    changed: int = 0
    pages: int = 0
    requests: int = 0
    removed: int = 0
    repeated: int = 0  # identical copies of records already landed in this run (not landed again)
    conflicting: int = 0  # records that came back with different content in this run
    quarantined_records: int = 0  # records kept out of raw because they break their schema
    quarantined: dict[str, int] = field(default_factory=dict)  # reason -> records (conflicting_copy: ids)


@dataclass
class SyncResult:
    """What a sync did; returned to the DAG (as a dict) and written to ``meta.sync_runs``."""

    data_connection_id: str
    run_id: str
    mode: str
    started_at: str
    finished_at: str = ""
    api_requests: int = 0
    streams: dict[str, StreamStats] = field(default_factory=dict)

    @property
    def records_landed(self) -> int:
        return sum(s.records for s in self.streams.values())

    @property
    def records_changed(self) -> int:
        return sum(s.changed for s in self.streams.values())

    @property
    def records_quarantined(self) -> int:
        return sum(s.quarantined_records for s in self.streams.values())

    @property
    def quarantined(self) -> dict[str, int]:
        """Quarantined records by reason, over every stream."""
        totals: dict[str, int] = {}
        for stats in self.streams.values():
            for reason, count in stats.quarantined.items():
                totals[reason] = totals.get(reason, 0) + count
        return dict(sorted(totals.items()))

    def as_dict(self) -> dict:
        return {
            "data_connection_id": self.data_connection_id,
            "run_id": self.run_id,
            "mode": self.mode,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "api_requests": self.api_requests,
            "records_landed": self.records_landed,
            "records_changed": self.records_changed,
            "records_quarantined": self.records_quarantined,
            "quarantined": self.quarantined,
            "streams": {name: vars(stats) for name, stats in sorted(self.streams.items())},
        }


@dataclass(frozen=True)
class SyncRequest:
    user_id: str
    data_connection_id: str
    run_id: str
    now: datetime  # the run's "now" (the data interval end): the history window ends here
    full_refresh: bool = False
    history_months: int = 12
    event_overlap: timedelta = timedelta(minutes=30)
    chunk_size: int = 10_000


def read_state(engine: Engine, data_connection_id: str) -> dict[str, datetime | None]:
    """Stored cursors of a data connection: stream name → high-water ``created_at`` (UTC)."""
    with transaction(engine) as conn:
        rows = conn.execute(
            sa.text("SELECT stream, cursor_created_at FROM meta.sync_state WHERE data_connection_id = :dc"),
            {"dc": data_connection_id},
        ).all()
    return {stream: (cursor.replace(tzinfo=UTC) if cursor else None) for stream, cursor in rows}


def _write_state(conn: Connection, data_connection_id: str, run_id: str, cursors: dict[str, datetime | None]) -> None:
    """Advance cursors (never move one backwards); untouched cursors are not rewritten."""
    stored = dict(
        conn.execute(
            sa.text("SELECT stream, cursor_created_at FROM meta.sync_state WHERE data_connection_id = :dc"),
            {"dc": data_connection_id},
        ).all()
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    for stream, cursor in cursors.items():
        value = cursor.astimezone(UTC).replace(tzinfo=None) if cursor else None
        if stream in stored:
            if value is None or (stored[stream] is not None and value <= stored[stream]):
                continue
            conn.execute(
                sa.text(
                    "UPDATE meta.sync_state SET cursor_created_at = :c, last_run_id = :r, updated_at = :t "
                    "WHERE data_connection_id = :dc AND stream = :s"
                ),
                {"c": value, "r": run_id, "t": now, "dc": data_connection_id, "s": stream},
            )
        else:
            conn.execute(
                sa.text("INSERT INTO meta.sync_state VALUES (:dc, :s, :c, :r, :t)"),
                {"c": value, "r": run_id, "t": now, "dc": data_connection_id, "s": stream},
            )


class _Sync:
    """One run of :func:`sync_data_connection` (holds its counters and cursors)."""

    def __init__(self, client: GoCardlessClient, engine: Engine, request: SyncRequest, session: Session) -> None:
        self.client = client
        self.engine = engine
        self.request = request
        self.session = session
        self.ctx = landing.LandingContext(
            user_id=request.user_id,
            data_connection_id=request.data_connection_id,
            run_id=request.run_id,
            extracted_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        )
        self.cursors: dict[str, datetime | None] = {}
        self.touched_payouts: dict[str, str] = {}  # payout id -> created_at
        self.seen: dict[str, SeenRecords] = {}  # stream -> records landed in this run
        self.quarantine: list[landing.QuarantinedRecord] = []  # waiting for the next chunk's commit
        self.refunded_payments: set[str] = set()  # payments of the refunds landed in this run
        self.changed_mandates: set[str] = set()  # mandates whose events may change subscriptions
        self.successor_mandates: set[str] = set()  # mandates replacing one (links.new_mandate)
        self.held: dict[str, RawRecords] = {}  # stream -> records of small listings not landed yet
        self.result = SyncResult(
            data_connection_id=request.data_connection_id,
            run_id=request.run_id,
            mode="",
            started_at=format_timestamp(datetime.now(UTC)),
        )

    # -- one stream: pages → chunks → one transaction ------------------------------------------
    def _stats(self, name: str) -> StreamStats:
        return self.result.streams.setdefault(name, StreamStats())

    def _advance_cursor(self, stream: str, newest: datetime | None, window_start: datetime | None) -> None:
        """Move ``stream``'s cursor to the newest parsed ``created_at`` landed, clamped to the
        window asked for: a record older than ``created_at[gte]`` (a server ignoring the
        filter) does not pull it before the window, one beyond the run's ``now`` (a bad clock,
        year 2999) does not push it past records still to come. Never backwards."""
        if newest is None:
            return
        moment = min(newest, self.request.now)
        if window_start is not None:
            moment = max(moment, window_start)
        current = self.cursors.get(stream)
        if current is None or moment > current:
            self.cursors[stream] = moment

    def land_stream(
        self,
        resource: str,
        params: dict,
        *,
        linked: str | None = None,
        on_records: Callable[[list[RecordHead]], None] | None = None,
        track_ids: bool = False,
        moves_cursor: bool = True,
        hold: bool = False,
    ) -> set[str]:
        """List ``resource`` with ``params`` and land it (or, with ``linked``, land the records
        that event pages carry under ``linked[linked]``). With ``track_ids``, returns the ids
        landed (a full refresh needs them to spot vanished records; otherwise they'd only cost
        memory). Without ``moves_cursor`` (a listing of old records by a filter), the
        resource's cursor stays where the windowed listings put it. With ``hold``, the last
        partial chunk waits for the next listing of the stream or :meth:`land_held`: a loop of
        many small listings (one per subscription or mandate) then commits once per chunk, not
        once per listing.

        Records stay the JSON the API sent (:meth:`GoCardlessClient.iter_raw_pages`): only the
        declared fields are decoded; a record that breaks them is quarantined, the rest land.
        """
        name = linked or resource
        target = landing.RESOURCES[name]
        stats = self._stats(name)
        before = self.client.request_count
        window_start = parse_timestamp(params["created_at[gte]"]) if "created_at[gte]" in params else None
        seen: set[str] = set()
        buffer = self.held.pop(name, None) or RawRecords(raw=[], heads=[])
        empty = RawRecords(raw=[], heads=[])
        for page in self.client.iter_raw_pages(resource, {"limit": DEFAULT_PAGE_SIZE, **params}):
            stats.pages += 1
            records = page.linked.get(linked, empty) if linked else page.records
            self._reject(name, stats, records.rejected)
            buffer.raw.extend(records.raw)
            buffer.heads.extend(records.heads)
            if track_ids:
                seen.update(r.id for r in records.heads)
            if linked is None and moves_cursor:
                self._advance_cursor(resource, records.newest, window_start)
            self._note_parents(name, records.heads)
            if on_records:
                on_records(records.heads)
            if len(buffer) >= self.request.chunk_size:
                self._land_chunk(target, stats, buffer)
                buffer = RawRecords(raw=[], heads=[])
            if stats.pages % 50 == 0:
                log.info("%s: %d pages, %d records so far", target.name, stats.pages, stats.records + len(buffer))
        if hold:
            self.held[name] = buffer
        else:
            self._land_chunk(target, stats, buffer)
        stats.requests += self.client.request_count - before
        return seen

    def land_held(self, name: str) -> None:
        """Land what :meth:`land_stream` held back for ``name``."""
        held = self.held.pop(name, None)
        if held is not None:
            self._land_chunk(landing.RESOURCES[name], self._stats(name), held)

    def _reject(self, resource: str, stats: StreamStats, rejected: list[Rejected]) -> None:
        """Queue records that break their schema for the quarantine (one row per reason)."""
        for record in rejected:
            payload = str(record.raw, "utf-8")
            stats.quarantined_records += 1
            for reason in record.reasons:
                stats.quarantined[reason] = stats.quarantined.get(reason, 0) + 1
                self.quarantine.append(
                    landing.QuarantinedRecord(resource, payload, reason, record.detail, record.record_id)
                )
        if rejected:
            log.warning(
                "%s: %d records quarantined (%s)", resource, len(rejected),
                ", ".join(sorted({reason for record in rejected for reason in record.reasons})),
            )

    def _note_parents(self, resource: str, heads: list[RecordHead]) -> None:
        """Parents whose fields change through this child's events (refreshed at the end)."""
        if resource == "refunds":
            self.refunded_payments.update(
                h.links["payment"] for h in heads if h.links and isinstance(h.links.get("payment"), str)
            )

    def _land_chunk(
        self,
        target: landing.RawResource,
        stats: StreamStats,
        records: RawRecords,
        *,
        ids: list[str] | None = None,
        extras: list[tuple] | None = None,
    ) -> None:
        """One chunk, one transaction: memory stays bounded however long the stream.

        A copy of a record already landed in this run is not landed (nor counted) again; copies
        of one id with different content are landed last-wins, counted and quarantined, every
        version, for inspection. A run that dies between chunks leaves some rows landed and the
        cursors unmoved; the rerun lists the same records again and the upserts make that harmless.
        """
        ids = ids if ids is not None else [head.id for head in records.heads]
        tracker = self.seen.setdefault(target.name, SeenRecords())
        chunk = tracker.sort_out(ids, records.raw)
        stats.repeated += chunk.repeated
        copies = {p: str(records.raw[p], "utf-8") for positions in chunk.conflicts.values() for p in positions}
        if len(chunk.land) != len(ids):
            keep = chunk.land
            records = RawRecords(raw=[records.raw[p] for p in keep], heads=[records.heads[p] for p in keep])
            extras = [extras[p] for p in keep] if extras is not None else None
            ids = [ids[p] for p in keep]
        quarantine, self.quarantine = self.quarantine, []

        def land(conn: Connection) -> int:
            conflicts = self._conflicting_copies(conn, target, chunk.conflicts, chunk.earlier_landed, copies)
            changed = landing.land_raw(conn, target, records, self.ctx, ids=ids, extras=extras) if ids else 0
            if quarantine or conflicts:
                landing.land_quarantine(conn, quarantine + conflicts, self.ctx)
            return changed

        if not ids and not quarantine:
            return
        stats.changed += self.session.run(land)
        stats.records += len(ids)
        if chunk.conflicts:
            stats.conflicting += len(chunk.conflicts)
            stats.quarantined["conflicting_copy"] = stats.quarantined.get("conflicting_copy", 0) + len(chunk.conflicts)
            log.warning(
                "%s: %d ids came back with different content in this sync (%s); the last copy landed, "
                "every version is in raw.gocardless_quarantine",
                target.name, len(chunk.conflicts), ", ".join(sorted(chunk.conflicts)[:5]),
            )

    def _conflicting_copies(
        self,
        conn: Connection,
        target: landing.RawResource,
        conflicts: dict[str, list[int]],
        earlier_landed: set[str],
        copies: dict[int, str],
    ) -> list[landing.QuarantinedRecord]:
        """Every version of each conflicting id: the chunk's copies and the one landed before."""
        if not conflicts:
            return []
        stored = landing.landed_payloads(conn, target, self.request.data_connection_id, sorted(earlier_landed))
        versions: list[landing.QuarantinedRecord] = []
        for record_id, positions in conflicts.items():
            payloads = [stored[record_id]] if record_id in stored else []
            payloads += [copies[p] for p in positions]
            detail = f"{len(payloads)} different copies of {record_id} in one sync; the last one landed"
            versions += [
                landing.QuarantinedRecord(target.name, payload, "conflicting_copy", detail, record_id)
                for payload in dict.fromkeys(payloads)
            ]
        return versions

    def _note_payouts(self, records: list[RecordHead]) -> None:
        for payout in records:
            self.touched_payouts[payout.id] = payout.created_at

    def land_payout_items(self) -> None:
        """Items of every payout this run touched, while GoCardless still serves them.

        The API lists items one payout at a time, so this stream is bound by round trips, not
        bytes: a few payouts are fetched at once (:data:`PAYOUT_ITEM_FETCHERS` threads sharing
        the client and its rate-limit budget) and landed in chunks, in payout order. Items are
        keyed by what they are (:func:`landing.payout_item_key`), so a page served twice or
        a listing in another order lands the same rows.
        """
        stats = self._stats("payout_items")
        target = landing.RESOURCES["payout_items"]
        oldest = months_before(self.request.now, PAYOUT_ITEMS_MONTHS).date()
        payout_ids = [
            payout_id
            for payout_id, created_at in sorted(self.touched_payouts.items())
            if parse_timestamp(created_at).date() >= oldest  # older ones: GoCardless answers 410 Gone
        ]
        before = self.client.request_count
        pending = RawRecords(raw=[], heads=[])
        ids: list[str] = []
        extras: list[tuple] = []
        with ThreadPoolExecutor(max_workers=PAYOUT_ITEM_FETCHERS, thread_name_prefix="payout-items") as pool:
            for payout_id, pages in zip(payout_ids, pool.map(self._payout_item_pages, payout_ids)):
                if pages is None:
                    continue
                stats.pages += len(pages)
                for page in pages:
                    self._reject("payout_items", stats, page.rejected)
                    pending.raw.extend(page.raw)
                    pending.heads.extend(page.heads)
                    ids += [landing.payout_item_key(payout_id, h.type, h.links, h.amount) for h in page.heads]
                    extras += [(payout_id,)] * len(page)
                if len(pending) >= self.request.chunk_size:
                    self._land_chunk(target, stats, pending, ids=ids, extras=extras)
                    pending, ids, extras = RawRecords(raw=[], heads=[]), [], []
        self._land_chunk(target, stats, pending, ids=ids, extras=extras)
        stats.requests += self.client.request_count - before

    def _payout_item_pages(self, payout_id: str) -> list[RawRecords] | None:
        try:
            return [
                page.records
                for page in self.client.iter_raw_pages("payout_items", {"payout": payout_id, "limit": DEFAULT_PAGE_SIZE})
            ]
        except GoneError:
            log.info("Payout %s is older than GoCardless keeps payout items for (410); skipped", payout_id)
            return None

    def refresh_payments(self, payment_ids: Iterable[str], *, only_missing: bool) -> None:
        """GET payments whose state changed through a child (a refund's ``amount_refunded``)
        or that a landed refund points to but were never landed (older than the window).

        One request per payment: only payments touched by this run's refunds.
        """
        # A payment this run already landed (its own event, or created since the cursor) was
        # read after its refunds were made: already current.
        candidates = sorted(set(payment_ids))
        fresh = self.seen["payments"].landed(candidates) if "payments" in self.seen else set()
        wanted = [p for p in candidates if p not in fresh]
        if only_missing and wanted:
            landed = self.session.run(
                lambda conn: landing.landed_ids(conn, landing.RESOURCES["payments"], self.request.data_connection_id, wanted)
            )
            wanted = [p for p in wanted if p not in landed]
        if not wanted:
            return
        stats = self._stats("payments")
        before = self.client.request_count
        fetched = RawRecords(raw=[], heads=[])
        refreshed = 0
        for payment_id in wanted:
            try:
                records = self.client.get_raw("payments", payment_id)
            except (NotFoundError, UnrequestableIdError):
                log.warning("Payment %r of a landed refund does not exist in GoCardless", payment_id)
                continue
            self._reject("payments", stats, records.rejected)
            fetched.raw.extend(records.raw)
            fetched.heads.extend(records.heads)
            refreshed += len(records)
            if len(fetched) >= self.request.chunk_size:
                self._land_chunk(landing.RESOURCES["payments"], stats, fetched)
                fetched = RawRecords(raw=[], heads=[])
        self._land_chunk(landing.RESOURCES["payments"], stats, fetched)
        stats.requests += self.client.request_count - before
        log.info("payments: %d refreshed through their refunds", refreshed)

    def refresh_subscriptions_of_mandates(self) -> None:
        """A mandate's events (cancelled, reinstated, replaced…) change its subscriptions:
        list the subscriptions of each changed mandate that has any landed, and of each mandate
        replacing one (one listing per mandate; mandates of one-off payments cost nothing)."""
        mandates = sorted(self.changed_mandates)
        with_subscriptions = self.session.run(
            lambda conn: landing.mandates_with_subscriptions(conn, self.request.data_connection_id, mandates)
        ) if mandates else set()
        for mandate_id in mandates:
            if mandate_id in with_subscriptions or mandate_id in self.successor_mandates:
                self.land_stream("subscriptions", {"mandate": mandate_id}, hold=True)
        self.land_held("subscriptions")

    def land_subscription_ending_events(self) -> None:
        """Events of each subscription landed in this run that ended but whose ending event is
        not in raw (older than the events window), so ``ended_at`` is known: ``GET
        /events?subscription=`` without a date filter, one listing per such subscription. Once
        the event is landed the subscription is no longer asked about; one whose event
        GoCardless no longer serves (18-month retention) is asked again only when it is landed
        again (a backfill, or a change)."""
        missing = self.session.run(
            lambda conn: landing.subscriptions_missing_their_end(conn, self.request.data_connection_id)
        )
        tracker = self.seen.get("subscriptions")
        wanted = sorted(tracker.landed(missing)) if tracker is not None and missing else []
        for subscription_id in wanted:
            self.land_stream(EVENTS, {"subscription": subscription_id}, moves_cursor=False, hold=True)
        self.land_held(EVENTS)
        if wanted:
            log.info("events: listed for %d ended subscriptions whose ending event is older than the window", len(wanted))

    # -- modes ---------------------------------------------------------------------------------
    def backfill(self) -> None:
        request = self.request
        since = format_timestamp(months_before(request.now, request.history_months))
        log.info(
            "Backfill of data connection %s: dimensions in full, facts and events since %s",
            request.data_connection_id, since,
        )
        for resource in DIMENSION_RESOURCES + FACT_RESOURCES + (EVENTS,):
            windowed = resource not in DIMENSION_RESOURCES
            params = {"created_at[gte]": since} if windowed else {}
            on_records = self._note_payouts if resource == "payouts" else None
            mark_removed = request.full_refresh and resource != EVENTS
            seen = self.land_stream(resource, params, on_records=on_records, track_ids=mark_removed)
            if windowed and resource not in self.cursors:
                self.cursors[resource] = parse_timestamp(since)
            if mark_removed:
                self._mark_removed(resource, seen, since if windowed else None)
            self._log_stream(resource)
        self.land_subscription_ending_events()
        # refunds in the window whose payment is older than the window: fetch it by id
        self.refresh_payments(self.refunded_payments, only_missing=True)
        self.land_payout_items()
        self._log_stream("payout_items")

    def _mark_removed(self, resource: str, seen: set[str], created_since: str | None) -> None:
        removed = self.session.run(
            lambda conn: landing.mark_removed(
                conn, landing.RESOURCES[resource], self.request.data_connection_id, seen,
                self.ctx.extracted_at, created_since,
            )
        )
        self._stats(resource).removed += removed
        if removed:
            log.warning("%s: %d records no longer returned by GoCardless, flagged removed_at", resource, removed)

    def incremental(self, state: dict[str, datetime | None]) -> None:
        overlap = self.request.event_overlap
        events_since = format_timestamp(state[EVENTS] - overlap)
        log.info("Incremental sync of data connection %s: events since %s", self.request.data_connection_id, events_since)
        changed_types: set[str] = set()

        def note_events(events: list[RecordHead]) -> None:
            changed_types.update(e.resource_type for e in events)
            self._note_changed_mandates(events)

        self.land_stream(EVENTS, {"created_at[gte]": events_since}, on_records=note_events)
        self._log_stream(EVENTS)
        # The current state of every record those events touched, via include= (no GETs).
        for resource_type in sorted(changed_types & set(landing.EVENT_RESOURCE_TYPES)):
            self.land_stream(
                EVENTS,
                {
                    "created_at[gte]": events_since,
                    "resource_type": resource_type,
                    "include": landing.EVENT_RESOURCE_TYPES[resource_type].include,
                },
                linked=resource_type,
                on_records=self._note_payouts if resource_type == "payouts" else None,
            )
        # Records created since each resource's cursor (covers resources without events).
        for resource in DIMENSION_RESOURCES + FACT_RESOURCES:
            cursor = state.get(resource)
            params = {"created_at[gte]": format_timestamp(cursor - overlap)} if cursor else {}
            on_records = self._note_payouts if resource == "payouts" else None
            self.land_stream(resource, params, on_records=on_records)
            self._log_stream(resource)
        # Parents whose fields change through a child's event, which GoCardless does not
        # report as an event of the parent: a refund changes its payment's amount_refunded,
        # a mandate's events change its subscriptions.
        self.refresh_payments(self.refunded_payments, only_missing=False)
        self.refresh_subscriptions_of_mandates()
        self.land_subscription_ending_events()
        self.land_payout_items()
        self._log_stream("payout_items")

    def _note_changed_mandates(self, events: list[RecordHead]) -> None:
        """Mandates whose events change their subscriptions, and the mandates that replace
        them (a replaced mandate's subscriptions move to its ``links.new_mandate``)."""
        for event in events:
            if event.resource_type != "mandates" or event.action not in MANDATE_ACTIONS_CHANGING_SUBSCRIPTIONS:
                continue
            for link in ("mandate", "new_mandate"):
                mandate_id = (event.links or {}).get(link)
                if isinstance(mandate_id, str):
                    self.changed_mandates.add(mandate_id)
                    if link == "new_mandate":
                        self.successor_mandates.add(mandate_id)

    def _log_stream(self, name: str) -> None:
        stats = self._stats(name)
        odd = [
            f"{stats.removed} removed" if stats.removed else "",
            f"{stats.repeated} repeated copies" if stats.repeated else "",
            f"{stats.conflicting} conflicting ids" if stats.conflicting else "",
            f"{stats.quarantined_records} quarantined {stats.quarantined}" if stats.quarantined_records else "",
        ]
        log.info(
            "%-24s %8d records  %8d changed  %5d pages  %5d requests%s",
            name, stats.records, stats.changed, stats.pages, stats.requests,
            "".join(f"  {text}" for text in odd if text),
        )


def sync_data_connection(client: GoCardlessClient, engine: Engine, request: SyncRequest) -> SyncResult:
    """Run one sync of one data connection (see the module docstring for the semantics)."""
    started = time.monotonic()
    requests_before = client.request_count
    state = read_state(engine, request.data_connection_id)
    with Session(engine, duckdb_settings=duckdb_settings()) as session:
        run = _Sync(client, engine, request, session)
        if request.full_refresh or state.get(EVENTS) is None:
            run.result.mode = "full_refresh" if request.full_refresh and state else "backfill"
            run.backfill()
        else:
            run.result.mode = "incremental"
            run.incremental(state)
        # Events cursor: the newest event landed; kept when nothing new arrived.
        if EVENTS not in run.cursors:
            run.cursors[EVENTS] = state.get(EVENTS) or request.now
        if run.quarantine:  # rejected records no chunk has committed yet
            session.run(lambda conn: landing.land_quarantine(conn, run.quarantine, run.ctx))
        result = run.result
        result.api_requests = client.request_count - requests_before
        result.finished_at = format_timestamp(datetime.now(UTC))
        with session.transaction() as conn:
            _write_state(conn, request.data_connection_id, request.run_id, run.cursors)
            _record_run(conn, result)
    log.info(
        "Sync %s of %s done in %.1f s: %d records landed, %d changed, %d quarantined%s, %d API requests",
        result.mode, request.data_connection_id, time.monotonic() - started,
        result.records_landed, result.records_changed, result.records_quarantined,
        f" {result.quarantined}" if result.quarantined else "", result.api_requests,
    )
    return result


def _record_run(conn: Connection, result: SyncResult) -> None:
    params = {
        "dc": result.data_connection_id, "run": result.run_id, "mode": result.mode,
        "started": parse_naive_utc(result.started_at),
        "finished": parse_naive_utc(result.finished_at),
        "requests": result.api_requests, "landed": result.records_landed,
        "changed": result.records_changed, "quarantined": result.records_quarantined,
        "summary": json.dumps(result.as_dict()),
    }
    conn.execute(sa.text("DELETE FROM meta.sync_runs WHERE data_connection_id = :dc AND run_id = :run"), params)
    conn.execute(
        sa.text(
            "INSERT INTO meta.sync_runs (data_connection_id, run_id, mode, started_at, finished_at, "
            "api_requests, records_landed, records_changed, summary, records_quarantined) "
            "VALUES (:dc, :run, :mode, :started, :finished, :requests, :landed, :changed, "
            "CAST(:summary AS JSON), :quarantined)"
        ),
        params,
    )
