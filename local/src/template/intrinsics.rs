//! Intrinsic functions, resolved for local use: `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`,
//! `Fn::Select` (of a list or an `Fn::Split`), `Fn::If` (to strings), conditions
//! (`Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`, evaluated with the parameters'
//! values: given, else defaults) and `Fn::Split`; and a function's environment with every variable resolved against
//! the local stand-ins.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use super::model::{
    Function, LOCAL_ACCOUNT_ID, LOCAL_API_ID, LOCAL_REGION, LocalContext, Template, queue_arn,
    queue_url, table_arn,
};

/// Guards against templates whose intrinsics refer to each other in a loop.
const MAX_RESOLVE_DEPTH: usize = 16;

impl Template {
    /// Whether a template condition holds, evaluated with the parameters' values (given, else
    /// defaults) (`Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`).
    pub fn condition(&self, name: &str) -> Result<bool, String> {
        self.condition_at(name, 0)
    }

    fn condition_at(&self, name: &str, depth: usize) -> Result<bool, String> {
        let expr = self
            .conditions
            .get(name)
            .ok_or_else(|| format!("no condition {name}"))?;
        self.condition_expr(expr, depth + 1)
    }

    fn condition_expr(&self, v: &Json, depth: usize) -> Result<bool, String> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err("conditions nest too deeply (circular reference?)".into());
        }
        let m = v
            .as_object()
            .filter(|m| m.len() == 1)
            .ok_or("bad condition")?;
        let (key, arg) = m.iter().next().ok_or("bad condition")?;
        let list = || arg.as_array().ok_or_else(|| format!("{key} takes a list"));
        match key.as_str() {
            "Condition" => self.condition_at(arg.as_str().ok_or("Condition takes a name")?, depth),
            "Fn::Equals" => match list()?.as_slice() {
                [a, b] => Ok(self.resolve(a, None)? == self.resolve(b, None)?),
                _ => Err("Fn::Equals takes two values".into()),
            },
            "Fn::Not" => match list()?.as_slice() {
                [c] => Ok(!self.condition_expr(c, depth + 1)?),
                _ => Err("Fn::Not takes one condition".into()),
            },
            "Fn::And" => list()?
                .iter()
                .try_fold(true, |acc, c| Ok(acc & self.condition_expr(c, depth + 1)?)),
            "Fn::Or" => list()?
                .iter()
                .try_fold(false, |acc, c| Ok(acc | self.condition_expr(c, depth + 1)?)),
            other => Err(format!("{other} is not a condition function")),
        }
    }

    /// `v` with `Fn::If` decided (recursively at the top), `None` for `AWS::NoValue`.
    pub(super) fn select(&self, v: &Json, depth: usize) -> Result<Option<Json>, String> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err("Fn::If nests too deeply".into());
        }
        if v.get("Ref").and_then(Json::as_str) == Some("AWS::NoValue") {
            return Ok(None);
        }
        if let Some(Json::Array(args)) = v.get("Fn::If")
            && v.as_object().is_some_and(|m| m.len() == 1)
        {
            let [cond, yes, no] = args.as_slice() else {
                return Err("Fn::If takes [condition, then, else]".into());
            };
            let cond = cond.as_str().ok_or("Fn::If condition is not a name")?;
            let branch = if self.condition(cond)? { yes } else { no };
            return self.select(branch, depth + 1);
        }
        Ok(Some(v.clone()))
    }

    /// A whole document (an IAM policy, say) for local use: `Fn::If` decided, `AWS::NoValue`
    /// left out (of objects and lists), and every other intrinsic resolved to its string.
    /// `None` when the document itself is `AWS::NoValue`.
    pub fn resolve_document(&self, v: &Json) -> Result<Option<Json>, String> {
        self.document_at(v, 0)
    }

    fn document_at(&self, v: &Json, depth: usize) -> Result<Option<Json>, String> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err("the document nests too deeply".into());
        }
        let Some(v) = self.select(v, depth)? else {
            return Ok(None);
        };
        Ok(Some(match v {
            Json::Array(items) => Json::Array(
                items
                    .iter()
                    .map(|i| self.document_at(i, depth + 1))
                    .filter_map(Result::transpose)
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(m) if m.len() == 1 && m.keys().all(|k| is_intrinsic(k)) => {
                Json::String(self.resolve(&Json::Object(m), None)?)
            }
            Json::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, item) in &m {
                    if let Some(resolved) = self.document_at(item, depth + 1)? {
                        out.insert(k.clone(), resolved);
                    }
                }
                Json::Object(out)
            }
            other => other,
        }))
    }

    /// A list of strings: a YAML list (items may be intrinsics), `Fn::Split`, or a value
    /// (e.g. a `Ref` to a `CommaDelimitedList`) split on commas.
    pub(super) fn string_list(&self, v: &Json) -> Result<Vec<String>, String> {
        let Some(v) = self.select(v, 0)? else {
            return Ok(Vec::new());
        };
        let items = match &v {
            Json::Array(items) => items
                .iter()
                .map(|i| self.resolve(i, None))
                .collect::<Result<Vec<_>, _>>()?,
            Json::Object(m) if m.contains_key("Fn::Split") => {
                let args = m["Fn::Split"].as_array().ok_or("Fn::Split takes a list")?;
                let [delim, source] = args.as_slice() else {
                    return Err("Fn::Split takes [delimiter, string]".into());
                };
                let delim = self.resolve(delim, None)?;
                if delim.is_empty() {
                    return Err("Fn::Split delimiter is empty".into());
                }
                let source = self.resolve(source, None)?;
                source.split(delim.as_str()).map(str::to_string).collect()
            }
            other => self
                .resolve(other, None)?
                .split(',')
                .map(str::to_string)
                .collect(),
        };
        Ok(items
            .into_iter()
            .map(|i| i.trim().to_string())
            .filter(|i| !i.is_empty())
            .collect())
    }

    /// The function's environment for local runs: every variable resolved, with those that
    /// point at the cache (or are named `REDIS_URL`) set to the local Redis, and then
    /// `SSL_CERT_FILE` set to the local CA (`ctx.cache_ca`), the one variable rota-local adds
    /// so the unchanged binary verifies the local cache's TLS. Variables that cannot be
    /// resolved locally are logged and left out.
    pub fn function_env(
        &self,
        function: &Function,
        ctx: &LocalContext,
    ) -> BTreeMap<String, String> {
        let caches = self.cache_ids();
        let mut env = BTreeMap::new();
        for (name, raw) in &function.environment {
            if name == "REDIS_URL" || mentions_any(raw, &caches) {
                env.insert(name.clone(), ctx.redis_url.clone());
                if let Some(ca) = &ctx.cache_ca {
                    env.insert("SSL_CERT_FILE".into(), ca.display().to_string());
                }
                continue;
            }
            match self.resolve(raw, Some(ctx)) {
                Ok(v) => {
                    env.insert(name.clone(), v);
                }
                Err(why) => tracing::warn!(
                    "{}: leaving out environment variable {name}: {why}",
                    function.logical_id
                ),
            }
        }
        env
    }

    /// The value of the environment variable `var` that every function setting it gets,
    /// resolved without the local endpoints (`None`: no function sets it). An error when it
    /// cannot be resolved or two functions get different values: one stack-wide setting, such
    /// as `JWT_SECRET_PARAM`, `JWT_ISSUER` or `JWT_AUDIENCE`, is what this is for.
    pub fn shared_env(&self, var: &str) -> Result<Option<String>, String> {
        let mut found: Option<(String, &str)> = None;
        for f in &self.functions {
            let Some(raw) = f.environment.get(var) else {
                continue;
            };
            let value = self
                .resolve(raw, None)
                .map_err(|e| format!("{}: {var}: {e}", f.logical_id))?;
            match &found {
                Some((first, id)) if *first != value => {
                    return Err(format!(
                        "{var} differs between {id} ({first}) and {} ({value})",
                        f.logical_id
                    ));
                }
                Some(_) => {}
                None => found = Some((value, &f.logical_id)),
            }
        }
        Ok(found.map(|(v, _)| v))
    }

    /// Resolves a (possibly intrinsic) value to a string for local use. `ctx` is needed for
    /// references to queues (URLs) and the cache; without it those are unresolvable.
    pub fn resolve(&self, value: &Json, ctx: Option<&LocalContext>) -> Result<String, String> {
        Resolver {
            template: self,
            ctx,
        }
        .value(value, 0)
    }

    /// Logical ids of cache resources (ElastiCache), plus the project's name for it.
    fn cache_ids(&self) -> BTreeSet<String> {
        let mut ids: BTreeSet<String> = self
            .resources
            .iter()
            .filter(|(_, r)| {
                r.get("Type")
                    .and_then(Json::as_str)
                    .is_some_and(|t| t.starts_with("AWS::ElastiCache::"))
            })
            .map(|(id, _)| id.clone())
            .collect();
        ids.insert("RotaCache".to_string());
        ids
    }

    /// The SES identities (`AWS::SES::EmailIdentity`) the template declares, resolved.
    pub fn mail_identities(&self) -> Vec<String> {
        self.resolved_of_type("AWS::SES::EmailIdentity", "EmailIdentity")
    }

    /// The SES configuration sets the template declares, by name.
    pub fn mail_configuration_sets(&self) -> Vec<String> {
        self.resolved_of_type("AWS::SES::ConfigurationSet", "Name")
    }

    fn resolved_of_type(&self, kind: &str, prop: &str) -> Vec<String> {
        self.resources
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Json::as_str) == Some(kind))
            .filter_map(|(id, _)| match self.resolved_prop(id, prop, 0)? {
                Ok(v) => Some(v),
                Err(why) => {
                    tracing::warn!("{id}: {prop} cannot be resolved locally: {why}");
                    None
                }
            })
            .collect()
    }

    fn resource_type(&self, id: &str) -> Option<&str> {
        self.resources.get(id)?.get("Type")?.as_str()
    }

    fn resource_prop(&self, id: &str, prop: &str) -> Option<&Json> {
        self.resources.get(id)?.get("Properties")?.get(prop)
    }

    /// The property `prop` of the resource `id` resolved, when it is set. `depth` counts the
    /// references followed to get here (names may refer to each other).
    fn resolved_prop(&self, id: &str, prop: &str, depth: usize) -> Option<Result<String, String>> {
        let v = self.resource_prop(id, prop)?;
        let resolver = Resolver {
            template: self,
            ctx: None,
        };
        Some(resolver.value(v, depth + 1))
    }

    pub(super) fn table_name(&self, id: &str, depth: usize) -> Result<String, String> {
        self.resolved_prop(id, "TableName", depth)
            .unwrap_or_else(|| Ok(id.to_string()))
    }

    pub(super) fn queue_name(&self, id: &str, depth: usize) -> Result<String, String> {
        if let Some(name) = self.resolved_prop(id, "QueueName", depth) {
            return name;
        }
        let fifo = self
            .resource_prop(id, "FifoQueue")
            .and_then(|v| self.resolve(v, None).ok())
            .is_some_and(|s| s == "true");
        Ok(if fifo {
            format!("{id}.fifo")
        } else {
            id.to_string()
        })
    }
}

