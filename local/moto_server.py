"""moto's server with DynamoDB's atomicity, and transactions that do not copy whole tables.

moto serves requests on threads and its DynamoDB backend takes no locks, so two concurrent
`ADD likes_count :one` updates (or a condition check and a racing write) could interleave and
lose an update -- something real DynamoDB never does: single-item writes and transactions are
atomic and serialised per item. This wrapper runs moto's app as `moto_server` does, with
every DynamoDB call holding the locks of the partitions it touches (moto_patches.py: also the
GSI indexes and the capacity per partition). Other services (SQS long polling) are untouched.
It serves them with HTTP/1.1 keep-alive (moto_wsgi.serve), which moto's own server does not.

moto's TransactWriteItems also deep-copies the whole table once per item of the transaction to
be able to roll back, so a transaction's cost grows with the table (hundreds of milliseconds at
10 000 items). Here a transaction snapshots only the items it touches and restores those if it
is cancelled; behaviour is unchanged (moto's own rollback then restores the same objects).
Likewise a Query on the table's own key reads every item of the table in moto; here it reads
only the items of the queried partition (the same result, in the same order).

TransactWriteItems honours ClientRequestToken, as DynamoDB does and moto does not (whatever the
fault profile): a repeat of a token seen in the last 10 minutes with the same parameters gets
the first call's response and is not applied again; with other parameters it gets
IdempotentParameterMismatchException. Only successful calls are remembered.

DynamoDB's other documented rules that moto lacks (TransactionInProgressException while a
token's first attempt runs, GSI propagation lag, size and count limits) are in moto_rules.py,
installed by main() below whatever the profile.

Fault injection (`--faults-file local/faults.yaml --faults PROFILE`; absent or `none`: none)
implements the `dynamodb` and `sqs` parts of a profile; faults.yaml is the spec. Only data-plane
calls get faults (DYNAMODB_DATA_PLANE, SQS_DATA_PLANE; SQS only in its JSON protocol), so
creating tables and queues at start is never disturbed.

Decisions are deterministic: every data-plane call gets its number n among the calls of its
operation (the n-th GetItem), and the decision for fault kind K on it is drawn from
random.Random(f"{seed}:{K}:{operation}:{n}") (per batch entry i: f"...:{n}:{i}"). The same
sequence of calls therefore meets the same faults: a run can be replayed with the same seed.
Under concurrency n follows the order in which calls arrive. The conflict model is not drawn:
it depends on what transactions touched in the last `conflict_window_ms`, i.e. on timing.

`GET /_rota/faults` answers {"profile", "seed", "injected": {"<service>.<kind>.<operation>": n},
"calls": {"<service>.<operation>": n}}; with a profile, the same JSON is printed to stderr as
`rota-faults: <json>` every 10 s when it changed, and once at exit.
"""

import argparse
import copy
import hashlib
import json
import math
import os
import random
import re
import signal
import sys
import threading
import time
import traceback
import types
import uuid
import zlib
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

import yaml

import moto_patches
from moto_wsgi import SlowLog, keep_collections_short, read_body as _read_body, serve, set_body as _set_body
import moto_rules
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.iam.models import get_account_id_from
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

_transact_write_items = DynamoDBBackend.transact_write_items
_deepcopy = copy.deepcopy


def _item_key(table, source):
    """(hash key, range key or None) of the item `source` (a Key or a whole Item) names, or None."""
    if not source or table.hash_key_attr not in source:
        return None
    hash_key = DynamoType(source[table.hash_key_attr])
    if not table.range_key_attr:
        return hash_key, None
    if table.range_key_attr not in source:
        return None
    return hash_key, DynamoType(source[table.range_key_attr])


def _touched_items(backend, transact_items):
    """(table, hash key, range key, deep copy of the item or None) for each item touched."""
    snapshots = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        key = _item_key(table, op.get("Key") or op.get("Item"))
        if key is None:
            return None
        hash_key, range_key = key
        if range_key is not None:
            item = table.items.get(hash_key, {}).get(range_key)
        else:
            item = table.items.get(hash_key)
        snapshots.append((table, hash_key, range_key, _deepcopy(item)))
    return snapshots


