"""``gocardless-commerce`` (or ``python -m gocardless_commerce``): operate the pipeline.

* ``warehouse migrate`` — create/upgrade the warehouse schemas from ``sql/migrations``.
* ``warehouse docs`` — regenerate ``docs/columns.md`` from the comment catalogue ``sql/comments.yml``.
* ``provider set`` — the partner app connection (``gocardless_default``).
* ``merchants add|list|disable|delete`` — the merchant registry (also the REST API, ``gocardless_commerce.api``);
  ``delete`` removes the data connection's rows in every schema (Qard's rule).
* ``pools sync`` — create the Airflow pools the tasks use (DuckDB writers, one per merchant).

Access tokens are read from an environment variable or standard input, never from the
command line (which other users can see in ``ps``), and go straight into an Airflow connection.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys

from gocardless_commerce import settings


def _registry():
    from gocardless_commerce.registry import Registry
    from gocardless_commerce.warehouse.engine import get_engine
    from gocardless_commerce.warehouse.migrations import apply_migrations

    engine = get_engine()
    apply_migrations(engine)
    return Registry(engine)


def _schedule(value: str) -> str:
    """``--schedule`` checked as Airflow will check it, so a typo is refused here and not
    discovered as a merchant without a DAG."""
    from gocardless_commerce.orchestration.dag_factory import checked_timetable

    try:
        checked_timetable(value)
    except Exception as error:  # AirflowTimetableInvalid, and whatever the cron parser raises
        raise argparse.ArgumentTypeError(f"{value!r} is not a cron expression or preset Airflow accepts ({error})") from None
    return value


def _read_secret(env_var: str | None, prompt: str) -> str:
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            sys.exit(f"Environment variable {env_var} is empty or not set.")
        return value
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().strip()


def cmd_migrate(args: argparse.Namespace) -> None:
    from gocardless_commerce.warehouse.engine import describe, get_engine
    from gocardless_commerce.warehouse.migrations import apply_migrations

    engine = get_engine()
    applied = apply_migrations(engine)
    print(f"Warehouse {describe(engine)}: {len(applied)} migration(s) applied {applied or ''}".rstrip())


def cmd_docs(args: argparse.Namespace) -> None:
    from pathlib import Path

    from gocardless_commerce.warehouse.comments import load_catalogue, render_markdown

    output = Path(args.output) if args.output else settings.PROJECT_ROOT / "docs" / "columns.md"
    page = render_markdown(load_catalogue())
    if args.check:
        if not output.exists() or output.read_text() != page:
            sys.exit(f"{output} is out of date with sql/comments.yml: run `gocardless-commerce warehouse docs`.")
        print(f"{output} is up to date")
        return
    output.write_text(page)
    print(f"Wrote {output}")


def cmd_provider_set(args: argparse.Namespace) -> None:
    from gocardless_commerce.orchestration.connections import save_connection

    secret = _read_secret(args.client_secret_env, "GoCardless client secret: ")
    extra = {"is_sandbox": not args.live}
    if args.base_url:
        extra["base_url"] = args.base_url
    save_connection(
        settings.GOCARDLESS_PROVIDER_CONN_ID, login=args.client_id, password=secret, extra=extra,
        description="GoCardless partner app (OAuth client)",
    )
    print(f"Saved connection {settings.GOCARDLESS_PROVIDER_CONN_ID} ({'live' if args.live else 'sandbox'})")


def cmd_merchants_add(args: argparse.Namespace) -> None:
    from gocardless_commerce.names import validate_merchant_name, validate_user_id
    from gocardless_commerce.orchestration.connections import save_connection

    # Refuse a bad id or name before an OAuth code is spent or a token is read.
    args.user_id, args.name = validate_user_id(args.user_id), validate_merchant_name(args.name)
    if args.oauth_code:
        from gocardless_commerce.client import oauth
        from gocardless_commerce.orchestration.connections import load_connection
        from gocardless_commerce.orchestration.hook import provider_oauth_root

        provider = load_connection(settings.GOCARDLESS_PROVIDER_CONN_ID)
        root = provider_oauth_root(provider.extra_dejson)  # is_sandbox read as the hook reads it
        grant = oauth.exchange_code(
            root, client_id=provider.login, client_secret=provider.password, code=args.oauth_code,
            redirect_uri=args.redirect_uri,
        )
        token, organisation_id = grant["access_token"], grant.get("organisation_id")
    else:
        token = _read_secret(args.token_env, "GoCardless access token: ")
        organisation_id = args.organisation_id
    registry = _registry()
    connection = registry.connect(
        args.user_id, args.name, organisation_id=organisation_id,
        requested_data_types=tuple(args.data_types), schedule=args.schedule,
    )
    save_connection(
        connection.airflow_conn_id, password=token, extra={"organisation_id": organisation_id},
        description=f"GoCardless access token of {args.name}",
    )
    from gocardless_commerce.orchestration.pools import ensure_pools

    ensure_pools([args.user_id])
    print(f"User {args.user_id} connected: data connection {connection.id}, DAG gocardless_sync__{args.user_id}")


def cmd_merchants_list(args: argparse.Namespace) -> None:
    from gocardless_commerce.names import terminal_safe

    # Names are shown with control characters escaped: a stored newline must not forge a line.
    for c in _registry().data_connections():
        print(terminal_safe(f"{c.user_id:<24} {c.status:<13} {c.id}  {c.organisation_id or '-':<16} {c.user_name}"))


def cmd_merchants_disable(args: argparse.Namespace) -> None:
    connection = _registry().disconnect(args.user_id)
    print(f"User {args.user_id}: data connection {connection.id} is DISCONNECTED (its data stays)")


def cmd_merchants_delete(args: argparse.Namespace) -> None:
    from gocardless_commerce.orchestration.connections import delete_connection
    from gocardless_commerce.orchestration.pools import delete_merchant_pool

    from gocardless_commerce.model.data_docs import delete_connection_docs
    from gocardless_commerce.model.validation import default_docs_dir

    connection = _registry().delete(args.user_id)
    delete_connection(connection.airflow_conn_id)
    delete_merchant_pool(args.user_id)
    delete_connection_docs(default_docs_dir(), connection.id)
    print(f"User {args.user_id}: data connection {connection.id}, all its rows and its Data Docs pages deleted")


def cmd_pools_sync(args: argparse.Namespace) -> None:
    from gocardless_commerce.orchestration.pools import ensure_pools
    from gocardless_commerce.registry import SYNCED_STATUSES

    user_ids = [c.user_id for c in _registry().data_connections(statuses=SYNCED_STATUSES)]
    created = ensure_pools(user_ids)
    print(f"{len(created)} Airflow pool(s) created {created or ''}".rstrip())


def build_parser() -> argparse.ArgumentParser:
    from gocardless_commerce.data_types import DATA_TYPES

    parser = argparse.ArgumentParser(prog="gocardless-commerce", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="area", required=True)

    warehouse = sub.add_parser("warehouse", help="warehouse schema").add_subparsers(dest="action", required=True)
    warehouse.add_parser("migrate", help="apply sql/migrations, the views and the comments").set_defaults(func=cmd_migrate)
    docs = warehouse.add_parser("docs", help="write docs/columns.md from sql/comments.yml")
    docs.add_argument("--output", help="where to write the page (default: docs/columns.md of the project)")
    docs.add_argument("--check", action="store_true", help="only check that the page is up to date (exit 1 if not)")
    docs.set_defaults(func=cmd_docs)

    provider = sub.add_parser("provider", help="the GoCardless partner app").add_subparsers(dest="action", required=True)
    p = provider.add_parser("set", help="save the gocardless_default connection")
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret-env", help="environment variable holding the client secret (else stdin)")
    p.add_argument("--live", action="store_true", help="use api.gocardless.com (default: the sandbox)")
    p.add_argument("--base-url", help="override the API base URL (e.g. the local sandbox)")
    p.set_defaults(func=cmd_provider_set)

    merchants = sub.add_parser("merchants", help="the merchant registry").add_subparsers(dest="action", required=True)
    add = merchants.add_parser("add", help="register a merchant and its GoCardless access token")
    add.add_argument("--user-id", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--organisation-id")
    add.add_argument("--token-env", help="environment variable holding the access token (else stdin)")
    add.add_argument("--oauth-code", help="exchange this OAuth authorization code for the token instead")
    add.add_argument("--redirect-uri", help="the redirect URI the OAuth code was issued for")
    add.add_argument("--schedule", type=_schedule, help="cron or preset for this merchant's DAG (default @daily)")
    add.add_argument("--data-types", nargs="+", default=list(DATA_TYPES), choices=DATA_TYPES)
    add.set_defaults(func=cmd_merchants_add)
    merchants.add_parser("list", help="list data connections").set_defaults(func=cmd_merchants_list)
    disable = merchants.add_parser("disable", help="disconnect a merchant (its DAG disappears, data stays)")
    disable.add_argument("--user-id", required=True)
    disable.set_defaults(func=cmd_merchants_disable)
    delete = merchants.add_parser("delete", help="delete a data connection and all its rows in every schema")
    delete.add_argument("--user-id", required=True)
    delete.set_defaults(func=cmd_merchants_delete)
    pools = sub.add_parser("pools", help="Airflow pools (DuckDB writers, one per merchant)").add_subparsers(dest="action", required=True)
    pools.add_parser("sync", help="create the pools the tasks use that are missing").set_defaults(func=cmd_pools_sync)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from gocardless_commerce.names import InvalidNameError
    from gocardless_commerce.registry import RegistryError

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (InvalidNameError, RegistryError) as error:
        sys.exit(f"gocardless-commerce: error: {error}")


if __name__ == "__main__":
    main()
