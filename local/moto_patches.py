"""moto's DynamoDB made fast and concurrent enough to load-test through, answering the same.

moto keeps a table as a dict of partitions and answers every Query on a global secondary index
by reading every item of the table, sorting the matches and deep-copying them; it takes no
locks, so the wrapper used to serialise every DynamoDB call behind one lock. Three changes,
each pinned against the unpatched moto by `local/test_moto_patches.py`:

1. **Locks per partition.** Every call that reads or writes items holds the reentrant locks of
   the partitions (table, partition key) it touches, taken in one global order (no deadlock),
   under a shared backend lock that only Scan and table administration take exclusively. Two
   calls on different partitions run side by side; two on one partition (a conditional write
   and a racing write, the items of one transaction) are serialised as DynamoDB serialises them.
2. **Global secondary indexes as indexes.** Each GSI keeps, per index partition, a copy of every
   entry as the index projects it, updated under the item's partition lock by every write.
   A Query on an index reads its partition's entries only (as DynamoDB does), never the table,
   and never a live item another call is changing. Entries are kept in sort order, so a Query
   neither sorts nor walks the whole partition.
3. **Answers serialised directly.** moto builds every response by walking the operation's
   botocore shape (a quarter of its time under load, measured); a DynamoDB data-plane answer is
   already the wire JSON, so it is dumped as it is (errors keep moto's own path).
4. **Capacity per partition.** Every read and write is charged, with DynamoDB's rules, to the
   partition it lands on — the table's (table, partition key) and each index's (index,
   index partition key) — for the hot-key report (`GET /_rota/capacity`). The emulator's own
   ConsumedCapacity figures are fixed numbers; these are computed from item sizes:
   reads round each item (GetItem, BatchGetItem) or the whole Query page up to 4 KB, half when
   eventually consistent; writes round the larger of the old and new item up to 1 KB, twice
   inside a transaction; an index entry that changes costs one write per KB, two when its key
   moves (delete + put).
5. **Index propagation lag** (off here; local/moto_rules.py turns it on by default). With a lag,
   a write's index change is queued and becomes visible to Queries only when its propagation
   time has passed, in the order of the item's writes, as DynamoDB's asynchronous GSI updates
   do. A transaction's index changes are queued at its commit only, so a cancelled
   transaction never shows in an index.
"""

import base64
import bisect
import copy
import datetime
import decimal
import functools
import heapq
import itertools
import json
import math
import random
import threading
import time
from collections import defaultdict

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import GlobalSecondaryIndex, Table
from moto.dynamodb.responses import DynamoHandler

_deepcopy = copy.deepcopy
_local = threading.local()


# --- locks ----------------------------------------------------------------------------------


class SharedLock:
    """Readers share it (reentrantly); a writer holds it alone. Readers never wait for a
    waiting writer, so a reader may re-enter while holding it (the writers here, Scan and table
    administration, are rare and can wait)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = None
        self._depth = 0

    def acquire_shared(self):
        me = threading.get_ident()
        with self._cond:
            while self._writer is not None and self._writer != me:
                self._cond.wait()
            self._readers += 1

    def release_shared(self):
        with self._cond:
            self._readers -= 1
            if self._readers == 0:
                self._cond.notify_all()

    def acquire_exclusive(self):
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._depth += 1
                return
            while self._writer is not None or self._readers > 0:
                self._cond.wait()
            self._writer, self._depth = me, 1

    def release_exclusive(self):
        with self._cond:
            self._depth -= 1
            if self._depth == 0:
                self._writer = None
                self._cond.notify_all()


BACKEND = SharedLock()
_partition_locks = {}
_partition_locks_guard = threading.Lock()


def partition_key(table_name, hash_key):
    """The identity of a partition, ordered the same way by every caller."""
    return (table_name, hash_key.type, str(hash_key.value))


def _lock_of(key):
    with _partition_locks_guard:
        lock = _partition_locks.get(key)
        if lock is None:
            lock = _partition_locks[key] = threading.RLock()
        return lock


class partitions:
    """`with partitions(keys):` holds the backend lock shared and the partitions' locks."""

    def __init__(self, keys):
        self.locks = [_lock_of(k) for k in sorted(set(keys))]

    def __enter__(self):
        BACKEND.acquire_shared()
        for lock in self.locks:
            lock.acquire()
        return self

    def __exit__(self, *exc):
        for lock in reversed(self.locks):
            lock.release()
        BACKEND.release_shared()
        return False


