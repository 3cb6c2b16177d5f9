"""IAM enforced in the emulator: every function's call checked against its execution role.

In AWS a Lambda function calls DynamoDB, SQS and SSM with its execution role's temporary
credentials, and each call is refused (AccessDeniedException) unless a statement of that role
allows the action on the resource. moto has an IAM mode (INITIAL_NO_AUTH_ACTION_COUNT) but it
checks DynamoDB and SSM calls against the resource "*" (so no statement naming a table or a
parameter ever matches), authorises TransactWriteItems as one action where DynamoDB
authorises each of its items as PutItem/UpdateItem/DeleteItem/ConditionCheckItem, and ignores
conditions (an Allow whose condition fails even turns into an explicit deny). This layer keeps
what moto does well and adds what it lacks:

- moto's own IAM and STS backends hold the roles, their inline and managed policies and the
  assumed-role sessions; moto's IAMRequest checks each request's SigV4 signature with the
  session's secret and token, as AWS does;
- the request is turned into the authorisation checks AWS makes (action, resource ARN and the
  DynamoDB condition keys `dynamodb:Attributes`, `dynamodb:LeadingKeys`, `dynamodb:Select`,
  `dynamodb:ReturnValues`), and each check is evaluated with IAM's rules: an explicit Deny
  wins, else an Allow whose action, resource and conditions all match, else an implicit deny.
  The condition operators are IAM's string, Null and Bool operators with the
  ForAllValues/ForAnyValue qualifiers and IfExists; a policy using anything else is refused
  when the role is created, so nothing is silently ignored;
- a refused call gets the service's own AccessDeniedException, and nothing of it runs.

Who is checked: requests signed with a session token (the functions' role credentials, as
Lambda provides them). Requests without one come from the stack itself, the tests and the
operator tools (rota-local creating tables, rota-admin): the account's administrator, allowed
everything, as `aws` with an administrator profile would be.

Control endpoints (loopback only, like /_rota/faults):
- POST /_rota/iam/roles   {"stack": name, "functions": {fn: role}, "roles": {role:
  {"AssumeRolePolicyDocument", "ManagedPolicyArns", "Policies": [{"PolicyName",
  "PolicyDocument"}]}}}: creates (or replaces) the roles, with every intrinsic already resolved
  and names of the stack's own (rota-local does both: two stacks may share one emulator, as
  two stacks share an account).
- POST /_rota/iam/assume  {"stack": name, "function": fn} or {"role": role}: the role's
  temporary credentials (sts:AssumeRole by the Lambda service): {"AccessKeyId",
  "SecretAccessKey", "SessionToken", "Role"}.
- DELETE /_rota/iam/roles/<role>/policies: detaches and deletes every policy of the role (the
  tests show a function's calls refused that way).
- GET /_rota/iam: what each role used and was refused since the start (or the last DELETE):
  {"enforced": true, "stacks": {stack: {fn: role}}, "roles": {role: {"statements": {"<policy>#<n>":
  {"calls": n, "actions": {action: n}, "resources": {resource: n}, "attributes": [...]}},
  "denied": {"<action> <resource>": n}}}}. DELETE /_rota/iam resets it.
"""

from __future__ import annotations

import json
from email.utils import parseaddr
import re
import threading
import traceback
from collections import Counter, defaultdict

from werkzeug.datastructures import EnvironHeaders

from moto_wsgi import read_body
from moto.iam.access_control import CreateAccessKeyFailure, IAMRequest
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

ACCOUNT = "123456789012"  # moto's default account: the stack's tables and queues live there
PARTITION = "aws"
# Lambda's role sessions last up to 12 hours; the local stack's live as long as the stack
# (instances are not refreshed), so the expiry is not enforced.
SESSION_SECONDS = 43200

SERVICES = {"DynamoDB_20120810": "dynamodb", "AmazonSQS": "sqs", "AmazonSSM": "ssm"}

# SES v2 is a REST protocol (no X-Amz-Target): its calls are known by method and path. Only
# SendEmail is made by a function.
SES_V2_CALLS = {("POST", "/v2/email/outbound-emails"): "SendEmail"}

# SQS authorises its batch calls as the single call (AWS: "permissions for the batch are the
# same as for the single action").
SQS_ACTION = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}

