"""DynamoDB's documented rules that moto 5.2.5 (and so the emulator) did not keep, kept here.

On whatever the fault profile: they are DynamoDB's normal behaviour, not faults. Installed by
the wrapper (local/moto_server.py: `install(...)` after its own patches, and `Rules` around its
middleware); each rule is tested in local/test_moto_rules.py and documented in local/README.md.

1. TransactionInProgressException. A TransactWriteItems whose ClientRequestToken belongs to an
   attempt still being processed is refused with it (400); with other parameters than that
   attempt, IdempotentParameterMismatchException. The first attempt goes on and commits (or
   not) whether or not its caller is still waiting, as in DynamoDB; the wrapper's token
   replay (moto_server.py) answers repeats once it has finished.
2. Global secondary indexes are eventually consistent: every write reaches the indexes after a
   seeded propagation lag (moto_patches.IndexLag: uniform in [lag/2, lag] per write, an item's
   changes in order), `DEFAULT_GSI_LAG_MS` unless `--gsi-lag-ms`, `ROTA_GSI_LAG_MS` or the fault
   profile's `dynamodb.gsi_lag_ms` says otherwise (0 turns it off). A Query on an index sees the
   old entry and not the new one until then. `ConsistentRead: true` on a GSI is refused by moto
   itself, with DynamoDB's ValidationException ("Consistent reads are not supported on global
   secondary indexes"); a test pins it.
3. Sizes and counts, as the API reference gives them: an item at most 400 KB (moto refused
   from 405 000 bytes; now from 400 KiB + 1); TransactWriteItems at most 100 actions (moto) and
   4 MB of items; BatchWriteItem at most 25 requests and a 16 MB request, refused whole before
   anything is written (moto had no limit and applied a batch up to a bad item); BatchGetItem at most 100
   keys and 16 MB per answer, the rest in UnprocessedKeys (moto); Query and Scan pages end at
   1 MB of items read, before any filter, with LastEvaluatedKey (moto ended them at 1 000 000
   bytes).

Tests can hold DynamoDB calls (`POST /_rota/hold`, below): the way to make a transaction
outlive its caller's attempt timeout and meet rule 1 on purpose.
"""

import hashlib
import json
import os
import threading
import time
import uuid
import zlib
from http import HTTPStatus

from moto_wsgi import read_body as _read_body
from moto.dynamodb import responses as dynamodb_responses
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models import dynamo_type
from moto.dynamodb.models import table as dynamodb_table
from moto.dynamodb.models.dynamo_type import DynamoType, ItemSizeTooLarge
from moto.dynamodb.responses import DynamoHandler

import moto_patches

DEFAULT_GSI_LAG_MS = 100  # a write reaches the indexes 50..100 ms later
KB = 1024
MB = 1024 * KB
ITEM_MAX = 400 * KB
TRANSACTION_MAX_BYTES = 4 * MB
BATCH_WRITE_MAX = 25
BATCH_WRITE_MAX_BYTES = 16 * MB
PAGE_MAX_BYTES = 1 * MB

DYNAMODB_ERROR = "com.amazonaws.dynamodb.v20120810#"
IN_PROGRESS_MESSAGE = "The transaction with the given request token is already in progress."
MISMATCH_MESSAGE = ("DynamoDB rejected the request because you retried a request with a different "
                    "payload but with an idempotent token that was already used.")
# Profile keys of `dynamodb` that belong here (moto_server.py's loader accepts them).
DYNAMODB_PROFILE_KEYS = ("gsi_lag_ms",)


class RulesError(Exception):
    pass


def add_arguments(parser) -> None:
    parser.add_argument(
        "--gsi-lag-ms", type=float, default=None, metavar="MS",
        help=f"global secondary index propagation lag, at most MS per write (default: "
             f"$ROTA_GSI_LAG_MS, else {DEFAULT_GSI_LAG_MS}; a fault profile's dynamodb.gsi_lag_ms wins)")


def gsi_lag_ms(flag, profile_rules: dict, environ=os.environ) -> float:
    """The lag in force: the profile's, else the flag's, else $ROTA_GSI_LAG_MS, else the default."""
    for where, value in (("the profile's dynamodb.gsi_lag_ms", profile_rules.get("gsi_lag_ms")),
                         ("--gsi-lag-ms", flag),
                         ("ROTA_GSI_LAG_MS", environ.get("ROTA_GSI_LAG_MS") or None)):
        if value is None:
            continue
        try:
            number = float(value) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or not 0 <= number <= 60_000:
            raise RulesError(f"{where}: expected milliseconds in 0..60000, got {value!r}")
        return number
    return float(DEFAULT_GSI_LAG_MS)


# --- sizes -----------------------------------------------------------------------------------


