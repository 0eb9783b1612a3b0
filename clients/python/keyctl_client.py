"""keyctl's client for Python bots: ``load_credentials()`` finds the bot's exchange key where keyctl put it.

Standard library only (Python 3.9+). It reads, in this order (docs/delivery.md, docs/python.md):

1. the socket named by ``KEYCTL_FD`` (``keyctl exec --fd N``): the first ``credentials`` message, then rotated keys
   on the same socket, which the bot confirms with an ``ack``;
2. the environment (``KEYCTL_API_KEY``, ``KEYCTL_SECRET``, ... from plain ``keyctl exec``);
3. a single-use token in ``KEYCTL_TOKEN`` (``keyctl issue``): the local store's token (AES-GCM through the
   ``cryptography`` package: the standard library has no AES-GCM, and this module never implements cryptography
   itself), a Vault response-wrapping token (``urllib``), or an AWS store's token (``boto3``, and PyYAML for the
   config). A package that is missing is named in the error, before the token is used.

Every variable it read is deleted from ``os.environ`` (``KEYCTL_TOKEN`` even when the token does not work), so a
library that dumps the environment, or a child process the bot starts, does not get the key. The returned object's
``repr`` and ``str`` show the ref and fingerprint, never the key.

Mirrors the Node client (clients/node/src/client.ts and local/tokens.ts); the error codes are the Node client's.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import hmac
import json
import os
import queue
import re
import socket
import ssl
import stat
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterator, List, MutableMapping, Optional, Tuple

__all__ = ["Credentials", "KeyctlError", "load_credentials", "DEFAULT_ENV_PREFIX"]

DEFAULT_ENV_PREFIX = "KEYCTL_"
_PREFIX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")
_MAX_LINE = 64 * 1024


class KeyctlError(Exception):
    """What went wrong (``code``, the Node client's codes), and what to do next (``hint``). Never holds a secret."""

    def __init__(self, code: str, message: str, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" + (f" Hint: {self.hint}" if self.hint else "")


RotationListener = Callable[["Credentials"], Any]


class Credentials:
    """A bot's exchange credentials (ccxt's ``apiKey``/``secret``/``password`` as ``api_key``/``secret``/``password``).

    ``repr``/``str`` show only ``ref``, ``fingerprint``, ``rotates_at`` and ``source``. ``__slots__``: no ``__dict__``
    for ``vars()`` or a debugger's object dump to print.
    """

    __slots__ = ("ref", "api_key", "secret", "password", "fingerprint", "rotates_at", "source", "_channel")

    def __init__(
        self,
        ref: str,
        api_key: str,
        secret: str,
        fingerprint: str,
        password: Optional[str] = None,
        rotates_at: Optional[str] = None,
        source: str = "env",
        channel: Optional["_PipeChannel"] = None,
    ) -> None:
        self.ref = ref
        self.api_key = api_key
        self.secret = secret
        self.password = password
        self.fingerprint = fingerprint
        self.rotates_at = rotates_at
        self.source = source
        self._channel = channel

    def __repr__(self) -> str:
        return (
            f"Credentials(ref={self.ref!r}, fingerprint={self.fingerprint!r}, rotates_at={self.rotates_at!r}, "
            f"source={self.source!r}, api_key=[hidden], secret=[hidden])"
        )

    __str__ = __repr__

    def __reduce__(self) -> Any:
        # Pickling would copy the secret into whatever the pickle is written to (a cache, a queue, a file).
        raise TypeError("keyctl Credentials cannot be pickled")

    def ccxt_config(self, **extra: Any) -> Dict[str, Any]:
        """The dict ccxt's exchange constructors take: ``ccxt.bybit(creds.ccxt_config(enableRateLimit=True))``."""
        config: Dict[str, Any] = {"apiKey": self.api_key, "secret": self.secret}
        if self.password:
            config["password"] = self.password
        config.update(extra)
        return config

    # ---- the hand-over (pipe mode; no-ops in the other modes) ----

    def on_rotate(self, listener: RotationListener) -> Callable[[], None]:
        """Calls ``listener`` with each rotated key (the latest one at once if some arrived before). With
        ``ack="auto"`` the key is acknowledged when the listener returns; one that raises acknowledges nothing (the
        bot stays on the old key, which works until the grace period ends). It runs on the client's reader thread:
        keep it short, or hand the work to your own thread and call ``ack()`` yourself (``ack="manual"``). Returns a
        function that removes the listener."""
        if self._channel is None:
            return lambda: None
        return self._channel.on_rotate(listener)

    def rotations(self) -> Iterator["Credentials"]:
        """The rotated keys, as a blocking iterator that ends when the socket closes. Acknowledge each with
        ``ack(fingerprint)`` once the bot switched to it."""
        if self._channel is None:
            return iter(())
        return self._channel.rotations()

    def ack(self, fingerprint: Optional[str] = None) -> None:
        """Tells ``keyctl exec`` the bot now uses the key ``fingerprint`` (default: the latest delivered)."""
        if self._channel is not None:
            self._channel.ack(fingerprint)

    def close(self) -> None:
        """Stops listening for rotations and closes the socket."""
        if self._channel is not None:
            self._channel.close()


def load_credentials(
    env: Optional[MutableMapping[str, str]] = None,
    prefix: str = DEFAULT_ENV_PREFIX,
    timeout: float = 10.0,
    ack: str = "auto",
    on_rotate: Optional[RotationListener] = None,
) -> Credentials:
    """Loads the bot's credentials from the socket (``KEYCTL_FD``), the environment, or a token (``KEYCTL_TOKEN``),
    deleting every variable it read from ``env`` (default ``os.environ``). Raises :class:`KeyctlError` when there is
    nothing to read or what is there does not work.

    ``prefix``: as ``keyctl exec --env-prefix``. ``timeout``: seconds to wait for the first key on the socket.
    ``ack``: ``"auto"`` (the first key is acknowledged at once, each rotated key when ``on_rotate`` returns) or
    ``"manual"``. ``on_rotate``: a listener for rotated keys (see :meth:`Credentials.on_rotate`).
    """
    if env is None:
        env = os.environ
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise KeyctlError(
            "INVALID_ENV_PREFIX",
            f'"{prefix}" is not a usable environment variable prefix.',
            'Use letters, digits and "_", not starting with a digit, e.g. KEYCTL_ or BOT_.',
        )
    if ack not in ("auto", "manual"):
        raise KeyctlError("INVALID_OPTION", 'ack must be "auto" or "manual".')
    n = _names(prefix)
    fd_text = env.get(n["fd"])
    if fd_text:
        env.pop(n["fd"], None)
        env.pop(n["ref"], None)
        creds = _from_fd(_parse_fd(fd_text, n["fd"]), timeout, ack)
    elif n["api_key"] in env or n["secret"] in env:
        creds = _from_env(env, n)
    else:
        token = env.get(n["token"])
        if not token:
            raise KeyctlError(
                "NO_CREDENTIALS",
                f"No credentials found: no {n['fd']}, no {n['api_key']}/{n['secret']}, no {n['token']} in the environment.",
                "Start the bot with `keyctl exec <bot/sub> -- <command>` (add --fd 3 for pipe mode), or pass a token "
                f"from `keyctl issue <bot/sub>` as {n['token']}.",
            )
        # Single-use: gone from the environment whether or not the exchange below works.
        env.pop(n["token"], None)
        creds = _from_token(token, env)
    if on_rotate is not None:
        creds.on_rotate(on_rotate)
    return creds


def _names(prefix: str) -> Dict[str, str]:
    return {
        "api_key": f"{prefix}API_KEY",
        "secret": f"{prefix}SECRET",
        "password": f"{prefix}PASSWORD",
        "fingerprint": f"{prefix}FINGERPRINT",
        "rotates_at": f"{prefix}ROTATES_AT",
        "ref": f"{prefix}REF",
        "fd": f"{prefix}FD",
        "token": f"{prefix}TOKEN",
    }


def _parse_fd(text: str, name: str) -> int:
    if not re.fullmatch(r"[0-9]{1,4}", text) or int(text) < 3:
        raise KeyctlError(
            "INVALID_FD", f"{name}={text} is not a file descriptor keyctl exec passes.", "keyctl exec --fd N sets it to N (3 or more)."
        )
    return int(text)


# ---- environment ---------------------------------------------------------------------------------------------------


def _from_env(env: MutableMapping[str, str], n: Dict[str, str]) -> Credentials:
    def take(name: str) -> Optional[str]:
        value = env.pop(name, None)
        return value or None

    api_key = take(n["api_key"])
    secret = take(n["secret"])
    password = take(n["password"])
    fingerprint = take(n["fingerprint"])
    rotates_at = take(n["rotates_at"])
    ref = take(n["ref"])
    if not api_key or not secret:
        raise KeyctlError(
            "INCOMPLETE_CREDENTIALS", f"{n['api_key']} and {n['secret']} must both be set.", "Let `keyctl exec` set them; do not set them by hand."
        )
    return Credentials(ref or "", api_key, secret, fingerprint or "", password, rotates_at, "env")


# ---- pipe ----------------------------------------------------------------------------------------------------------


def _decode_credentials(line: bytes) -> Optional[Dict[str, Optional[str]]]:
    """One line of the pipe as a credentials message, or None (another message, or junk: ignored, never echoed)."""
    try:
        raw = json.loads(line.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(raw, dict) or raw.get("type") != "credentials":
        return None

    def s(key: str) -> Optional[str]:
        v = raw.get(key)
        return v if isinstance(v, str) and v != "" else None

    out = {k: s(k) for k in ("ref", "apiKey", "secret", "fingerprint", "password", "rotatesAt")}
    if not (out["ref"] and out["apiKey"] and out["secret"] and out["fingerprint"]):
        return None
    return out


class _PipeChannel:
    """The socket to ``keyctl exec``: the first key, then rotations; acks back."""

    def __init__(self, sock: socket.socket, ack_mode: str) -> None:
        self.sock = sock
        self.ack_mode = ack_mode
        self._buffer = b""
        self._lock = threading.Lock()
        self._listeners: List[RotationListener] = []
        self._pending: List[Credentials] = []
        self._queue: "queue.Queue[Optional[Credentials]]" = queue.Queue()
        self._iterating = 0
        self._latest: Optional[str] = None
        self._closed = False

    def _lines(self, chunk: bytes) -> List[bytes]:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        if len(self._buffer) > _MAX_LINE:
            self._buffer = b""  # a peer gone wrong: drop the line, as the Node side does
        return [line for line in lines if line.strip()]

    def _creds(self, m: Dict[str, Optional[str]]) -> Credentials:
        return Credentials(m["ref"] or "", m["apiKey"] or "", m["secret"] or "", m["fingerprint"] or "", m["password"], m["rotatesAt"], "fd")

    def first(self, timeout: float) -> Tuple[Credentials, List[bytes]]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _fd_timeout(timeout)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise _fd_timeout(timeout) from None
            except OSError:
                chunk = b""
            if not chunk:
                raise KeyctlError("FD_CLOSED", "The pipe closed before any credentials arrived.", "Start the bot with `keyctl exec --fd N`.")
            lines = self._lines(chunk)
            for i, line in enumerate(lines):
                m = _decode_credentials(line)
                if m is not None:
                    self._latest = m["fingerprint"]
                    return self._creds(m), lines[i + 1 :]

    def start(self, rest: List[bytes]) -> None:
        self.sock.settimeout(None)
        for line in rest:
            self._receive_line(line)
        # A daemon thread: like the Node client's unref'd socket, it never keeps the bot alive on its own.
        threading.Thread(target=self._read, name="keyctl-pipe", daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                for line in self._lines(chunk):
                    self._receive_line(line)
        except OSError:
            pass
        finally:
            self._end()

    def _receive_line(self, line: bytes) -> None:
        m = _decode_credentials(line)
        if m is None:
            return
        c = self._creds(m)
        with self._lock:
            self._latest = c.fingerprint
            listeners = list(self._listeners)
            if self._iterating:
                self._queue.put(c)
            elif not listeners:
                self._pending.append(c)
        for listener in listeners:
            self._notify(listener, c)

    def _notify(self, listener: RotationListener, c: Credentials) -> None:
        try:
            listener(c)
        except Exception:  # noqa: BLE001 - a listener that fails confirms nothing; the bot keeps its old key
            return
        if self.ack_mode == "auto":
            self.ack(c.fingerprint)

    def on_rotate(self, listener: RotationListener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)
            pending = self._pending[-1] if self._pending else None
            self._pending.clear()
        if pending is not None:
            self._notify(listener, pending)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def rotations(self) -> Iterator[Credentials]:
        with self._lock:
            self._iterating += 1
            for c in self._pending:
                self._queue.put(c)
            self._pending.clear()
            if self._closed:
                self._queue.put(None)
        try:
            while True:
                c = self._queue.get()
                if c is None:
                    return
                yield c
        finally:
            with self._lock:
                self._iterating -= 1

    def ack(self, fingerprint: Optional[str] = None) -> None:
        fp = fingerprint or self._latest
        if not fp or self._closed:
            return
        line = (json.dumps({"type": "ack", "fingerprint": fp}, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            with self._lock:
                self.sock.sendall(line)
        except OSError:
            pass  # keyctl exec is gone; nothing is listening for the ack

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._end()

    def _end(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)


def _fd_timeout(timeout: float) -> KeyctlError:
    return KeyctlError(
        "FD_TIMEOUT",
        f"No credentials arrived on the pipe within {timeout:g} s.",
        "Start the bot with `keyctl exec --fd N`; check that nothing else reads that descriptor.",
    )


def _from_fd(fd: int, timeout: float, ack_mode: str) -> Credentials:
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        raise KeyctlError(
            "FD_UNUSABLE",
            f"fd {fd} is not an open socket.",
            "KEYCTL_FD is set by `keyctl exec --fd N`; do not set it by hand, and do not close that descriptor.",
        ) from None
    channel = _PipeChannel(sock, ack_mode)
    try:
        first, rest = channel.first(timeout)
    except BaseException:
        sock.close()
        raise
    first._channel = channel
    channel.start(rest)
    if ack_mode == "auto":
        channel.ack(first.fingerprint)
    return first


# ---- tokens --------------------------------------------------------------------------------------------------------

_PROVIDER = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


def _from_token(token: str, env: MutableMapping[str, str]) -> Credentials:
    t = token.strip()
    parts = t.split(".", 2)
    if len(parts) != 3 or parts[0] != "kct1" or not _PROVIDER.match(parts[1]) or parts[2] == "":
        raise KeyctlError("TOKEN_MALFORMED", "KEYCTL_TOKEN is not a keyctl token.", 'Pass exactly what `keyctl issue <bot/sub>` printed (it starts with "kct1.").')
    provider, store_token = parts[1], parts[2]
    if provider == "local":
        value = _redeem_local(store_token)
    elif provider == "vault":
        value = _unwrap_vault(store_token, env)
    elif provider == "memory":
        raise KeyctlError(
            "TOKEN_NOT_PORTABLE", "A token from the memory store cannot leave the process that issued it.", "Use the local, Vault or AWS store, or keyctl exec."
        )
    elif provider == "aws":
        value = _unwrap_aws(store_token, env)
    else:
        raise KeyctlError(
            "TOKEN_PROVIDER_UNSUPPORTED",
            f"The token names a {provider} store, which this client cannot unwrap.",
            "Start the bot with `keyctl exec <bot/sub> --fd 3`.",
        )
    return _decode_payload(value)


def _decode_payload(text: str) -> Credentials:
    try:
        raw = json.loads(text)
    except ValueError:
        raw = {}
    if not isinstance(raw, dict):
        raw = {}

    def s(key: str) -> Optional[str]:
        v = raw.get(key)
        return v if isinstance(v, str) and v != "" else None

    ref, api_key, secret, fingerprint = s("ref"), s("apiKey"), s("secret"), s("fingerprint")
    if raw.get("v") != 1 or not (ref and api_key and secret and fingerprint):
        raise KeyctlError(
            "TOKEN_PAYLOAD_INVALID",
            "The token unwrapped to something that is not keyctl credentials.",
            "Issue a new token with `keyctl issue <bot/sub>`; the token may come from another tool using the same store.",
        )
    return Credentials(ref, api_key, secret, fingerprint, s("password"), s("rotatesAt"), "token")


# Local-store tokens: docs/delivery.md, "Local-store tokens: format and claim protocol" (clients/node/src/local/tokens.ts).
_TOKENS_DIR = "tokens"
_RECORD_FORMAT = "keyctl-token/1"
_RECEIPT_FORMAT = "keyctl-token-receipt/1"
_VALUE_AAD = "keyctl:token/1:"
_RECEIPT_KEY_LABEL = b"keyctl:token-receipt-key/1"
_MAX_RECORD_BYTES = 64 * 1024
_MAX_DIR_BYTES = 4096
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_B64_IV = re.compile(r"^[A-Za-z0-9+/]{16}$")
_B64_TAG = re.compile(r"^[A-Za-z0-9+/]{22}==$")
_B64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def _wrap_invalid() -> KeyctlError:
    # Used, expired, unknown, wrong key, missing store: one error, so a caller learns nothing by trying tokens.
    return KeyctlError("WRAP_INVALID", "This token is unknown, already used or expired.", "Tokens are single-use and short-lived: ask for a new one with `keyctl issue`.")


def _insecure(path: str, what: str, hint: str) -> KeyctlError:
    return KeyctlError("TOKEN_STORE_INSECURE", f"The token's store directory {path} {what}; keyctl refuses to redeem a token there.", hint)


def _denied(path: str) -> KeyctlError:
    return KeyctlError(
        "TOKEN_STORE_DENIED",
        f"This process (uid {os.getuid() if hasattr(os, 'getuid') else '?'}) cannot use {path}.",
        "Local-store tokens are redeemed by the user that owns the store (keyctl's user), on its host. For a bot under "
        "another user use `keyctl exec --user <name> --fd 3`.",
    )


def _b64url(text: str, size: Optional[int]) -> Optional[bytes]:
    """Unpadded base64url, only in its canonical encoding (and ``size`` bytes long when given)."""
    if not _B64URL.match(text):
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if not raw or (size is not None and len(raw) != size):
        return None
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != text:
        return None
    return raw


def _parse_store_token(token: str) -> Optional[Tuple[str, str, bytes]]:
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != "t1":
        return None
    dir_bytes = _b64url(parts[1], None)
    id_bytes = _b64url(parts[2], 16)
    k = _b64url(parts[3], 32)
    if dir_bytes is None or id_bytes is None or k is None or len(dir_bytes) > _MAX_DIR_BYTES:
        return None
    try:
        store_dir = dir_bytes.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        return None
    # Absolute and already normalized, as Node's path.resolve() leaves it (which also folds a leading "//").
    if "\0" in store_dir or not os.path.isabs(store_dir) or os.path.normpath(store_dir) != store_dir or store_dir.startswith("//"):
        return None
    return store_dir, id_bytes.hex(), k


def _js_json(value: Any) -> str:
    """JSON as JavaScript's JSON.stringify writes it (no spaces, non-ASCII unescaped): MACs and AADs must match."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _iso_now() -> str:
    """The current time as Date.prototype.toISOString() prints it."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _iso_ms(text: str) -> Optional[float]:
    if not _ISO.match(text):
        return None
    try:
        dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return dt.timestamp() * 1000


def _strict_sealed(x: Any) -> bool:
    return (
        isinstance(x, dict)
        and set(x.keys()) == {"iv", "tag", "ct"}
        and all(isinstance(x[k], str) for k in ("iv", "tag", "ct"))
        and bool(_B64_IV.match(x["iv"]))
        and bool(_B64_TAG.match(x["tag"]))
        and bool(_B64.match(x["ct"]))
    )


def _parse_record(text: str, idhex: str) -> Optional[Dict[str, Any]]:
    """Exactly what keyctl issue writes, for this id; None otherwise."""
    try:
        r = json.loads(text)
    except ValueError:
        return None
    keys = {"format", "id", "issuedAt", "expiresAt", "iv", "tag", "ct", "audit"}
    if not isinstance(r, dict) or set(r.keys()) != keys:
        return None
    if r["format"] != _RECORD_FORMAT or r["id"] != idhex:
        return None
    if not isinstance(r["issuedAt"], str) or not isinstance(r["expiresAt"], str):
        return None
    if _iso_ms(r["issuedAt"]) is None or _iso_ms(r["expiresAt"]) is None:
        return None
    if not _strict_sealed({"iv": r["iv"], "tag": r["tag"], "ct": r["ct"]}) or not _strict_sealed(r["audit"]):
        return None
    return r


def _check_dir(path: str, no_follow: bool) -> None:
    """Owned by this user and not writable by group or others, checked through one descriptor (what is checked is
    what the open found)."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_DIRECTORY | (_O_NOFOLLOW if no_follow else 0))
    except OSError as err:
        if err.errno == errno.ENOENT:
            raise _wrap_invalid() from None
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _insecure(path, "is a symbolic link or not a directory", f"Remove {path}; keyctl creates a real directory there.") from None
        if err.errno in (errno.EACCES, errno.EPERM):
            raise _denied(path) from None
        raise
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not hasattr(os, "getuid"):
        return  # no POSIX owner or mode to check (Windows), as the Node client
    uid = os.getuid()
    if st.st_uid != uid:
        raise _insecure(
            path,
            f"belongs to uid {st.st_uid}, not to the user redeeming the token (uid {uid})",
            "Redeem local-store tokens as the user that owns the store (keyctl's user). A bot under another user cannot "
            "use them: start it with `keyctl exec --user <name> --fd 3` instead.",
        )
    if st.st_mode & 0o022:
        raise _insecure(
            path,
            f"is writable by other users (mode {stat.S_IMODE(st.st_mode):04o}): they could replace token records",
            f"Check that nobody else changed files in it, then run `chmod 700 {path}` and issue a new token.",
        )


def _check_tokens_dir(store_dir: str, tokens_dir: str) -> None:
    try:
        st = os.lstat(tokens_dir)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            raise _wrap_invalid() from None
        if err.errno in (errno.EACCES, errno.EPERM):
            raise _denied(tokens_dir) from None
        raise
    if stat.S_ISLNK(st.st_mode):
        raise _insecure(tokens_dir, "is a symbolic link", f"Remove {tokens_dir}; keyctl creates a real directory there.")
    if not stat.S_ISDIR(st.st_mode):
        raise _insecure(tokens_dir, "is not a directory", f"Remove {tokens_dir}; keyctl creates a real directory there.")
    _check_dir(store_dir, False)  # a symlink as the store directory itself is followed, as the store does
    _check_dir(tokens_dir, True)


def _read_capped(path: str, limit: int) -> Optional[str]:
    """A regular file, never through a symlink (O_NOFOLLOW) nor blocking on a FIFO (O_NONBLOCK); None when over
    ``limit`` bytes or not a regular file."""
    fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, limit + 1 - len(data))
            if not chunk:
                break
            data += chunk
        if len(data) > limit:
            return None
        return data.decode("utf-8", errors="replace")
    finally:
        os.close(fd)


def _sync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | _O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_exclusive(dir_path: str, name: str, data: bytes) -> bool:
    """A fresh 0600 temp file, fsynced, linked into place: the name appears whole or not at all. False if taken."""
    tmp = os.path.join(dir_path, f".tmp-{os.urandom(16).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, os.path.join(dir_path, name))
            return True
        except FileExistsError:
            return False
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        _sync_dir(dir_path)


def _redeem_local(store_token: str) -> str:
    # Checked before anything is claimed: a token must not be used up by a client that then cannot open it.
    try:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise KeyctlError(
            "MISSING_PACKAGE",
            "Redeeming a local-store token needs the cryptography package (AES-GCM), which is not importable. The token was not used.",
            "Install it (pip install cryptography), or start the bot with `keyctl exec <bot/sub> --fd 3`.",
        ) from None
    parsed = _parse_store_token(store_token)
    if parsed is None:
        raise _wrap_invalid()
    store_dir, idhex, k = parsed
    tokens_dir = os.path.join(store_dir, _TOKENS_DIR)
    _check_tokens_dir(store_dir, tokens_dir)

    record_file = os.path.join(tokens_dir, f"{idhex}.json")
    claimed_file = os.path.join(tokens_dir, f"{idhex}.claimed")
    try:
        # The claim: rename(2) is atomic, so of any number of concurrent redeemers exactly one moves the record.
        os.rename(record_file, claimed_file)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.ENOTEMPTY, errno.EEXIST):
            raise _wrap_invalid() from None
        if err.errno in (errno.EACCES, errno.EPERM):
            raise _denied(tokens_dir) from None
        raise

    try:
        text = _read_capped(claimed_file, _MAX_RECORD_BYTES)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOENT, errno.EISDIR, errno.EMLINK):
            raise _wrap_invalid() from None
        raise
    record = _parse_record(text, idhex) if text is not None else None
    if record is None:
        # Not what keyctl writes: left where it is for keyctl's settling to report.
        raise _wrap_invalid()

    value: Optional[bytes] = None
    aad = (_VALUE_AAD + _js_json([record["id"], record["issuedAt"], record["expiresAt"]])).encode("utf-8")
    iv = base64.b64decode(record["iv"])
    tag = base64.b64decode(record["tag"])
    try:
        if len(iv) != 12 or len(tag) != 16:
            raise InvalidTag()
        value = AESGCM(k).decrypt(iv, base64.b64decode(record["ct"]) + tag, aad)
        expires = _iso_ms(record["expiresAt"])
        outcome = "redeemed" if expires is not None and expires > time.time() * 1000 else "expired"
    except InvalidTag:
        outcome = "refused"
    _write_receipt(tokens_dir, record, k, outcome)
    # The receipt is durable: only now may the claimed record go (keyctl's settling needs one or the other).
    try:
        os.unlink(claimed_file)
    except FileNotFoundError:
        pass
    _sync_dir(tokens_dir)
    if outcome != "redeemed" or value is None:
        raise _wrap_invalid()
    # Not UTF-8: decoded with replacement characters, so the payload check below refuses it (as the Node client).
    return value.decode("utf-8", errors="replace")


def _write_receipt(tokens_dir: str, record: Dict[str, Any], k: bytes, outcome: str) -> None:
    try:
        receipt_key = hmac.new(k, _RECEIPT_KEY_LABEL, hashlib.sha256).digest()
        uid: Optional[int] = os.getuid() if hasattr(os, "getuid") else None
        base = {"id": record["id"], "outcome": outcome, "at": _iso_now(), "pid": os.getpid(), "uid": uid, "host": socket.gethostname()}
        proof_input = _js_json([base["id"], base["outcome"], base["at"], base["pid"], base["uid"], base["host"]]).encode("utf-8")
        proof = base64.b64encode(hmac.new(receipt_key, proof_input, hashlib.sha256).digest()).decode("ascii")
        receipt = {"format": _RECEIPT_FORMAT, **base, "audit": record["audit"], "proof": proof}
        data = (_js_json(receipt) + "\n").encode("utf-8")
        for _ in range(4):
            if _create_exclusive(tokens_dir, f"{record['id']}.{os.urandom(4).hex()}.receipt", data):
                return
        raise OSError("no free receipt name")
    except OSError:
        # The token is used up (claimed), but without a receipt its use would never reach the audit log: fail closed.
        raise KeyctlError(
            "TOKEN_RECEIPT_FAILED",
            f"Could not write the token's receipt in {tokens_dir}; the key was not released.",
            "Check free space and permissions of the store directory, then ask for a new token with `keyctl issue`.",
        ) from None


# Vault: the wrapping token is its own authorization (no login). As providers/vault's unwrapChecked: first check the
# token was created by sys/wrapping/wrap (a substituted token is refused unused), then unwrap it.
_VAULT_WRAP_PATH = "sys/wrapping/wrap"
_VAULT_TOKEN = re.compile(r"^[A-Za-z0-9._-]{8,512}$")


def _vault_call(address: str, path: str, env: MutableMapping[str, str], body: Optional[Dict[str, Any]], token: Optional[str]) -> Dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Vault-Token"] = token
    namespace = env.get("VAULT_NAMESPACE")
    if namespace:
        headers["X-Vault-Namespace"] = namespace
    data = json.dumps(body).encode("utf-8") if body is not None else b""
    req = urllib.request.Request(f"{address.rstrip('/')}/v1/{path}", data=data, headers=headers, method="POST")
    context = None
    if address.startswith("https:"):
        # A Vault behind a private CA: VAULT_CACERT / VAULT_CAPATH, as the Vault CLI reads them; verified, never skipped.
        context = ssl.create_default_context(cafile=env.get("VAULT_CACERT") or None, capath=env.get("VAULT_CAPATH") or None)
    with urllib.request.urlopen(req, timeout=15, context=context) as res:  # noqa: S310 - the address is the operator's
        text = res.read().decode("utf-8")
    parsed = json.loads(text) if text else {}
    return parsed if isinstance(parsed, dict) else {}


def _vault_refusal(err: urllib.error.HTTPError) -> bool:
    """400/404, or 403 not caused by a sealed Vault: the token is unknown, used or expired."""
    try:
        errors = json.loads(err.read().decode("utf-8")).get("errors", [])
    except (ValueError, AttributeError):
        errors = []
    sealed = any("sealed" in str(e) for e in errors)
    return err.code in (400, 404) or (err.code == 403 and not sealed)


def _unwrap_vault(token: str, env: MutableMapping[str, str]) -> str:
    address = env.get("VAULT_ADDR")
    if not address:
        raise KeyctlError(
            "VAULT_ADDR_MISSING",
            "The token is a Vault wrapping token, but no Vault address is known.",
            "Set VAULT_ADDR for the bot (the Python client does not read keyctl.yaml).",
        )
    if not _VAULT_TOKEN.match(token):
        raise _wrap_invalid()

    def unreachable(err: Exception) -> KeyctlError:
        return KeyctlError(
            "VAULT_UNREACHABLE", f"Vault at {address} could not be asked ({type(err).__name__}).", "Check VAULT_ADDR, the network and VAULT_CACERT; the token was not used."
        )

    try:
        looked = _vault_call(address, "sys/wrapping/lookup", env, {"token": token}, None)
    except urllib.error.HTTPError as err:
        if _vault_refusal(err):
            raise _wrap_invalid() from None
        raise unreachable(err) from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise unreachable(err) from None
    data = looked.get("data")
    creation_path = data.get("creation_path") if isinstance(data, dict) else None
    if creation_path != _VAULT_WRAP_PATH:
        raise KeyctlError(
            "WRAP_ORIGIN_MISMATCH",
            f"This token was not created by {_VAULT_WRAP_PATH}; refusing to unwrap it.",
            "Someone may have substituted the token. Do not use it; report it, and ask for a new one.",
        )
    try:
        # The wrapping token as X-Vault-Token and an empty body: never both (that burns the token for nothing).
        unwrapped = _vault_call(address, "sys/wrapping/unwrap", env, None, token)
    except urllib.error.HTTPError as err:
        if _vault_refusal(err):
            raise _wrap_invalid() from None
        raise unreachable(err) from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise unreachable(err) from None
    data = unwrapped.get("data")
    value = data.get("value") if isinstance(data, dict) else None
    if not isinstance(value, str):
        raise _wrap_invalid()
    return value


# AWS: wrapping is emulated with one secret per token, named after the token's SHA-256 (providers/aws/wraps.ts,
# docs/aws.md "Wrap and unwrap"). The single-use gate is a guarded label move: AWSCURRENT moves from the value's
# version to this unwrapper's own claim version, which succeeds exactly once.
_AWS_WRAP_VALUE_VERSION = "keyctl-wrap-value-0000000000000000000000"
_AWS_WRAP_CLAIM_PREFIX = "keyctl-wrap-claim-"
_AWS_WRAP_CLAIM_LABEL = "keyctl-claim"
_AWS_TAG_EXPIRES = "keyctl:expires-at"
_AWS_GUARD_FAILURES = ("InvalidParameterException", "InvalidRequestException", "ValidationException")


def _aws_store_config(env: MutableMapping[str, str]) -> Dict[str, Any]:
    """The store section of keyctl's config (KEYCTL_CONFIG, else ./keyctl.yaml), as the Node client reads it."""
    try:
        import yaml  # type: ignore
    except ImportError:
        raise KeyctlError(
            "MISSING_PACKAGE",
            "An AWS-store token needs keyctl's config (region, prefix), and reading it needs the PyYAML package, which is not importable.",
            "Install PyYAML (pip install pyyaml), or start the bot with `keyctl exec <bot/sub> --fd 3`.",
        ) from None
    path = env.get("KEYCTL_CONFIG") or "keyctl.yaml"
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as err:
        raise KeyctlError(
            "CONFIG_UNREADABLE",
            f"Could not read keyctl's config {path} ({type(err).__name__}); an AWS-store token needs it.",
            "Set KEYCTL_CONFIG to the config `keyctl issue` used.",
        ) from None
    store = raw.get("store") if isinstance(raw, dict) else None
    if not isinstance(store, dict) or store.get("provider") != "aws":
        raise KeyctlError(
            "TOKEN_PROVIDER_MISMATCH",
            f"The token was issued by an aws store, but {path} configures another store.",
            "Point KEYCTL_CONFIG at the config keyctl issue used.",
        )
    if store.get("assumeRole") is not None:
        raise KeyctlError(
            "TOKEN_PROVIDER_UNSUPPORTED",
            "This Python client does not assume the store's role (store.assumeRole) to unwrap a token.",
            "Start the bot with `keyctl exec <bot/sub> --fd 3`, or use the Node client.",
        )
    if not isinstance(store.get("region"), str) or not store["region"]:
        raise KeyctlError("CONFIG_INVALID", f"{path}: store.region is missing.", "Point KEYCTL_CONFIG at the config keyctl issue used.")
    return store


def _unwrap_aws(token: str, env: MutableMapping[str, str]) -> str:
    try:
        import boto3  # type: ignore
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore
    except ImportError:
        raise KeyctlError(
            "MISSING_PACKAGE",
            "The token was issued by an AWS store; unwrapping it needs the boto3 package, which is not importable. The token was not used.",
            "Install boto3 (pip install boto3), or start the bot with `keyctl exec <bot/sub> --fd 3`.",
        ) from None
    if not token.startswith("kcw_") or len(token) > 256:
        raise _wrap_invalid()
    store = _aws_store_config(env)
    kwargs: Dict[str, Any] = {"region_name": store["region"]}
    if isinstance(store.get("endpoint"), str):
        kwargs["endpoint_url"] = store["endpoint"]
    prefix = store.get("prefix") if isinstance(store.get("prefix"), str) else "keyctl/"
    name = f"{prefix}_wrap/{hashlib.sha256(token.encode('utf-8')).hexdigest()}"

    def code_of(err: Exception) -> str:
        return str(getattr(err, "response", {}).get("Error", {}).get("Code", "")) if isinstance(err, ClientError) else ""

    def describe(sm: Any) -> Optional[Dict[str, Any]]:
        try:
            out = sm.describe_secret(SecretId=name)
        except ClientError as err:
            if code_of(err) == "ResourceNotFoundException":
                return None
            raise
        return None if out.get("DeletedDate") else out

    def force_delete(sm: Any) -> None:
        try:
            sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        except ClientError as err:
            if code_of(err) != "ResourceNotFoundException":
                raise

    try:
        sm = boto3.client("secretsmanager", **kwargs)
        info = describe(sm)
        if info is None:
            raise _wrap_invalid()
        expires_text = next((t.get("Value") for t in info.get("Tags", []) if t.get("Key") == _AWS_TAG_EXPIRES), None)
        expires = _iso_ms(expires_text) if isinstance(expires_text, str) else None
        if expires is None or expires <= time.time() * 1000:
            force_delete(sm)
            raise _wrap_invalid()
        claim = f"{_AWS_WRAP_CLAIM_PREFIX}{os.urandom(11).hex()}"
        try:
            # This unwrap's own claim version, under a side label (without one, PutSecretValue would move AWSCURRENT).
            sm.put_secret_value(
                SecretId=name,
                SecretString=_js_json({"_keyctl": {"v": 1, "kind": "wrap-claimed"}}),
                ClientRequestToken=claim,
                VersionStages=[_AWS_WRAP_CLAIM_LABEL],
            )
            sm.update_secret_version_stage(
                SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=claim, RemoveFromVersionId=_AWS_WRAP_VALUE_VERSION
            )
        except ClientError as err:
            if code_of(err) not in _AWS_GUARD_FAILURES and code_of(err) != "ResourceNotFoundException":
                raise
            # The gate said no, or a retried move that had succeeded lost its reply: then AWSCURRENT is on this claim.
            labels = describe(sm)
            if not labels or "AWSCURRENT" not in labels.get("VersionIdsToStages", {}).get(claim, []):
                raise _wrap_invalid() from None
        # This caller alone won the claim: read the value (now AWSPREVIOUS), then remove the secret for good.
        got = sm.get_secret_value(SecretId=name, VersionId=_AWS_WRAP_VALUE_VERSION, VersionStage="AWSPREVIOUS")
        try:
            force_delete(sm)
        except (ClientError, BotoCoreError):
            pass  # keyctl's sweep removes it after expiry
    except KeyctlError:
        raise
    except (ClientError, BotoCoreError) as err:
        raise KeyctlError(
            "AWS_UNAVAILABLE",
            f"AWS Secrets Manager could not unwrap the token ({code_of(err) or type(err).__name__}).",
            "Check the bot's AWS credentials and its IAM rights on <prefix>_wrap/* (docs/delivery.md); the token may be used up.",
        ) from None
    try:
        head = json.loads(got.get("SecretString") or "").get("_keyctl")
    except (ValueError, AttributeError):
        head = None
    if not isinstance(head, dict) or head.get("v") != 1 or head.get("kind") != "wrap" or not isinstance(head.get("value"), str):
        raise _wrap_invalid()
    return head["value"]
