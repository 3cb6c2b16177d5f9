//! The one mapping between entities and items: each entity's attributes are a serde struct,
//! written and read by `serde_dynamo`, so a field's read and its write cannot disagree. Keys
//! (`PK`, `SK`), the `entity` marker and index attributes are added here and by each module
//! explicitly, next to the serialized entity, as `docs/data-model.md` lists them.
//!
//! The attribute types are those the hand-written mapping wrote: integers and floats `N`,
//! strings and times `S` (RFC 3339, [`millis`] or [`rfc3339`] as each item always had),
//! booleans `BOOL`; an optional attribute is absent, never `NULL` (`skip_serializing_if`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Item, Key, StoreResult, s};

/// The item of `value` at `key`, marked as `entity`.
pub fn entity_item<T: Serialize>(key: Key, entity: &str, value: &T) -> StoreResult<Item> {
    let mut item: Item = serde_dynamo::to_item(value)?;
    let (pk, sk) = key;
    item.insert("PK".into(), s(pk));
    item.insert("SK".into(), s(sk));
    item.insert("entity".into(), s(entity));
    Ok(item)
}

/// The entity an item holds (its key and other attributes are not read). Takes the item:
/// serde_dynamo reads its own value type, so a borrowed item would be copied whole first (on a
/// feed page that copy was most of the mapping's cost); a caller that keeps the item clones it
/// where it reads.
pub fn read<T: DeserializeOwned>(item: Item) -> StoreResult<T> {
    Ok(serde_dynamo::from_item(item)?)
}

/// A time as `2026-01-02T03:04:05.678Z` (milliseconds, `Z`): the posts', comments',
/// roadmaps' and notifications' times. Read as any RFC 3339 time.
pub mod millis {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn format(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<DateTime<Utc>, D::Error> {
        super::parse(&String::deserialize(from)?)
    }

    /// The same for an optional time (absent: `None`).
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            to: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, to),
                None => to.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            from: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<String>::deserialize(from)?
                .map(|t| super::super::parse(&t))
                .transpose()
        }
    }
}

/// A time as `chrono`'s `to_rfc3339` writes it (`…+00:00`, sub-seconds as needed): the user's
/// `created_at`.
pub mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_str(&t.to_rfc3339())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<DateTime<Utc>, D::Error> {
        super::parse(&String::deserialize(from)?)
    }
}

fn parse<E: serde::de::Error>(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, E> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(E::custom)
}

/// A value stored as its JSON text in a string attribute (a roadmap's steps).
pub mod json_text {
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(value: &T, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_str(&serde_json::to_string(value).map_err(serde::ser::Error::custom)?)
    }

    pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
        from: D,
    ) -> Result<T, D::Error> {
        serde_json::from_str(&String::deserialize(from)?).map_err(serde::de::Error::custom)
    }
}

/// For `skip_serializing_if`.
pub fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// For `skip_serializing_if`.
pub fn is_true(v: &bool) -> bool {
    *v
}

/// For `default`.
pub fn yes() -> bool {
    true
}
