//! One handler per endpoint; each function's `main` names exactly one.

pub mod auth;
pub mod community;
pub mod dashboard;
pub mod jobs;
pub mod notifications;
pub mod ops;
pub mod roadmaps;
pub mod users;
pub mod views;