def _size(attrs) -> int:
    """An item's size as DynamoDB counts it (names and values; moto's arithmetic for values)."""
    if not isinstance(attrs, dict):
        return 0
    return sum(len(k.encode()) + DynamoType(v).size() for k, v in attrs.items() if isinstance(v, dict))


def _limited_setitem(self, key, value):
    # moto's LimitedSizeDict.__setitem__ with DynamoDB's limit, 400 KB (moto used 405 000).
    current = sum(len(k.encode()) + (v.size() if type(v) is DynamoType else len(str(v).encode()))
                  for k, v in self.items() if k != key)
    new = len(key.encode()) + (value.size() if type(value) is DynamoType else len(str(value).encode()))
    if current + new > ITEM_MAX:
        raise ItemSizeTooLarge
    dict.__setitem__(self, key, value)


_transact_write_items = None


def _stored_size(backend, op) -> int:
    table = backend.tables.get(op.get("TableName"))
    key = op.get("Key")
    if table is None or not isinstance(key, dict) or table.hash_key_attr not in key:
        return 0
    hash_key = DynamoType(key[table.hash_key_attr])
    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
    item = (table.items.get(hash_key, {}).get(range_key) if table.range_key_attr
            else table.items.get(hash_key))
    return item.size() if item is not None else 0


def transact_write_items(self, transact_items):
    """4 MB of items per transaction: a Put's item, and the stored item (plus the values an
    Update sets) for the other actions. Runs under the items' partition locks. The stored items
    are looked at only when they could matter (each is at most 400 KB): most transactions cost
    one pass over their own values."""
    if isinstance(transact_items, list) and len(transact_items) <= 100:
        total, others = 0, []
        for entry in transact_items:
            kind, op = next(iter(entry.items())) if isinstance(entry, dict) and entry else (None, {})
            if kind == "Put":
                total += _size(op.get("Item"))
            elif isinstance(op, dict):
                others.append(op)
                if kind == "Update":
                    total += _size(op.get("ExpressionAttributeValues"))
        if total + len(others) * ITEM_MAX > TRANSACTION_MAX_BYTES:
            total += sum(_stored_size(self, op) for op in others)
        if total > TRANSACTION_MAX_BYTES:
            raise MockValidationException(
                f"Transaction request size has exceeded the maximum allowed size of 4 MB: the "
                f"aggregate size of its items is {total} bytes")
    return _transact_write_items(self, transact_items)


_batch_write_item = DynamoHandler.batch_write_item


def batch_write_item(self):
    """25 requests and 16 MB of request per BatchWriteItem, and every item's size, checked
    before anything is written: a batch is refused whole (moto had no limits and wrote the
    items before a bad one)."""
    raw = getattr(self, "raw_body", None) or b""
    if len(raw) > BATCH_WRITE_MAX_BYTES:
        raise MockValidationException(
            "Request size has exceeded the maximum allowed size of 16 MB for BatchWriteItem")
    batches = self.body.get("RequestItems")
    if isinstance(batches, dict):
        total_requests = 0
        for requests in batches.values():
            if isinstance(requests, list) and not 1 <= len(requests) <= BATCH_WRITE_MAX:
                raise MockValidationException(
                    "1 validation error detected: Value at 'requestItems' failed to satisfy "
                    "constraint: Map value must satisfy constraint: [Member must have length less "
                    "than or equal to 25, Member must have length greater than or equal to 1]")
            total_requests += len(requests) if isinstance(requests, list) else 0
        if total_requests > BATCH_WRITE_MAX:
            raise MockValidationException("Too many items requested for the BatchWriteItem call")
        for requests in batches.values():
            for request in requests if isinstance(requests, list) else []:
                put = request.get("PutRequest") if isinstance(request, dict) else None
                if isinstance(put, dict) and _size(put.get("Item")) > ITEM_MAX:
                    raise ItemSizeTooLarge
    return _batch_write_item(self)


def install(lag_ms: float, seed: int) -> None:
    """The rules inside moto (call after moto_server.py's own patches)."""
    global _transact_write_items
    moto_patches.set_index_lag(lag_ms / 1000, seed)
    if getattr(DynamoDBBackend, "_rota_rules", False):
        return
    dynamo_type.LimitedSizeDict.__setitem__ = _limited_setitem
    dynamodb_table.RESULT_SIZE_LIMIT = PAGE_MAX_BYTES
    _transact_write_items = DynamoDBBackend.transact_write_items
    DynamoDBBackend.transact_write_items = transact_write_items
    DynamoHandler.batch_write_item = batch_write_item
    assert dynamodb_responses.DynamoHandler is DynamoHandler
    DynamoDBBackend._rota_rules = True


# --- the middleware: transactions in progress, and held calls ----------------------------------


