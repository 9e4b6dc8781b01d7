"""The server's doors: whose Host it answers, who may sign in, how fast a stranger may guess.

One ASGI middleware (`Doors`) sits inside Gradio's app, in front of every route (the page, /config,
/login, /gradio_api/*, the MCP server), and keeps four rules:

- **Our own host only.** A browser page on another site can make its own name resolve to
  127.0.0.1 (DNS rebinding) and then read a loopback server as if it were its own. So a request
  whose Host (or Origin, where sent) is not this studio's is refused with a 403 line. Served on
  loopback, the studio's names are localhost, 127.0.0.1 and [::1]; served to other machines
  (`--host`), any IP address too (an address cannot be rebound, only a name can) and the bound
  name; `--allow-host NAME` adds a name, and `--share` adds its share link's host once it is known.
- **Credentials where Gradio asks for none** (under `--auth`): the MCP server and
  /gradio_api/cancel need a signed-in session (Gradio's cookie) or HTTP basic credentials. Basic
  credentials are good on every route: the door signs the request in with a Gradio session of
  that user, so scripts and MCP clients need no login step.
- **Small bodies.** A request's body is read up to MAX_BODY (uploads: MAX_UPLOAD_BODY); a longer
  one is refused with a 413 line before anyone parses it (a 40 MB prompt never reaches JSON).
- **A limit on guessing** (under `--auth`): after FREE_FAILURES wrong passwords from one client
  address, that address waits (1 s, doubling to 5 min) before it may try again; a correct login
  resets it. Correct logins are never slowed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ...core.errors import BadInput

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
MAX_BODY = 1 * 2**20  # a request's body (JSON of an API call: a 2,000-character prompt, a 64-row batch)
MAX_UPLOAD_BODY = 33 * 2**20  # an upload: Gradio's max_file_size (32 MB) and the form around it
UPLOAD_PATHS = ("/gradio_api/upload", "/upload")
FREE_FAILURES = 5  # wrong passwords an address may make before it must wait
FIRST_WAIT_S = 1.0  # then 1 s, 2 s, 4 s, ... per further failure
LONGEST_WAIT_S = 300.0
SIGNED_IN_PATHS = ("/gradio_api/mcp", "/gradio_api/cancel")  # Gradio itself checks no login there
MCP_USER = "studio:mcp"  # the MCP server's own client (no user name can hold a colon)
ADMIN_MARK = ":admin"


# --- users ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Users:
    """Who may sign in (`--auth`): user name -> password, and which of them are admins."""

    passwords: dict[str, str]
    admins: frozenset[str]

    @classmethod
    def parse(cls, value: str) -> Users:
        """`--auth`: `user:password` (that one user, an admin), or the path of a users file."""
        path = Path(value).expanduser()
        if path.is_file():
            return cls.read(path)
        user, sep, password = value.partition(":")
        if not sep or not user.strip() or not password:
            raise BadInput("--auth must be user:password or the path of a users file")
        return cls({user.strip(): password}, frozenset({user.strip()}))

    @classmethod
    def read(cls, path: Path) -> Users:
        """A users file: one `user:password` a line (`user:password:admin` for an admin), `#` comments."""
        passwords: dict[str, str] = {}
        admins = set()
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, password = line.partition(":")
            user = user.strip()
            admin = password.endswith(ADMIN_MARK)
            if admin:
                password = password[: -len(ADMIN_MARK)]
            if not sep or not user or not password:
                raise BadInput(f"{path}, line {number}: expected user:password or user:password:admin")
            if user in passwords:
                raise BadInput(f"{path}, line {number}: user {user!r} is listed twice")
            passwords[user] = password
            if admin:
                admins.add(user)
        if not passwords:
            raise BadInput(f"{path}: no users (one user:password a line)")
        return cls(passwords, frozenset(admins))

    def check(self, user: str, password: str) -> bool:
        """Whether `password` is `user`'s (in constant time; Gradio's /login calls this)."""
        known = self.passwords.get(user.strip())
        good = hmac.compare_digest(password.encode(), (known or secrets.token_hex(8)).encode())
        return known is not None and good


# --- the guessing limit ---------------------------------------------------------------------------


class LoginLimiter:
    """Wrong passwords per client address: FREE_FAILURES are free, then a wait that doubles per failure."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, kept: int = 4096):
        self._clock = clock
        self._kept = kept  # addresses remembered at most (the oldest failures are forgotten first)
        self._failures: dict[str, tuple[int, float]] = {}  # address -> (count, time of the last)

    def wait_left(self, address: str) -> float:
        """Seconds before `address` may try a password again (0: now)."""
        count, last = self._failures.get(address, (0, 0.0))
        if count < FREE_FAILURES:
            return 0.0
        wait = min(FIRST_WAIT_S * 2 ** (count - FREE_FAILURES), LONGEST_WAIT_S)
        return max(0.0, last + wait - self._clock())

    def failed(self, address: str) -> None:
        count, _ = self._failures.pop(address, (0, 0.0))
        self._failures[address] = (count + 1, self._clock())
        while len(self._failures) > self._kept:
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


