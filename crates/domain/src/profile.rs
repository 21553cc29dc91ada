//! Protocol profiles: the rules of an outbreak response as data. A profile is
//! a TOML file; the three shipped ones are compiled in, and a deployment may
//! override any value with a file of its own.

use serde::{Deserialize, Serialize};

/// The profiles shipped with the binary, by name.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "china-8th",
        include_str!("../../../profiles/china-8th.toml"),
    ),
    (
        "china-9th",
        include_str!("../../../profiles/china-9th.toml"),
    ),
    ("who-2021", include_str!("../../../profiles/who-2021.toml")),
];

/// The profile in force in Jilin in March 2022.
pub const DEFAULT_PROFILE: &str = "china-8th";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    pub version: u32,
    pub title_zh: String,
    pub title_en: String,
    pub tracing: TracingRules,
    pub retention: Retention,
    /// Quarantine and monitoring per managed category (闭环管理).
    pub quarantine: crate::protocol::QuarantineRules,
    /// What a release (or a discharge) needs.
    pub release: crate::protocol::ReleaseRules,
    /// Secondary contacts released early if their close contact tests negative; absent where the category does not exist.
    pub secondary_release: Option<crate::protocol::SecondaryRelease>,
    /// After discharge or release of a case.
    pub treatment: crate::protocol::TreatmentRules,
    /// Time allowed for each step of the loop.
    pub deadlines: crate::protocol::Deadlines,
    /// Who hears of an overdue task, and when.
    pub escalation: crate::protocol::Escalation,
}

/// Who counts as exposed. Minutes unless the name says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracingRules {
    pub lookback_days: u32,
    pub buffer_minutes: u32,
    pub min_overlap_minutes: u32,
    /// More people than this overlapping a case's stay makes the venue crowded; 0 means no cap.
    pub crowd_cap: u32,
    /// At a crowded venue, an overlap at least this long still makes a close contact.
    pub long_overlap_minutes: u32,
    /// Seats within this many rows on the same carriage are close contacts.
    pub co_travel_rows: u32,
    /// Whether secondary close contacts (密接的密接) are traced.
    pub secondary: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub movement_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("unknown profile {0:?}; shipped profiles: china-8th, china-9th, who-2021")]
    Unknown(String),
    #[error("profile {name}: {message}")]
    Invalid { name: String, message: String },
    #[error("profile {name}: {key} must be {rule}")]
    OutOfRange {
        name: String,
        key: &'static str,
        rule: &'static str,
    },
}

impl crate::ErrorCode for ProfileError {
    fn code(&self) -> &'static str {
        match self {
            ProfileError::Unknown(_) => "unknown_profile",
            ProfileError::Invalid { .. } => "invalid_profile",
            ProfileError::OutOfRange { .. } => "profile_value_out_of_range",
        }
    }

    fn message(&self, lang: crate::Lang) -> String {
        match (lang, self) {
            (crate::Lang::En, e) => e.to_string(),
            (crate::Lang::Zh, ProfileError::Unknown(n)) => {
                format!("未知的防控方案“{n}”；内置方案：china-8th、china-9th、who-2021")
            }
            (crate::Lang::Zh, ProfileError::Invalid { name, message }) => {
                format!("防控方案{name}无效：{message}")
            }
            (crate::Lang::Zh, ProfileError::OutOfRange { name, key, rule }) => {
                format!("防控方案{name}：{key}应为{rule}")
            }
        }
    }
}

impl Profile {
    /// A shipped profile by name.
    pub fn shipped(name: &str) -> Result<Profile, ProfileError> {
        let (_, text) = SHIPPED
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ProfileError::Unknown(name.to_string()))?;
        Profile::parse(name, text)
    }

    /// Reads and validates a profile. Errors name the offending key.
    pub fn parse(origin: &str, text: &str) -> Result<Profile, ProfileError> {
        let profile: Profile = toml::from_str(text).map_err(|e| ProfileError::Invalid {
            name: origin.to_string(),
            message: e.message().to_string(),
        })?;
        profile.validate()?;
        Ok(profile)
    }

    /// A shipped profile with a deployment's overrides laid over it: the
    /// override file may hold any subset of keys.
    pub fn with_overrides(
        base: &str,
        overrides: &str,
        origin: &str,
    ) -> Result<Profile, ProfileError> {
        let (_, text) = SHIPPED
            .iter()
            .find(|(n, _)| *n == base)
            .ok_or_else(|| ProfileError::Unknown(base.to_string()))?;
        let invalid = |e: toml::de::Error| ProfileError::Invalid {
            name: origin.to_string(),
            message: e.message().to_string(),
        };
        let mut merged: toml::Table = toml::from_str(text).map_err(invalid)?;
        let extra: toml::Table = toml::from_str(overrides).map_err(invalid)?;
        merge(&mut merged, extra);
        let profile: Profile = merged.try_into().map_err(invalid)?;
        profile.validate()?;
        Ok(profile)
    }

    fn validate(&self) -> Result<(), ProfileError> {
        let t = &self.tracing;
        let out = |key, rule| {
            Err(ProfileError::OutOfRange {
                name: self.name.clone(),
                key,
                rule,
            })
        };
        if !(1..=30).contains(&t.lookback_days) {
            return out("tracing.lookback_days", "1..=30");
        }
        if t.buffer_minutes > 24 * 60 {
            return out("tracing.buffer_minutes", "at most 1440");
        }
        if t.min_overlap_minutes > 24 * 60 {
            return out("tracing.min_overlap_minutes", "at most 1440");
        }
        if t.co_travel_rows > 50 {
            return out("tracing.co_travel_rows", "at most 50");
        }
        if !(1..=3650).contains(&self.retention.movement_days) {
            return out("retention.movement_days", "1..=3650");
        }
        crate::protocol::validate(self).map_err(|(key, rule)| ProfileError::OutOfRange {
            name: self.name.clone(),
            key,
            rule,
        })
    }
}

fn merge(base: &mut toml::Table, extra: toml::Table) {
    for (k, v) in extra {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(e)) => merge(b, e),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_profiles_load_and_differ_where_the_protocols_do() {
        let p8 = Profile::shipped("china-8th").unwrap();
        let p9 = Profile::shipped("china-9th").unwrap();
        let who = Profile::shipped("who-2021").unwrap();
        assert_eq!(
            (
                p8.tracing.lookback_days,
                p9.tracing.lookback_days,
                who.tracing.lookback_days
            ),
            (2, 4, 2)
        );
        assert_eq!(who.tracing.min_overlap_minutes, 15);
        assert!(!who.tracing.secondary);
        assert!(p9.tracing.crowd_cap > 0);
        assert_eq!(p8.retention.movement_days, 28);
    }

    #[test]
    fn overrides_change_only_what_they_name_and_errors_name_the_key() {
        let p =
            Profile::with_overrides("china-8th", "[tracing]\nlookback_days = 3\n", "local.toml")
                .unwrap();
        assert_eq!(p.tracing.lookback_days, 3);
        assert_eq!(p.tracing.buffer_minutes, 30);
        let e =
            Profile::with_overrides("china-8th", "[tracing]\nlookback_days = 0\n", "local.toml")
                .unwrap_err();
        assert!(e.to_string().contains("tracing.lookback_days"), "{e}");
        let e = Profile::with_overrides("china-8th", "[tracing]\nlookbak_days = 3\n", "local.toml")
            .unwrap_err();
        assert!(e.to_string().contains("lookbak_days"), "{e}");
        assert!(matches!(
            Profile::shipped("china-10th"),
            Err(ProfileError::Unknown(_))
        ));
    }
}
