//! Opaque, tamper-evident pagination cursors: the codec is rota-domain's
//! ([`rota_domain::cursor`]); a cursor it refuses is a 400 here
//! (`From<InvalidCursor> for ApiError`, error.rs).

pub use rota_domain::cursor::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    #[test]
    fn a_refused_cursor_is_a_400_that_says_so() {
        let refused = CursorKey::derive(b"k")
            .decode("posts:new", "a.b")
            .unwrap_err();
        assert!(matches!(
            ApiError::from(refused),
            ApiError::BadRequest(m) if m == "The cursor is invalid or belongs to another list."
        ));
    }
}
