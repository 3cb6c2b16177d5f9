//! Reads the fields of a JSON object body into validated input types, collecting every
//! problem so that one 422 lists them all.

use crate::error::FieldError;

/// Reads the fields of a JSON object body, collecting every problem so that one 422 lists
/// them all.
pub struct Fields<'a> {
    object: &'a serde_json::Map<String, serde_json::Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    pub fn new(object: &'a serde_json::Map<String, serde_json::Value>) -> Self {
        Self {
            object,
            errors: Vec::new(),
        }
    }

    /// The member's value: `None` when absent; an explicit `null` is refused (422), since
    /// it is ambiguous ("clear it"? "leave it"?).
    fn present(&mut self, name: &str) -> Option<&'a serde_json::Value> {
        match self.object.get(name) {
            Some(serde_json::Value::Null) => {
                self.fail(name, "must not be null");
                None
            }
            other => other,
        }
    }

    pub fn fail(&mut self, name: &str, message: &str) {
        self.errors.push(FieldError::new(name, message));
    }

    /// A required string field parsed with `parse`.
    pub fn required<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, &'static str>,
    ) -> Option<T> {
        match self.object.get(name) {
            None | Some(serde_json::Value::Null) => {
                self.fail(name, "is required");
                None
            }
            Some(_) => self.optional(name, parse),
        }
    }

    /// An optional string field; absent or null means `None`.
    pub fn optional<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, &'static str>,
    ) -> Option<T> {
        let value = self.present(name)?.as_str().ok_or("must be a string");
        self.checked(name, value.and_then(parse))
    }

    /// `value`, or `None` with its problem recorded against `name`.
    fn checked<T>(&mut self, name: &str, value: Result<T, &'static str>) -> Option<T> {
        value.map_err(|message| self.fail(name, message)).ok()
    }

    pub fn optional_bool(&mut self, name: &str) -> Option<bool> {
        let value = self.present(name)?.as_bool().ok_or("must be true or false");
        self.checked(name, value)
    }

    pub fn optional_int<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(i64) -> Result<T, &'static str>,
    ) -> Option<T> {
        let value = json_integer(self.present(name)?).ok_or("must be an integer");
        self.checked(name, value.and_then(parse))
    }

    pub fn required_bool(&mut self, name: &str) -> Option<bool> {
        if self.object.get(name).is_none_or(serde_json::Value::is_null) {
            self.fail(name, "is required");
            return None;
        }
        self.optional_bool(name)
    }

    pub fn required_int<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(i64) -> Result<T, &'static str>,
    ) -> Option<T> {
        if self.object.get(name).is_none_or(serde_json::Value::is_null) {
            self.fail(name, "is required");
            return None;
        }
        self.optional_int(name, parse)
    }

    /// An optional array of short strings (at most `max` of them).
    pub fn optional_string_list(&mut self, name: &str, max: usize) -> Option<Vec<String>> {
        let value = self.present(name)?;
        let list: Option<Vec<String>> = value.as_array().and_then(|items| {
            items
                .iter()
                // Characters, not bytes: the document's maxLength counts code points.
                .map(|v| {
                    v.as_str()
                        .filter(|s| s.chars().count() <= 100)
                        .map(str::to_owned)
                })
                .collect()
        });
        let list = list
            .ok_or("must be an array of short strings")
            .and_then(|list| match list.len() <= max {
                true => Ok(list),
                false => Err("has too many entries"),
            });
        self.checked(name, list)
    }

    /// Ends parsing: `Ok(())` when every field was valid.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

/// An integer as JSON Schema reads one: `5` and `5.0` alike (a number with no fractional part,
/// which is what the OpenAPI document's `type: integer` allows and some JSON encoders send).
fn json_integer(value: &serde_json::Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        let f = value.as_f64()?;
        // Beyond ±2^53 a float no longer names one integer; every bound we check is far below.
        (f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0).then_some(f as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rota_domain::input::{Email, Password, ReminderHour};

    #[test]
    fn fields_collect_every_problem() {
        let v = serde_json::json!({"email": 3, "hour": "x", "flag": null});
        let mut f = Fields::new(v.as_object().unwrap());
        assert!(f.required("email", Email::parse).is_none());
        assert!(f.required("password", Password::parse).is_none());
        assert!(f.optional_int("hour", ReminderHour::parse).is_none());
        assert!(f.optional_bool("flag").is_none());
        assert!(f.optional_bool("absent").is_none());
        let errors = f.finish().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "password", "hour", "flag"]);
    }

    #[test]
    fn integers_are_read_as_json_schema_reads_them() {
        let v = serde_json::json!({"a": 5, "b": 5.0, "c": 5.5, "d": "5", "e": -0.0, "f": 1e300});
        let mut f = Fields::new(v.as_object().unwrap());
        assert_eq!(f.optional_int("a", Ok), Some(5));
        assert_eq!(f.optional_int("b", Ok), Some(5));
        assert_eq!(f.optional_int("c", Ok), None);
        assert_eq!(f.optional_int("d", Ok), None);
        assert_eq!(f.optional_int("e", Ok), Some(0));
        assert_eq!(f.optional_int("f", Ok), None);
        let errors = f.finish().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["c", "d", "f"]);
    }
}
