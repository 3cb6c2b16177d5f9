//! Tokens signed with the running stack's own JWT secret (held in the emulator's SSM), for
//! tests that need tokens the API never issues.

use serde_json::Value;

use crate::harness::{repo_root, sdk_config};

/// An HS256 JWT of `claims` signed with the running stack's own secret (tests that need
/// claims the API never issues, such as `nbf`).
pub async fn stack_signed_jwt(claims: &Value) -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!(
        "{}.{}",
        b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64.encode(claims.to_string())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(stack_jwt_secret().await.as_bytes())
        .expect("any key length");
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        b64.encode(mac.finalize().into_bytes())
    )
}

async fn stack_jwt_secret() -> String {
    let template =
        rota_local::template::Template::load(repo_root().join("template.yaml")).expect("template");
    let name = template
        .parameter_default("JwtSecretParameterName")
        .expect("JwtSecretParameterName");
    let out = aws_sdk_ssm::Client::new(&sdk_config().await)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .expect("the stack's JWT secret parameter");
    out.parameter.and_then(|p| p.value).expect("value")
}

/// The JWT secret the running stack's functions use (held in the emulator's SSM).
pub async fn stack_token_keys() -> rota_api::auth::tokens::TokenKeys {
    rota_api::auth::tokens::TokenKeys::new(stack_jwt_secret().await.as_bytes()).expect("keys")
}