def _restore(snapshots):
    for table, hash_key, range_key, item in reversed(snapshots):
        if range_key is not None:
            bucket = table.items[hash_key]
            if item is None:
                bucket.pop(range_key, None)
            else:
                bucket[range_key] = item
            if not bucket:
                table.items.pop(hash_key, None)
        elif item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item


def _no_table_copies(obj, memo=None):
    # moto copies every touched table whole to roll a cancelled transaction back; the snapshot
    # of the touched items (above) does that instead, so tables are never copied.
    return obj if isinstance(obj, Table) else _deepcopy(obj, memo)


def transact_write_items(self, transact_items):
    snapshots = _touched_items(self, transact_items)
    if snapshots is None:  # an unexpected shape: moto's own (slow, safe) way
        return _transact_write_items(self, transact_items)
    moto_patches.in_transaction(True)
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        _restore(snapshots)
        for table, hash_key, range_key, _ in snapshots:
            moto_patches.reindex(table, hash_key, range_key)
        raise
    finally:
        moto_patches.in_transaction(False)


DynamoDBBackend.transact_write_items = transact_write_items

moto_patches.install()
# Only moto's DynamoDB backend module sees the shim (it uses copy.deepcopy for nothing else
# than an item before an update and the tables of a transaction).
dynamodb_models.copy = types.SimpleNamespace(deepcopy=_no_table_copies, copy=copy.copy)


