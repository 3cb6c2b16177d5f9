"""Schemathesis hooks for Rota (scripts/schemathesis.sh loads them through schemathesis.toml).

Client addresses: every connection schemathesis opens comes from a random 127/8 address, as a
crowd of clients would, and a request to register or log in gets a connection of its own. From
one address the per-IP limits of registration and login (20 an hour, 30 a minute) would answer
429 to nearly every request after the first minute and leave those operations, and every link
from them, untested; a kept-alive connection is one address for as long as it lives.

Authentication: accounts the hooks register (each from a new address), every request sent as
one with room under the per-user limit it counts against (docs/api.md, "Rate limits"; the room
is read from the last answer's RateLimit-* headers), so authenticated operations are reached
with a valid token and the creating POSTs answer what they do below their limits rather than
429. A request on a post, comment or roadmap the run created goes as the account that created
it (what only the owner may do is otherwise 403 or 404). Schemathesis' `ignored_auth` check
still sends requests without a token.

The stateful phase follows the document's links from the responses of register, login and the
creating POSTs, so two of its requests are adjusted (well-formed ones only; malformed ones are
sent as generated):
- a login signs in an account the hooks registered: generated credentials match no account, and
  only a `200` starts the links to refreshTokens and logout;
- a registration gets an email of its own. The same generated email twice is `409` the second
  time, and a state machine whose request answers otherwise when Hypothesis replays it ends its
  run early ("inconsistent data generation"), with the scenarios left unrun.
The other phases send generated credentials and emails as they are.

Idempotency keys: schemathesis reuses the values it generates (the document's example, the
coverage phase's boundary values, shrinking), while the contract makes a key name one logical
request: a key sent again with a different body is `422` by design (docs/api.md,
"Idempotency"). Well-formed keys are replaced with a fresh UUID on every call; malformed ones
are kept so that their `400` is still tested.
"""

import os
import random as _random
import re
import threading
import time
import urllib.parse
import uuid

import requests
import urllib3.connection
import urllib3.connectionpool
import schemathesis

_RNG = _random.SystemRandom()  # not hypothesis-seeded: account addresses only
BASE_URL = os.environ["ROTA_BASE_URL"].rstrip("/")
_KEY = re.compile(r"[\x21-\x7e]{1,255}")
REGISTER_PATH = "/api/auth/register"
LOGIN_PATH = "/api/auth/login"
# The operations limited per client IP (docs/api.md, "Rate limits").
_PER_IP_LIMITED = {REGISTER_PATH, LOGIN_PATH}
# The operations limited per user (docs/api.md, "Rate limits"), by the counter they share: a
# login without a device token counts per email.
_PER_USER = {
    ("POST", "/api/community/posts"): "posts",
    ("POST", "/api/community/posts/{id}/comments"): "comments",
    ("POST", "/api/roadmaps"): "roadmaps",
    ("PATCH", "/api/community/posts/{id}"): "edits",
    ("POST", "/api/community/posts/{id}/like"): "likes",
    ("DELETE", "/api/community/posts/{id}/like"): "likes",
    ("POST", LOGIN_PATH): "logins",
}
_PASSWORD = "schemathesis-pw"


def _random_loopback() -> str:
    return f"127.{_RNG.randint(1, 254)}.{_RNG.randint(1, 254)}.{_RNG.randint(2, 254)}"


# Every socket, a pooled connection's reconnection included, from a new address.
_new_conn = urllib3.connection.HTTPConnection._new_conn


def _new_conn_from_anywhere(self):
    self.source_address = (_random_loopback(), 0)
    return _new_conn(self)


urllib3.connection.HTTPConnection._new_conn = _new_conn_from_anywhere

_request = urllib3.connection.HTTPConnection.request


def _request_noting_limit(self, method, url, *args, **kwargs):
    self.rota_per_ip_limited = urllib.parse.urlsplit(url).path in _PER_IP_LIMITED
    return _request(self, method, url, *args, **kwargs)


urllib3.connection.HTTPConnection.request = _request_noting_limit

_put_conn = urllib3.connectionpool.HTTPConnectionPool._put_conn


def _put_conn_closing_limited(self, conn):
    # Closed, the connection reconnects for its next request, from another address.
    if conn is not None and getattr(conn, "rota_per_ip_limited", False):
        conn.close()
    _put_conn(self, conn)


urllib3.connectionpool.HTTPConnectionPool._put_conn = _put_conn_closing_limited


def _counter(case) -> str | None:
    return _PER_USER.get((case.operation.method.upper(), case.operation.path))