class exclusive:
    """`with exclusive():` holds the whole backend alone (Scan, table administration)."""

    def __enter__(self):
        BACKEND.acquire_exclusive()
        return self

    def __exit__(self, *exc):
        BACKEND.release_exclusive()
        return False


# --- capacity --------------------------------------------------------------------------------


class Capacity:
    """Read and write units per partition, as DynamoDB would charge them."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            # (table, index or "", partition) -> [rcu, wcu, reads, writes]
            self.units = defaultdict(lambda: [0.0, 0.0, 0, 0])

    def read(self, table, index, partition, rcu):
        with self._lock:
            entry = self.units[(table, index, partition)]
            entry[0] += rcu
            entry[2] += 1

    def write(self, table, index, partition, wcu):
        with self._lock:
            entry = self.units[(table, index, partition)]
            entry[1] += wcu
            entry[3] += 1

    def report(self):
        with self._lock:
            return [
                {"table": t, "index": i or None, "partition": p, "rcu": round(v[0], 3),
                 "wcu": round(v[1], 3), "reads": v[2], "writes": v[3]}
                for (t, i, p), v in self.units.items()
            ]


CAPACITY = Capacity()


def read_units(size, consistent):
    units = max(1, math.ceil(size / 4096))
    return units if consistent else units / 2


def write_units(size):
    return max(1, math.ceil(size / 1024))


def _consistent():
    return getattr(_local, "consistent", False)


def set_consistent(consistent):
    """The current call's ConsistentRead (the middleware reads it from the request)."""
    _local.consistent = bool(consistent)


def _partition_label(value):
    return str(value.value) if isinstance(value, DynamoType) else str(value)


# --- global secondary indexes -----------------------------------------------------------------


class IndexLag:
    """How long a write takes to reach the global secondary indexes: each write's delay is
    drawn from a seeded generator, uniformly in [max_s / 2, max_s] (0: no lag)."""

    def __init__(self, max_s=0.0, seed=0):
        self.max_s = max_s
        self._rng = random.Random(f"{seed}:gsi_lag")
        self._lock = threading.Lock()

    def draw(self):
        with self._lock:
            return self._rng.uniform(self.max_s / 2, self.max_s)


LAG = IndexLag()


def set_index_lag(max_s, seed=0):
    """Every global secondary index from now on lags writes by up to `max_s` seconds."""
    global LAG
    LAG = IndexLag(max_s, seed)


