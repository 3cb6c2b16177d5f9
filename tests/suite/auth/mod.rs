//! Auth (`/api/auth/*`): registration, login and its limits, sessions (refresh and logout),
//! access tokens, and the attacks on them.

mod abuse;
mod devices;
mod login;
mod registration;
mod retries;
mod sessions;
mod stacks;
mod tokens;
