//! Execution roles: every function runs with its own role's temporary credentials, as Lambda
//! gives them, and the emulator checks each of its calls against that role
//! (`local/moto_iam.py`).
//!
//! The roles are the SAM transform's own output (`local/sam_expand.py` runs samtranslator on
//! the template: the managed policies SAM attaches, event-source permissions included), with
//! the intrinsics resolved here as the rest of the template is; they are created in the
//! emulator and assumed once per function (sts:AssumeRole, as the Lambda service does).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::template::Template;

/// A role session's credentials, as Lambda puts them in a function's environment.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleCredentials {
    #[serde(rename = "AccessKeyId")]
    pub access_key_id: String,
    #[serde(rename = "SecretAccessKey")]
    pub secret_access_key: String,
    #[serde(rename = "SessionToken")]
    pub session_token: String,
    /// The role's name (its logical id in the template).
    #[serde(rename = "Role")]
    pub role: String,
}

impl std::fmt::Debug for RoleCredentials {
    // Never the secret in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl RoleCredentials {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
    pub fn env(&self) -> [(&'static str, String); 3] {
        [
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_SESSION_TOKEN", self.session_token.clone()),
        ]
    }

    /// An SDK credentials provider for these credentials (the SQS pollers poll as the
    /// function's role, as Lambda's event-source mappings do).
    pub fn provider(&self) -> aws_sdk_dynamodb::config::Credentials {
        aws_sdk_dynamodb::config::Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            Some(self.session_token.clone()),
            None,
            "rota-local-role",
        )
    }
}

/// The SAM-expanded roles of the template's functions with every intrinsic resolved:
/// `{"functions": {fn: role}, "roles": {role: {...}}}` (see `local/sam_expand.py`).
pub async fn expanded_roles(repo_root: &Path, template: &Template) -> anyhow::Result<Json> {
    let python = repo_root.join(".venv/bin/python");
    let script = repo_root.join("local/sam_expand.py");
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(&template.path)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run {} (make bootstrap)", python.display()))?;
    if !output.status.success() {
        bail!(
            "the SAM transform of {} failed: {}",
            template.path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let expanded: Json =
        serde_json::from_slice(&output.stdout).context("sam_expand.py printed no JSON")?;
    resolve_roles(template, &expanded)
}

/// `expanded` with the roles' intrinsics resolved for the local stack, of the functions the
/// stack creates only: the transform keeps a function whose `Condition` is false (with its
/// role), CloudFormation then creates neither.
pub fn resolve_roles(template: &Template, expanded: &Json) -> anyhow::Result<Json> {
    let functions: serde_json::Map<String, Json> = expanded["functions"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(f, _)| template.is_created(f))
        .map(|(f, role)| (f.clone(), role.clone()))
        .collect();
    let mut roles = serde_json::Map::new();
    for (name, role) in expanded["roles"].as_object().into_iter().flatten() {
        if !functions.values().any(|r| r == name.as_str()) {
            continue;
        }
        let resolved = template
            .resolve_document(role)
            .map_err(|why| anyhow::anyhow!("role {name}: {why}"))?
            .unwrap_or(Json::Null);
        roles.insert(name.clone(), resolved);
    }
    Ok(json!({"functions": functions, "roles": roles}))
}

/// `roles` with the names a stack gives them: `<stack>-<LogicalId>` (at most 64 characters, as
/// IAM allows), as CloudFormation names a stack's roles after the stack. Two stacks sharing one
/// emulator (two stacks of one account) then keep roles of their own.
pub fn for_stack(roles: &Json, stack: &str) -> Json {
    let name = |logical: &str| physical_role_name(stack, logical);
    let renamed: serde_json::Map<String, Json> = roles["roles"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(logical, role)| (name(logical), role.clone()))
        .collect();
    let functions: serde_json::Map<String, Json> = roles["functions"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(f, role)| {
            (
                f.clone(),
                Json::String(name(role.as_str().unwrap_or_default())),
            )
        })
        .collect();
    json!({"stack": stack, "functions": functions, "roles": renamed})
}

/// `<stack>-<logical>`, cut to IAM's 64 characters with a digest of the whole name when longer.
pub fn physical_role_name(stack: &str, logical: &str) -> String {
    let full = format!("{stack}-{logical}");
    if full.len() <= 64 {
        return full;
    }
    let digest: u64 = full.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{}-{:08x}", &full[..55], digest as u32)
}

/// Drops every policy of `roles`' role `role` (a test's way to show the role is what lets
/// the function work).
pub fn strip(roles: &mut Json, role: &str) {
    if let Some(r) = roles["roles"].get_mut(role) {
        r["Policies"] = json!([]);
        r["ManagedPolicyArns"] = json!([]);
    }
}

fn control_url(endpoint: &str, path: &str) -> String {
    format!("{}/_rota/iam{path}", endpoint.trim_end_matches('/'))
}

/// Creates `roles` in the emulator at `endpoint` (which must run with `--iam`).
pub async fn install(endpoint: &str, roles: &Json) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .post(control_url(endpoint, "/roles"))
        .json(roles)
        .send()
        .await
        .with_context(|| format!("{endpoint} does not answer"))?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        bail!("the emulator refused the roles ({status}): {body}");
    }
    Ok(())
}

