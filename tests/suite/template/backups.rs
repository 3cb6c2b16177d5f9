//! The table is protected from deletion and backed up (point-in-time recovery, daily and
//! monthly AWS Backup rules into a retained vault).

use super::*;

#[test]
fn the_table_is_protected_and_backed_up() {
    let t = template();
    let table = &t["Resources"]["RotaTable"];
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["Properties"]["DeletionProtectionEnabled"], true);
    assert_eq!(
        table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );

    let (_, selection) = of_type(&t, "AWS::Backup::BackupSelection")
        .next()
        .expect("a backup selection");
    let sel = &selection["Properties"]["BackupSelection"];
    assert!(
        one_or_many(&sel["Resources"])
            .iter()
            .any(|r| r["Fn::GetAtt"] == serde_json::json!(["RotaTable", "Arn"])),
        "the selection does not name RotaTable: {sel}"
    );
    let role_id = sel["IamRoleArn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("a role of the stack");
    let role = &t["Resources"][role_id];
    assert_eq!(role["Type"], "AWS::IAM::Role");
    assert!(
        role["Properties"]["ManagedPolicyArns"]
            .to_string()
            .contains("service-role/AWSBackupServiceRolePolicyForBackup")
    );
    assert!(
        role["Properties"]["AssumeRolePolicyDocument"]
            .to_string()
            .contains("backup.amazonaws.com")
    );

    let plan_id = selection["Properties"]["BackupPlanId"]["Ref"]
        .as_str()
        .unwrap();
    let rules = &t["Resources"][plan_id]["Properties"]["BackupPlan"]["BackupPlanRule"];
    let kept: Vec<(String, i64)> = one_or_many(rules)
        .into_iter()
        .map(|r| {
            (
                r["ScheduleExpression"].as_str().unwrap().to_string(),
                r["Lifecycle"]["DeleteAfterDays"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        kept.contains(&("cron(0 3 * * ? *)".into(), 35)),
        "daily, 35 days: {kept:?}"
    );
    assert!(
        kept.iter()
            .any(|(cron, days)| cron.contains(" 1 * ? *") && *days >= 365),
        "monthly, a year: {kept:?}"
    );
    let vault = one_or_many(rules)[0]["TargetBackupVault"]["Ref"]
        .as_str()
        .unwrap();
    assert_eq!(t["Resources"][vault]["DeletionPolicy"], "Retain");
}