class _Index:
    """One GSI: per index partition, its entries sorted by (index range key, table keys).

    `parts`/`where` are what Queries see; `latest` is where each item's entry will be once
    every queued change is visible (what writes are charged against); `pending` holds the
    changes not yet visible, a heap by the time they become visible."""

    _seq = itertools.count()

    def __init__(self, gsi, table):
        self.gsi = gsi
        self.hash_attrs = [k["AttributeName"] for k in gsi.schema if k["KeyType"] == "HASH"]
        self.range_attrs = [k["AttributeName"] for k in gsi.schema if k["KeyType"] == "RANGE"]
        self.table_attrs = [a for a in (table.hash_key_attr, table.range_key_attr) if a]
        self.lock = threading.Lock()
        self.parts = {}  # index hash value -> (sorted sort keys, {sort key: entry})
        self.where = {}  # item key -> (index hash value, sort key), as visible
        self.latest = {}  # item key -> (index hash value, sort key, entry size), as written
        self.pending = []  # heap of (visible at, seq, item key, entry, hash value, sort key)
        self.last_due = {}  # item key -> when its latest queued change becomes visible

    def sort_key(self, item):
        return tuple(item.attrs[a] for a in (*self.range_attrs, *self.table_attrs))

    def entry_of(self, item):
        if item is None or not all(item.attrs.get(a) for a in (*self.hash_attrs, *self.range_attrs)):
            return None
        entry = self.gsi.project(_deepcopy(item))
        return entry

    def _place(self, item_key, entry, new_hash, new_sort):
        """Makes the item's entry visible where `entry` puts it (or nowhere). Under the lock."""
        old = self.where.pop(item_key, None)
        if old is not None:
            old_hash, old_sort = old
            keys, entries = self.parts[old_hash]
            del entries[old_sort]
            del keys[bisect.bisect_left(keys, old_sort)]
            if not entries:
                del self.parts[old_hash]
        if entry is not None:
            keys, entries = self.parts.setdefault(new_hash, ([], {}))
            bisect.insort(keys, new_sort)
            entries[new_sort] = entry
            self.where[item_key] = (new_hash, new_sort)

    def _apply_due(self, now):
        """Makes every queued change whose time has come visible, oldest first. Under the lock."""
        pending = self.pending
        while pending and pending[0][0] <= now:
            due, _, item_key, entry, new_hash, new_sort = heapq.heappop(pending)
            self._place(item_key, entry, new_hash, new_sort)
            if self.last_due.get(item_key) == due:
                del self.last_due[item_key]

    def update(self, item_key, item):
        """Moves the item's entry to where `item` puts it (at once, or after the lag); the
        index-side write units."""
        entry = self.entry_of(item)
        new_hash = tuple(entry.attrs[a] for a in self.hash_attrs) if entry is not None else None
        new_sort = self.sort_key(entry) if entry is not None else None
        lag = LAG.draw() if LAG.max_s > 0 else 0.0
        with self.lock:
            old = self.latest.pop(item_key, None)
            if entry is not None:
                self.latest[item_key] = (new_hash, new_sort, entry.size())
            if lag > 0:
                now = time.monotonic()
                due = now + lag
                # An item's changes become visible in the order they were made.
                last = self.last_due.get(item_key)
                if last is not None and due <= last:
                    due = last + 1e-6
                self.last_due[item_key] = due
                heapq.heappush(self.pending, (due, next(self._seq), item_key, entry, new_hash, new_sort))
                self._apply_due(now)
            else:
                self._place(item_key, entry, new_hash, new_sort)
        writes = []
        if old is not None and (entry is None or old[0] != new_hash or old[1] != new_sort):
            writes.append((old[0], write_units(old[2])))
        if entry is not None:
            writes.append((new_hash, write_units(entry.size())))
        return writes

    def entries(self, hash_value):
        """The visible entries of one index partition, in index order (a snapshot)."""
        with self.lock:
            if self.pending:
                self._apply_due(time.monotonic())
            part = self.parts.get(hash_value)
            if part is None:
                return []
            keys, entries = part
            return [entries[k] for k in keys]


_indexes = {}  # (id(table), index name) -> _Index
_indexes_guard = threading.Lock()


def _index_of(table, gsi):
    key = (id(table), gsi.name)
    with _indexes_guard:
        index = _indexes.get(key)
        if index is None:
            index = _indexes[key] = _Index(gsi, table)
        return index


def _item_at(table, hash_key, range_key):
    if table.range_key_attr:
        return table.items.get(hash_key, {}).get(range_key)
    return table.items.get(hash_key)


def reindex(table, hash_key, range_key):
    """Brings every GSI up to date with the item now at (hash, range); charges the index writes.
    Called under the item's partition lock. Inside a transaction, done at its end (see
    in_transaction): the index never sees a write the transaction may still cancel."""
    if getattr(_local, "transaction", False):
        _local.deferred.append((table, hash_key, range_key))
        return
    item = _item_at(table, hash_key, range_key)
    for gsi in table.global_indexes:
        index = _index_of(table, gsi)
        for part, wcu in index.update((hash_key, range_key), item):
            CAPACITY.write(table.name, gsi.name, ",".join(_partition_label(v) for v in part), wcu)


