//! No fixed physical names: a name the template sets must not collide with a second stack in
//! the same account (and Region, or any Region for global resources such as dashboards), nor
//! with a resource this stack left behind when it was deleted and created again (retained
//! resources: the backup vault). And it must fit its length limit whatever the stack's name
//! (up to 128 characters) and Stage: CloudFormation refuses it otherwise.
//!
//! A name is its own when it names the stack: `AWS::StackId` (unique per creation, the only
//! one a retained resource may rely on), `AWS::StackName` (unique per account and Region while
//! the stack lives; with `AWS::Region` for a global resource), or a resource whose name is
//! generated (a function's log group, `/aws/lambda/${Function}`).

use super::*;

/// Properties that are physical names, by resource type: the longest name each takes, and
/// whether names are global to the account (all Regions).
const NAMES: &[(&str, &str, usize, bool)] = &[
    (
        "AWS::ElastiCache::ServerlessCache",
        "ServerlessCacheName",
        40,
        false,
    ),
    ("AWS::Backup::BackupVault", "BackupVaultName", 50, false),
    (
        "AWS::Backup::BackupPlan",
        "BackupPlan.BackupPlanName",
        50,
        false,
    ),
    ("AWS::CloudWatch::Dashboard", "DashboardName", 255, true),
    ("AWS::CloudWatch::Alarm", "AlarmName", 255, false),
    ("AWS::Logs::LogGroup", "LogGroupName", 512, false),
    ("AWS::DynamoDB::Table", "TableName", 255, false),
    ("AWS::SQS::Queue", "QueueName", 80, false),
    ("AWS::SNS::Topic", "TopicName", 256, false),
    ("AWS::IAM::Role", "RoleName", 64, true),
    ("AWS::EC2::SecurityGroup", "GroupName", 255, false),
    ("AWS::Serverless::Function", "FunctionName", 64, false),
];

/// EventBridge Scheduler's schedule names (SAM's ScheduleV2 events).
const SCHEDULE_NAME_MAX: usize = 64;

/// The longest value of each pseudo parameter in a name.
const STACK_NAME_MAX: usize = 128;
const REGION_MAX: usize = 16;
const FUNCTION_NAME_MAX: usize = 64;
/// `AWS::StackId`'s GUID, and its first group.
const STACK_GUID: usize = 36;
const STACK_GUID_GROUP: usize = 8;

/// What a name expression is made of: its longest length and what it names.
#[derive(Default, Debug)]
struct Name {
    max_len: usize,
    stack_id: bool,
    stack_name: bool,
    region: bool,
    generated: bool,
    unknown: Vec<String>,
}

impl Name {
    fn add(&mut self, other: Name) {
        self.max_len += other.max_len;
        self.stack_id |= other.stack_id;
        self.stack_name |= other.stack_name;
        self.region |= other.region;
        self.generated |= other.generated;
        self.unknown.extend(other.unknown);
    }
}

fn name_of(t: &Value, v: &Value, vars: Option<&serde_json::Map<String, Value>>) -> Name {
    let mut n = Name::default();
    match v {
        Value::String(s) => n.max_len = s.len(),
        Value::Object(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next().unwrap();
            match k.as_str() {
                "Ref" => n.add(reference(t, arg.as_str().unwrap_or_default(), vars)),
                "Fn::Sub" => {
                    let (text, vars) = match arg {
                        Value::Array(a) => (a[0].as_str().unwrap_or_default(), a[1].as_object()),
                        other => (other.as_str().unwrap_or_default(), None),
                    };
                    let mut rest = text;
                    while let Some(start) = rest.find("${") {
                        n.max_len += start;
                        let end = rest[start..].find('}').unwrap() + start;
                        n.add(reference(t, &rest[start + 2..end], vars));
                        rest = &rest[end + 1..];
                    }
                    n.max_len += rest.len();
                }
                // The first group of the stack id's GUID, or the GUID.
                "Fn::Select" if arg.to_string().contains("AWS::StackId") => {
                    n.stack_id = true;
                    n.max_len = if arg[0] == 0 {
                        STACK_GUID_GROUP
                    } else {
                        STACK_GUID
                    };
                }
                _ => n.unknown.push(v.to_string()),
            }
        }
        other => n.unknown.push(other.to_string()),
    }
    n
}

fn reference(t: &Value, name: &str, vars: Option<&serde_json::Map<String, Value>>) -> Name {
    let mut n = Name::default();
    if let Some(v) = vars.and_then(|vars| vars.get(name)) {
        return name_of(t, v, None);
    }
    let base = name.split('.').next().unwrap();
    match base {
        "AWS::StackName" => {
            n.stack_name = true;
            n.max_len = STACK_NAME_MAX;
        }
        "AWS::StackId" => {
            n.stack_id = true;
            n.max_len = 128 + 80;
        }
        "AWS::Region" => {
            n.region = true;
            n.max_len = REGION_MAX;
        }
        _ if t["Parameters"].get(base).is_some() => {
            match t["Parameters"][base]["MaxLength"].as_u64() {
                Some(max) => n.max_len = max as usize,
                None => n
                    .unknown
                    .push(format!("parameter {base} without MaxLength")),
            }
        }
        _ => match t["Resources"][base]["Type"].as_str() {
            // CloudFormation names functions <stack>-<id>-<random>: generated, unique.
            Some("AWS::Serverless::Function" | "AWS::Lambda::Function")
                if t["Resources"][base]["Properties"]
                    .get("FunctionName")
                    .is_none() =>
            {
                n.generated = true;
                n.max_len = FUNCTION_NAME_MAX;
            }
            _ => n.unknown.push(name.to_string()),
        },
    }
    n
}

