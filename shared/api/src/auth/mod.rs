pub mod device;
pub mod password;
pub mod tokens;
