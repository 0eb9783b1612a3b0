#!/usr/bin/env python3
"""A minimal Python trading bot that gets its exchange key from keyctl and never from a file (docs/python.md).

    keyctl exec alpha/arb1 --fd 3 -- python3 docs/examples/bot.py     # pipe mode: follows rotations
    keyctl exec alpha/arb1 -- python3 docs/examples/bot.py            # environment mode
    KEYCTL_TOKEN=$(keyctl issue alpha/arb1) python3 docs/examples/bot.py   # token mode

It imports keyctl_client from clients/python (copy that one file next to your bot, or put its directory on
PYTHONPATH). With ccxt importable it uses ccxt; without it, a small standard-library HMAC signer makes Bybit's v5
wallet-balance read, so the example runs anywhere (and against the keyctl sandbox).

Environment (all optional): BOT_EXCHANGE (ccxt id, default bybit), BOT_BASE_URL (send every request there, e.g. the
sandbox http://127.0.0.1:8101/bybit), BOT_RUN_MS (keep running this long, checking the key every BOT_TICK_MS, default
0: one check and exit), BOT_SIGNER=stdlib (skip ccxt even when it is importable).
"""

import hashlib
import hmac
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
from keyctl_client import Credentials, load_credentials  # noqa: E402

EXCHANGE_ID = os.environ.get("BOT_EXCHANGE", "bybit")
BASE_URL = os.environ.get("BOT_BASE_URL")
RUN_MS = int(os.environ.get("BOT_RUN_MS", "0"))
TICK_MS = int(os.environ.get("BOT_TICK_MS", "5000"))

try:
    if os.environ.get("BOT_SIGNER") == "stdlib":
        raise ImportError
    import ccxt  # type: ignore
except ImportError:
    ccxt = None


class BybitReader:
    """One signed Bybit v5 read, signed as Bybit documents it: hex HMAC-SHA256 of timestamp + apiKey + recvWindow +
    query string (https://bybit-exchange.github.io/docs/v5/guide#create-a-request)."""

    def __init__(self, creds: Credentials) -> None:
        self._key = creds.api_key
        self._secret = creds.secret.encode("utf-8")
        self._base = (BASE_URL or "https://api.bybit.com").rstrip("/")

    def check(self) -> None:
        query = urllib.parse.urlencode({"accountType": "UNIFIED"})
        ts, recv = str(int(time.time() * 1000)), "5000"
        sign = hmac.new(self._secret, f"{ts}{self._key}{recv}{query}".encode("utf-8"), hashlib.sha256).hexdigest()
        req = urllib.request.Request(
            f"{self._base}/v5/account/wallet-balance?{query}",
            headers={"X-BAPI-API-KEY": self._key, "X-BAPI-TIMESTAMP": ts, "X-BAPI-RECV-WINDOW": recv, "X-BAPI-SIGN": sign},
        )
        with urllib.request.urlopen(req, timeout=10) as res:  # noqa: S310 - the bot's own exchange URL
            body = json.loads(res.read().decode("utf-8"))
        if body.get("retCode") != 0:
            # The exchange's message, never the request (its headers carry the key).
            raise RuntimeError(f"bybit refused the key: {body.get('retCode')} {body.get('retMsg')}")


def _rebase(api, base, hostname):
    """Points every API URL of a ccxt instance at ``base`` (keeping each URL's path), for a sandbox or proxy."""
    if isinstance(api, str):
        path = urllib.parse.urlparse(api.replace("{hostname}", hostname)).path.rstrip("/")
        return base.rstrip("/") + path
    if isinstance(api, dict):
        return {k: _rebase(v, base, hostname) for k, v in api.items()}
    if isinstance(api, list):
        return [_rebase(v, base, hostname) for v in api]
    return api


class CcxtReader:
    """The same read through ccxt: the key lives only in this object (and in keyctl's store)."""

    def __init__(self, creds: Credentials) -> None:
        self._ex = getattr(ccxt, EXCHANGE_ID)(creds.ccxt_config(enableRateLimit=True))
        if BASE_URL:
            self._ex.urls["api"] = _rebase(self._ex.urls["api"], BASE_URL, getattr(self._ex, "hostname", "") or "")

    def check(self) -> None:
        if EXCHANGE_ID == "bybit":
            self._ex.privateGetV5AccountWalletBalance({"accountType": "UNIFIED"})
        else:
            self._ex.fetch_balance()


def client(creds: Credentials):
    if ccxt is not None:
        return CcxtReader(creds)
    if EXCHANGE_ID != "bybit":
        sys.exit(f"bot: ccxt is not importable, and the standard-library signer speaks only bybit (BOT_EXCHANGE={EXCHANGE_ID})")
    return BybitReader(creds)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    creds = load_credentials()
    lock = threading.Lock()
    current = {"client": client(creds)}
    current["client"].check()
    # The fingerprint names the key; the key itself is never printed.
    print(f"bot: {EXCHANGE_ID} accepted key {creds.fingerprint} (from {creds.source}); next rotation {creds.rotates_at or 'not scheduled'}", flush=True)

    def rotated(nxt: Credentials) -> None:
        # Pipe mode: switch only once the new key works. When this returns, keyctl is told (ack) and may revoke the
        # old key early; if it raises, the bot keeps the old key until the grace period ends.
        candidate = client(nxt)
        candidate.check()
        with lock:
            current["client"] = candidate
        print(f"bot: switched to key {nxt.fingerprint}", flush=True)

    creds.on_rotate(rotated)
    until = time.monotonic() + RUN_MS / 1000
    while time.monotonic() < until:
        time.sleep(min(TICK_MS / 1000, max(0.0, until - time.monotonic())))
        with lock:
            reader = current["client"]
        try:
            reader.check()
        except Exception as err:  # noqa: BLE001 - a failed tick is reported, never with the key
            print(f"bot: check failed: {type(err).__name__}", file=sys.stderr, flush=True)
    creds.close()


if __name__ == "__main__":
    main()