# --- hosts ----------------------------------------------------------------------------------------


def host_name(value: str) -> str:
    """The name in a Host header (`Example.com:7860`, `[::1]:7860`) as compared: lower case, no port."""
    value = value.strip().lower()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else value[1:]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """Whether binding `host` serves this machine only."""
    name = host_name(host)
    return name == "localhost" or (_is_address(name) and ipaddress.ip_address(name).is_loopback)


class HostRule:
    """The Host and Origin names this studio answers to."""

    def __init__(self, bound: str, allowed: Iterable[str] = ()):
        self.names = set(LOOPBACK_NAMES) | {host_name(name) for name in allowed if name.strip()}
        bound_name = host_name(bound)
        self.any_address = not is_loopback(bound)  # served to other machines, which may use its addresses
        if bound_name not in WILDCARDS:
            self.names.add(bound_name)

    def allow(self, name: str) -> None:
        """Answer to `name` too (a share link's host, known once its tunnel is up)."""
        self.names.add(host_name(name))

    def allows(self, name: str) -> bool:
        return name in self.names or (self.any_address and _is_address(name))

    def refusal(self, host: str | None, origin: str | None) -> str | None:
        """Why a request with these headers is not for us (one line), or None."""
        name = host_name(host or "")
        if not self.allows(name):
            return (
                f"refused: Host {name or '(none)'!r} is not this studio's (DNS rebinding guard); "
                f"to serve it, start with --allow-host {name or 'NAME'}"
            )
        if origin is not None:
            origin_name = (urlsplit(origin).hostname or "") if origin != "null" else "null"
            if not self.allows(origin_name):
                return (
                    f"refused: a page from {origin!r} may not call this studio; to allow it: --allow-host {origin_name}"
                )
        return None


# --- the middleware -------------------------------------------------------------------------------


class Keeper:
    """What the door knows: the host rule, the users (None: no --auth), the guessing limit, and the
    Gradio session each user signed in with basic credentials is given."""

    def __init__(self, hosts: HostRule, users: Users | None = None, limiter: LoginLimiter | None = None):
        self.hosts = hosts
        self.users = users
        self.limiter = limiter or LoginLimiter()
        self._tokens: dict[str, str] = {}  # user -> Gradio session token

    def token_for(self, user: str, app: Any) -> str:
        """A Gradio session token of `user` in `app` (a routes.App), made once and kept valid."""
        token = self._tokens.setdefault(user, secrets.token_urlsafe(24))
        if app.tokens.get(token) != user:  # new, or signed out since
            app.tokens[token] = user
        return token

    def cookie_name(self, app: Any) -> str:
        return f"access-token-unsecure-{app.cookie_id}"


class Doors:
    """ASGI middleware keeping the Keeper's rules; installed through `launch(app_kwargs=...)`, so it is
    in place before the server answers anything."""

    def __init__(self, app, keeper: Keeper):
        self.app = app
        self.keeper = keeper

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        refused = self.keeper.hosts.refusal(headers.get("host"), headers.get("origin"))
        if refused:
            await _answer(scope, receive, send, 403, refused)
            return
        if scope["type"] == "http":
            most = MAX_UPLOAD_BODY if scope.get("path", "").startswith(UPLOAD_PATHS) else MAX_BODY
            declared = headers.get("content-length", "")
            if declared and (not declared.isdigit() or int(declared) > most):
                await _answer(scope, receive, send, 413, f"request too large: at most {most // 2**10:,} KB here")
                return
            receive = _capped(receive, most)  # a body without a length stops being read at the cap
        if self.keeper.users is None:
            await self.app(scope, receive, send)
            return
        await self._signed(scope, receive, send, headers)

    async def _signed(self, scope, receive, send, headers: dict[str, str]) -> None:
        keeper, limiter = self.keeper, self.keeper.limiter
        address = (scope.get("client") or ("?", 0))[0]
        path = scope.get("path", "")
        gradio_app = scope["app"]
        login = scope["type"] == "http" and scope["method"] == "POST" and path.rstrip("/") == "/login"
        basic = _basic_credentials(headers.get("authorization", ""))
        if login or basic is not None:
            wait = limiter.wait_left(address)
            if wait > 0:
                line = f"too many wrong passwords from {address}: try again in {wait:.0f} s"
                await _answer(scope, receive, send, 429, line, {"retry-after": str(max(1, round(wait)))})
                return
        if login:
            await self.app(scope, receive, _watch_login(send, limiter, address))
            return
        if basic is not None:
            user, password = basic
            if not keeper.users.check(user, password):
                limiter.failed(address)
                await _answer(scope, receive, send, 401, "wrong user or password", _ASK_BASIC)
                return
            limiter.succeeded(address)
            token = keeper.token_for(user.strip(), gradio_app)
            scope = _with_cookie(scope, keeper.cookie_name(gradio_app), token)
        elif path.startswith(SIGNED_IN_PATHS) and not _signed_in(headers, gradio_app):
            line = "sign in first: send HTTP basic credentials (user:password of --auth) or Gradio's session cookie"
            await _answer(scope, receive, send, 401, line, _ASK_BASIC)
            return
        await self.app(scope, receive, send)


