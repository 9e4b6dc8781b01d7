"""Who owns a job or a take, and who may see it or act on it (cancel a job, delete or approve a take).

An owner is a string, recorded on the job's row and on the take's record:
- `user:NAME`: someone signed in (the app's --auth); the server's login says who, never the client;
- `browser:ID`: a browser without --auth; ID is minted by the server and signed with a key that
  never leaves the outputs folder (`sign_browser`), so a made-up or copied-and-edited id is nobody;
- `key:DIGEST`: an API or MCP client that sends an `X-Studio-Key` header (a digest, not the key);
- `api`: an API client without a key (anyone on the loopback without --auth: one shared name);
- `cli`, `local`: the command line and Python in the studio's own process;
- `space` and other script names: callers inside the server (the Spaces' endpoints, the bench);
- "" (empty): takes made before owners were recorded, or outside the queue (Python's
  `Studio.render`, the CLI's `render`).

The rules:
- to act (cancel, delete, approve): the owner itself; an admin (`user:NAME` with NAME among the
  studio's admins) on everything; in-process callers (`cli`, `local`, or no owner given at all) on
  everything, since they hold the files anyway. Nobody else, so "" (an old take) and `nobody` (an
  id that failed its signature) are acted on only by admins, the command line and Python;
- to see (the Studio feed, the Takes tab, the /takes and /jobs API): under --auth, one's own and
  admins everything; without --auth (one person's machine, loopback) everything is listed, but
  only one's own is acted on.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

NOBODY = "nobody"  # an id that did not verify: owns nothing, may act on nothing
IN_PROCESS = frozenset({"cli", "local"})  # the command line and Python: they hold the files anyway
KEY_FILE = "owner.key"  # in the outputs folder; never served, never sent to a client


def may_act(who: str | None, owner: str, admins: frozenset[str] = frozenset()) -> bool:
    """Whether `who` may cancel, delete or approve what `owner` owns (None: an in-process caller)."""
    if who is None or who in IN_PROCESS or is_admin(who, admins):
        return True
    if not who or who == NOBODY or not owner:
        return False
    return who == owner


def is_admin(who: str | None, admins: frozenset[str]) -> bool:
    """Whether `who` is a signed-in user the studio names an admin."""
    return bool(who) and who.startswith("user:") and who[5:] in admins


def listed_owner(who: str | None, admins: frozenset[str], signed_in: bool) -> str | None:
    """Whose jobs and takes a listing shows `who`: None for everyone's, else that one owner's."""
    if not signed_in or who is None or who in IN_PROCESS or is_admin(who, admins):
        return None
    return who


def may_see(who: str | None, owner: str, admins: frozenset[str], signed_in: bool) -> bool:
    """Whether a listing shows `who` a job or take of `owner` (see `listed_owner`)."""
    shown = listed_owner(who, admins, signed_in)
    return shown is None or shown == owner


def server_key(root: str | Path) -> bytes:
    """The outputs folder's signing key, made on first use (readable by the studio's user only)."""
    path = Path(root) / KEY_FILE
    if not path.exists():  # written aside, then linked in whole: two processes starting agree on one key
        fd, aside = tempfile.mkstemp(dir=path.parent, prefix=".owner-key-")  # mode 0600
        try:
            os.write(fd, secrets.token_hex(32).encode())
            os.close(fd)
            with contextlib.suppress(FileExistsError):
                os.link(aside, path)
        finally:
            os.unlink(aside)
    return bytes.fromhex(path.read_text(encoding="utf-8").strip())


def _mac(key: bytes, what: str, value: str) -> str:
    return hmac.new(key, f"{what}:{value}".encode(), hashlib.sha256).hexdigest()


def sign_browser(key: bytes) -> str:
    """A new browser id with its signature, as the browser keeps it: "ID.SIGNATURE"."""
    browser = secrets.token_hex(8)
    return f"{browser}.{_mac(key, 'browser', browser)[:32]}"


def browser_owner(key: bytes, signed: object) -> str:
    """The owner a browser's kept id names: `browser:ID` if its signature verifies, else `nobody`."""
    if not isinstance(signed, str) or signed.count(".") != 1:
        return NOBODY
    browser, signature = signed.split(".")
    if not browser or not hmac.compare_digest(signature, _mac(key, "browser", browser)[:32]):
        return NOBODY
    return f"browser:{browser}"


def api_key_owner(key: bytes, api_key: str) -> str:
    """An API client's owner from its X-Studio-Key: a digest (the key itself is never stored)."""
    return "key:" + _mac(key, "api-key", api_key)[:24]