# The condition operators evaluated here (see the module's comment).
_STRING_OPERATORS = {
    "StringEquals": lambda value, pattern: value == pattern,
    "StringNotEquals": lambda value, pattern: value == pattern,
    "StringEqualsIgnoreCase": lambda value, pattern: value.lower() == pattern.lower(),
    "StringNotEqualsIgnoreCase": lambda value, pattern: value.lower() == pattern.lower(),
    "StringLike": lambda value, pattern: _wildcard(pattern, value),
    "StringNotLike": lambda value, pattern: _wildcard(pattern, value),
    "Bool": lambda value, pattern: value.lower() == pattern.lower(),
}
_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike"}
# Context keys that hold several values: only with ForAllValues/ForAnyValue.
_MULTIVALUED = {"dynamodb:Attributes", "dynamodb:LeadingKeys"}
_KNOWN_KEYS = _MULTIVALUED | {"dynamodb:Select", "dynamodb:ReturnValues"}


class PolicyError(ValueError):
    """A policy this layer cannot evaluate faithfully."""


def _compile(pattern: str, ignore_case: bool = False) -> re.Pattern:
    # IAM's wildcards: * any run of characters, ? one character; nothing else is special.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, (re.IGNORECASE if ignore_case else 0) | re.DOTALL)


def _wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _compile(pattern, ignore_case).fullmatch(value) is not None


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# --- evaluation ------------------------------------------------------------------------------

class Statement:
    """One statement of an identity policy, checked for what this layer can evaluate."""

    def __init__(self, policy: str, index: int, raw: dict, managed: bool):
        self.id = f"{policy}#{index}"
        self.managed = managed
        self.effect = raw.get("Effect")
        if self.effect not in ("Allow", "Deny"):
            raise PolicyError(f"{self.id}: Effect {self.effect!r}")
        for unsupported in ("NotAction", "NotResource", "Principal", "NotPrincipal"):
            if unsupported in raw:
                raise PolicyError(f"{self.id}: {unsupported} is not evaluated locally")
        self.actions = [a for a in _as_list(raw.get("Action")) if isinstance(a, str)]
        self.resources = [r for r in _as_list(raw.get("Resource")) if isinstance(r, str)]
        if not self.actions or not self.resources:
            raise PolicyError(f"{self.id}: a statement needs Action and Resource")
        # Compiled once: a role's statements are checked on every call it makes.
        self._actions = [(a, _compile(a, ignore_case=True)) for a in self.actions]
        self._resources = [(r, _compile(r)) for r in self.resources]
        self.conditions = []
        for operator, keys in (raw.get("Condition") or {}).items():
            qualifier, _, base = operator.rpartition(":")
            if_exists = base.endswith("IfExists")
            base = base.removesuffix("IfExists")
            if qualifier not in ("", "ForAllValues", "ForAnyValue"):
                raise PolicyError(f"{self.id}: condition qualifier {qualifier}")
            if base != "Null" and base not in _STRING_OPERATORS:
                raise PolicyError(f"{self.id}: condition operator {operator} is not evaluated locally")
            for key, values in keys.items():
                if not key.startswith("dynamodb:"):
                    # Keys of other services (kms:ViaService on a KMS grant) never reach here:
                    # their calls are not emulated; a DynamoDB/SQS/SSM statement with one would
                    # be evaluated wrongly, so it is refused.
                    if any(a.lower().startswith(("dynamodb:", "sqs:", "ssm:", "ses:")) for a in self.actions):
                        raise PolicyError(f"{self.id}: condition key {key} is not evaluated locally")
                    continue
                if key not in _KNOWN_KEYS:
                    raise PolicyError(f"{self.id}: condition key {key} is not evaluated locally")
                if key in _MULTIVALUED and not qualifier and base != "Null":
                    raise PolicyError(f"{self.id}: {key} has several values: use ForAllValues or ForAnyValue")
                self.conditions.append((qualifier, base, if_exists, key, [str(v) for v in _as_list(values)]))

    def matching_action(self, action: str):
        return next((a for a, regex in self._actions if regex.fullmatch(action)), None)

    def matching_resource(self, resource: str):
        return next((r for r, regex in self._resources if regex.fullmatch(resource)), None)

    def conditions_hold(self, context: dict) -> bool:
        return all(_condition(q, op, if_exists, key, values, context)
                   for q, op, if_exists, key, values in self.conditions)


