//! Rota's domain: the types input is parsed into at the edge, ids, refresh tokens, and the
//! day and hour arithmetic of streaks and reminders. Pure code without I/O, so it is tested
//! without a clock, a network or a database.

pub mod backoff;
pub mod cursor;
pub mod ids;
pub mod input;
pub mod locale;
pub mod refresh_token;
pub mod reminder_hours;
pub mod streak;

#[cfg(test)]
mod proptests;
