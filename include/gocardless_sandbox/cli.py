"""``gocardless-sandbox`` / ``python -m gocardless_sandbox``: serve a sandbox process.

Binds 127.0.0.1 unless ``--host`` says otherwise (docker-compose passes ``0.0.0.0``). The
admin secret comes from ``$GC_SANDBOX_ADMIN_SECRET`` or is drawn at random; merchant tokens
are drawn at random at every start. Neither is ever logged: ``--secrets-file`` writes both
to a file only its owner can read, for tools that use the pre-issued tokens.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

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
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, this machine only)")
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
    parser.add_argument("--secrets-file", type=Path, default=None,
                        help="write the admin secret and each merchant's token here (JSON, mode 0600)")
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import uvicorn

    from gocardless_sandbox.app import create_app
    from gocardless_sandbox.security import ADMIN_SECRET_ENV, issue_merchant_tokens
    from gocardless_sandbox.server import open_store

    config = SandboxConfig(
        seed=args.seed, merchants=args.merchants, payments_per_merchant=args.payments, history_months=args.history_months,
        customers_per_merchant=args.customers, now=args.now, rate_limit_per_minute=args.rate_limit, db_path=args.db,
        oauth_client_id=args.oauth_client_id, oauth_client_secret=args.oauth_client_secret,
        oauth_redirect_uris=tuple(args.oauth_redirect_uri or DEFAULT_OAUTH_REDIRECT_URIS),
        admin_secret=os.environ.get(ADMIN_SECRET_ENV) or None,
    )
    store, _ = open_store(config)
    tokens = issue_merchant_tokens(store)
    app = create_app(store, config)
    organisations = store.organisations()
    if args.secrets_file:
        write_secrets_file(args.secrets_file, app.state.admin_secret, organisations, tokens)
    log.info("GoCardless sandbox ready on http://%s:%d (%d merchants, simulated now %s)",
             args.host, args.port, len(organisations), app.state.simulation.clock()["now"])
    kept = f"; both are in {args.secrets_file}" if args.secrets_file else ""
    log.info("Admin secret %s; merchant tokens from /oauth%s",
             f"from ${ADMIN_SECRET_ENV}" if config.admin_secret else "drawn at random", kept)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def write_secrets_file(path: Path, admin_secret: str, organisations: list, tokens: dict[str, str]) -> None:
    """The admin secret and the pre-issued tokens, readable by the file's owner only."""
    document = {
        "admin_secret": admin_secret,
        "merchants": [{"organisation_id": o.id, "name": o.name, "email": o.email, "access_token": tokens[o.id]}
                      for o in organisations],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(descriptor, "w") as handle:
        json.dump(document, handle, indent=2)