def _condition(qualifier, operator, if_exists, key, policy_values, context) -> bool:
    present = key in context and context[key] is not None
    if operator == "Null":
        return any((v.lower() == "true") == (not present) for v in policy_values)
    if not present:
        # IAM: a missing key matches nothing, except for IfExists, negated operators and
        # ForAllValues (vacuously true, which is why such grants pair with Select below).
        return if_exists or operator in _NEGATED or qualifier == "ForAllValues"
    match = _STRING_OPERATORS[operator]  # StringLike compiles per call: only a few keys use it
    negated = operator in _NEGATED
    request_values = context[key] if isinstance(context[key], (list, set, tuple)) else [context[key]]
    request_values = [str(v) for v in request_values]

    def one(value):
        hit = any(match(value, p) for p in policy_values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in request_values)
    if qualifier == "ForAnyValue":
        return any(one(v) for v in request_values)
    return one(request_values[0])


class Decision:
    def __init__(self, allowed: bool, allowing: list, denying):
        self.allowed = allowed
        self.allowing = allowing  # [(statement, action pattern, resource pattern)]
        self.denying = denying


def evaluate(statements: list, action: str, resource: str, context: dict) -> Decision:
    allowing, denying = [], None
    for st in statements:
        action_pattern = st.matching_action(action)
        resource_pattern = st.matching_resource(resource) if action_pattern else None
        if resource_pattern is None or not st.conditions_hold(context):
            continue
        if st.effect == "Deny":
            denying = st
        else:
            allowing.append((st, action_pattern, resource_pattern))
    return Decision(denying is None and bool(allowing), allowing, denying)


# --- what a request asks for -----------------------------------------------------------------

_NAME = re.compile(r"#[A-Za-z0-9_]+|[A-Za-z_][A-Za-z0-9_]*|:[A-Za-z0-9_]+|\.|\(|\"[^\"]*\"")
_KEYWORDS = {"set", "remove", "add", "delete", "and", "or", "not", "between", "in"}


def expression_attributes(expression, names) -> set:
    """Top-level attribute names an expression names (`#alias` resolved; nested paths,
    values, keywords and functions left out)."""
    found = set()
    if not expression:
        return found
    tokens = _NAME.findall(expression)
    for i, token in enumerate(tokens):
        previous = tokens[i - 1] if i else ""
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token.startswith((":", ".", "(", '"')) or previous == ".":
            continue
        if token.startswith("#"):
            found.add((names or {}).get(token, token))
        elif token.lower() not in _KEYWORDS and following != "(":
            found.add(token)
    return found


def _key_schema(table_name: str):
    """(hash key, range key) attribute names of a table, or None when unknown."""
    for region_backends in _dynamodb_backends():
        table = region_backends.tables.get(table_name)
        if table is not None:
            return table.hash_key_attr, table.range_key_attr
    return None


def _dynamodb_backends():
    from moto.dynamodb.models import dynamodb_backends

    for region in ("us-east-1",):
        yield dynamodb_backends[ACCOUNT][region]


def _scalar(value) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        (kind, v), = value.items()
        if kind in ("S", "N", "B"):
            return str(v)
    return None


def _table_arn(region: str, table: str, index: str | None = None) -> str:
    if isinstance(table, str) and table.startswith("arn:"):
        arn = table
    else:
        arn = f"arn:{PARTITION}:dynamodb:{region}:{ACCOUNT}:table/{table}"
    return f"{arn}/index/{index}" if index else arn


def _item_context(table: str, key: dict, attributes: set, request: dict) -> dict:
    schema = _key_schema(table)
    context = {}
    if schema is not None:
        hash_attr, range_attr = schema
        key_attrs = {hash_attr, *([range_attr] if range_attr else [])}
        context["dynamodb:Attributes"] = sorted(attributes | key_attrs)
        leading = _scalar((key or {}).get(hash_attr))
        if leading is not None:
            context["dynamodb:LeadingKeys"] = [leading]
    if request.get("ReturnValues"):
        context["dynamodb:ReturnValues"] = request["ReturnValues"]
    if request.get("Select"):
        context["dynamodb:Select"] = request["Select"]
    return context


