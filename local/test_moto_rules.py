"""DynamoDB's rules that the emulator wrapper keeps whatever the fault profile (local/moto_rules.py).

    .venv/bin/python -m unittest local/test_moto_rules.py -v      (from the repo root)

Starts its own wrappers (local/moto-server) on free ports: one as `make run` starts it (no
flags: the default index lag), one with a 2 s lag (so "not yet visible" cannot be a matter of
timing), one with the lag off, one under a profile that sets it; talks to them with boto3,
retries off, and stops them at the end.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from botocore.config import Config
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
LAUNCHER = HERE / "moto-server"
sys.path.insert(0, str(HERE))
import moto_rules  # noqa: E402
from wrapper_process import NO_RETRIES, Wrapper, add, error, free_port, key, profile_file, stop_all  # noqa: E402

SLOW_LAG_MS = 2000  # a write stays invisible in the indexes for at least 1 s on that server
KB = 1024


class Server(Wrapper):
    def __init__(self, *args: str, env: dict | None = None):
        # The index lag comes from the flags here, never from the caller's environment.
        super().__init__(*args, name="moto-rules", env={"ROTA_GSI_LAG_MS": None, **(env or {})})

    def wait(self, timeout=60.0) -> None:
        self.wait_until(self.hold_report, timeout)

    def hold_report(self, spec: dict | None = None) -> dict:
        data = json.dumps(spec).encode() if spec is not None else None
        request = urllib.request.Request(f"{self.endpoint}/_rota/hold", data=data,
                                         method="POST" if data else "GET")
        with urllib.request.urlopen(request, timeout=5) as r:
            return json.load(r)

    def dynamodb(self, config: Config = NO_RETRIES):
        return self.client("dynamodb", config)


SERVERS: dict[str, Server] = {}
PROFILE_FILE = ""


def setUpModule():
    global PROFILE_FILE
    PROFILE_FILE = profile_file("profiles:\n  none: {}\n  lagging:\n    seed: 5\n    dynamodb:\n      gsi_lag_ms: 300\n")
    SERVERS["default"] = Server()
    SERVERS["slow"] = Server("--gsi-lag-ms", str(SLOW_LAG_MS))
    SERVERS["off"] = Server(env={"ROTA_GSI_LAG_MS": "0"})
    SERVERS["profile"] = Server("--faults-file", PROFILE_FILE, "--faults", "lagging", "--gsi-lag-ms", "7")
    for server in SERVERS.values():
        server.wait()


def tearDownModule():
    stop_all(SERVERS.values(), PROFILE_FILE)


def create_table(ddb, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t}
                              for a, t in [("pk", "S"), ("sk", "S"), ("g", "S"), ("r", "N")]],
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                 "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                               {"AttributeName": "r", "KeyType": "RANGE"}]}],
        BillingMode="PAY_PER_REQUEST",
    )


def in_index(ddb, table: str, g: str) -> list:
    out = ddb.query(TableName=table, IndexName="by-g", KeyConditionExpression="g = :g",
                    ExpressionAttributeValues={":g": {"S": g}})
    return [i["pk"]["S"] for i in out["Items"]]


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class TransactionInProgress(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = SERVERS["default"]
        cls.ddb = cls.server.dynamodb()
        create_table(cls.ddb, "tip")

    def counter(self, pk: str) -> int:
        item = self.ddb.get_item(TableName="tip", Key=key(pk), ConsistentRead=True).get("Item")
        return int(item["n"]["N"]) if item else 0

    def test_a_token_whose_first_attempt_still_runs_is_in_progress_then_replayed(self):
        token = str(uuid.uuid4())
        pk = f"held-{token}"
        self.server.hold_report({"operation": "TransactWriteItems", "match": pk, "ms": 1500})
        first = {}

        def attempt():
            first["out"] = self.server.dynamodb().transact_write_items(
                TransactItems=[add("tip", pk)], ClientRequestToken=token)

        thread = threading.Thread(target=attempt)
        thread.start()
        wait_until(lambda: self.server.hold_report()["held"] > 0 and not self.server.hold_report()["holds"])
        in_progress_before = self.server.hold_report()["in_progress"]
        e = error(lambda: self.ddb.transact_write_items(TransactItems=[add("tip", pk)], ClientRequestToken=token))
        self.assertEqual(e.response["Error"]["Code"], "TransactionInProgressException")
        self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(e.response["Error"]["Message"], moto_rules.IN_PROGRESS_MESSAGE)
        # Other parameters with a token in use: a mismatch, even while the first runs.
        e = error(lambda: self.ddb.transact_write_items(TransactItems=[add("tip", pk, by=2)],
                                                        ClientRequestToken=token))
        self.assertEqual(e.response["Error"]["Code"], "IdempotentParameterMismatchException")
        self.assertEqual(self.counter(pk), 0)  # the first attempt has not been applied yet
        thread.join(10)
        self.assertEqual(first["out"]["ResponseMetadata"]["HTTPStatusCode"], 200)
        # Finished: the repeat gets the first answer and applies nothing.
        again = self.ddb.transact_write_items(TransactItems=[add("tip", pk)], ClientRequestToken=token)
        self.assertEqual(again["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(self.counter(pk), 1)
        self.assertEqual(self.server.hold_report()["in_progress"], in_progress_before + 1)

    def test_an_attempt_its_caller_gave_up_on_still_commits_once(self):
        token = str(uuid.uuid4())
        pk = f"abandoned-{token}"
        self.server.hold_report({"operation": "TransactWriteItems", "match": pk, "ms": 1200})
        impatient = self.server.dynamodb(Config(retries={"mode": "standard", "total_max_attempts": 1},
                                              read_timeout=0.3))
        with self.assertRaises(Exception):  # a read timeout, as the SDK's attempt timeout
            impatient.transact_write_items(TransactItems=[add("tip", pk)], ClientRequestToken=token)
        codes = []
        for _ in range(200):
            try:
                self.ddb.transact_write_items(TransactItems=[add("tip", pk)], ClientRequestToken=token)
                codes.append("ok")
                break
            except ClientError as e:
                codes.append(e.response["Error"]["Code"])
                time.sleep(0.05)
        self.assertEqual(codes[-1], "ok")
        self.assertEqual(set(codes[:-1]), {"TransactionInProgressException"})
        self.assertEqual(self.counter(pk), 1)

    def test_without_a_token_nothing_is_tracked(self):
        pk = f"untracked-{uuid.uuid4()}"
        for _ in range(2):
            self.ddb.transact_write_items(TransactItems=[add("tip", pk)])
        self.assertEqual(self.counter(pk), 2)

    def test_a_deleted_hold_holds_nothing_more(self):
        pk = f"healed-{uuid.uuid4()}"
        self.server.hold_report({"operation": "GetItem", "match": pk, "ms": 1000, "times": 1000})
        request = urllib.request.Request(f"{self.server.endpoint}/_rota/hold", method="DELETE")
        with urllib.request.urlopen(request, timeout=5) as r:
            self.assertEqual([h for h in json.load(r)["holds"] if h["match"] == pk], [])
        held = self.server.hold_report()["held"]
        self.ddb.get_item(TableName="tip", Key=key(pk))
        self.assertEqual(self.server.hold_report()["held"], held)

    def test_the_hold_knob_refuses_nonsense(self):
        for spec in ({"operation": "GetItem", "match": "", "ms": 10}, {"operation": "GetItem", "match": "x"},
                     {"operation": "GetItem", "match": "x", "ms": 0}):
            with self.subTest(spec), self.assertRaises(urllib.error.HTTPError) as caught:
                self.server.hold_report(spec)
            self.assertEqual(caught.exception.code, 400)


class IndexLag(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.slow = SERVERS["slow"].dynamodb()
        create_table(cls.slow, "lag")

    def test_a_write_reaches_the_index_after_the_lag_old_entries_stay_until_then(self):
        ddb, pk = self.slow, f"item-{uuid.uuid4()}"
        ddb.put_item(TableName="lag", Item={**key(pk), "g": {"S": "G1"}, "r": {"N": "1"}})
        self.assertEqual(ddb.get_item(TableName="lag", Key=key(pk), ConsistentRead=True)["Item"]["g"]["S"], "G1")
        self.assertNotIn(pk, in_index(ddb, "lag", "G1"))  # the table has it; the index not yet
        wait_until(lambda: pk in in_index(ddb, "lag", "G1"))
        # Moved to another index partition: the old entry is still there, the new one not yet.
        ddb.update_item(TableName="lag", Key=key(pk), UpdateExpression="SET g = :g",
                        ExpressionAttributeValues={":g": {"S": "G2"}})
        self.assertIn(pk, in_index(ddb, "lag", "G1"))
        self.assertNotIn(pk, in_index(ddb, "lag", "G2"))
        wait_until(lambda: pk in in_index(ddb, "lag", "G2"))
        self.assertNotIn(pk, in_index(ddb, "lag", "G1"))
        # Deleted: the entry stays until the lag has passed.
        ddb.delete_item(TableName="lag", Key=key(pk))
        self.assertIn(pk, in_index(ddb, "lag", "G2"))
        wait_until(lambda: pk not in in_index(ddb, "lag", "G2"))

    def test_an_items_changes_arrive_in_order(self):
        ddb, pk = self.slow, f"order-{uuid.uuid4()}"
        for g in ("O1", "O2", "O3"):
            ddb.put_item(TableName="lag", Item={**key(pk), "g": {"S": g}, "r": {"N": "1"}})
        wait_until(lambda: pk in in_index(ddb, "lag", "O3"))
        self.assertEqual((in_index(ddb, "lag", "O1"), in_index(ddb, "lag", "O2")), ([], []))

    def test_a_cancelled_transaction_never_reaches_the_index(self):
        ddb, run = self.slow, uuid.uuid4()
        for n in range(8):  # each its own draws of the lag
            with self.assertRaises(ClientError):
                ddb.transact_write_items(TransactItems=[
                    {"Put": {"TableName": "lag", "Item": {**key(f"cancel-{run}-{n}"), "g": {"S": f"C{run}"},
                                                          "r": {"N": str(n)}}}},
                    {"ConditionCheck": {"TableName": "lag", "Key": key("missing"),
                                        "ConditionExpression": "attribute_exists(pk)"}},
                ])
        # Not even for a moment (neither its changes nor their undoing are ever queued).
        deadline = time.monotonic() + SLOW_LAG_MS / 1000 + 0.3
        while time.monotonic() < deadline:
            self.assertEqual(in_index(ddb, "lag", f"C{run}"), [])
            time.sleep(0.01)
        pk = f"cancel-{run}-0"
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "lag", "Item": {**key(pk), "g": {"S": f"C{run}"}, "r": {"N": "1"}}}}])
        self.assertEqual(in_index(ddb, "lag", f"C{run}"), [])
        wait_until(lambda: in_index(ddb, "lag", f"C{run}") == [pk])

    def test_consistent_read_on_a_global_index_is_refused_as_dynamodb_does(self):
        e = error(lambda: self.slow.query(TableName="lag", IndexName="by-g", ConsistentRead=True,
                                          KeyConditionExpression="g = :g",
                                          ExpressionAttributeValues={":g": {"S": "G1"}}))
        self.assertEqual(e.response["Error"]["Code"], "ValidationException")
        self.assertEqual(e.response["Error"]["Message"], "Consistent reads are not supported on global secondary indexes")
        # The table itself reads consistently.
        self.slow.query(TableName="lag", ConsistentRead=True, KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": {"S": "x"}})

    def test_the_lag_is_on_by_default_and_can_be_set_or_turned_off(self):
        self.assertIn("lag each write by 50..100 ms (seed 0)", SERVERS["default"].stderr())
        self.assertIn("lag each write by 0..0 ms", SERVERS["off"].stderr())
        self.assertIn("lag each write by 150..300 ms (seed 5)", SERVERS["profile"].stderr())  # profile wins
        self.assertIn(f"lag each write by {SLOW_LAG_MS // 2}..{SLOW_LAG_MS} ms", SERVERS["slow"].stderr())
        off = SERVERS["off"].dynamodb()
        create_table(off, "nolag")
        off.put_item(TableName="nolag", Item={**key("a"), "g": {"S": "G"}, "r": {"N": "1"}})
        self.assertEqual(in_index(off, "nolag", "G"), ["a"])  # at once
        default = SERVERS["default"].dynamodb()
        create_table(default, "deflag")
        default.put_item(TableName="deflag", Item={**key("a"), "g": {"S": "G"}, "r": {"N": "1"}})
        wait_until(lambda: in_index(default, "deflag", "G") == ["a"], timeout=5)

    def test_bad_lag_settings_stop_the_wrapper(self):
        for args, env, word in ((["--gsi-lag-ms", "-1"], {}, "--gsi-lag-ms"),
                                ([], {"ROTA_GSI_LAG_MS": "soon"}, "ROTA_GSI_LAG_MS")):
            run = subprocess.run([str(LAUNCHER), "-p", str(free_port()), *args], capture_output=True, text=True,
                                 timeout=60, env={**os.environ, **env})
            self.assertNotEqual(run.returncode, 0)
            self.assertIn(word, run.stderr)
        with tempfile.TemporaryDirectory() as d:
            path = Path(d, "f.yaml")
            path.write_text("profiles:\n  p: {dynamodb: {gsi_lag_ms: yes}}\n")
            import moto_server
            with self.assertRaisesRegex(moto_server.ProfileError, "gsi_lag_ms"):
                moto_server.load_profile(path, "p")


class SizesAndCounts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ddb = SERVERS["off"].dynamodb()
        create_table(cls.ddb, "size")

    def count(self, prefix: str) -> int:
        pages = self.ddb.get_paginator("scan").paginate(TableName="size", ProjectionExpression="pk")
        return sum(1 for page in pages for i in page["Items"] if i["pk"]["S"].startswith(prefix))

    def test_an_item_is_at_most_400_kb(self):
        # Names and values count: "pk" + "x" (3) + "sk" + "0" (3) + "b" (1) + the value.
        exact = {**key("x"), "b": {"S": "v" * (400 * KB - 7)}}
        self.ddb.put_item(TableName="size", Item=exact)
        e = error(lambda: self.ddb.put_item(TableName="size", Item={**exact, "b": {"S": "v" * (400 * KB - 6)}}))
        self.assertEqual((e.response["Error"]["Code"], e.response["Error"]["Message"]),
                         ("ValidationException", "Item size has exceeded the maximum allowed size"))
        e = error(lambda: self.ddb.update_item(TableName="size", Key=key("x"), UpdateExpression="SET c = :c",
                                               ExpressionAttributeValues={":c": {"S": "c"}}))
        self.assertEqual((e.response["Error"]["Code"], e.response["Error"]["Message"]),
                         ("ValidationException", "Item size to update has exceeded the maximum allowed size"))

    def test_a_transaction_has_at_most_100_actions_and_4_mb(self):
        actions = lambda n, prefix: [{"Put": {"TableName": "size", "Item": key(f"{prefix}{i}")}} for i in range(n)]  # noqa: E731
        self.ddb.transact_write_items(TransactItems=actions(100, "t100-"))
        self.assertEqual(self.count("t100-"), 100)
        e = error(lambda: self.ddb.transact_write_items(TransactItems=actions(101, "t101-")))
        self.assertEqual(e.response["Error"]["Code"], "ValidationException")
        self.assertIn("less than or equal to 100", e.response["Error"]["Message"])
        big = lambda n, prefix: [{"Put": {"TableName": "size", "Item": {**key(f"{prefix}{i}"), "b": {"S": "v" * (390 * KB)}}}}  # noqa: E731
                                 for i in range(n)]
        self.ddb.transact_write_items(TransactItems=big(10, "t4mb-"))  # 3.9 MB
        e = error(lambda: self.ddb.transact_write_items(TransactItems=big(11, "t5mb-")))  # 4.3 MB
        self.assertEqual(e.response["Error"]["Code"], "ValidationException")
        self.assertIn("4 MB", e.response["Error"]["Message"])
        self.assertEqual((self.count("t4mb-"), self.count("t5mb-")), (10, 0))
        # Updates count the items they touch: ten big stored items and one more make 4.3 MB.
        updates = [{"Update": {"TableName": "size", "Key": key(f"t4mb-{i}"), "UpdateExpression": "SET n = :n",
                               "ExpressionAttributeValues": {":n": {"N": "1"}}}} for i in range(10)]
        e = error(lambda: self.ddb.transact_write_items(TransactItems=updates + big(1, "t4mb+")))
        self.assertEqual(e.response["Error"]["Code"], "ValidationException")
        self.ddb.transact_write_items(TransactItems=updates)

    def test_batch_write_has_at_most_25_requests_and_16_mb_and_is_refused_whole(self):
        puts = lambda n, prefix, **extra: [{"PutRequest": {"Item": {**key(f"{prefix}{i}"), **extra}}}  # noqa: E731
                                           for i in range(n)]
        self.ddb.batch_write_item(RequestItems={"size": puts(25, "b25-")})
        self.assertEqual(self.count("b25-"), 25)
        e = error(lambda: self.ddb.batch_write_item(RequestItems={"size": puts(26, "b26-")}))
        self.assertEqual(e.response["Error"]["Code"], "ValidationException")
        self.assertIn("Member must have length less than or equal to 25", e.response["Error"]["Message"])
        oversized = puts(3, "bbig-") + [{"PutRequest": {"Item": {**key("bbig-x"), "b": {"S": "v" * (401 * KB)}}}}]
        e = error(lambda: self.ddb.batch_write_item(RequestItems={"size": oversized}))
        self.assertEqual(e.response["Error"]["Message"], "Item size has exceeded the maximum allowed size")
        self.assertEqual((self.count("b26-"), self.count("bbig-")), (0, 0))  # nothing written
        # 25 items of 120 KB of a character JSON spells in 6 bytes: an 18 MB request.
        e = error(lambda: self.ddb.batch_write_item(RequestItems={"size": puts(25, "b16-", b={"S": "\x01" * (120 * KB)})}))
        self.assertEqual(e.response["Error"]["Code"], "ValidationException")
        self.assertIn("16 MB", e.response["Error"]["Message"])
        self.assertEqual(self.count("b16-"), 0)

    def test_batch_get_has_at_most_100_keys_and_answers_16_mb_with_the_rest_unprocessed(self):
        e = error(lambda: self.ddb.batch_get_item(RequestItems={"size": {"Keys": [key(f"g{i}") for i in range(101)]}}))
        self.assertEqual(e.response["Error"]["Code"], "ValidationException")
        self.ddb.batch_get_item(RequestItems={"size": {"Keys": [key(f"g{i}") for i in range(100)]}})
        for start in range(0, 45, 25):
            self.ddb.batch_write_item(RequestItems={"size": [
                {"PutRequest": {"Item": {**key(f"g16-{i}"), "b": {"S": "v" * (390 * KB)}}}}
                for i in range(start, min(start + 25, 45))]})
        keys = [key(f"g16-{i}") for i in range(45)]  # 17.6 MB
        out = self.ddb.batch_get_item(RequestItems={"size": {"Keys": keys}})
        got = [i["pk"]["S"] for i in out["Responses"]["size"]]
        left = out["UnprocessedKeys"]["size"]["Keys"]
        self.assertEqual(len(got), 16 * 1024 // 390)  # 42 items fit in 16 MB
        self.assertEqual(len(got) + len(left), 45)
        again = self.ddb.batch_get_item(RequestItems={"size": {"Keys": left}})
        self.assertEqual(sorted(got + [i["pk"]["S"] for i in again["Responses"]["size"]]),
                         sorted(k["pk"]["S"] for k in keys))

    def test_query_and_scan_pages_end_at_1_mb_read_before_filters(self):
        ddb = SERVERS["off"].dynamodb()
        create_table(ddb, "pages")
        for start in range(0, 15, 5):
            ddb.batch_write_item(RequestItems={"pages": [
                {"PutRequest": {"Item": {**key("P", f"{i:02}"), "b": {"S": "v" * (100 * KB)}}}}
                for i in range(start, start + 5)]})
        query = dict(TableName="pages", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "P"}})
        first = ddb.query(**query)
        self.assertEqual(len(first["Items"]), 10)  # 10 × 100 KB fit in 1 MB, 11 do not
        self.assertEqual(first["LastEvaluatedKey"], key("P", "09"))
        rest = ddb.query(**query, ExclusiveStartKey=first["LastEvaluatedKey"])
        self.assertEqual((len(rest["Items"]), rest.get("LastEvaluatedKey")), (5, None))
        # The filter comes after the 1 MB: an empty page that still says where to go on.
        filtered = ddb.query(**query, FilterExpression="attribute_exists(nothing)")
        self.assertEqual((filtered["Items"], filtered["ScannedCount"]), ([], 10))
        self.assertEqual(filtered["LastEvaluatedKey"], key("P", "09"))
        scan = ddb.scan(TableName="pages", FilterExpression="attribute_exists(nothing)")
        self.assertEqual((scan["Items"], scan["ScannedCount"]), ([], 10))
        self.assertIn("LastEvaluatedKey", scan)


if __name__ == "__main__":
    unittest.main()
