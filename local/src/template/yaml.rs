//! Template text to JSON: CloudFormation short tags (`!Ref`, `!Sub`, `!GetAtt`, ...) become
//! their long form (`{"Ref": ..}`, `{"Fn::Sub": ..}`, `{"Fn::GetAtt": [res, attr]}`) and YAML
//! merge keys are applied, so the rest of the code deals with one shape.

use std::path::PathBuf;

use serde_json::{Map, Value as Json};

use super::model::TemplateError;

/// Template text as JSON, with CloudFormation short tags (`!Sub`, `!Ref`, ...) in their long
/// form and YAML merge keys applied: the shape [`Template::parse`] reads, for checks that need
/// more of the template than the local stack does (`tests/suite/template/`).
pub fn template_json(text: &str) -> Result<Json, TemplateError> {
    let mut yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|error| TemplateError::Yaml {
            path: PathBuf::new(),
            error,
        })?;
    // YAML merge keys (`<<: *anchor`) are legal in templates; resolve them before reading.
    yaml.apply_merge().map_err(|error| TemplateError::Yaml {
        path: PathBuf::new(),
        error,
    })?;
    yaml_to_json(yaml)
}

/// Converts YAML to JSON, turning CloudFormation short tags into their long form.
fn yaml_to_json(v: serde_yaml_ng::Value) -> Result<Json, TemplateError> {
    use serde_yaml_ng::Value as Y;
    Ok(match v {
        Y::Null => Json::Null,
        Y::Bool(b) => Json::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Json::Number)
                    .unwrap_or(Json::Null)
            }
        }
        Y::String(s) => Json::String(s),
        Y::Sequence(items) => Json::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => {
                        return Err(TemplateError::Invalid(format!(
                            "unsupported mapping key {other:?}"
                        )));
                    }
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Json::Object(out)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let key = match name {
                "Ref" | "Condition" => name.to_string(),
                other => format!("Fn::{other}"),
            };
            let mut inner = yaml_to_json(tagged.value)?;
            // `!GetAtt Res.Attr` is the dotted short form of `Fn::GetAtt: [Res, Attr]`.
            if key == "Fn::GetAtt"
                && let Json::String(s) = &inner
                && let Some((res, attr)) = s.split_once('.')
            {
                inner = Json::Array(vec![res.into(), attr.into()]);
            }
            let mut out = Map::new();
            out.insert(key, inner);
            Json::Object(out)
        }
    })
}
