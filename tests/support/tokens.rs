//! Tokens signed with a stack's own JWT secret (held in the emulator's SSM), for tests that
//! need tokens the API never issues. A stack's secret, issuer and audience are what the
//! template gives its functions under that stack's name (`JWT_SECRET_PARAM`, `JWT_ISSUER`,
//! `JWT_AUDIENCE`), resolved by rota-local as the stack itself resolves them.

use rota_api::auth::tokens::{TokenKeys, TokenScope};
use serde_json::Value;

use crate::harness::{repo_root, sdk_config, stack};

/// The template as the stack `stack_name` resolves it.
fn template_of(stack_name: &str) -> rota_local::template::Template {
    rota_local::template::Template::load(repo_root().join("template.yaml"))
        .expect("template")
        .with_stack_name(stack_name)
}

/// The issuer and audience of the stack `stack_name`'s tokens.
pub fn token_scope_of(stack_name: &str) -> TokenScope {
    let template = template_of(stack_name);
    let var = |name: &str| {
        template
            .shared_env(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap_or_else(|| panic!("no function gets {name}"))
    };
    TokenScope {
        issuer: var("JWT_ISSUER"),
        audience: var("JWT_AUDIENCE"),
    }
}

/// The issuer and audience of the running stack's tokens.
pub fn stack_token_scope() -> TokenScope {
    token_scope_of(stack().name())
}

/// An HS256 JWT of `claims` signed with the running stack's own secret (tests that need
/// claims the API never issues, such as `nbf`).
pub async fn stack_signed_jwt(claims: &Value) -> String {
    signed_jwt(claims, &jwt_secret_of(stack().name()).await)
}

/// An HS256 JWT of `claims` signed with `secret`.
pub fn signed_jwt(claims: &Value, secret: &str) -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!(
        "{}.{}",
        b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64.encode(claims.to_string())
    );
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        b64.encode(mac.finalize().into_bytes())
    )
}

/// The JWT secret of the stack `stack_name`, from the running stack's emulator (two stacks of
/// one emulator are two stacks of one account).
pub async fn jwt_secret_of(stack_name: &str) -> String {
    jwt_secret_in(stack_name, &sdk_config().await).await
}

/// The keys the functions of the stack `stack_name` whose emulator is at `aws_endpoint` (a
/// private stack's) sign and verify with.
pub async fn token_keys_at(stack_name: &str, aws_endpoint: &str) -> TokenKeys {
    let sdk = rota_local::stack::sdk_config(aws_endpoint).await;
    TokenKeys::new(
        jwt_secret_in(stack_name, &sdk).await.as_bytes(),
        token_scope_of(stack_name),
    )
    .expect("keys")
}

async fn jwt_secret_in(stack_name: &str, sdk: &aws_config::SdkConfig) -> String {
    let name = rota_local::stack::jwt_secret_name(&template_of(stack_name))
        .expect("the secret's name resolves")
        .expect("the template names a JWT secret");
    let out = aws_sdk_ssm::Client::new(sdk)
        .get_parameter()
        .name(&name)
        .with_decryption(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("the stack's JWT secret parameter {name}: {e:?}"));
    out.parameter.and_then(|p| p.value).expect("value")
}

/// The keys the running stack's functions sign and verify with.
pub async fn stack_token_keys() -> TokenKeys {
    TokenKeys::new(
        jwt_secret_of(stack().name()).await.as_bytes(),
        stack_token_scope(),
    )
    .expect("keys")
}