/// Whether `key` is the name of an intrinsic function that yields a string (conditions and
/// `Fn::If` are decided by [`Template::select`] before).
fn is_intrinsic(key: &str) -> bool {
    matches!(
        key,
        "Ref" | "Fn::GetAtt" | "Fn::Sub" | "Fn::Join" | "Fn::Select"
    )
}

/// Whether any string inside `v` mentions one of `ids` as a whole identifier (`RotaCache` and
/// `RotaCache.Endpoint` do, `RotaCacheTtl` does not).
fn mentions_any(v: &Json, ids: &BTreeSet<String>) -> bool {
    match v {
        Json::String(s) => ids.iter().any(|id| mentions(s, id)),
        Json::Array(items) => items.iter().any(|i| mentions_any(i, ids)),
        Json::Object(m) => m.values().any(|i| mentions_any(i, ids)),
        _ => false,
    }
}

fn mentions(s: &str, id: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    s.match_indices(id).any(|(at, _)| {
        let before = s[..at].chars().next_back();
        let after = s[at + id.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

struct Resolver<'a> {
    template: &'a Template,
    ctx: Option<&'a LocalContext>,
}

impl Resolver<'_> {
    fn value(&self, v: &Json, depth: usize) -> Result<String, String> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err("intrinsics nest too deeply (circular reference?)".into());
        }
        match v {
            Json::String(s) => Ok(s.clone()),
            Json::Number(n) => Ok(n.to_string()),
            Json::Bool(b) => Ok(b.to_string()),
            Json::Null => Err("value is null".into()),
            Json::Array(_) => Err("value is a list".into()),
            Json::Object(m) => {
                let mut it = m.iter();
                let (Some((key, arg)), None) = (it.next(), it.next()) else {
                    return Err("value is a mapping, not an intrinsic function".into());
                };
                match key.as_str() {
                    "Ref" => {
                        let name = arg.as_str().ok_or("Ref takes a name")?;
                        self.reference(name, depth)
                    }
                    "Fn::GetAtt" => {
                        let (res, attr) = match arg {
                            Json::Array(a) if a.len() == 2 => {
                                (self.value(&a[0], depth + 1)?, self.value(&a[1], depth + 1)?)
                            }
                            Json::String(s) => {
                                let (r, a) = s.split_once('.').ok_or("bad Fn::GetAtt")?;
                                (r.to_string(), a.to_string())
                            }
                            _ => return Err("bad Fn::GetAtt".into()),
                        };
                        self.get_att(&res, &attr, depth)
                    }
                    "Fn::Sub" => self.sub(arg, depth),
                    "Fn::Join" => {
                        let a = arg.as_array().ok_or("Fn::Join takes a list")?;
                        let [delim, items] = a.as_slice() else {
                            return Err("Fn::Join takes [delimiter, list]".into());
                        };
                        let delim = self.value(delim, depth + 1)?;
                        let items = items.as_array().ok_or("Fn::Join takes a list of values")?;
                        let parts = items
                            .iter()
                            .map(|i| self.value(i, depth + 1))
                            .collect::<Result<Vec<_>, _>>()?;
                        Ok(parts.join(&delim))
                    }
                    "Fn::Select" => {
                        let a = arg.as_array().ok_or("Fn::Select takes a list")?;
                        let [index, items] = a.as_slice() else {
                            return Err("Fn::Select takes [index, list]".into());
                        };
                        let index: usize = self
                            .value(index, depth + 1)?
                            .parse()
                            .map_err(|_| "Fn::Select index is not a number")?;
                        // A literal list, or the pieces of an `Fn::Split` (e.g. the GUID of
                        // `AWS::StackId` the template's physical names end in).
                        if let Some(split) = items.get("Fn::Split") {
                            let pieces = self.split(split, depth + 1)?;
                            return pieces
                                .into_iter()
                                .nth(index)
                                .ok_or_else(|| "Fn::Select index out of range".into());
                        }
                        let items = items.as_array().ok_or("Fn::Select takes a literal list")?;
                        let item = items.get(index).ok_or("Fn::Select index out of range")?;
                        self.value(item, depth + 1)
                    }
                    "Fn::If" => match self.template.select(v, depth + 1)? {
                        Some(chosen) => self.value(&chosen, depth + 1),
                        None => Err("AWS::NoValue".into()),
                    },
                    other => Err(format!("{other} is not supported locally")),
                }
            }
        }
    }

    fn reference(&self, name: &str, depth: usize) -> Result<String, String> {
        let t = self.template;
        match name {
            "AWS::Region" => return Ok(LOCAL_REGION.into()),
            "AWS::AccountId" => return Ok(LOCAL_ACCOUNT_ID.into()),
            "AWS::StackName" => return Ok(t.stack_name.clone()),
            "AWS::StackId" => {
                // The GUID CloudFormation ends a stack id with; locally one per stack name, so
                // names derived from it differ between stacks as they do in AWS.
                return Ok(format!(
                    "arn:aws:cloudformation:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:stack/{}/{}",
                    t.stack_name,
                    local_stack_guid(&t.stack_name)
                ));
            }
            "AWS::Partition" => return Ok("aws".into()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
            "AWS::NoValue" => return Err("AWS::NoValue".into()),
            _ => {}
        }
        if let Some(p) = t.parameters.get(name) {
            return p
                .value()
                .map(str::to_string)
                .ok_or_else(|| format!("parameter {name} has no Default and was not given"));
        }
        let Some(kind) = t.resource_type(name) else {
            return Err(format!("{name} is neither a parameter nor a resource"));
        };
        if t.left_out.contains(name) {
            return Err(format!("{name} is not created: its Condition is false"));
        }
        match kind {
            "AWS::DynamoDB::Table" => t.table_name(name, depth),
            "AWS::SQS::Queue" => {
                let ctx = self.ctx.ok_or("queue URLs need the AWS endpoint")?;
                Ok(queue_url(&ctx.aws_endpoint, &t.queue_name(name, depth)?))
            }
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => Ok(name.to_string()),
            "AWS::Serverless::HttpApi" | "AWS::ApiGatewayV2::Api" => Ok(LOCAL_API_ID.into()),
            "AWS::SSM::Parameter" => match t.resource_prop(name, "Name") {
                Some(v) => self.value(v, depth + 1),
                None => Err(format!("SSM parameter {name} has no Name")),
            },
            // SES: a configuration set's Ref is its name, an identity's its address or domain.
            "AWS::SES::ConfigurationSet" => match t.resource_prop(name, "Name") {
                Some(v) => self.value(v, depth + 1),
                None => Err(format!("configuration set {name} has no Name")),
            },
            "AWS::SES::EmailIdentity" => match t.resource_prop(name, "EmailIdentity") {
                Some(v) => self.value(v, depth + 1),
                None => Err(format!("email identity {name} has no EmailIdentity")),
            },
            k if k.starts_with("AWS::ElastiCache::") => self
                .ctx
                .map(|c| c.redis_url.clone())
                .ok_or_else(|| "cache needs the Redis URL".to_string()),
            other => Err(format!("Ref to {other} {name} is not supported locally")),
        }
    }

    fn get_att(&self, res: &str, attr: &str, depth: usize) -> Result<String, String> {
        let t = self.template;
        let kind = t
            .resource_type(res)
            .ok_or_else(|| format!("no resource {res}"))?;
        match (kind, attr) {
            ("AWS::DynamoDB::Table", "Arn") => Ok(table_arn(&t.table_name(res, depth)?)),
            ("AWS::SQS::Queue", "Arn") => Ok(queue_arn(&t.queue_name(res, depth)?)),
            ("AWS::SQS::Queue", "QueueName") => t.queue_name(res, depth),
            ("AWS::SQS::Queue", "QueueUrl") => {
                let ctx = self.ctx.ok_or("queue URLs need the AWS endpoint")?;
                Ok(queue_url(&ctx.aws_endpoint, &t.queue_name(res, depth)?))
            }
            ("AWS::Serverless::Function" | "AWS::Lambda::Function", "Arn") => Ok(format!(
                "arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{res}"
            )),
            (k, _) if k.starts_with("AWS::ElastiCache::") => self
                .ctx
                .map(|c| c.redis_url.clone())
                .ok_or_else(|| "cache needs the Redis URL".to_string()),
            (k, a) => Err(format!("GetAtt {res}.{a} ({k}) is not supported locally")),
        }
    }

    /// `Fn::Split`'s `[delimiter, string]` into its pieces.
    fn split(&self, arg: &Json, depth: usize) -> Result<Vec<String>, String> {
        let a = arg.as_array().ok_or("Fn::Split takes a list")?;
        let [delim, source] = a.as_slice() else {
            return Err("Fn::Split takes [delimiter, string]".into());
        };
        let delim = self.value(delim, depth + 1)?;
        if delim.is_empty() {
            return Err("Fn::Split delimiter is empty".into());
        }
        let source = self.value(source, depth + 1)?;
        Ok(source.split(delim.as_str()).map(str::to_string).collect())
    }

    fn sub(&self, arg: &Json, depth: usize) -> Result<String, String> {
        let (text, vars) = match arg {
            Json::String(s) => (s.as_str(), None),
            Json::Array(a) if a.len() == 2 => (
                a[0].as_str().ok_or("Fn::Sub template is not a string")?,
                Some(
                    a[1].as_object()
                        .ok_or("Fn::Sub variables are not a mapping")?,
                ),
            ),
            _ => return Err("bad Fn::Sub".into()),
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or("unterminated ${ in Fn::Sub")?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                // `${!Literal}` renders as `${Literal}`.
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.and_then(|m| m.get(name)) {
                out.push_str(&self.value(v, depth + 1)?);
            } else if let Some((res, attr)) = name.split_once('.') {
                out.push_str(&self.get_att(res, attr, depth + 1)?);
            } else {
                out.push_str(&self.reference(name, depth + 1)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// A GUID for a local stack (CloudFormation's is random per stack), the same for the same
/// stack name on every start: a name-based UUID.
fn local_stack_guid(name: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("rota-local:{name}").as_bytes(),
    )
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_stack_ids_are_guids_that_differ_by_stack() {
        let a = local_stack_guid("rota-local-3000");
        assert_eq!(a, local_stack_guid("rota-local-3000"));
        assert_ne!(a[..8], local_stack_guid("rota-local-3100")[..8]);
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
    }

    #[test]
    fn mentions_is_token_based() {
        assert!(mentions("${RotaCache.RedisEndpoint.Address}", "RotaCache"));
        assert!(mentions("RotaCache", "RotaCache"));
        assert!(!mentions("RotaCacheTtl", "RotaCache"));
    }
}