# Operations that get faults. Control-plane calls (CreateTable, DescribeTable, CreateQueue,
# GetQueueUrl, …) never do: the stack makes them at start.
DYNAMODB_DATA_PLANE = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
    "BatchWriteItem", "TransactGetItems", "TransactWriteItems", "ExecuteStatement",
    "BatchExecuteStatement", "ExecuteTransaction",
})
DYNAMODB_SINGLE_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
SQS_BATCHES = frozenset({"SendMessageBatch", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"})
SQS_DATA_PLANE = SQS_BATCHES | {"SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility"}

DYNAMODB_ERROR = "com.amazonaws.dynamodb.v20120810#"
CONFLICT_MESSAGE = "Transaction is ongoing for the item"
THROTTLE_MESSAGE = (
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API."
)
GSI_THROTTLE_MESSAGE = (
    "Throughput exceeds the current capacity for one or more global secondary indexes. "
    "DynamoDB is automatically scaling your index so please be patient."
)
TOKEN_WINDOW_S = 600.0  # DynamoDB's idempotency window for ClientRequestToken
LATENCY_TAIL_S = 0.1  # a delay over this counts as "latency_tail"
REPORT_EVERY_S = 10.0


class ProfileError(Exception):
    pass


@dataclass
class Latency:
    mu: float  # ln(median in ms)
    sigma: float
    max_ms: float


@dataclass
class Profile:
    name: str = "none"
    seed: int = 0
    conflict_window_s: float = 0.0
    throttle: dict = field(default_factory=dict)  # operation or "*" -> rate
    internal_error: dict = field(default_factory=dict)
    latency: Latency | None = None
    sqs_failure: dict = field(default_factory=dict)
    sqs_batch_entry_failure: dict = field(default_factory=dict)
    rules: dict = field(default_factory=dict)  # dynamodb keys of moto_rules.py (gsi_lag_ms)

    @property
    def active(self) -> bool:
        return self.name != "none"


def _number(value, where, low=0.0, high=math.inf) -> float:
    # bool is an int to Python; `rate: yes` is a typo, not 1.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ProfileError(f"{where}: expected a number in {low}..{high}, got {value!r}")
    return float(value)


def _section(value, where, keys) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProfileError(f"{where}: expected a mapping, got {value!r}")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise ProfileError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(keys)}")
    return value


def _rates(value, where, operations) -> dict:
    """A rate (every operation) or a map of operation or "*" to rate."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        return {"*": _number(value, where, high=1.0)}
    names = sorted(operations) + ["*"]
    return {op: _number(rate, f"{where}.{op}", high=1.0) for op, rate in _section(value, where, names).items()}


def load_profile(path: Path, name: str) -> Profile:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ProfileError(f"cannot read {path}: {e}") from e
    profiles = (document or {}).get("profiles") if isinstance(document, dict) else None
    if not isinstance(profiles, dict):
        raise ProfileError(f"{path}: no `profiles` mapping")
    if name not in profiles:
        raise ProfileError(f"{path}: unknown fault profile {name!r}; profiles: {', '.join(map(str, profiles))}")
    where = f"{path}: profiles.{name}"
    # redis and lambda belong to rota-local, which validates them.
    spec = _section(profiles[name], where, ["seed", "dynamodb", "sqs", "redis", "lambda"])
    profile = Profile(name=name)
    if "seed" in spec:
        if isinstance(spec["seed"], bool) or not isinstance(spec["seed"], int):
            raise ProfileError(f"{where}.seed: expected an integer, got {spec['seed']!r}")
        profile.seed = spec["seed"]

    ddb = _section(spec.get("dynamodb"), f"{where}.dynamodb",
                   ["conflict_window_ms", "throttle", "internal_error", "latency",
                    *moto_rules.DYNAMODB_PROFILE_KEYS])
    profile.rules = {k: ddb[k] for k in moto_rules.DYNAMODB_PROFILE_KEYS if k in ddb}
    try:
        moto_rules.gsi_lag_ms(None, profile.rules, environ={})
    except moto_rules.RulesError as e:
        raise ProfileError(f"{where}: {e}") from e
    if ddb.get("conflict_window_ms") is not None:
        profile.conflict_window_s = _number(ddb["conflict_window_ms"], f"{where}.dynamodb.conflict_window_ms") / 1000
    profile.throttle = _rates(ddb.get("throttle"), f"{where}.dynamodb.throttle", DYNAMODB_DATA_PLANE)
    profile.internal_error = _rates(ddb.get("internal_error"), f"{where}.dynamodb.internal_error", DYNAMODB_DATA_PLANE)
    if ddb.get("latency") is not None:
        lat_where = f"{where}.dynamodb.latency"
        lat = _section(ddb["latency"], lat_where, ["median_ms", "p99_ms", "max_ms"])
        for key in ("median_ms", "p99_ms"):
            if key not in lat:
                raise ProfileError(f"{lat_where}: {key} is required")
        median = _number(lat["median_ms"], f"{lat_where}.median_ms", low=1e-3)
        p99 = _number(lat["p99_ms"], f"{lat_where}.p99_ms", low=median)
        max_ms = _number(lat.get("max_ms", math.inf), f"{lat_where}.max_ms")
        # 2.3263 is the standard normal's 99th percentile.
        profile.latency = Latency(math.log(median), (math.log(p99) - math.log(median)) / 2.3263, max_ms)

    sqs = _section(spec.get("sqs"), f"{where}.sqs", ["failure", "batch_entry_failure"])
    profile.sqs_failure = _rates(sqs.get("failure"), f"{where}.sqs.failure", SQS_DATA_PLANE)
    profile.sqs_batch_entry_failure = _rates(
        sqs.get("batch_entry_failure"), f"{where}.sqs.batch_entry_failure", SQS_BATCHES)
    return profile


def _rate(rates: dict, op: str) -> float:
    return rates.get(op, rates.get("*", 0.0))


class Faults:
    """The profile's decisions, what was injected, and the state of the conflict model and of
    ClientRequestToken. A check and the write it guards run under the locks of the partitions
    they touch (so they are atomic for those items); the shared state has its own lock."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self._lock = threading.Lock()  # the counters; SQS calls run concurrently
        self.calls = Counter()
        self.injected = Counter()
        self.tokens_seen = Counter()  # ClientRequestToken repeats: "replayed", "mismatched"
        self.transaction_throttles = 0
        self._state = threading.Lock()  # hot and tokens
        self.hot = OrderedDict()  # (table, hash, range) -> monotonic time, oldest first
        self.tokens = OrderedDict()  # token -> (time, digest, status, headers, body), oldest first

    def call(self, service: str, op: str) -> int:
        """Counts a call; returns its number among the calls of its operation (from 1)."""
        with self._lock:
            self.calls[f"{service}.{op}"] += 1
            return self.calls[f"{service}.{op}"]

    def count(self, key: str, k: int = 1) -> None:
        with self._lock:
            self.injected[key] += k

    def token_repeated(self, outcome: str) -> None:
        with self._lock:
            self.tokens_seen[outcome] += 1

    def rng(self, kind: str, op: str, n) -> random.Random:
        # A str seed is hashed with SHA-512: stable across runs (unlike hash()).
        return random.Random(f"{self.profile.seed}:{kind}:{op}:{n}")

    def hit(self, kind: str, op: str, n, rate: float) -> bool:
        return rate > 0 and self.rng(kind, op, n).random() < rate

    def delay_s(self, op: str, n: int) -> float:
        lat = self.profile.latency
        if lat is None:
            return 0.0
        return min(self.rng("latency", op, n).lognormvariate(lat.mu, lat.sigma), lat.max_ms) / 1000

    def report(self) -> str:
        with self._lock:
            return json.dumps({
                "profile": self.profile.name,
                "seed": self.profile.seed,
                "injected": dict(sorted(self.injected.items())),
                "calls": dict(sorted(self.calls.items())),
                "client_request_tokens": dict(sorted(self.tokens_seen.items())),
            })

    # Conflict model.

    def conflicts(self, items, now: float) -> list:
        """For each item (or None), whether another transaction touched it within the window;
        forgets older touches."""
        horizon = now - self.profile.conflict_window_s
        with self._state:
            while self.hot and next(iter(self.hot.values())) < horizon:
                self.hot.popitem(last=False)
            return [item is not None and item in self.hot for item in items]

    def touch(self, items, now: float) -> None:
        with self._state:
            for item in items:
                if item is not None:
                    self.hot[item] = now
                    self.hot.move_to_end(item)

    # ClientRequestToken.

    def remembered(self, token: str, now: float):
        with self._state:
            while self.tokens and next(iter(self.tokens.values()))[0] < now - TOKEN_WINDOW_S:
                self.tokens.popitem(last=False)
            return self.tokens.get(token)

    def remember(self, token: str, now: float, digest: bytes, status: str, headers, body: bytes) -> None:
        with self._state:
            self.tokens[token] = (now, digest, status, headers, body)
            self.tokens.move_to_end(token)


def _respond(start_response, status: int, body: bytes, headers) -> list:
    start_response(f"{status} {HTTPStatus(status).phrase}",
                   [*headers, ("x-amzn-RequestId", uuid.uuid4().hex), ("Content-Length", str(len(body)))])
    return [body]


def _dynamodb_error(start_response, status: int, error: str, **fields) -> list:
    """An error as DynamoDB sends it (type in the body; moto also sets X-Amzn-ErrorType)."""
    body = json.dumps({"__type": DYNAMODB_ERROR + error, **fields}).encode()
    return _respond(start_response, status, body, [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("X-Amzn-ErrorType", error),
        # boto3 checks the body against it (and retries on a mismatch).
        ("x-amz-crc32", str(zlib.crc32(body))),
    ])


def _cancelled(start_response, reasons: list) -> list:
    """TransactionCanceledException in moto's shape (which the SDKs parse)."""
    codes = ", ".join(r["Code"] for r in reasons)
    return _dynamodb_error(
        start_response, 400, "TransactionCanceledException",
        Message=f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        CancellationReasons=reasons,
    )








def _json(body: bytes):
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _call(app, environ):
    """Runs the wrapped app to the end: (status, headers, body)."""
    response = []

    def start_response(status, headers, exc_info=None):
        response[:] = [status, list(headers)]
        return lambda data: chunks.append(data)

    chunks = []
    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return response[0], response[1], b"".join(chunks)


def _with_body(headers, body: bytes) -> list:
    """Headers for a rewritten body (the checksum no longer applies)."""
    kept = [(k, v) for k, v in headers if k.lower() not in ("content-length", "x-amz-crc32")]
    return [*kept, ("Content-Length", str(len(body)))]


_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/")


def _dynamodb_backend(environ):
    """The backend moto serves this request from: account and region as moto derives them for
    a SigV4 request (the only kind the stack sends)."""
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    access_key, region = match.groups() if match else ("AKIAEXAMPLE", "us-east-1")
    account = (os.environ.get("MOTO_ACCOUNT_ID") or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
               or get_account_id_from(access_key))
    return dynamodb_backends[account][region]


def _identity(backend, op: dict):
    """(table name, hash key, range key) of the item an operation names, or None."""
    name = op.get("TableName")
    table = backend.tables.get(name)
    if table is None:
        return None
    key = _item_key(table, op.get("Key") or op.get("Item"))
    return None if key is None else (name, *key)


def _partition(identity):
    """The partition lock of an item identity (table name, hash key, range key)."""
    return moto_patches.partition_key(identity[0], identity[1])


# Requests the middleware reads itself (tokens, keys, ConsistentRead).
DYNAMODB_PARSED = frozenset({"TransactWriteItems", "GetItem", "Query", "BatchGetItem"})


def _consistent_read(op, request) -> bool:
    if not isinstance(request, dict):
        return False
    if op == "BatchGetItem":
        tables = request.get("RequestItems") or {}
        return any(isinstance(t, dict) and t.get("ConsistentRead") for t in tables.values())
    return bool(request.get("ConsistentRead"))


class RotaMiddleware:
    """Injects the profile's faults, makes a transaction's checks atomic with it, and serves
    GET /_rota/faults and GET/DELETE /_rota/capacity."""

    def __init__(self, dispatcher, faults: Faults):
        self.dispatcher = dispatcher
        self.faults = faults
        # moto finds the service of every request anew, behind one lock and with a look at
        # the file system (an eighth of its time under load, measured); a JSON-protocol
        # request names its service in X-Amz-Target, so the backend app is found once.
        self._apps = {}
        self._apps_lock = threading.Lock()

    def app(self, environ, start_response):
        service = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")[0]
        if not service:
            return self.dispatcher(environ, start_response)
        app = self._apps.get(service)
        if app is None:
            with self._apps_lock:
                app = self._apps.get(service) or self.dispatcher.get_application(environ)
                self._apps[service] = app
        return app(environ, start_response)

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == "/_rota/faults" and method == "GET":
            return _respond(start_response, 200, self.faults.report().encode(),
                            [("Content-Type", "application/json")])
        if path == "/_rota/capacity" and method in ("GET", "DELETE"):
            # Read and write units per table and index partition since the start (or the last
            # DELETE): the hot-key report's input.
            body = json.dumps({"partitions": moto_patches.CAPACITY.report()}).encode()
            if method == "DELETE":
                moto_patches.CAPACITY.reset()
            return _respond(start_response, 200, body, [("Content-Type", "application/json")])
        service, _, op = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
        if service.startswith("DynamoDB_"):
            return self.dynamodb(environ, start_response, op)
        if service == "AmazonSQS":
            return self.sqs(environ, start_response, op)
        return self.app(environ, start_response)

    def dynamodb(self, environ, start_response, op):
        faults, profile = self.faults, self.faults.profile
        n = faults.call("dynamodb", op)
        faulty = profile.active and op in DYNAMODB_DATA_PLANE
        if faulty:
            # Before any lock: a slow call must not hold the others back.
            delay = faults.delay_s(op, n)
            if delay > 0:
                time.sleep(delay)
                if delay > LATENCY_TAIL_S:
                    faults.count(f"dynamodb.latency_tail.{op}")
        request = _json(_read_body(environ)) if faulty or op in DYNAMODB_PARSED else None
        moto_patches.set_consistent(_consistent_read(op, request))
        if faulty:
            if faults.hit("internal_error", op, n, _rate(profile.internal_error, op)):
                faults.count(f"dynamodb.internal_error.{op}")
                return _dynamodb_error(start_response, 500, "InternalServerError",
                                       message="Internal server error")
            if faults.hit("throttle", op, n, _rate(profile.throttle, op)):
                faults.count(f"dynamodb.throttle.{op}")
                return self.throttled(start_response, op, n, request)
        if op == "TransactWriteItems" and request is not None:
            return self.transact_write_items(environ, start_response, request)
        if op in DYNAMODB_SINGLE_WRITES and profile.conflict_window_s > 0 and request is not None:
            item = _identity(_dynamodb_backend(environ), request)
            if item is not None:
                # The check and the write, atomic for this item's partition.
                with moto_patches.partitions([_partition(item)]):
                    if faults.conflicts([item], time.monotonic())[0]:
                        faults.count(f"dynamodb.TransactionConflict.{op}")
                        return _dynamodb_error(start_response, 400, "TransactionConflictException",
                                               message=CONFLICT_MESSAGE)
                    return self.moto(environ, start_response)
        return self.moto(environ, start_response)

    def moto(self, environ, start_response):
        # The whole response is made here (inside whatever locks the caller holds).
        status, headers, body = _call(self.app, environ)
        start_response(status, headers)
        return [body]

    def throttled(self, start_response, op, n, request):
        entries = (request or {}).get("TransactItems")
        if op == "TransactWriteItems" and isinstance(entries, list) and entries:
            # DynamoDB throttles a transaction either way; take turns.
            self.faults.transaction_throttles += 1
            if self.faults.transaction_throttles % 2 == 0:
                throttled = self.faults.rng("throttle_entry", op, n).randrange(len(entries))
                return _cancelled(start_response, [
                    {"Code": "ThrottlingError", "Message": GSI_THROTTLE_MESSAGE} if i == throttled
                    else {"Code": "None"}
                    for i in range(len(entries))
                ])
        return _dynamodb_error(start_response, 400, "ProvisionedThroughputExceededException",
                               message=THROTTLE_MESSAGE)

    def transact_write_items(self, environ, start_response, request):
        faults = self.faults
        entries = request.get("TransactItems")
        backend = _dynamodb_backend(environ)
        items = [_identity(backend, next(iter(e.values()), {})) if isinstance(e, dict) and e else None
                 for e in entries] if isinstance(entries, list) else []
        # The token check, the conflict model and the write are one step for these partitions.
        with moto_patches.partitions([_partition(i) for i in items if i is not None]):
            now = time.monotonic()
            token = request.get("ClientRequestToken")
            if isinstance(token, str):
                params = {k: v for k, v in request.items() if k != "ClientRequestToken"}
                digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).digest()
                seen = faults.remembered(token, now)
                if seen is not None:
                    # Checked before the conflict model: the repeat is the same transaction.
                    _, seen_digest, status, headers, body = seen
                    faults.token_repeated("replayed" if seen_digest == digest else "mismatched")
                    if seen_digest != digest:
                        return _dynamodb_error(
                            start_response, 400, "IdempotentParameterMismatchException",
                            message="DynamoDB rejected the request because you retried a request with a "
                                    "different payload but with an idempotent token that was already used.")
                    start_response(status, headers)
                    return [body]
            if faults.profile.conflict_window_s > 0 and items:
                conflicts = faults.conflicts(items, now)
                if any(conflicts):
                    faults.count("dynamodb.TransactionConflict.TransactWriteItems")
                    return _cancelled(start_response, [
                        {"Code": "TransactionConflict", "Message": CONFLICT_MESSAGE} if conflict
                        else {"Code": "None"}
                        for conflict in conflicts
                    ])
            status, headers, body = _call(self.app, environ)
            if status.startswith("200"):
                if faults.profile.conflict_window_s > 0:
                    faults.touch(items, time.monotonic())
                if isinstance(token, str):
                    faults.remember(token, now, digest, status, headers, body)
        start_response(status, headers)
        return [body]

    def sqs(self, environ, start_response, op):
        faults, profile = self.faults, self.faults.profile
        n = faults.call("sqs", op)
        if not profile.active or op not in SQS_DATA_PLANE:
            return self.app(environ, start_response)
        if faults.hit("failure", op, n, _rate(profile.sqs_failure, op)):
            faults.count(f"sqs.failure.{op}")
            body = json.dumps({"__type": "com.amazonaws.sqs#InternalError",
                               "message": "We encountered an internal error. Please try again."}).encode()
            return _respond(start_response, 500, body, [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("X-Amzn-ErrorType", "com.amazonaws.sqs#InternalError"),
                # The SDKs take the error code from here for SQS (awsQueryCompatible).
                ("x-amzn-query-error", "InternalError;Receiver"),
            ])
        rate = _rate(profile.sqs_batch_entry_failure, op)
        if op not in SQS_BATCHES or rate <= 0:
            return self.app(environ, start_response)
        request = _json(_read_body(environ))
        entries = (request or {}).get("Entries")
        ids = [e.get("Id") for e in entries] if isinstance(entries, list) and all(
            isinstance(e, dict) for e in entries) else []
        # Leave requests SQS would refuse to moto, whole, so that it refuses them.
        if not 1 <= len(ids) <= 10 or len(set(ids)) != len(ids) or not all(isinstance(i, str) for i in ids):
            return self.app(environ, start_response)
        dropped = [i for i, _ in enumerate(entries) if faults.hit("batch_entry_failure", op, f"{n}:{i}", rate)]
        if not dropped:
            return self.app(environ, start_response)
        failed = [{"Id": ids[i], "SenderFault": False, "Code": "InternalError", "Message": "injected"}
                  for i in dropped]
        json_headers = [("Content-Type", "application/x-amz-json-1.0")]
        if len(dropped) == len(entries):
            faults.count(f"sqs.batch_entry_failure.{op}", len(failed))
            return _respond(start_response, 200, json.dumps({"Successful": [], "Failed": failed}).encode(),
                            json_headers)
        request["Entries"] = [e for i, e in enumerate(entries) if i not in dropped]
        _set_body(environ, json.dumps(request).encode())
        status, headers, body = _call(self.app, environ)
        response = _json(body) if status.startswith("200") else None
        if response is not None:  # else moto refused the call: nothing to add to
            response["Failed"] = [*(response.get("Failed") or []), *failed]
            body = json.dumps(response).encode()
            headers = _with_body(headers, body)
            faults.count(f"sqs.batch_entry_failure.{op}", len(failed))
        start_response(status, headers)
        return [body]


