"""The execution roles of a SAM template's functions, as the SAM transform writes them.

rota-local runs every function under its own role's temporary credentials, as Lambda does, and
the emulator checks each call against that role (local/moto_iam.py). The roles must be the
ones a deployment creates: the transform adds managed policies (basic execution, X-Ray, VPC
access, and what an event source needs, such as AWSLambdaSQSQueueExecutionRole) and writes the
inline policies, so the roles come from the transform itself (samtranslator, the library
`sam build`/`sam deploy` use), not from a reading of our own.

Prints JSON on stdout:

    {"functions": {"<FunctionLogicalId>": "<RoleLogicalId>", ...},
     "roles": {"<RoleLogicalId>": {"AssumeRolePolicyDocument": ..., "ManagedPolicyArns": [...],
                                   "Policies": [{"PolicyName": ..., "PolicyDocument": ...}]}}}

Intrinsic functions (`Fn::GetAtt RotaTable.Arn`, `Fn::If`, `Fn::Sub`) are left as the
transform wrote them: rota-local resolves them for the local stack as it resolves the rest of
the template. Offline: no AWS call is made (the transform's region comes from here, and the
managed-policy loader is never needed because the template names no managed policy by name).
"""

import copy
import json
import os
import sys

# The transform asks boto for a region to fill in pseudo parameters; the local stack's.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

# Any S3 location: the transform checks its form only (`sam build` replaces CodeUri the same way).
PLACEHOLDER_CODE = "s3://rota-local/code.zip"


class NoManagedPolicies:
    """The transform's managed-policy loader: only called for policies named by name."""

    def load(self):
        raise SystemExit("sam_expand: the template names a managed policy by name; "
                         "name it by ARN (the loader would need IAM)")


def expand(template: dict) -> dict:
    template = copy.deepcopy(template)
    function_globals = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = PLACEHOLDER_CODE
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            props = resource.setdefault("Properties", {})
            if "CodeUri" in props or "CodeUri" not in function_globals:
                props["CodeUri"] = PLACEHOLDER_CODE
    out = transform(template, {}, NoManagedPolicies())
    resources = out["Resources"]
    functions, roles = {}, {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        role = resource["Properties"].get("Role")
        if not (isinstance(role, dict) and isinstance(role.get("Fn::GetAtt"), list)):
            raise SystemExit(f"sam_expand: {logical_id}'s Role is not a role of the template")
        role_id = role["Fn::GetAtt"][0]
        role_resource = resources.get(role_id, {})
        if role_resource.get("Type") != "AWS::IAM::Role":
            raise SystemExit(f"sam_expand: {logical_id}'s role {role_id} is not an AWS::IAM::Role")
        props = role_resource["Properties"]
        functions[logical_id] = role_id
        roles[role_id] = {
            "AssumeRolePolicyDocument": props.get("AssumeRolePolicyDocument", {}),
            "ManagedPolicyArns": props.get("ManagedPolicyArns", []),
            "Policies": props.get("Policies", []),
        }
    return {"functions": functions, "roles": roles}


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: sam_expand.py TEMPLATE")
    with open(sys.argv[1], encoding="utf-8") as f:
        template = yaml_parse(f.read())
    json.dump(expand(template), sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
