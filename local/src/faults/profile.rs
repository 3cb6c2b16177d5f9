//! The profiles file: its sections, and the checks a profile passes before it is used.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use super::NO_FAULTS;

/// The profiles file: `profiles: {name: profile}`.
#[derive(Debug, Deserialize)]
struct ProfilesFile {
    profiles: BTreeMap<String, FaultProfile>,
}

/// One fault profile.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultProfile {
    /// Its name in the file (not part of the YAML).
    #[serde(skip)]
    pub name: String,
    #[serde(default)]
    pub seed: u64,
    /// For the emulator wrapper; not interpreted here.
    #[serde(default)]
    pub dynamodb: Option<serde_yaml_ng::Value>,
    /// For the emulator wrapper; not interpreted here.
    #[serde(default)]
    pub sqs: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub redis: Option<RedisFaults>,
    #[serde(default)]
    pub lambda: Option<LambdaFaults>,
}

/// The `redis` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisFaults {
    #[serde(default)]
    pub outage: Option<RedisOutage>,
}

/// `redis.outage`: down for `down_s` seconds of every `every_s`, starting `offset_s` into each
/// period (counted from the proxy's start).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisOutage {
    pub every_s: f64,
    pub down_s: f64,
    #[serde(default)]
    pub offset_s: f64,
    #[serde(default)]
    pub mode: OutageMode,
}

/// What a new connection meets during an outage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutageMode {
    /// Accepted and reset at once: the client sees a refused/reset connection.
    #[default]
    Refuse,
    /// Accepted, read and never answered, like a failed node behind a load balancer.
    Blackhole,
}

/// The `lambda` section: rates per invocation.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaFaults {
    #[serde(default)]
    pub crash_mid: f64,
    #[serde(default)]
    pub crash_idle: f64,
    #[serde(default)]
    pub timeout: f64,
    /// Function logical ids the faults apply to (default: all).
    #[serde(default)]
    pub functions: Option<Vec<String>>,
}

impl FaultProfile {
    /// The `none` profile.
    pub fn none() -> Self {
        Self {
            name: NO_FAULTS.into(),
            ..Self::default()
        }
    }

    /// The profile `name` of the file at `path`. `none` is built in and reads no file, so a
    /// stack without faults never depends on it.
    pub fn load(path: &Path, name: &str) -> anyhow::Result<Self> {
        if name == NO_FAULTS {
            return Ok(Self::none());
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the fault profiles {}", path.display()))?;
        Self::parse(&text, name).with_context(|| format!("in {}", path.display()))
    }

    /// The profile `name` of a profiles file's text.
    pub fn parse(yaml: &str, name: &str) -> anyhow::Result<Self> {
        let mut all = parse_profiles(yaml)?;
        match all.remove(name) {
            Some(p) => Ok(p),
            None => bail!(
                "no fault profile {name:?}; the profiles are: {}",
                all.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// Whether the emulator has something to inject (a `dynamodb` or `sqs` section).
    pub fn has_emulator_faults(&self) -> bool {
        self.dynamodb.is_some() || self.sqs.is_some()
    }

    /// The Redis outage schedule, if any.
    pub fn redis_outage(&self) -> Option<RedisOutage> {
        self.redis.as_ref().and_then(|r| r.outage)
    }

    /// One line for the log: what this profile injects, and where.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.has_emulator_faults() {
            let sections: Vec<&str> = [("dynamodb", &self.dynamodb), ("sqs", &self.sqs)]
                .iter()
                .filter(|(_, s)| s.is_some())
                .map(|(n, _)| *n)
                .collect();
            parts.push(format!("{} in the emulator", sections.join(" and ")));
        }
        if let Some(o) = self.redis_outage() {
            parts.push(format!(
                "Redis down {} s of every {} s from {} s ({})",
                o.down_s,
                o.every_s,
                o.offset_s,
                match o.mode {
                    OutageMode::Refuse => "refuse",
                    OutageMode::Blackhole => "blackhole",
                }
            ));
        }
        if let Some(l) = &self.lambda {
            let mut s = format!(
                "Lambda crash_mid {}, crash_idle {}, timeout {}",
                l.crash_mid, l.crash_idle, l.timeout
            );
            if let Some(f) = &l.functions {
                let _ = write!(s, " (only {})", f.join(", "));
            }
            parts.push(s);
        }
        if parts.is_empty() {
            format!("fault profile {}: no faults", self.name)
        } else {
            format!(
                "fault profile {} (seed {}): {}",
                self.name,
                self.seed,
                parts.join("; ")
            )
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        if let Some(o) = self.redis_outage() {
            let finite = [o.every_s, o.down_s, o.offset_s]
                .iter()
                .all(|v| v.is_finite());
            if !finite || o.every_s <= 0.0 {
                bail!("redis.outage.every_s must be a positive number of seconds");
            }
            if !(0.0..=o.every_s).contains(&o.down_s) {
                bail!(
                    "redis.outage.down_s must be between 0 and every_s ({})",
                    o.every_s
                );
            }
            if o.offset_s < 0.0 {
                bail!("redis.outage.offset_s must not be negative");
            }
        }
        if let Some(l) = &self.lambda {
            for (key, rate) in [
                ("crash_mid", l.crash_mid),
                ("crash_idle", l.crash_idle),
                ("timeout", l.timeout),
            ] {
                if !(0.0..=1.0).contains(&rate) {
                    bail!("lambda.{key} is a probability: 0.0 to 1.0, not {rate}");
                }
            }
        }
        Ok(())
    }
}

/// Every profile of a profiles file, checked.
pub fn parse_profiles(yaml: &str) -> anyhow::Result<BTreeMap<String, FaultProfile>> {
    let file: ProfilesFile =
        serde_yaml_ng::from_str(yaml).context("the fault profiles do not parse")?;
    let mut out = BTreeMap::new();
    for (name, mut profile) in file.profiles {
        profile
            .validate()
            .with_context(|| format!("fault profile {name}"))?;
        profile.name = name.clone();
        out.insert(name, profile);
    }
    Ok(out)
}
