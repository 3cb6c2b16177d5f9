"""Schemathesis hooks for Rota (scripts/schemathesis.sh loads them through schemathesis.toml).

Authentication: one account of its own per run, signed in once and refreshed before its access
token expires (900 s), so every authenticated operation is reached with a valid token while
schemathesis' `ignored_auth` check still sends requests without one.

Idempotency keys: schemathesis reuses the values it generates (shrinking, the coverage phase's
boundary values), while the contract makes a key name one logical request: a key sent again
with a different body is `422` by design (docs/api.md, "Idempotency"). Well-formed keys are
replaced with a fresh UUID per request; malformed ones are kept so their `400` is still tested.
"""

import os
import re
import threading
import time
import uuid

import requests
import schemathesis

BASE_URL = os.environ["ROTA_BASE_URL"].rstrip("/")
_KEY = re.compile(r"[\x21-\x7e]{1,255}")


@schemathesis.auth()
class RotaAccount:
    """A fresh account, then the refresh token for every new access token."""

    # Well inside the access token's 900 s.
    refresh_interval = 600

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refresh_token: str | None = None

    def get(self, case, context):
        with self._lock:
            if self._refresh_token is None:
                email = f"schemathesis-{uuid.uuid4().hex[:12]}@example.com"
                body = {"email": email, "password": "schemathesis-pw", "display_name": "Schemathesis"}
                answer = _post("/api/auth/register", body)
            else:
                answer = _post("/api/auth/refresh", {"refresh_token": self._refresh_token})
            self._refresh_token = answer["refresh_token"]
            return answer["access_token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def _post(path: str, body: dict) -> dict:
    # The registration limit is per client IP: a run right after another may wait for it.
    for _ in range(30):
        response = requests.post(BASE_URL + path, json=body, timeout=10)
        if response.status_code != 429:
            break
        time.sleep(int(response.headers.get("Retry-After", "2")))
    response.raise_for_status()
    return response.json()


@schemathesis.hook
def map_headers(context, headers):
    if headers and isinstance(headers.get("Idempotency-Key"), str) and _KEY.fullmatch(headers["Idempotency-Key"]):
        headers["Idempotency-Key"] = str(uuid.uuid4())
    return headers
