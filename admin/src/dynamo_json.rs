//! DynamoDB JSON: an `AttributeValue` in its wire form (`{"S":"x"}`, `{"N":"1.5"}`,
//! `{"B":"<base64>"}`, `{"SS":[…]}`, `{"NS":[…]}`, `{"BS":[…]}`, `{"M":{…}}`, `{"L":[…]}`,
//! `{"BOOL":true}`, `{"NULL":true}`), exactly as the DynamoDB API and its export to S3 write it.
//!
//! The SDK's types are not serde, and crates such as `serde_dynamo` map attribute values to
//! plain JSON (a string set and a list of strings both become an array), which cannot round-trip
//! every type. This converter is exact: numbers stay the strings DynamoDB sent, binaries are
//! standard base64, sets keep their members in order.
//!
//! An export line is `{"Item":{<name>:<value>,…}}`, the line format of DynamoDB's own export to
//! S3 (DYNAMODB_JSON), so a file from either can be imported by the other.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value};

pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("attribute {0}: a type this tool does not know (newer SDK?)")]
    UnknownType(String),
    #[error("{0}")]
    Malformed(String),
}

fn malformed(what: impl Into<String>) -> Error {
    Error::Malformed(what.into())
}

/// `value` in DynamoDB JSON. `path` names the attribute in errors.
pub fn to_json(value: &AttributeValue, path: &str) -> Result<Value, Error> {
    let (tag, inner) = match value {
        AttributeValue::S(s) => ("S", Value::String(s.clone())),
        AttributeValue::N(n) => ("N", Value::String(n.clone())),
        AttributeValue::B(b) => ("B", Value::String(B64.encode(b.as_ref()))),
        AttributeValue::Ss(v) => ("SS", v.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(v) => ("NS", v.iter().cloned().map(Value::String).collect()),
        AttributeValue::Bs(v) => (
            "BS",
            v.iter()
                .map(|b| Value::String(B64.encode(b.as_ref())))
                .collect(),
        ),
        AttributeValue::Bool(b) => ("BOOL", Value::Bool(*b)),
        AttributeValue::Null(b) => ("NULL", Value::Bool(*b)),
        AttributeValue::L(v) => (
            "L",
            v.iter()
                .enumerate()
                .map(|(i, v)| to_json(v, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?
                .into(),
        ),
        AttributeValue::M(m) => ("M", Value::Object(map_to_json(m, path)?)),
        _ => return Err(Error::UnknownType(path.to_owned())),
    };
    let mut object = Map::new();
    object.insert(tag.to_owned(), inner);
    Ok(Value::Object(object))
}

/// The path of attribute `k` of the map at `path` (`a.b`; `k` at the top).
fn member(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_owned()
    } else {
        format!("{path}.{k}")
    }
}

fn map_to_json(m: &Item, path: &str) -> Result<Map<String, Value>, Error> {
    m.iter()
        .map(|(k, v)| Ok((k.clone(), to_json(v, &member(path, k))?)))
        .collect()
}

fn strings(v: &Value, path: &str, tag: &str) -> Result<Vec<String>, Error> {
    v.as_array()
        .ok_or_else(|| malformed(format!("{path}: {tag} must be an array")))?
        .iter()
        .map(|s| {
            s.as_str()
                .map(str::to_owned)
                .ok_or_else(|| malformed(format!("{path}: {tag} members must be strings")))
        })
        .collect()
}

fn blob(s: &str, path: &str) -> Result<Blob, Error> {
    B64.decode(s)
        .map(Blob::new)
        .map_err(|e| malformed(format!("{path}: bad base64 ({e})")))
}

/// The `AttributeValue` of a DynamoDB JSON value.
pub fn from_json(value: &Value, path: &str) -> Result<AttributeValue, Error> {
    let object = value
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| malformed(format!("{path}: expected {{\"<type>\": value}}")))?;
    let (tag, v) = object.iter().next().expect("one entry");
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| malformed(format!("{path}: {tag} must be a string")))
    };
    let flag = |v: &Value| {
        v.as_bool()
            .ok_or_else(|| malformed(format!("{path}: {tag} must be a boolean")))
    };
    Ok(match tag.as_str() {
        "S" => AttributeValue::S(text(v)?),
        "N" => AttributeValue::N(text(v)?),
        "B" => AttributeValue::B(blob(&text(v)?, path)?),
        "SS" => AttributeValue::Ss(strings(v, path, tag)?),
        "NS" => AttributeValue::Ns(strings(v, path, tag)?),
        "BS" => AttributeValue::Bs(
            strings(v, path, tag)?
                .iter()
                .map(|s| blob(s, path))
                .collect::<Result<_, _>>()?,
        ),
        "BOOL" => AttributeValue::Bool(flag(v)?),
        "NULL" => AttributeValue::Null(flag(v)?),
        "L" => AttributeValue::L(
            v.as_array()
                .ok_or_else(|| malformed(format!("{path}: L must be an array")))?
                .iter()
                .enumerate()
                .map(|(i, v)| from_json(v, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        "M" => AttributeValue::M(map_from_json(
            v.as_object()
                .ok_or_else(|| malformed(format!("{path}: M must be an object")))?,
            path,
        )?),
        other => return Err(malformed(format!("{path}: unknown type {other:?}"))),
    })
}

fn map_from_json(m: &Map<String, Value>, path: &str) -> Result<Item, Error> {
    m.iter()
        .map(|(k, v)| Ok((k.clone(), from_json(v, &member(path, k))?)))
        .collect()
}

/// One export line (without the newline): `{"Item":{…}}`.
pub fn item_line(item: &Item) -> Result<String, Error> {
    let mut line = Map::new();
    line.insert("Item".into(), Value::Object(map_to_json(item, "")?));
    Ok(Value::Object(line).to_string())
}

/// The item of one export line.
pub fn parse_line(line: &str) -> Result<Item, Error> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| malformed(format!("not JSON: {e}")))?;
    let item = value
        .get("Item")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("expected {\"Item\": {…}}"))?;
    map_from_json(item, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_type() -> Item {
        let b = |bytes: &[u8]| Blob::new(bytes.to_vec());
        HashMap::from([
            ("PK".to_owned(), AttributeValue::S("USER#1 é 🌍".into())),
            ("n".to_owned(), AttributeValue::N("-12.500e3".into())),
            (
                "big".to_owned(),
                AttributeValue::N("12345678901234567890123456789012345678".into()),
            ),
            ("b".to_owned(), AttributeValue::B(b(&[0, 255, 10, 13, 34]))),
            ("empty_b".to_owned(), AttributeValue::B(b(&[]))),
            (
                "ss".to_owned(),
                AttributeValue::Ss(vec!["b".into(), "a".into()]),
            ),
            (
                "ns".to_owned(),
                AttributeValue::Ns(vec!["1".into(), "0.25".into()]),
            ),
            (
                "bs".to_owned(),
                AttributeValue::Bs(vec![b(b"\x00x"), b(b"y")]),
            ),
            ("t".to_owned(), AttributeValue::Bool(true)),
            ("f".to_owned(), AttributeValue::Bool(false)),
            ("null".to_owned(), AttributeValue::Null(true)),
            ("empty_s".to_owned(), AttributeValue::S(String::new())),
            (
                "l".to_owned(),
                AttributeValue::L(vec![
                    AttributeValue::S("x".into()),
                    AttributeValue::L(vec![]),
                    AttributeValue::M(HashMap::new()),
                    AttributeValue::Ns(vec!["7".into()]),
                ]),
            ),
            (
                "m".to_owned(),
                AttributeValue::M(HashMap::from([
                    (
                        "inner".to_owned(),
                        AttributeValue::M(HashMap::from([(
                            "deep".to_owned(),
                            AttributeValue::Bs(vec![b(b"z")]),
                        )])),
                    ),
                    ("n".to_owned(), AttributeValue::Null(true)),
                ])),
            ),
        ])
    }

    #[test]
    fn every_type_round_trips_exactly() {
        let item = every_type();
        let line = item_line(&item).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(parse_line(&line).unwrap(), item);
    }

    #[test]
    fn the_wire_form_is_dynamodbs() {
        let item = HashMap::from([
            ("s".to_owned(), AttributeValue::S("x".into())),
            ("n".to_owned(), AttributeValue::N("1.50".into())),
            ("b".to_owned(), AttributeValue::B(Blob::new(b"hi".to_vec()))),
            ("ss".to_owned(), AttributeValue::Ss(vec!["a".into()])),
            ("z".to_owned(), AttributeValue::Null(true)),
            (
                "l".to_owned(),
                AttributeValue::L(vec![AttributeValue::Bool(false)]),
            ),
        ]);
        let v: Value = serde_json::from_str(&item_line(&item).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"Item": {
                "s": {"S": "x"}, "n": {"N": "1.50"}, "b": {"B": "aGk="},
                "ss": {"SS": ["a"]}, "z": {"NULL": true}, "l": {"L": [{"BOOL": false}]}
            }})
        );
    }

    #[test]
    fn malformed_lines_are_refused_with_the_attribute_named() {
        for (line, needle) in [
            (r#"{"PK":{"S":"x"}}"#, "Item"),
            (r#"{"Item":{"a":{"S":1}}}"#, "a"),
            (r#"{"Item":{"a":{"X":"1"}}}"#, "unknown type"),
            (r#"{"Item":{"a":{"S":"1","N":"1"}}}"#, "a"),
            (r#"{"Item":{"m":{"M":{"b":{"B":"!!"}}}}}"#, "m.b"),
            (r#"{"Item":{"l":{"L":[{"SS":[1]}]}}}"#, "l[0]"),
            ("not json", "not JSON"),
        ] {
            let err = parse_line(line).unwrap_err().to_string();
            assert!(err.contains(needle), "{line}: {err}");
        }
    }
}
