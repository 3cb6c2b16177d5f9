"""The patched emulator answers exactly as unpatched moto does, only faster and concurrently.

Two servers get the same calls: moto's own `moto_server` and the wrapper (local/moto_server.py
with moto_patches.py). Every answer of the same call must be equal (items, order, counts,
LastEvaluatedKey), once the wrapper's indexes have caught up: the one intended difference is
that the wrapper's global secondary indexes lag writes (moto_rules.py, 100 ms by default), so
index Queries are compared after that lag, as a client reading its own writes would wait
(local/test_moto_rules.py tests the lag itself). The other rules of moto_rules.py (1 MB pages,
400 KB items, batch and transaction limits) are not met by these calls, over a table with the template's shape (PK/SK, sparse keys-only GSIs with
numeric sort keys) and a random history of puts, updates that move items between index
partitions, deletes, conditional writes and transactions. Then what only the patched one can
do: concurrent writes on one item lose nothing, transactions stay atomic, capacity is charged
to the right partitions.

    .venv/bin/python -m unittest local/test_moto_patches.py -v
"""

import json
import random
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(HERE))
import moto_rules  # noqa: E402

# Longer than the wrapper's index lag: its indexes have every write by then.
INDEX_SETTLED_S = moto_rules.DEFAULT_GSI_LAG_MS / 1000 + 0.05


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd, port):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{cmd} did not start")


def _client(port):
    return boto3.client(
        "dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, max_pool_connections=64),
    )


def _create_table(db):
    db.create_table(
        TableName="T",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": t}
            for n, t in [("PK", "S"), ("SK", "S"), ("feed", "S"), ("id", "N"),
                         ("top_feed", "S"), ("top_score", "N"), ("owner", "S")]
        ],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {"IndexName": "feed-new", "Projection": {"ProjectionType": "KEYS_ONLY"},
             "KeySchema": [{"AttributeName": "feed", "KeyType": "HASH"}, {"AttributeName": "id", "KeyType": "RANGE"}]},
            {"IndexName": "feed-top", "Projection": {"ProjectionType": "KEYS_ONLY"},
             "KeySchema": [{"AttributeName": "top_feed", "KeyType": "HASH"},
                           {"AttributeName": "top_score", "KeyType": "RANGE"}]},
            {"IndexName": "by-owner", "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}]},
        ],
    )


