"""moto's server with DynamoDB's atomicity, and transactions that do not copy whole tables.

moto serves requests on threads and its DynamoDB backend takes no locks, so two concurrent
`ADD likes_count :one` updates (or a condition check and a racing write) can interleave and
lose an update -- something real DynamoDB never does: single-item writes and transactions are
atomic and serialised per item. This wrapper runs moto exactly as `moto_server` does but
serialises DynamoDB calls behind one lock. Other services (SQS long polling) stay concurrent.

moto's TransactWriteItems also deep-copies the whole table once per item of the transaction to
be able to roll back, so a transaction's cost grows with the table (hundreds of milliseconds at
10 000 items). Here a transaction snapshots only the items it touches and restores those if it
is cancelled; behaviour is unchanged (moto's own rollback then restores the same objects).
Likewise a Query on the table's own key reads every item of the table in moto; here it reads
only the items of the queried partition (the same result, in the same order).
"""

import argparse
import signal
import sys
import threading

import copy

from werkzeug.serving import run_simple
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

_transact_write_items = DynamoDBBackend.transact_write_items
_deepcopy = copy.deepcopy


def _touched_items(backend, transact_items):
    """(table, hash key, range key, deep copy of the item or None) for each item touched."""
    snapshots = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        source = op.get("Key") or op.get("Item")
        if not source or table.hash_key_attr not in source:
            return None
        hash_key = DynamoType(source[table.hash_key_attr])
        if table.range_key_attr:
            if table.range_key_attr not in source:
                return None
            range_key = DynamoType(source[table.range_key_attr])
            item = table.items.get(hash_key, {}).get(range_key)
        else:
            range_key = None
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


def transact_write_items(self, transact_items):
    snapshots = _touched_items(self, transact_items)
    if snapshots is None:  # an unexpected shape: moto's own (slow, safe) way
        return _transact_write_items(self, transact_items)
    # Calls are serialised (see SerialiseDynamoDB), so swapping deepcopy here is safe.
    dynamodb_models.copy.deepcopy = lambda obj, memo=None: obj if isinstance(obj, Table) else _deepcopy(obj, memo)
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        _restore(snapshots)
        raise
    finally:
        dynamodb_models.copy.deepcopy = _deepcopy


DynamoDBBackend.transact_write_items = transact_write_items

_query = Table.query


def query(self, hash_key, *args, **kwargs):
    index_name = kwargs.get("index_name") if "index_name" in kwargs else (args[6] if len(args) > 6 else None)
    if index_name is not None or hash_key is None or not self.range_key_attr:
        return _query(self, hash_key, *args, **kwargs)
    # Calls are serialised, so shadowing all_items on this instance for one call is safe.
    self.all_items = lambda: list(self.items.get(hash_key, {}).values())
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


Table.query = query

_dynamodb = threading.Lock()


class SerialiseDynamoDB:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with _dynamodb:
                # Consume the whole response inside the lock.
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        SerialiseDynamoDB(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