def _error(start_response, error: str, message: str) -> list:
    body = json.dumps({"__type": DYNAMODB_ERROR + error, "message": message}).encode()
    start_response(f"400 {HTTPStatus(400).phrase}", [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("X-Amzn-ErrorType", error),
        ("x-amz-crc32", str(zlib.crc32(body))),
        ("x-amzn-RequestId", uuid.uuid4().hex),
        ("Content-Length", str(len(body))),
    ])
    return [body]





def digest(request: dict) -> bytes:
    """What makes two requests with one ClientRequestToken the same request."""
    params = {k: v for k, v in request.items() if k != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).digest()


class Hold:
    """`times` more DynamoDB calls of `operation` whose body contains `match` wait `seconds`."""

    def __init__(self, operation: str, match: bytes, seconds: float, times: int):
        self.operation, self.match, self.seconds, self.times = operation, match, seconds, times


class Rules:
    """WSGI middleware in front of the wrapper's: TransactionInProgressException for tokens
    still being processed, and the test knob `/_rota/hold`:

        POST /_rota/hold {"operation": "TransactWriteItems", "match": "USER#42", "ms": 1500,
                          "times": 1}
        GET /_rota/hold   -> {"holds": [...], "held": n, "in_progress": n}
        DELETE /_rota/hold   (drops every hold; answers as GET)

    holds the next `times` calls of `operation` whose request body contains `match` for `ms`
    (a transaction is marked in progress first, as DynamoDB would be processing it)."""

    def __init__(self, app):
        self.app = app
        self._lock = threading.Lock()
        self.running = {}  # ClientRequestToken -> digest of the attempt being processed
        self.holds = []
        self.held = 0
        self.in_progress = 0  # TransactionInProgressException answers

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO")
        if path == "/_rota/hold":
            return self.hold_knob(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB_"):
            return self.app(environ, start_response)
        op = target.partition(".")[2]
        if op == "TransactWriteItems":
            return self.transaction(environ, start_response)
        if self.holds:
            self.wait_if_held(op, _read_body(environ))
        return self.app(environ, start_response)

    def transaction(self, environ, start_response):
        body = _read_body(environ)
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        token = request.get("ClientRequestToken") if isinstance(request, dict) else None
        if not isinstance(token, str):
            if self.holds:
                self.wait_if_held("TransactWriteItems", body)
            return self.app(environ, start_response)
        mine = digest(request)
        with self._lock:
            running = self.running.get(token)
            if running is not None:
                self.in_progress += running == mine
            else:
                self.running[token] = mine
        if running is not None:
            if running != mine:
                return _error(start_response, "IdempotentParameterMismatchException", MISMATCH_MESSAGE)
            return _error(start_response, "TransactionInProgressException", IN_PROGRESS_MESSAGE)
        try:
            if self.holds:
                self.wait_if_held("TransactWriteItems", body)
            # Run to the end (the token's outcome recorded) before the token is free again.
            response = []
            chunks = self.app(environ, lambda status, headers, exc_info=None: response.extend((status, headers)))
            try:
                data = b"".join(chunks)
            finally:
                if hasattr(chunks, "close"):
                    chunks.close()
        finally:
            with self._lock:
                del self.running[token]
        start_response(*response)
        return [data]

    def wait_if_held(self, op: str, body: bytes) -> None:
        with self._lock:
            hold = next((h for h in self.holds if h.operation == op and h.match in body), None)
            if hold is None:
                return
            hold.times -= 1
            if hold.times <= 0:
                self.holds.remove(hold)
            self.held += 1
        time.sleep(hold.seconds)

    def hold_knob(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        if method == "POST":
            try:
                spec = json.loads(_read_body(environ))
                hold = Hold(str(spec["operation"]), str(spec["match"]).encode(),
                            float(spec["ms"]) / 1000, int(spec.get("times", 1)))
                if not hold.match or not 0 < hold.seconds <= 60 or hold.times < 1:
                    raise ValueError("match must be non-empty, ms in 1..60000, times >= 1")
            except (ValueError, KeyError, TypeError) as e:
                body = json.dumps({"error": f"bad hold: {e}"}).encode()
                start_response("400 Bad Request", [("Content-Type", "application/json"),
                                                   ("Content-Length", str(len(body)))])
                return [body]
            with self._lock:
                self.holds.append(hold)
        elif method == "DELETE":
            # Heals: every hold still waiting for calls is dropped (calls already held finish).
            with self._lock:
                self.holds.clear()
        elif method != "GET":
            start_response("405 Method Not Allowed", [("Content-Length", "0")])
            return [b""]
        with self._lock:
            body = json.dumps({
                "holds": [{"operation": h.operation, "match": h.match.decode(errors="replace"),
                           "ms": h.seconds * 1000, "times": h.times} for h in self.holds],
                "held": self.held,
                "in_progress": self.in_progress,
            }).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