def _report(faults: Faults) -> str:
    line = faults.report()
    print(f"rota-faults: {line}", file=sys.stderr, flush=True)
    return line


def _report_periodically(faults: Faults) -> None:
    last = None
    while True:
        time.sleep(REPORT_EVERY_S)
        if faults.report() != last:
            last = _report(faults)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument("--faults-file", type=Path, default=Path(__file__).with_name("faults.yaml"),
                        help="fault profiles (default: faults.yaml next to this file)")
    parser.add_argument("--faults", default="none", metavar="NAME", help="fault profile (default: none)")
    parser.add_argument("--iam", action="store_true",
                        help="check every call made with role credentials against the role (moto_iam.py)")
    parser.add_argument("--mail-dir", type=Path,
                        help="write every email SES accepts here, one .eml file each (moto_mail.py)")
    moto_rules.add_arguments(parser)
    args = parser.parse_args()
    profile = Profile()
    if args.faults != "none":
        try:
            profile = load_profile(args.faults_file, args.faults)
        except ProfileError as e:
            sys.exit(f"moto_server: {e}")
    try:
        lag_ms = moto_rules.gsi_lag_ms(args.gsi_lag_ms, profile.rules)
    except moto_rules.RulesError as e:
        sys.exit(f"moto_server: {e}")
    # DynamoDB's own rules (moto_rules.py), whatever the profile.
    moto_rules.install(lag_ms, profile.seed)
    print(f"rota-rules: global secondary indexes lag each write by {lag_ms / 2:g}..{lag_ms:g} ms "
          f"(seed {profile.seed})", file=sys.stderr, flush=True)
    faults = Faults(profile)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if profile.active:
        _report(faults)
        threading.Thread(target=_report_periodically, args=(faults,), daemon=True).start()
    app = DomainDispatcherApplication(create_backend_app)
    if args.iam:
        # The roles attach AWS managed policies (basic execution, X-Ray, event sources): moto
        # knows their text only when asked to load it.
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    import moto_iam

    # AWS checks a caller's permissions before it validates the call: IAM outside the rules.
    inner = RotaMiddleware(app, faults)
    if args.mail_dir is not None:
        import moto_mail

        inner = moto_mail.MailDrop(inner, args.mail_dir)
    served = moto_iam.IamLayer(moto_rules.Rules(inner), enforce=args.iam)
    served = SlowLog(served, float(os.environ.get("ROTA_EMULATOR_SLOW_MS", "300")))
    keep_collections_short()
    code = 1
    try:
        serve(served, args.host, args.port)
    except SystemExit as e:  # SIGTERM
        code = e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
    finally:
        if profile.active:
            _report(faults)
        sys.stdout.flush()
        sys.stderr.flush()
        # Not sys.exit: the server's worker threads are not daemons, and one in an SQS long
        # poll would hold the exit for up to 20 s (the stack waits a few before SIGKILL). What
        # they serve dies with the process, as it did with werkzeug's daemon threads.
        os._exit(code)


if __name__ == "__main__":
    main()