# --- the patched backend ---------------------------------------------------------------------


_put_item = DynamoDBBackend.put_item
_get_item = DynamoDBBackend.get_item
_update_item = DynamoDBBackend.update_item
_delete_item = DynamoDBBackend.delete_item
_query = Table.query
_all_items = Table.all_items
_scan = DynamoDBBackend.scan


def _keys_of(backend, table_name, keys):
    table = backend.get_table(table_name)
    return table, *backend.get_keys_value(table, keys)


def _written(backend, table, hash_key, range_key, call):
    """Runs one item's write under its partition lock; charges it (a failed conditional write
    costs too) and brings the indexes up to date."""
    with partitions([partition_key(table.name, hash_key)]):
        before = _item_at(table, hash_key, range_key)
        before_size = before.size() if before is not None else 0
        try:
            return call()
        finally:
            after = _item_at(table, hash_key, range_key)
            size = max(before_size, after.size() if after is not None else 0)
            units = write_units(size) * (2 if getattr(_local, "transaction", False) else 1)
            CAPACITY.write(table.name, "", _partition_label(hash_key), units)
            if before is not None or after is not None:
                reindex(table, hash_key, range_key)


def put_item(self, table_name, item_attrs, *args, **kwargs):
    table = self.get_table(table_name)
    hash_key = DynamoType(item_attrs[table.hash_key_attr]) if table.hash_key_attr in item_attrs else None
    if hash_key is None:
        return _put_item(self, table_name, item_attrs, *args, **kwargs)
    range_key = (DynamoType(item_attrs[table.range_key_attr])
                 if table.range_key_attr and table.range_key_attr in item_attrs else None)
    return _written(self, table, hash_key, range_key,
                    lambda: _put_item(self, table_name, item_attrs, *args, **kwargs))


def update_item(self, table_name, key, *args, **kwargs):
    table, hash_key, range_key = _keys_of(self, table_name, key)
    return _written(self, table, hash_key, range_key,
                    lambda: _update_item(self, table_name, key, *args, **kwargs))


def delete_item(self, table_name, key, *args, **kwargs):
    table, hash_key, range_key = _keys_of(self, table_name, key)
    return _written(self, table, hash_key, range_key,
                    lambda: _delete_item(self, table_name, key, *args, **kwargs))


def get_item(self, table_name, keys, *args, **kwargs):
    table, hash_key, _ = _keys_of(self, table_name, keys)
    with partitions([partition_key(table_name, hash_key)]):
        item = _get_item(self, table_name, keys, *args, **kwargs)
        # A GetItem that finds nothing still costs a read.
        CAPACITY.read(table_name, "", _partition_label(hash_key),
                      read_units(item.size() if item is not None else 0, _consistent()))
        return item


def scan(self, *args, **kwargs):
    with exclusive():
        return _scan(self, *args, **kwargs)


def all_items(self):
    override = getattr(_local, "all_items", None)
    return override() if override is not None else _all_items(self)


def query(self, hash_key, *args, **kwargs):
    index_name = kwargs.get("index_name") if "index_name" in kwargs else (args[6] if len(args) > 6 else None)
    if index_name is None:
        if hash_key is None or not self.range_key_attr:
            return _query(self, hash_key, *args, **kwargs)
        # A table Query reads its own partition only, under that partition's lock.
        with partitions([partition_key(self.name, hash_key)]):
            _local.all_items = lambda: list(self.items.get(hash_key, {}).values())
            try:
                results, scanned, last = _query(self, hash_key, *args, **kwargs)
            finally:
                _local.all_items = None
            CAPACITY.read(self.name, "", _partition_label(hash_key),
                          read_units(sum(r.size() for r in results), _consistent()))
            return results, scanned, last
    gsi = next((g for g in self.global_indexes if g.name == index_name), None)
    conditions = kwargs.get("hash_key_conditions") or []
    index = _index_of(self, gsi) if gsi is not None else None
    if index is None or len(index.hash_attrs) != 1 or (hash_key is None and not conditions):
        return _query(self, hash_key, *args, **kwargs)
    value = hash_key if hash_key is not None else conditions[0][1]
    entries = index.entries((value,))
    BACKEND.acquire_shared()
    _local.all_items = lambda: entries
    _local.projected = True
    try:
        results, scanned, last = _query(self, hash_key, *args, **kwargs)
    finally:
        _local.all_items = None
        _local.projected = False
        BACKEND.release_shared()
    CAPACITY.read(self.name, index_name, _partition_label(value),
                  read_units(sum(r.size() for r in results), False))
    return results, scanned, last


