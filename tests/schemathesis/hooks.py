"""Schemathesis hooks for Rota (scripts/schemathesis.sh loads them through schemathesis.toml).

Client addresses: every connection schemathesis opens comes from a random 127/8 address, as a
crowd of clients would. From one address the per-IP limits of registration and login (20 an
hour, 30 a minute) would answer 429 to nearly every request after the first minute and leave
those operations, and every link from them, untested.

Authentication: a fresh account every 5 s, registered from a random 127/8 source address
(the per-IP registration limit would otherwise stop a run), so authenticated operations are
reached with a valid token and the per-user limits of the creating POSTs (docs/api.md, "Rate
limits") do not turn the later phases into 429s. Schemathesis' `ignored_auth` check still sends
requests without a token.

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
import uuid

import requests
import urllib3.connection
import schemathesis
from requests.adapters import HTTPAdapter

_RNG = _random.SystemRandom()  # not hypothesis-seeded: account addresses only
BASE_URL = os.environ["ROTA_BASE_URL"].rstrip("/")
_KEY = re.compile(r"[\x21-\x7e]{1,255}")


class _FromAddress(HTTPAdapter):
    """Connects from a given local address (every 127/8 address is loopback on Linux)."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


def _random_loopback() -> str:
    return f"127.{_RNG.randint(1, 254)}.{_RNG.randint(1, 254)}.{_RNG.randint(2, 254)}"


_connect = urllib3.connection.HTTPConnection.__init__


def _connect_from_anywhere(self, *args, **kwargs):
    kwargs.setdefault("source_address", (_random_loopback(), 0))
    _connect(self, *args, **kwargs)


urllib3.connection.HTTPConnection.__init__ = _connect_from_anywhere


def _register() -> str:
    session = requests.Session()
    session.mount("http://", _FromAddress(_random_loopback()))
    body = {
        "email": f"schemathesis-{uuid.uuid4().hex[:12]}@example.com",
        "password": "schemathesis-pw",
        "display_name": "Schemathesis",
    }
    response = session.post(BASE_URL + "/api/auth/register", json=body, timeout=15)
    response.raise_for_status()
    return response.json()["access_token"]


@schemathesis.auth()
class FreshAccount:
    # Well inside the access token's 900 s, and short enough to stay under the per-user limits
    # (5 posts a minute).
    refresh_interval = 5

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def get(self, case, context):
        with self._lock:
            return _register()

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and _KEY.fullmatch(key):
        headers["Idempotency-Key"] = str(uuid.uuid4())
