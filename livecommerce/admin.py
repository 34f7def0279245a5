"""``livecommerce admin``: operators, the people who may moderate every room.

An operator is granted from the command line, by someone who can reach the server's Redis,
never over the API: no token can make itself an operator. With the embedded Valkey the
command finds the running server's Valkey through the data directory (``valkey/url``); when
no server runs, it starts the embedded Valkey on that directory for the moment it needs it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from livecommerce.accounts.store import AccountStore
from livecommerce.accounts.upgrade import upgrade_accounts
from livecommerce.store.embedded import EmbeddedValkey
from livecommerce.store.history import Store

URL_FILE = "url"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["grant", "revoke", "list"])
    parser.add_argument("username", nargs="?", help="the account to grant or revoke")
    parser.add_argument("--user-id", help="a user id instead of a username (merchant users)")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("LIVECOMMERCE_REDIS_URL"),
        help="the server's Redis [env LIVECOMMERCE_REDIS_URL]",
    )
    parser.add_argument(
        "--redis-cluster",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("LIVECOMMERCE_REDIS_CLUSTER", "").lower() in ("1", "true", "yes"),
        help="--redis-url names a node of a cluster [env LIVECOMMERCE_REDIS_CLUSTER]",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("LIVECOMMERCE_DATA_DIR", ".livecommerce")),
        help="the embedded Valkey's data directory [env LIVECOMMERCE_DATA_DIR]",
    )


def run(args: argparse.Namespace) -> int:
    if args.action != "list" and not (args.username or args.user_id):
        print("livecommerce admin: name a username (or --user-id)", file=sys.stderr)
        return 2
    embedded: EmbeddedValkey | None = None
    url = args.redis_url
    if not url:
        url = running_valkey(args.data_dir / "valkey")
    if not url:
        embedded = EmbeddedValkey(args.data_dir / "valkey")
        embedded.start()
        url = embedded.url
    try:
        return asyncio.run(_apply(url, args))
    finally:
        if embedded is not None:
            embedded.stop()


def running_valkey(valkey_dir: Path) -> str | None:
    """The URL a running server's embedded Valkey left in its directory, if it answers."""
    try:
        url = (valkey_dir / URL_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if host is None or port is None:
        return None
    probe = EmbeddedValkey(valkey_dir, password=unquote(parts.password or "") or None)
    return url if probe.answers(host, port) else None


async def _apply(url: str, args: argparse.Namespace) -> int:
    store = Store.from_url(url, cluster=bool(args.redis_cluster), stream_max_len=1000)
    accounts = AccountStore(store.client, store.scripts)
    try:
        await upgrade_accounts(store.client, store.scripts)  # names an older version wrote
        if args.action == "list":
            for user_id in sorted(await accounts.admins()):
                account = await accounts.account(user_id)
                print(f"{user_id}\t{account['username'] if account else '(not an account)'}")
            return 0
        user_id = args.user_id
        if not user_id:
            account = await accounts.account_by_username(args.username)
            if account is None:
                print(f"livecommerce admin: no account {args.username!r}", file=sys.stderr)
                return 1
            user_id = account["id"]
        await accounts.set_admin(user_id, args.action == "grant")
        done = "is now an operator" if args.action == "grant" else "is no longer an operator"
        print(f"{args.username or user_id} ({user_id}) {done}")
        return 0
    finally:
        await store.close()