def _write_check(action: str, region: str, op: dict) -> tuple:
    """The check of one item write (PutItem/UpdateItem/DeleteItem/ConditionCheckItem)."""
    table = op.get("TableName", "")
    names = op.get("ExpressionAttributeNames")
    attributes = expression_attributes(op.get("ConditionExpression"), names)
    attributes |= expression_attributes(op.get("UpdateExpression"), names)
    attributes |= set(op.get("AttributeUpdates") or {}) | set(op.get("Expected") or {})
    key = op.get("Key")
    if action == "dynamodb:PutItem":
        item = op.get("Item") or {}
        attributes |= set(item)
        key = item
    return action, _table_arn(region, table), _item_context(table, key, attributes, op)


def _read_check(action: str, region: str, op: dict, table: str, index=None) -> tuple:
    names = op.get("ExpressionAttributeNames")
    attributes = expression_attributes(op.get("ProjectionExpression"), names)
    attributes |= set(op.get("AttributesToGet") or [])
    context = {}
    if attributes:
        context = _item_context(table, op.get("Key"), attributes, op)
    elif op.get("Key") is not None:
        leading = _item_context(table, op.get("Key"), set(), op).get("dynamodb:LeadingKeys")
        if leading:
            context["dynamodb:LeadingKeys"] = leading
    if op.get("Select"):
        context["dynamodb:Select"] = op["Select"]
    return action, _table_arn(region, table, index), context


def dynamodb_checks(op: str, region: str, request: dict) -> list:
    """The authorisation checks DynamoDB makes for one call: [(action, resource, context)]."""
    request = request if isinstance(request, dict) else {}
    if op in ("PutItem", "UpdateItem", "DeleteItem"):
        return [_write_check(f"dynamodb:{op}", region, request)]
    if op == "GetItem":
        return [_read_check("dynamodb:GetItem", region, request, request.get("TableName", ""))]
    if op in ("Query", "Scan"):
        return [_read_check(f"dynamodb:{op}", region, request, request.get("TableName", ""),
                            request.get("IndexName"))]
    if op == "TransactWriteItems":
        checks = []
        for entry in request.get("TransactItems") or []:
            for kind, action in (("Put", "PutItem"), ("Update", "UpdateItem"),
                                 ("Delete", "DeleteItem"), ("ConditionCheck", "ConditionCheckItem")):
                if isinstance(entry, dict) and kind in entry:
                    checks.append(_write_check(f"dynamodb:{action}", region, entry[kind]))
        return checks
    if op == "TransactGetItems":
        return [_read_check("dynamodb:GetItem", region, entry["Get"], entry["Get"].get("TableName", ""))
                for entry in request.get("TransactItems") or []
                if isinstance(entry, dict) and isinstance(entry.get("Get"), dict)]
    if op in ("BatchGetItem", "BatchWriteItem"):
        # Authorised as the batch action on each table it names.
        return [(f"dynamodb:{op}", _table_arn(region, table), {})
                for table in (request.get("RequestItems") or {})]
    table = request.get("TableName") or request.get("TableArn") or request.get("ResourceArn")
    return [(f"dynamodb:{op}", _table_arn(region, table) if table else "*", {})]


def sqs_checks(op: str, region: str, request: dict) -> list:
    request = request if isinstance(request, dict) else {}
    action = f"sqs:{SQS_ACTION.get(op, op)}"
    name = request.get("QueueName")
    url = request.get("QueueUrl")
    if isinstance(url, str) and url:
        name = url.rstrip("/").rsplit("/", 1)[-1]
    resource = f"arn:{PARTITION}:sqs:{region}:{ACCOUNT}:{name}" if name else "*"
    return [(action, resource, {})]


def ssm_checks(op: str, region: str, request: dict) -> list:
    request = request if isinstance(request, dict) else {}
    names = request.get("Names") if op == "GetParameters" else [request.get("Name")]
    checks = []
    for name in names or [None]:
        if isinstance(name, str) and name:
            path = name if name.startswith("/") else f"/{name}"
            resource = f"arn:{PARTITION}:ssm:{region}:{ACCOUNT}:parameter{path}"
        else:
            resource = "*"
        checks.append((f"ssm:{op}", resource, {}))
    return checks


