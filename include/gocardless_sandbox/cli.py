"""``gocardless-sandbox`` / ``python -m gocardless_sandbox``: serve a sandbox process."""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime

from gocardless_sandbox.config import (
    DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET,
    DEFAULT_OAUTH_REDIRECT_URIS,
    SandboxConfig,
)

log = logging.getLogger("gocardless_sandbox")


def parse_now(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gocardless-sandbox", description="Local GoCardless Pro API and OAuth simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4010)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--merchants", type=int, default=2)
    parser.add_argument("--payments", type=int, default=500, help="payments per merchant")
    parser.add_argument("--customers", type=int, default=None, help="customers per merchant (default: payments / 8)")
    parser.add_argument("--history-months", type=int, default=18)
    parser.add_argument("--now", type=parse_now, default=None, help="simulated now, ISO date/time (default: today 00:00 UTC)")
    parser.add_argument("--rate-limit", type=int, default=1000, help="requests per token per minute")
    parser.add_argument("--db", default=None, help="SQLite file (reused when it already holds data)")
    parser.add_argument("--oauth-client-id", default=DEFAULT_OAUTH_CLIENT_ID)
    parser.add_argument("--oauth-client-secret", default=DEFAULT_OAUTH_CLIENT_SECRET)
    parser.add_argument("--oauth-redirect-uri", action="append", default=None,
                        help=f"registered redirect URI (repeatable; default: {', '.join(DEFAULT_OAUTH_REDIRECT_URIS)})")
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import uvicorn

    from gocardless_sandbox.app import create_app
    from gocardless_sandbox.server import open_store

    config = SandboxConfig(
        seed=args.seed, merchants=args.merchants, payments_per_merchant=args.payments, history_months=args.history_months,
        customers_per_merchant=args.customers, now=args.now, rate_limit_per_minute=args.rate_limit, db_path=args.db,
        oauth_client_id=args.oauth_client_id, oauth_client_secret=args.oauth_client_secret,
        oauth_redirect_uris=tuple(args.oauth_redirect_uri or DEFAULT_OAUTH_REDIRECT_URIS),
    )
    store, _ = open_store(config)
    app = create_app(store, config)
    organisations = store.organisations()
    log.info("GoCardless sandbox ready on http://%s:%d (%d merchants, simulated now %s); tokens via /oauth or in-process only",
             args.host, args.port, len(organisations), app.state.simulation.clock()["now"])
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0