/// The credentials of `function`'s role in `stack`, from the emulator at `endpoint`; `None`
/// when that emulator does not enforce IAM (then any credentials do).
pub async fn assume(
    endpoint: &str,
    stack: &str,
    function: &str,
) -> anyhow::Result<Option<RoleCredentials>> {
    let response = reqwest::Client::new()
        .post(control_url(endpoint, "/assume"))
        .json(&json!({"stack": stack, "function": function, "session": function}))
        .send()
        .await
        .with_context(|| format!("{endpoint} does not answer"))?;
    match response.status().as_u16() {
        200 => Ok(Some(response.json().await.context("credentials")?)),
        // The wrapper without --iam answers 404.
        404 => Ok(None),
        status => {
            let body = response.text().await.unwrap_or_default();
            // The IAM layer's own refusals are JSON with an `error`; anything else is an
            // emulator without the layer (plain moto answers unknown paths its own way).
            match serde_json::from_str::<Json>(&body) {
                Ok(e) if e.get("error").is_some() => {
                    bail!("no credentials for {function} ({status}): {}", e["error"])
                }
                _ => Ok(None),
            }
        }
    }
}

/// Every function's credentials: roles created from the template, then one session each.
/// `strip`: roles to create without any policy.
pub async fn setup(
    repo_root: &Path,
    template: &Template,
    endpoint: &str,
    strip_roles_of: &[String],
) -> anyhow::Result<BTreeMap<String, RoleCredentials>> {
    let stack = template.stack_name();
    let mut roles = for_stack(&expanded_roles(repo_root, template).await?, stack);
    for function in strip_roles_of {
        let role = roles["functions"][function.as_str()]
            .as_str()
            .with_context(|| format!("no function {function} to strip the role of"))?
            .to_string();
        strip(&mut roles, &role);
    }
    install(endpoint, &roles).await?;
    let mut out = BTreeMap::new();
    for function in roles["functions"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(f, _)| f)
    {
        let credentials = assume(endpoint, stack, function)
            .await?
            .with_context(|| format!("the emulator at {endpoint} does not enforce IAM"))?;
        out.insert(function.clone(), credentials);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stacks_roles_are_named_after_it_within_iams_64_characters() {
        let roles = json!({
            "functions": {"F": "FRole"},
            "roles": {"FRole": {"Policies": []}}
        });
        let named = for_stack(&roles, "rota-local-3000");
        assert_eq!(named["functions"]["F"], "rota-local-3000-FRole");
        assert!(named["roles"]["rota-local-3000-FRole"].is_object());
        let long = physical_role_name(
            "a-stack-with-a-rather-long-name",
            "CommunityCommentsCreateFunctionRole",
        );
        assert_eq!(long.len(), 64);
        assert_ne!(
            long,
            physical_role_name(
                "a-stack-with-a-rather-long-name",
                "CommunityCommentsDeleteFunctionRole"
            )
        );
    }
}