def ses_checks(op: str, region: str, request: dict) -> list:
    """SES authorizes SendEmail on the sending identity (the From address's domain, as the
    stack verifies a domain) and on the configuration set the call names."""
    request = request if isinstance(request, dict) else {}
    sender = parseaddr(str(request.get("FromEmailAddress") or ""))[1]
    domain = sender.rpartition("@")[2].lower()
    checks = [(f"ses:{op}", f"arn:{PARTITION}:ses:{region}:{ACCOUNT}:identity/{domain or '*'}", {})]
    config_set = request.get("ConfigurationSetName")
    if isinstance(config_set, str) and config_set:
        checks.append((f"ses:{op}",
                       f"arn:{PARTITION}:ses:{region}:{ACCOUNT}:configuration-set/{config_set}", {}))
    return checks


CHECKS = {"dynamodb": dynamodb_checks, "sqs": sqs_checks, "ssm": ssm_checks, "ses": ses_checks}


# --- the WSGI layer --------------------------------------------------------------------------

def _respond(start_response, status: int, payload: dict, headers=()) -> list:
    body = json.dumps(payload).encode()
    headers = list(headers)
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    start_response(f"{status} {'OK' if status == 200 else 'Error'}",
                   [*headers, ("Content-Length", str(len(body)))])
    return [body]


def access_denied(start_response, service: str, principal: str, action: str, resource: str,
                  explicit: bool) -> list:
    because = ("with an explicit deny in an identity-based policy" if explicit
               else f"because no identity-based policy allows the {action} action")
    message = (f"User: {principal} is not authorized to perform: {action} on resource: "
               f"{resource} {because}")
    if service == "dynamodb":
        return _respond(start_response, 400, {
            "__type": "com.amazon.coral.service#AccessDeniedException", "Message": message},
            [("Content-Type", "application/x-amz-json-1.0")])
    if service == "sqs":
        return _respond(start_response, 400, {
            "__type": "com.amazon.coral.service#AccessDeniedException", "message": message},
            [("Content-Type", "application/x-amz-json-1.0"),
             # The SDKs take SQS's error code from here (awsQueryCompatible).
             ("x-amzn-query-error", "AccessDenied;Sender")])
    if service == "ses":
        # REST-JSON: the error's code in x-amzn-ErrorType, status 403 as SES answers.
        return _respond(start_response, 403, {"message": message},
                        [("x-amzn-ErrorType", "AccessDeniedException")])
    return _respond(start_response, 400, {"__type": "AccessDeniedException", "message": message},
                    [("Content-Type", "application/x-amz-json-1.1")])


def _unrecognized(start_response, service: str, why: str) -> list:
    if service == "sqs":
        return _respond(start_response, 403, {"__type": "com.amazon.coral.service#InvalidClientTokenId",
                                              "message": why},
                        [("x-amzn-query-error", "InvalidClientTokenId;Sender")])
    kind = "InvalidSignatureException" if "signature" in why else "UnrecognizedClientException"
    prefix = "com.amazon.coral.service#" if service == "dynamodb" else ""
    return _respond(start_response, 400, {"__type": prefix + kind, "message": why})





_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")