class _Account:
    """An account registered by the hooks (a fresh session: a new connection and address)."""

    def __init__(self) -> None:
        self.email = f"schemathesis-{uuid.uuid4().hex[:12]}@example.com"
        body = {"email": self.email, "password": _PASSWORD, "display_name": "Schemathesis"}
        # The gateway's own 429 (the route's burst cap, docs/api.md) asks for a retry later.
        for _ in range(20):
            response = requests.post(BASE_URL + REGISTER_PATH, json=body, timeout=15)
            if response.status_code != 429:
                break
            time.sleep(0.1 + _RNG.random() * 0.2)
        response.raise_for_status()
        self.token = response.json()["access_token"]
        # counter -> (requests left, end of the window), from the last response's RateLimit-*
        # headers (only requests that reach the limit check count, and carry them).
        self.left: dict[str, tuple[int, float]] = {}

    def has_room(self, counter: str | None) -> bool:
        # One request kept in reserve: a case generated before the last answer came.
        left, until = self.left.get(counter, (2, 0.0))
        return left > 1 or time.monotonic() >= until

    def note(self, counter: str, response) -> None:
        remaining = response.headers.get("ratelimit-remaining") or [""]
        reset = response.headers.get("ratelimit-reset") or [""]
        # Malformed values are the checks' to report, not a reason for the hook to fail.
        if remaining[0].isdigit() and reset[0].isdigit():
            self.left[counter] = (int(remaining[0]), time.monotonic() + int(reset[0]))


_lock = threading.Lock()
_account: _Account | None = None
_by_token: dict[str, _Account] = {}
_by_email: dict[str, _Account] = {}
# (kind, id) of each post, comment and roadmap the run created -> the account that created it.
_owners: dict[tuple[str, str], _Account] = {}
# The creating POSTs, and the paths whose {id} is a resource of that kind: updating or deleting
# a post or comment is its author's alone, and another user's roadmap is 404.
_CREATES = {
    "/api/community/posts": "post",
    "/api/community/posts/{id}/comments": "comment",
    "/api/roadmaps": "roadmap",
}
_OWNED = {
    "/api/community/posts/{id}": "post",
    "/api/community/comments/{id}": "comment",
    "/api/roadmaps/{id}": "roadmap",
    "/api/roadmaps/{id}/steps/{step_id}": "roadmap",
}


def _current(counter: str | None) -> _Account:
    """The account requests go as: a new one once the current has no room left on `counter`."""
    global _account
    with _lock:
        if _account is None or not _account.has_room(counter):
            _account = _Account()
            _by_token[_account.token] = _account
            _by_email[_account.email] = _account
        return _account


# No caching (refresh_interval=None): the provider is asked for every case, so that each goes
# as an account with room under its limits. Tokens outlive a run (900 s).
@schemathesis.auth(refresh_interval=None)
class FreshAccount:
    def get(self, case, context):
        return _current(_counter(case)).token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def _sender(case) -> _Account | None:
    """The hooks' account whose token the case carries (none for a missing or generated one)."""
    authorization = (case.headers or {}).get("Authorization")
    if not isinstance(authorization, str) or not authorization.startswith("Bearer "):
        return None
    return _by_token.get(authorization.removeprefix("Bearer "))


def _choose_sender(case) -> None:
    """A request on a resource the run created goes as its creator, and any request as an
    account with room under its limits (the case may have been generated a while ago)."""
    sender = _sender(case)
    if sender is None:
        return
    counter = _counter(case)
    kind = _OWNED.get(case.operation.path)
    resource_id = str((case.path_parameters or {}).get("id"))
    owner = _owners.get((kind, resource_id)) if kind is not None else None
    if owner is not None and owner.has_room(counter):
        chosen = owner
    elif sender.has_room(counter):
        chosen = sender
    else:
        chosen = _current(counter)
    if chosen is not sender:
        case.headers["Authorization"] = f"Bearer {chosen.token}"


@schemathesis.hook
def after_call(context, case, response):
    counter = _counter(case)
    if counter == "logins":
        email = case.body.get("email") if isinstance(case.body, dict) else None
        account = _by_email.get(email) if isinstance(email, str) else None
    else:
        account = _sender(case)
    if account is None:
        return
    if counter is not None:
        account.note(counter, response)
    kind = _CREATES.get(case.operation.path)
    # On these paths only the creating POST answers 201.
    if kind is not None and response.status_code == 201:
        body = response.json()
        if isinstance(body, dict) and "id" in body:
            _owners[(kind, str(body["id"]))] = account


def _is_stateful_body(case, path: str) -> bool:
    meta = case.meta
    return (
        case.operation.path == path
        and meta is not None
        and meta.phase.name == "stateful"
        and meta.generation.mode.is_positive
        and isinstance(case.body, dict)
    )


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and _KEY.fullmatch(key):
        headers["Idempotency-Key"] = str(uuid.uuid4())
    if _is_stateful_body(case, REGISTER_PATH) and isinstance(case.body.get("email"), str):
        case.body["email"] = f"stateful-{uuid.uuid4().hex[:12]}@example.com"
    if _is_stateful_body(case, LOGIN_PATH):
        case.body["email"] = _current("logins").email
        case.body["password"] = _PASSWORD
    _choose_sender(case)
