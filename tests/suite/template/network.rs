//! The network and what it costs: only the functions that use the cache (Redis) run in the
//! VPC, and the VPC's one always-on endpoint (SSM, for those functions' cold starts) is there
//! only because they need it, in one zone unless deployed with two.

use super::*;

fn functions(t: &Value) -> Vec<(&String, &Value)> {
    of_type(t, "AWS::Serverless::Function").collect()
}

fn in_vpc(f: &Value) -> bool {
    f["Properties"].get("VpcConfig").is_some()
}

fn uses_redis(f: &Value) -> bool {
    f["Properties"]["Environment"]["Variables"]
        .get("REDIS_URL")
        .is_some()
}

/// The `State` the function's handler builds (`type State = ...;` of the handler the table of
/// functions/src/main.rs names for the function's `Handler`), from shared/api/src/handlers/.
fn handler_state(name: &str) -> String {
    let table = std::fs::read_to_string(repo_root().join("functions/src/main.rs"))
        .unwrap_or_else(|e| panic!("functions/src/main.rs: {e}"));
    // `"auth-login" => http auth::Login,`
    let entry = format!("\"{name}\" => ");
    let path = table
        .lines()
        .find_map(|l| l.trim().strip_prefix(&entry))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("{name}: not in the table of functions/src/main.rs"))
        .trim_end_matches(',')
        .to_string();
    let (module, handler) = path.split_once("::").unwrap();
    let source =
        std::fs::read_to_string(repo_root().join(format!("shared/api/src/handlers/{module}.rs")))
            .unwrap();
    let imp = source
        .find(&format!(" for {handler} {{"))
        .unwrap_or_else(|| panic!("{name}: no impl for {module}::{handler}"));
    let after = &source[imp..];
    let state = after.find("type State = ").expect("type State");
    after[state + "type State = ".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn only_functions_that_use_the_cache_run_in_the_vpc() {
    let t = template();
    let mut vpc = 0;
    for (id, f) in functions(&t) {
        assert_eq!(
            in_vpc(f),
            uses_redis(f),
            "{id}: in the VPC exactly when it has REDIS_URL"
        );
        let handler = f["Properties"]["Handler"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: no Handler"));
        let state = handler_state(handler);
        assert_eq!(
            state.starts_with("WithRedis<"),
            uses_redis(f),
            "{id}: its handler's state is {state} (WithRedis<...> connects to Redis)"
        );
        vpc += usize::from(in_vpc(f));
    }
    assert!(
        vpc > 0 && vpc < functions(&t).len(),
        "{vpc} functions in the VPC"
    );
}

#[test]
fn the_vpc_has_no_nat_and_one_interface_endpoint_only_because_vpc_functions_read_ssm() {
    let t = template();
    for kind in [
        "AWS::EC2::NatGateway",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::EgressOnlyInternetGateway",
    ] {
        assert_eq!(of_type(&t, kind).count(), 0, "{kind}");
    }
    let interface: Vec<_> = of_type(&t, "AWS::EC2::VPCEndpoint")
        .filter(|(_, e)| e["Properties"]["VpcEndpointType"] == "Interface")
        .collect();
    let vpc_readers_of_ssm: Vec<_> = functions(&t)
        .into_iter()
        .filter(|(_, f)| {
            in_vpc(f)
                && f["Properties"]["Policies"]
                    .to_string()
                    .contains("ssm:GetParameter")
        })
        .map(|(id, _)| id.clone())
        .collect();
    if vpc_readers_of_ssm.is_empty() {
        assert!(interface.is_empty(), "an interface endpoint nobody needs");
        return;
    }
    // Billed by the zone-hour around the clock: only SSM's, for the functions above.
    assert_eq!(
        interface.len(),
        1,
        "{:?}",
        interface.iter().map(|(id, _)| id).collect::<Vec<_>>()
    );
    let (id, endpoint) = interface[0];
    let service = endpoint["Properties"]["ServiceName"].to_string();
    assert!(service.ends_with(".ssm\"}"), "{id}: {service}");
    // One zone unless deployed with SsmEndpointZones=2.
    let subnets = &endpoint["Properties"]["SubnetIds"]["Fn::If"];
    assert_eq!(subnets[0], "SsmEndpointInTwoZones", "{id}");
    assert_eq!(one_or_many(&subnets[1]).len(), 2, "{id}");
    assert_eq!(one_or_many(&subnets[2]).len(), 1, "{id}");
    assert_eq!(t["Parameters"]["SsmEndpointZones"]["Default"], "1");
}

/// The checkers catch what they are for.
mod checkers_catch {
    use super::*;

    #[test]
    fn a_cached_handlers_state_is_found() {
        assert_eq!(handler_state("auth-login"), "WithRedis<DbAndTokens>");
        assert_eq!(handler_state("users-me-get"), "DbAndTokens");
        assert_eq!(handler_state("reminders-worker"), "DbTokensAndMail");
    }

    #[test]
    fn a_function_in_the_vpc_without_the_cache_is_seen() {
        let t = t(r#"
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      VpcConfig: { SubnetIds: [a], SecurityGroupIds: [b] }
"#);
        let (_, f) = functions(&t)[0];
        assert!(in_vpc(f) && !uses_redis(f));
    }
}