class Usage:
    """What each role was allowed (per statement) and refused."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.statements = defaultdict(lambda: defaultdict(lambda: {
            "calls": 0, "actions": Counter(), "resources": Counter(), "attributes": set()}))
        self.denied = defaultdict(Counter)

    def allowed(self, role: str, decision: Decision, context: dict):
        with self.lock:
            for st, action, resource in decision.allowing:
                entry = self.statements[role][st.id]
                entry["calls"] += 1
                entry["actions"][action] += 1
                entry["resources"][resource] += 1
                entry["attributes"].update(context.get("dynamodb:Attributes") or ())

    def refused(self, role: str, action: str, resource: str):
        with self.lock:
            self.denied[role][f"{action} {resource}"] += 1

    def report(self) -> dict:
        with self.lock:
            roles = {}
            for role in set(self.statements) | set(self.denied):
                roles[role] = {
                    "statements": {sid: {"calls": e["calls"], "actions": dict(e["actions"]),
                                         "resources": dict(e["resources"]),
                                         "attributes": sorted(e["attributes"])}
                                   for sid, e in self.statements[role].items()},
                    "denied": dict(self.denied[role]),
                }
            return roles


class IamLayer:
    """The WSGI layer in front of the emulator (see the module's comment)."""

    def __init__(self, app, enforce: bool = True):
        self.app = app
        # Off (no --iam): every call passes and /_rota/iam answers 404, so rota-local knows
        # to give the functions placeholder keys.
        self.enforce = enforce
        self.usage = Usage()
        # stack -> {function: role}
        self.functions: dict[str, dict[str, str]] = {}
        self._statements: dict[str, list] = {}
        self._lock = threading.Lock()

    @property
    def iam(self):
        return iam_backends[ACCOUNT][PARTITION]

    @property
    def sts(self):
        return sts_backends[ACCOUNT][PARTITION]

    # -- control ------------------------------------------------------------------------------

    def control(self, environ, start_response, path: str, method: str):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0) or -1) \
            if method in ("POST", "PUT") else b""
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            return _respond(start_response, 400, {"error": "body is not JSON"})
        try:
            if path == "/_rota/iam" and method == "GET":
                return _respond(start_response, 200, {
                    "enforced": True, "stacks": self.functions, "roles": self.usage.report()})
            if path == "/_rota/iam" and method == "DELETE":
                self.usage.reset()
                return _respond(start_response, 200, {})
            if path == "/_rota/iam/roles" and method == "POST":
                self.create_roles(request)
                return _respond(start_response, 200, {"roles": sorted(request.get("roles", {}))})
            if path == "/_rota/iam/assume" and method == "POST":
                return _respond(start_response, 200, self.assume(request))
            match = re.fullmatch(r"/_rota/iam/roles/([\w+=,.@-]+)/policies", path)
            if match and method == "DELETE":
                self.strip(match.group(1))
                return _respond(start_response, 200, {})
        except (PolicyError, KeyError, ValueError) as e:
            return _respond(start_response, 400, {"error": str(e)})
        except Exception as e:  # a moto refusal (an unknown managed policy, say): say which
            traceback.print_exc()
            return _respond(start_response, 500, {"error": f"{type(e).__name__}: {e}"})
        return _respond(start_response, 404, {"error": f"no {method} {path}"})

    def create_roles(self, request: dict):
        roles = request.get("roles") or {}
        # Every statement is checked before anything changes: a policy this layer would
        # evaluate wrongly stops the stack instead of passing silently.
        for name, spec in roles.items():
            self._compile_inline(name, spec)
        with self._lock:
            for name, spec in roles.items():
                self._drop_role(name)
                self.iam.create_role(
                    role_name=name,
                    assume_role_policy_document=json.dumps(spec.get("AssumeRolePolicyDocument") or {}),
                    path="/", permissions_boundary=None, description="", tags=[],
                    max_session_duration=str(SESSION_SECONDS))
                for policy in spec.get("Policies") or []:
                    self.iam.put_role_policy(name, policy["PolicyName"], json.dumps(policy["PolicyDocument"]))
                for arn in spec.get("ManagedPolicyArns") or []:
                    self.iam.attach_role_policy(arn, name)
                self._statements.pop(name, None)
            stack = str(request.get("stack") or "default")
            self.functions.setdefault(stack, {}).update(request.get("functions") or {})

    def _compile_inline(self, role: str, spec: dict) -> list:
        return [st for policy in spec.get("Policies") or []
                for st in _statements(policy["PolicyName"], policy["PolicyDocument"], managed=False)]

    def _drop_role(self, name: str):
        try:
            role = self.iam.get_role(name)
        except Exception:  # moto's NotFoundException: nothing to drop
            return
        self._strip_role(role)
        self.iam.delete_role(name)

    def _strip_role(self, role):
        for policy_name in list(role.policies):
            self.iam.delete_role_policy(role.name, policy_name)
        for arn in list(role.managed_policies):
            self.iam.detach_role_policy(arn, role.name)

    def strip(self, role_name: str):
        with self._lock:
            self._strip_role(self.iam.get_role(role_name))
            self._statements.pop(role_name, None)

    def assume(self, request: dict) -> dict:
        stack = self.functions.get(str(request.get("stack") or "default"), {})
        role_name = request.get("role") or stack.get(request.get("function", ""))
        if not role_name:
            raise KeyError(f"no role for {request}")
        role = self.iam.get_role(role_name)
        session = re.sub(r"[^\w+=,.@-]", "-", request.get("session") or role_name)[:64]
        assumed = self.sts.assume_role(region_name="us-east-1", role_session_name=session,
                                       role_arn=role.arn, policy=None, duration=SESSION_SECONDS,
                                       external_id=None)
        return {"AccessKeyId": assumed.access_key_id, "SecretAccessKey": assumed.secret_access_key,
                "SessionToken": assumed.session_token, "Role": role_name}

    def statements_of(self, role_name: str) -> list:
        statements = self._statements.get(role_name)
        if statements is None:
            with self._lock:
                role = self.iam.get_role(role_name)
                statements = [st for name, doc in role.policies.items()
                              for st in _statements(name, json.loads(doc), managed=False)]
                for arn, policy in role.managed_policies.items():
                    version = next(v for v in policy.versions if v.is_default)
                    document = version.document
                    statements += _statements(arn.rsplit("/", 1)[-1], json.loads(document)
                                              if isinstance(document, str) else document, managed=True)
                self._statements[role_name] = statements
        return statements

    # -- requests -----------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD")
        if path == "/_rota/iam" or path.startswith("/_rota/iam/"):
            if not self.enforce:
                return _respond(start_response, 404, {"enforced": False,
                                                      "error": "IAM is not enforced (no --iam)"})
            return self.control(environ, start_response, path, method)
        if not self.enforce:
            return self.app(environ, start_response)
        if not environ.get("HTTP_X_AMZ_SECURITY_TOKEN"):
            # The administrator (see the module's comment).
            return self.app(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        ses_op = SES_V2_CALLS.get((method, path))
        if not target and ses_op is not None:
            return self.check(environ, start_response, "ses", ses_op)
        service = SERVICES.get(target.partition(".")[0])
        if service is None:
            # A role's call this layer cannot check (another service, or SQS's query
            # protocol): refused, never passed unchecked.
            return _respond(start_response, 403, {
                "__type": "AccessDeniedException",
                "message": f"the local stack checks role calls to DynamoDB, SQS and SSM (JSON "
                           f"protocols) and SES v2 SendEmail only; refused: "
                           f"{target or environ.get('PATH_INFO')}"})
        return self.check(environ, start_response, service, target.partition(".")[2])

    def check(self, environ, start_response, service: str, op: str):
        body = read_body(environ)
        headers = dict(EnvironHeaders(environ))
        match = _CREDENTIAL.search(headers.get("Authorization", ""))
        if match is None:
            return _unrecognized(start_response, service, "The security token included in the request is invalid.")
        region = match.group(2)
        # The path as sent (RAW_URI: werkzeug's name, REQUEST_URI: cheroot's).
        path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/"
        try:
            signed = IAMRequest(account_id=ACCOUNT, method=environ["REQUEST_METHOD"], path=path,
                                data={}, body=body, headers=headers, action=op)
        except CreateAccessKeyFailure:
            return _unrecognized(start_response, service, "The security token included in the request is invalid.")
        except Exception as e:  # moto raises its own errors for unknown keys
            return _unrecognized(start_response, service, f"The security token included in the request is invalid. ({type(e).__name__})")
        try:
            signed.check_signature()
        except Exception:
            return _unrecognized(start_response, service,
                                 "The request signature we calculated does not match the signature you provided.")
        access_key = signed._access_key
        role = access_key._owner_role_name
        principal = access_key.arn
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            request = {}
        statements = self.statements_of(role)
        for action, resource, context in CHECKS[service](op, region, request):
            decision = evaluate(statements, action, resource, context)
            if not decision.allowed:
                self.usage.refused(role, action, resource)
                return access_denied(start_response, service, principal, action, resource,
                                     explicit=decision.denying is not None)
            self.usage.allowed(role, decision, context)
        return self.app(environ, start_response)


def _statements(policy_name: str, document: dict, managed: bool) -> list:
    raw = document.get("Statement")
    return [Statement(policy_name, i, st, managed) for i, st in enumerate(_as_list(raw))]