fn retained(r: &Value) -> bool {
    ["DeletionPolicy", "UpdateReplacePolicy"]
        .iter()
        .any(|p| r[p].as_str().is_some_and(|v| v.starts_with("Retain")))
}

fn check(what: &str, n: &Name, max: usize, global: bool, retained: bool) -> Vec<String> {
    let mut out = Vec::new();
    if !n.unknown.is_empty() {
        out.push(format!(
            "{what}: cannot tell what names it: {:?}",
            n.unknown
        ));
        return out;
    }
    if retained && !n.stack_id {
        out.push(format!(
            "{what}: retained with the stack deleted, so the same stack created again collides \
             unless the name has the stack id (AWS::StackId)"
        ));
    } else if !(n.stack_id || n.stack_name || n.generated) {
        out.push(format!("{what}: fixed, so a second stack collides"));
    } else if global && !(n.stack_id || n.region) {
        out.push(format!(
            "{what}: global to the account: the same stack name in another Region collides \
             (add AWS::Region)"
        ));
    }
    if n.max_len > max {
        out.push(format!(
            "{what}: up to {} characters, over its limit of {max}",
            n.max_len
        ));
    }
    out
}

fn name_findings(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (id, r) in resources(t) {
        for (kind, path, max, global) in NAMES {
            if r["Type"] != *kind {
                continue;
            }
            let value = path.split('.').fold(&r["Properties"], |v, key| &v[key]);
            if value.is_null() {
                continue;
            }
            let n = name_of(t, value, None);
            out.extend(check(
                &format!("{id}.{path}"),
                &n,
                *max,
                *global,
                retained(r),
            ));
        }
        // SAM names a ScheduleV2 schedule after its logical id unless told otherwise: the same
        // name in every stack of the account and Region (the default schedule group).
        for (event, e) in r["Properties"]["Events"].as_object().into_iter().flatten() {
            if e["Type"] != "ScheduleV2" {
                continue;
            }
            let what = format!("{id}.Events.{event}.Name");
            match e["Properties"].get("Name") {
                None => out.push(format!(
                    "{what}: unset, SAM names it {id}{event} in every stack"
                )),
                Some(v) => out.extend(check(
                    &what,
                    &name_of(t, v, None),
                    SCHEDULE_NAME_MAX,
                    false,
                    false,
                )),
            }
        }
    }
    out
}

#[test]
fn no_physical_name_collides_with_another_stack_or_a_re_created_one() {
    let t = template_passing(name_findings);
    // The names the template has to set (required, or SAM's would be fixed) are there.
    for (id, path) in [
        ("RotaCache", "ServerlessCacheName"),
        ("BackupVault", "BackupVaultName"),
        ("OperationsDashboard", "DashboardName"),
    ] {
        assert!(
            !t["Resources"][id]["Properties"][path].is_null(),
            "{id}.{path}"
        );
    }
}

mod checkers_catch {
    use super::*;

    fn findings(resources: &str) -> Vec<String> {
        let parameters = r#"Parameters:
  Stage: { Type: String, Default: prod, MaxLength: 20 }
  Free: { Type: String, Default: x }"#;
        name_findings(&with_function(parameters, "", resources))
    }

    #[test]
    fn own_names_pass() {
        let ok = findings(
            r#"  Cache:
    Type: AWS::ElastiCache::ServerlessCache
    Properties:
      ServerlessCacheName: !Sub ["rota-${Stage}-${Id}", {Id: !Select [0, !Split ["-", !Select [2, !Split ["/", !Ref AWS::StackId]]]]}]
  Vault:
    Type: AWS::Backup::BackupVault
    DeletionPolicy: Retain
    Properties:
      BackupVaultName: !Sub ["rota-${Stage}-${Id}-backups", {Id: !Select [0, !Split ["-", !Select [2, !Split ["/", !Ref AWS::StackId]]]]}]
  Board:
    Type: AWS::CloudWatch::Dashboard
    Properties:
      DashboardName: !Sub ${AWS::StackName}-${AWS::Region}-operations
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub /aws/lambda/${Fn}
  Jobs:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Hourly:
          Type: ScheduleV2
          Properties:
            Name: !Sub ["rota-${Stage}-${Id}-jobs", {Id: !Select [0, !Split ["-", !Select [2, !Split ["/", !Ref AWS::StackId]]]]}]"#,
        );
        assert_eq!(ok, Vec::<String>::new());
    }

    #[test]
    fn fixed_retained_global_long_and_unset_names_fail() {
        for (resource, why) in [
            (
                "  Cache:\n    Type: AWS::ElastiCache::ServerlessCache\n    Properties:\n      ServerlessCacheName: !Sub rota-${Stage}",
                "fixed",
            ),
            (
                "  Vault:\n    Type: AWS::Backup::BackupVault\n    DeletionPolicy: Retain\n    Properties:\n      BackupVaultName: !Sub ${AWS::StackName}-b",
                "created again",
            ),
            (
                "  Board:\n    Type: AWS::CloudWatch::Dashboard\n    Properties:\n      DashboardName: !Sub ${AWS::StackName}-operations",
                "another Region",
            ),
            (
                "  Plan:\n    Type: AWS::Backup::BackupPlan\n    Properties:\n      BackupPlan:\n        BackupPlanName: !Sub ${AWS::StackName}-table",
                "over its limit",
            ),
            (
                "  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !Ref Free",
                "cannot tell",
            ),
            (
                "  Jobs:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        Hourly:\n          Type: ScheduleV2\n          Properties: {}",
                "SAM names it",
            ),
        ] {
            let found = findings(resource);
            assert!(
                found.iter().any(|f| f.contains(why)),
                "{resource}: expected {why:?} in {found:?}"
            );
        }
    }
}
