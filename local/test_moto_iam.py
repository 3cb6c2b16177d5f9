"""IAM in the AWS emulator wrapper (local/moto_iam.py).

    .venv/bin/python -m unittest local/test_moto_iam.py -v      (from the repo root)

Starts one wrapper with --iam on a free port, creates a table, a queue and a parameter as the
administrator (no session token), gives roles through /_rota/iam/roles, and calls with each
role's temporary credentials through boto3 (the SigV4 signing every SDK does), checking what
AWS would allow and refuse. The condition evaluator is also checked on its own.
"""

import json
import sys
import unittest
import urllib.request
from pathlib import Path

from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import moto_iam  # noqa: E402
from wrapper_process import ACCOUNT, REGION, IamWrapperTest, role  # noqa: E402

TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Things"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs"
PARAMETER_ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/app/secret"


class IamEmulator(IamWrapperTest):
    @classmethod
    def setUpClass(cls):
        cls.start(name="moto-iam")
        admin = cls.client("dynamodb", "admin", "admin")
        admin.create_table(
            TableName="Things", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"},
                                  {"AttributeName": "feed", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[{"IndexName": "by-feed", "KeySchema": [{"AttributeName": "feed", "KeyType": "HASH"}],
                                     "Projection": {"ProjectionType": "KEYS_ONLY"}}])
        cls.queue_url = cls.client("sqs", "admin", "admin").create_queue(QueueName="jobs")["QueueUrl"]
        cls.client("ssm", "admin", "admin").put_parameter(Name="/app/secret", Value="s3cr3t", Type="SecureString")
        cls.post("/_rota/iam/roles", {
            "stack": "test",
            "functions": {"ReaderFunction": "ReaderRole"},
            "roles": {
                "ReaderRole": role(
                    {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": TABLE_ARN},
                    {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": f"{TABLE_ARN}/index/by-feed"},
                    {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": PARAMETER_ARN}),
                "WriterRole": role(
                    {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"], "Resource": TABLE_ARN,
                     "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["PK", "SK", "count", "name"]}}},
                    {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": TABLE_ARN},
                    {"Effect": "Allow", "Action": "dynamodb:*", "Resource": TABLE_ARN,
                     "Condition": {"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": ["open"]}}}),
                "WorkerRole": role(
                    {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"], "Resource": QUEUE_ARN}),
                "ManagedRole": role(managed=["arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"]),
            }})

    @classmethod
    def usage(cls):
        with urllib.request.urlopen(cls.endpoint + "/_rota/iam") as response:
            return json.load(response)

    def as_role(self, service, role_name=None, function=None):
        creds = self.post("/_rota/iam/assume",
                          {"role": role_name} if role_name else {"stack": "test", "function": function})
        return self.client(service, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

    def denied(self, call, *args, **kwargs):
        with self.assertRaises(ClientError) as refused:
            call(*args, **kwargs)
        return refused.exception.response["Error"]

    def test_a_granted_call_runs_and_an_ungranted_one_is_access_denied(self):
        db = self.as_role("dynamodb", function="ReaderFunction")
        db.get_item(TableName="Things", Key={"PK": {"S": "a"}, "SK": {"S": "b"}})
        error = self.denied(db.put_item, TableName="Things", Item={"PK": {"S": "a"}, "SK": {"S": "b"}})
        self.assertEqual(error["Code"], "AccessDeniedException")
        self.assertIn("assumed-role/ReaderRole/", error["Message"])
        self.assertIn(f"dynamodb:PutItem on resource: {TABLE_ARN}", error["Message"])
        # Refused calls change nothing.
        admin = self.client("dynamodb", "admin", "admin")
        self.assertNotIn("Item", admin.get_item(TableName="Things", Key={"PK": {"S": "a"}, "SK": {"S": "b"}}))

    def test_an_index_is_its_own_resource(self):
        db = self.as_role("dynamodb", "ReaderRole")
        db.query(TableName="Things", IndexName="by-feed", KeyConditionExpression="feed = :f",
                 ExpressionAttributeValues={":f": {"S": "x"}})
        error = self.denied(db.query, TableName="Things", KeyConditionExpression="PK = :p",
                            ExpressionAttributeValues={":p": {"S": "x"}})
        self.assertIn(f"dynamodb:Query on resource: {TABLE_ARN} ", error["Message"])

    def test_attribute_conditions_limit_what_a_write_may_touch(self):
        db = self.as_role("dynamodb", "WriterRole")
        db.put_item(TableName="Things", Item={"PK": {"S": "u1"}, "SK": {"S": "p"}, "name": {"S": "Ada"}})
        db.update_item(TableName="Things", Key={"PK": {"S": "u1"}, "SK": {"S": "p"}},
                       UpdateExpression="ADD #c :one", ExpressionAttributeNames={"#c": "count"},
                       ExpressionAttributeValues={":one": {"N": "1"}})
        error = self.denied(db.update_item, TableName="Things", Key={"PK": {"S": "u1"}, "SK": {"S": "p"}},
                            UpdateExpression="SET #r = :admin", ExpressionAttributeNames={"#r": "role"},
                            ExpressionAttributeValues={":admin": {"S": "admin"}})
        self.assertEqual(error["Code"], "AccessDeniedException")
        # An attribute named only in the condition counts too.
        self.denied(db.put_item, TableName="Things", Item={"PK": {"S": "u2"}, "SK": {"S": "p"}},
                    ConditionExpression="attribute_not_exists(secret)")
        # A transaction is authorised item by item, with the same conditions.
        self.denied(db.transact_write_items, TransactItems=[
            {"Put": {"TableName": "Things", "Item": {"PK": {"S": "u3"}, "SK": {"S": "p"}}}},
            {"Update": {"TableName": "Things", "Key": {"PK": {"S": "u1"}, "SK": {"S": "p"}},
                        "UpdateExpression": "SET #r = :a", "ExpressionAttributeNames": {"#r": "role"},
                        "ExpressionAttributeValues": {":a": {"S": "admin"}}}}])
        admin = self.client("dynamodb", "admin", "admin")
        self.assertNotIn("Item", admin.get_item(TableName="Things", Key={"PK": {"S": "u3"}, "SK": {"S": "p"}}))
        self.assertNotIn("role", admin.get_item(TableName="Things", Key={"PK": {"S": "u1"}, "SK": {"S": "p"}})["Item"])

    def test_an_explicit_deny_wins_over_an_allow(self):
        db = self.as_role("dynamodb", "WriterRole")
        # dynamodb:* on the partition "open" allows it, the Deny refuses it.
        error = self.denied(db.delete_item, TableName="Things", Key={"PK": {"S": "open"}, "SK": {"S": "x"}})
        self.assertIn("explicit deny", error["Message"])
        db.get_item(TableName="Things", Key={"PK": {"S": "open"}, "SK": {"S": "x"}})
        self.denied(db.get_item, TableName="Things", Key={"PK": {"S": "closed"}, "SK": {"S": "x"}})

    def test_sqs_batches_are_authorised_as_the_single_call_on_the_queue(self):
        sqs = self.as_role("sqs", "WorkerRole")
        admin = self.client("sqs", "admin", "admin")
        admin.send_message(QueueUrl=self.queue_url, MessageBody="hello")
        messages = sqs.receive_message(QueueUrl=self.queue_url, WaitTimeSeconds=1).get("Messages", [])
        self.assertEqual(len(messages), 1)
        sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
            {"Id": "1", "ReceiptHandle": messages[0]["ReceiptHandle"]}])
        error = self.denied(sqs.send_message, QueueUrl=self.queue_url, MessageBody="no")
        self.assertEqual(error["Code"], "AccessDenied")

    def test_managed_policies_are_aws_own_text(self):
        # AWSLambdaSQSQueueExecutionRole: ReceiveMessage on every queue (Resource "*").
        sqs = self.as_role("sqs", "ManagedRole")
        sqs.receive_message(QueueUrl=self.queue_url, WaitTimeSeconds=0)
        self.denied(sqs.send_message, QueueUrl=self.queue_url, MessageBody="no")

    def test_ssm_parameters_are_resources_by_name(self):
        ssm = self.as_role("ssm", "ReaderRole")
        value = ssm.get_parameter(Name="/app/secret", WithDecryption=True)["Parameter"]["Value"]
        self.assertEqual(value, "s3cr3t")
        self.client("ssm", "admin", "admin").put_parameter(Name="/app/other", Value="x", Type="String")
        error = self.denied(ssm.get_parameter, Name="/app/other")
        self.assertEqual(error["Code"], "AccessDeniedException")

    def test_a_wrong_secret_or_token_is_refused_before_any_policy(self):
        creds = self.post("/_rota/iam/assume", {"role": "ReaderRole"})
        forged = self.client("dynamodb", creds["AccessKeyId"], "not-the-secret", creds["SessionToken"])
        error = self.denied(forged.get_item, TableName="Things", Key={"PK": {"S": "a"}, "SK": {"S": "b"}})
        self.assertEqual(error["Code"], "InvalidSignatureException")
        stolen = self.client("dynamodb", creds["AccessKeyId"], creds["SecretAccessKey"], "another-token")
        error = self.denied(stolen.get_item, TableName="Things", Key={"PK": {"S": "a"}, "SK": {"S": "b"}})
        self.assertEqual(error["Code"], "UnrecognizedClientException")

    def test_a_role_call_this_layer_cannot_check_is_refused_not_passed(self):
        creds = self.post("/_rota/iam/assume", {"role": "ReaderRole"})
        sts = self.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        # STS speaks XML: the refusal (JSON) does not even parse as an answer.
        with self.assertRaises(Exception) as refused:
            sts.get_caller_identity()
        self.assertIn("AccessDeniedException", str(refused.exception))

    def test_stripping_a_role_refuses_what_it_allowed(self):
        self.post("/_rota/iam/roles", {"roles": {"ScratchRole": role(
            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE_ARN})}})
        db = self.as_role("dynamodb", "ScratchRole")
        db.get_item(TableName="Things", Key={"PK": {"S": "a"}, "SK": {"S": "b"}})
        self.post("/_rota/iam/roles/ScratchRole/policies", {}, method="DELETE")
        self.denied(db.get_item, TableName="Things", Key={"PK": {"S": "a"}, "SK": {"S": "b"}})

    def test_usage_names_the_statements_actions_and_attributes_used(self):
        db = self.as_role("dynamodb", "WriterRole")
        db.put_item(TableName="Things", Item={"PK": {"S": "u9"}, "SK": {"S": "p"}, "name": {"S": "Bo"}})
        statements = self.usage()["roles"]["WriterRole"]["statements"]
        used = statements["Inline#0"]
        self.assertGreaterEqual(used["actions"]["dynamodb:PutItem"], 1)
        self.assertLessEqual({"PK", "SK", "name"}, set(used["attributes"]))
        denied = self.usage()["roles"].get("ReaderRole", {}).get("denied", {})
        self.assertIsInstance(denied, dict)

    def test_a_policy_the_layer_cannot_evaluate_is_refused_at_creation(self):
        for statement in (
            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE_ARN,
             "Condition": {"NumericLessThan": {"dynamodb:Attributes": "3"}}},
            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE_ARN,
             "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1"}}},
            {"Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "Resource": TABLE_ARN},
        ):
            with self.assertRaises(urllib.error.HTTPError) as refused:
                self.post("/_rota/iam/roles", {"roles": {"BadRole": role(statement)}})
            self.assertEqual(refused.exception.code, 400)


class Conditions(unittest.TestCase):
    """IAM's condition semantics, on their own."""

    def statement(self, condition):
        return moto_iam.Statement("P", 0, {"Effect": "Allow", "Action": "dynamodb:UpdateItem",
                                           "Resource": "*", "Condition": condition}, managed=False)

    def test_for_all_values_holds_when_every_value_is_listed_and_when_none_is_given(self):
        st = self.statement({"ForAllValues:StringEquals": {"dynamodb:Attributes": ["PK", "SK", "a"]}})
        self.assertTrue(st.conditions_hold({"dynamodb:Attributes": ["PK", "a"]}))
        self.assertFalse(st.conditions_hold({"dynamodb:Attributes": ["PK", "role"]}))
        self.assertTrue(st.conditions_hold({}))

    def test_for_any_value_needs_one_listed_value(self):
        st = self.statement({"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["USER#*"]}})
        self.assertTrue(st.conditions_hold({"dynamodb:LeadingKeys": ["USER#1"]}))
        self.assertFalse(st.conditions_hold({"dynamodb:LeadingKeys": ["POST#1"]}))
        self.assertFalse(st.conditions_hold({}))

    def test_if_exists_and_null(self):
        st = self.statement({"StringEqualsIfExists": {"dynamodb:ReturnValues": ["NONE", "UPDATED_NEW"]}})
        self.assertTrue(st.conditions_hold({}))
        self.assertTrue(st.conditions_hold({"dynamodb:ReturnValues": "NONE"}))
        self.assertFalse(st.conditions_hold({"dynamodb:ReturnValues": "ALL_OLD"}))
        st = self.statement({"Null": {"dynamodb:Select": "true"}})
        self.assertTrue(st.conditions_hold({}))
        self.assertFalse(st.conditions_hold({"dynamodb:Select": "ALL_ATTRIBUTES"}))

    def test_a_failed_condition_makes_an_allow_not_apply_rather_than_deny(self):
        allow = self.statement({"ForAllValues:StringEquals": {"dynamodb:Attributes": ["PK"]}})
        broad = moto_iam.Statement("Q", 0, {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}, managed=False)
        decision = moto_iam.evaluate([allow, broad], "dynamodb:UpdateItem", "arn:x", {"dynamodb:Attributes": ["role"]})
        self.assertTrue(decision.allowed)
        self.assertEqual([st.id for st, _, _ in decision.allowing], ["Q#0"])

    def test_wildcards_are_iams_not_regular_expressions(self):
        self.assertTrue(moto_iam._wildcard("arn:aws:dynamodb:*:*:table/T/index/*", "arn:aws:dynamodb:r:1:table/T/index/i"))
        self.assertFalse(moto_iam._wildcard("arn:aws:sqs:r:1:a.b", "arn:aws:sqs:r:1:aXb"))
        self.assertTrue(moto_iam._wildcard("dynamodb:Get?tem", "dynamodb:GetItem"))

    def test_expression_attributes_are_the_top_level_names(self):
        names = {"#r": "role", "#n": "name"}
        self.assertEqual(moto_iam.expression_attributes(
            "SET #r = :r, a.b[0] = if_not_exists(c, :z) + :one REMOVE d ADD #n :n", names),
            {"role", "a", "c", "d", "name"})
        self.assertEqual(moto_iam.expression_attributes(
            "attribute_not_exists(PK) AND (active_hour < :h OR size(tags) > :n) AND x BETWEEN :a AND :b", {}),
            {"PK", "active_hour", "tags", "x"})


if __name__ == "__main__":
    unittest.main()