def _history(seed, n=400):
    """A deterministic list of write calls (operation, kwargs)."""
    rng = random.Random(seed)
    calls = []
    for i in range(n):
        post = rng.randrange(60)
        key = {"PK": {"S": f"POST#{post}"}, "SK": {"S": rng.choice(["POST", "COUNTS", f"LIKE#{rng.randrange(5)}"])}}
        kind = rng.random()
        if kind < 0.45:
            item = dict(key, owner={"S": f"U{post % 7}"}, body={"S": "x" * rng.randrange(1, 3000)})
            if key["SK"]["S"] == "POST" and rng.random() < 0.8:
                item.update(feed={"S": f"FEED#{post % 3}"}, id={"N": str(post * 10 + rng.randrange(3))})
            if key["SK"]["S"] == "COUNTS" and rng.random() < 0.8:
                item.update(top_feed={"S": f"FEED#{post % 3}"}, top_score={"N": str(rng.randrange(5) * 1000 + post)})
            calls.append(("put_item", {"TableName": "T", "Item": item}))
        elif kind < 0.7:
            calls.append(("update_item", {
                "TableName": "T", "Key": key,
                "UpdateExpression": "ADD top_score :s SET top_feed = :f",
                "ExpressionAttributeValues": {":s": {"N": str(rng.choice([-1000, 1000]))}, ":f": {"S": f"FEED#{rng.randrange(3)}"}},
            }))
        elif kind < 0.8:
            calls.append(("update_item", {"TableName": "T", "Key": key, "UpdateExpression": "REMOVE feed, top_feed"}))
        elif kind < 0.9:
            calls.append(("delete_item", {"TableName": "T", "Key": key,
                                          "ConditionExpression": "attribute_exists(PK)"}))
        else:
            other = {"PK": {"S": f"POST#{rng.randrange(60)}"}, "SK": {"S": "COUNTS"}}
            calls.append(("transact_write_items", {"TransactItems": [
                {"Put": {"TableName": "T", "Item": dict(key, owner={"S": "U9"}),
                         "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Update": {"TableName": "T", "Key": other, "UpdateExpression": "ADD top_score :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            ]}))
    return calls


def _queries():
    """Read calls whose answers must be equal."""
    out = []
    for feed in range(3):
        for index, sort in (("feed-new", "id"), ("feed-top", "top_score")):
            for forward in (True, False):
                out.append({"TableName": "T", "IndexName": index, "ScanIndexForward": forward,
                            "KeyConditionExpression": "#f = :f",
                            "ExpressionAttributeNames": {"#f": "feed" if index == "feed-new" else "top_feed"},
                            "ExpressionAttributeValues": {":f": {"S": f"FEED#{feed}"}}})
                out.append({"TableName": "T", "IndexName": index, "ScanIndexForward": forward, "Limit": 4,
                            "KeyConditionExpression": "#f = :f AND #s < :x",
                            "ExpressionAttributeNames": {"#f": "feed" if index == "feed-new" else "top_feed", "#s": sort},
                            "ExpressionAttributeValues": {":f": {"S": f"FEED#{feed}"}, ":x": {"N": "3500"}}})
                out.append({"TableName": "T", "IndexName": index, "Select": "COUNT",
                            "KeyConditionExpression": "#f = :f AND #s >= :x",
                            "ExpressionAttributeNames": {"#f": "feed" if index == "feed-new" else "top_feed", "#s": sort},
                            "ExpressionAttributeValues": {":f": {"S": f"FEED#{feed}"}, ":x": {"N": "200"}}})
    for owner in range(8):
        out.append({"TableName": "T", "IndexName": "by-owner", "Limit": 7,
                    "KeyConditionExpression": "#o = :o", "ExpressionAttributeNames": {"#o": "owner"},
                    "ExpressionAttributeValues": {":o": {"S": f"U{owner}"}},
                    "FilterExpression": "attribute_exists(body)"})
    for post in range(0, 60, 7):
        out.append({"TableName": "T", "KeyConditionExpression": "PK = :p AND begins_with(SK, :l)",
                    "ExpressionAttributeValues": {":p": {"S": f"POST#{post}"}, ":l": {"S": "LIKE#"}}})
    return out


def _page_all(db, query):
    """Every page of a query, following LastEvaluatedKey."""
    pages, start = [], None
    for _ in range(100):
        q = dict(query, **({"ExclusiveStartKey": start} if start else {}))
        out = db.query(**q)
        pages.append({k: out.get(k) for k in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
        start = out.get("LastEvaluatedKey")
        if not start:
            return pages
    raise AssertionError("too many pages")


def _apply(db, calls):
    answers = []
    for op, kwargs in calls:
        try:
            getattr(db, op)(**kwargs)
            answers.append("ok")
        except db.exceptions.ClientError as e:
            answers.append(e.response["Error"]["Code"])
    return answers


class PatchedAnswersAsMotoDoes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.procs = []
        cls.plain_port, cls.patched_port = _free_port(), _free_port()
        cls.procs.append(_start([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(cls.plain_port)],
                                cls.plain_port))
        cls.procs.append(_start([sys.executable, str(HERE / "moto_server.py"), "-H", "127.0.0.1",
                                 "-p", str(cls.patched_port)], cls.patched_port))
        cls.plain, cls.patched = _client(cls.plain_port), _client(cls.patched_port)

    @classmethod
    def tearDownClass(cls):
        for p in cls.procs:
            p.terminate()
            p.wait(timeout=10)

    def test_the_same_history_gives_the_same_answers_and_the_same_queries(self):
        for db in (self.plain, self.patched):
            _create_table(db)
        calls = _history(seed=11)
        self.assertEqual(_apply(self.plain, calls), _apply(self.patched, calls))
        time.sleep(INDEX_SETTLED_S)
        compared = 0
        for query in _queries():
            self.assertEqual(_page_all(self.plain, query), _page_all(self.patched, query), query)
            compared += 1
        # Scans and item reads agree too.
        scan = lambda db: sorted(json.dumps(i, sort_keys=True) for i in db.scan(TableName="T")["Items"])
        self.assertEqual(scan(self.plain), scan(self.patched))
        for post in range(60):
            key = {"PK": {"S": f"POST#{post}"}, "SK": {"S": "COUNTS"}}
            self.assertEqual(self.plain.get_item(TableName="T", Key=key).get("Item"),
                             self.patched.get_item(TableName="T", Key=key).get("Item"))
        self.assertGreater(compared, 40)
        # Answers with bodies: returned values, batches, consumed capacity.
        key = {"PK": {"S": "POST#3"}, "SK": {"S": "COUNTS"}}
        for db in (self.plain, self.patched):
            db.put_item(TableName="T", Item=dict(key, n={"N": "1"}, tags={"SS": ["a", "b"]}))
        calls = [
            ("update_item", dict(TableName="T", Key=key, UpdateExpression="ADD n :one",
                                 ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="ALL_NEW",
                                 ReturnConsumedCapacity="INDEXES")),
            ("put_item", dict(TableName="T", Item=dict(key, n={"N": "7"}), ReturnValues="ALL_OLD")),
            ("delete_item", dict(TableName="T", Key=key, ReturnValues="ALL_OLD")),
            ("batch_get_item", dict(RequestItems={"T": {"Keys": [
                {"PK": {"S": f"POST#{p}"}, "SK": {"S": "POST"}} for p in range(0, 60, 5)]}})),
            ("query", dict(TableName="T", IndexName="feed-new", ReturnConsumedCapacity="TOTAL",
                           KeyConditionExpression="feed = :f", ExpressionAttributeValues={":f": {"S": "FEED#1"}})),
        ]
        for op, kwargs in calls:
            answers = []
            for db in (self.plain, self.patched):
                if op == "query":
                    time.sleep(INDEX_SETTLED_S)
                out = getattr(db, op)(**kwargs)
                out.pop("ResponseMetadata")
                if op == "batch_get_item":
                    out["Responses"]["T"].sort(key=lambda i: json.dumps(i, sort_keys=True))
                answers.append(out)
            self.assertEqual(answers[0], answers[1], op)


class PatchedIsConcurrentAndCharges(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = _free_port()
        cls.proc = _start([sys.executable, str(HERE / "moto_server.py"), "-H", "127.0.0.1", "-p", str(cls.port)],
                          cls.port)
        cls.db = _client(cls.port)
        _create_table(cls.db)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(timeout=10)

    def test_concurrent_adds_on_one_item_and_transactions_lose_nothing(self):
        key = {"PK": {"S": "HOT"}, "SK": {"S": "COUNTS"}}
        errors = []

        def work(i):
            try:
                for _ in range(20):
                    self.db.update_item(TableName="T", Key=key, UpdateExpression="ADD n :one",
                                        ExpressionAttributeValues={":one": {"N": "1"}})
                    self.db.transact_write_items(TransactItems=[
                        {"Update": {"TableName": "T", "Key": key, "UpdateExpression": "ADD m :one",
                                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                        {"Update": {"TableName": "T", "Key": {"PK": {"S": f"COLD#{i}"}, "SK": {"S": "X"}},
                                    "UpdateExpression": "ADD m :one",
                                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                    ])
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        item = self.db.get_item(TableName="T", Key=key, ConsistentRead=True)["Item"]
        self.assertEqual((item["n"]["N"], item["m"]["N"]), ("320", "320"))

    def test_a_cancelled_transaction_leaves_items_and_indexes_as_they_were(self):
        post = {"PK": {"S": "POST#tx"}, "SK": {"S": "POST"}, "feed": {"S": "FEED#tx"}, "id": {"N": "1"}}
        self.db.put_item(TableName="T", Item=post)
        time.sleep(INDEX_SETTLED_S)
        with self.assertRaises(self.db.exceptions.TransactionCanceledException):
            self.db.transact_write_items(TransactItems=[
                {"Update": {"TableName": "T", "Key": {"PK": post["PK"], "SK": post["SK"]},
                            "UpdateExpression": "REMOVE feed"}},
                {"ConditionCheck": {"TableName": "T", "Key": {"PK": {"S": "NOPE"}, "SK": {"S": "X"}},
                                    "ConditionExpression": "attribute_exists(PK)"}},
            ])
        found = self.db.query(TableName="T", IndexName="feed-new", KeyConditionExpression="feed = :f",
                              ExpressionAttributeValues={":f": {"S": "FEED#tx"}})["Items"]
        self.assertEqual([i["PK"]["S"] for i in found], ["POST#tx"])

    def test_capacity_lands_on_the_partitions_that_served_it(self):
        url = f"http://127.0.0.1:{self.port}/_rota/capacity"
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE")).read()
        big = {"PK": {"S": "CAP#1"}, "SK": {"S": "POST"}, "feed": {"S": "FEED#cap"}, "id": {"N": "5"},
               "body": {"S": "y" * 5000}}
        self.db.put_item(TableName="T", Item=big)  # 5 KB: 5 WCU; a keys-only entry: 1 WCU
        for _ in range(3):
            self.db.get_item(TableName="T", Key={"PK": big["PK"], "SK": big["SK"]})  # 2 × 0.5 RCU
        self.db.get_item(TableName="T", Key={"PK": big["PK"], "SK": big["SK"]}, ConsistentRead=True)  # 2 RCU
        self.db.query(TableName="T", IndexName="feed-new", KeyConditionExpression="feed = :f",
                      ExpressionAttributeValues={":f": {"S": "FEED#cap"}})  # 0.5 RCU
        report = json.loads(urllib.request.urlopen(url).read())["partitions"]
        by = {(p["index"], p["partition"]): p for p in report}
        table = by[(None, "CAP#1")]
        self.assertEqual((table["wcu"], table["rcu"], table["writes"], table["reads"]), (5, 5.0, 1, 4))
        index = by[("feed-new", "FEED#cap")]
        self.assertEqual((index["wcu"], index["rcu"]), (1, 0.5))


if __name__ == "__main__":
    unittest.main()
