//! One handler per endpoint; each function's `main` names exactly one.

pub mod auth;
pub mod community;
pub mod ops;
pub mod users;
pub mod views;