_ASK_BASIC = {"www-authenticate": 'Basic realm="LTX Studio"'}


def _capped(receive, most: int):
    """`receive`, ending the request as a disconnect once its body passes `most` bytes."""
    seen = 0

    async def capped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > most:
                return {"type": "http.disconnect"}
        return message

    return capped


def _headers(scope) -> dict[str, str]:
    return {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}


def _basic_credentials(value: str) -> tuple[str, str] | None:
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")  # malformed: a wrong password
    return user, password


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    from starlette.requests import cookie_parser

    return cookie_parser(headers.get("cookie", ""))


def _signed_in(headers: dict[str, str], app: Any) -> bool:
    cookies = _cookies(headers)
    for name in (f"access-token-{app.cookie_id}", f"access-token-unsecure-{app.cookie_id}"):
        if cookies.get(name) and app.tokens.get(cookies[name]) is not None:
            return True
    return False


def _with_cookie(scope, name: str, value: str):
    """`scope` with a cookie added to its Cookie header (what Gradio's routes read a user from)."""
    pair = f"{name}={value}".encode("latin-1")
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"cookie"]
    old = [v for k, v in scope["headers"] if k.lower() == b"cookie"]
    headers.append((b"cookie", b"; ".join([*old, pair])))
    return {**scope, "headers": headers}


def _watch_login(send, limiter: LoginLimiter, address: str):
    """`send`, noting whether Gradio's /login took the password (200) or not (400)."""

    async def watched(message) -> None:
        if message["type"] == "http.response.start":
            if message["status"] == 200:
                limiter.succeeded(address)
            elif message["status"] in (400, 401):
                limiter.failed(address)
        await send(message)

    return watched


async def _answer(scope, receive, send, status: int, line: str, headers: dict[str, str] | None = None) -> None:
    """Refuse with `status` and one line (a websocket is closed before it opens)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": line[:120]})
        return
    from starlette.responses import PlainTextResponse

    await PlainTextResponse(line + "\n", status_code=status, headers=headers)(scope, receive, send)


# --- wiring into Gradio ---------------------------------------------------------------------------


def app_kwargs(keeper: Keeper) -> dict:
    """Gradio's `launch(app_kwargs=...)` that installs the door in its app."""
    from starlette.middleware import Middleware

    return {"middleware": [Middleware(Doors, keeper=keeper)]}


def sign_in_mcp_client(page, keeper: Keeper) -> None:
    """Give the MCP server's own loopback client (gradio.mcp: tool calls go through the queue over HTTP)
    a session, so tool calls work under --auth. Each call still joins the queue with its caller's
    credentials, which Gradio forwards: the job belongs to the caller."""
    from gradio_client import Client

    server = getattr(page, "mcp_server_obj", None)
    if server is None or keeper.users is None:
        return
    if not hasattr(server, "_client_instance"):
        raise RuntimeError("this Gradio's MCP server has no _client_instance: --auth --mcp needs updating")
    token = keeper.token_for(MCP_USER, page.server_app)
    server._client_instance = Client(
        page.local_url,
        download_files=False,
        verbose=False,
        analytics_enabled=False,
        ssl_verify=False,
        _skip_components=False,
        headers={"x-gradio-user": "mcp"},
        httpx_kwargs={"cookies": {keeper.cookie_name(page.server_app): token}},
    )