def _sorted_items(self, hash_key_attrs, range_key_attrs, items):
    # Entries of a patched index come in index order already (a stable sort of a sorted list
    # is a no-op, but still costs a key per item): skip it for them.
    if getattr(_local, "all_items", None) is not None and len(hash_key_attrs) > 1:
        return items
    return _orig_sorted_items(self, hash_key_attrs, range_key_attrs, items)


_orig_sorted_items = Table.sorted_items


# --- serialisation ---------------------------------------------------------------------------

# Answers that are plain DynamoDB JSON (attribute values, counts, keys, consumed capacity).
FAST_ACTIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
    "BatchWriteItem", "TransactWriteItems", "TransactGetItems",
})
_serialized = DynamoHandler.serialized


def _json_default(value):
    if isinstance(value, DynamoType):
        return value.to_json()
    if isinstance(value, Item):
        return value.to_json()["Attributes"]
    if isinstance(value, decimal.Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    raise TypeError(f"not serialisable: {type(value).__name__}")


def _without_nulls(value):
    # moto's shape-driven serializer leaves unset members out; so does this.
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def serialized(self, action_result):
    result = action_result.result
    if isinstance(result, Exception) or self._get_action() not in FAST_ACTIONS:
        return _serialized(self, action_result)
    body = json.dumps(_without_nulls(result), separators=(",", ":"), default=_json_default)
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    headers.update(self.response_headers)
    return 200, headers, body


# --- per-request overheads --------------------------------------------------------------------

_project = GlobalSecondaryIndex.project


def project(self, item):
    # Entries of a patched index are stored projected already: moto projects every result
    # again through a JSON round trip (measured: 4 % of the emulator's time under load).
    if getattr(_local, "all_items", None) is not None and getattr(_local, "projected", False):
        return item
    return _project(self, item)


def install():
    """Patches moto's DynamoDB backend (idempotent)."""
    if getattr(DynamoDBBackend, "_rota_patched", False):
        return
    DynamoDBBackend.put_item = put_item
    DynamoDBBackend.update_item = update_item
    DynamoDBBackend.delete_item = delete_item
    DynamoDBBackend.get_item = get_item
    DynamoDBBackend.scan = scan
    Table.all_items = all_items
    Table.query = query
    Table.sorted_items = _sorted_items
    DynamoHandler.serialized = serialized
    GlobalSecondaryIndex.project = project
    # moto lists a handler class's methods with inspect.getmembers on every request.
    from moto.core import responses as core_responses
    core_responses.method_names_from_class = functools.lru_cache(maxsize=None)(
        core_responses.method_names_from_class
    )
    DynamoDBBackend._rota_patched = True


def in_transaction(flag):
    """Starts (True) or ends (False) a transaction on this thread. At its end the items it
    touched are reindexed once, as they are then: written if it committed, as they were if it
    was cancelled and its items were restored (a no-op change). Called under the partition
    locks of its items."""
    if flag:
        _local.transaction = True
        _local.deferred = []
        return
    _local.transaction = False
    deferred, _local.deferred = getattr(_local, "deferred", []), []
    seen = set()
    for table, hash_key, range_key in deferred:
        key = (id(table), hash_key, range_key)
        if key not in seen:
            seen.add(key)
            reindex(table, hash_key, range_key)
