//! Configuration: an optional TOML file, then the environment, then flags.
//! Clap merges flags over environment variables; the file fills what both left out.

use crate::cli::GlobalArgs;
use anyhow::{bail, Context, Result};
use closedloop_domain::profile::{Profile, DEFAULT_PROFILE};
use closedloop_domain::time::DEFAULT_TIME_ZONE;
use closedloop_domain::{ErrorCode, Lang};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where the embedded database lives unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "closedloop-data";
pub const DEFAULT_CONFIG_FILE: &str = "closedloop.toml";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// The optional file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database_url: Option<String>,
    pub lang: Option<String>,
    pub time_zone: Option<String>,
    pub bind: Option<String>,
    /// A shipped protocol profile: china-8th (default), china-9th, who-2021.
    pub profile: Option<String>,
    /// A TOML file whose keys override the profile's.
    pub profile_overrides: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub lang: Lang,
    pub time_zone: chrono_tz::Tz,
    pub bind: String,
    pub profile: Profile,
}

impl Config {
    pub fn resolve(args: &GlobalArgs) -> Result<Config> {
        let (file, path) = match &args.config {
            Some(p) => (Some(read_file(p)?), Some(p.clone())),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => (
                Some(read_file(Path::new(DEFAULT_CONFIG_FILE))?),
                Some(PathBuf::from(DEFAULT_CONFIG_FILE)),
            ),
            None => (None, None),
        };
        let file = file.unwrap_or_default();
        let origin = path.map(|p| p.display().to_string()).unwrap_or_default();

        let url = args.database_url.clone().or(file.database_url);
        let database_url = url
            .unwrap_or_else(|| closedloop_store::default_sqlite_url(Path::new(DEFAULT_DATA_DIR)));

        let lang = match args.lang.as_deref().or(file.lang.as_deref()) {
            None => Lang::default(),
            Some(l) => l.parse().with_context(|| format!("lang ({origin})"))?,
        };
        let time_zone = match args.time_zone.as_deref().or(file.time_zone.as_deref()) {
            None => DEFAULT_TIME_ZONE,
            Some(tz) => match tz.parse::<chrono_tz::Tz>() {
                Ok(tz) => tz,
                Err(_) => bail!(
                    "{}",
                    lang.pick(
                        &format!("未知时区“{tz}”，请使用IANA名称，如 Asia/Shanghai"),
                        &format!(
                            "unknown time zone {tz:?}: use an IANA name such as Asia/Shanghai"
                        )
                    )
                ),
            },
        };
        let bind = args
            .bind
            .clone()
            .or(file.bind)
            .unwrap_or_else(|| DEFAULT_BIND.to_string());
        let profile_name = args
            .profile
            .clone()
            .or(file.profile)
            .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
        let profile = match args.profile_overrides.clone().or(file.profile_overrides) {
            None => Profile::shipped(&profile_name),
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read profile overrides {}", path.display()))?;
                Profile::with_overrides(&profile_name, &text, &path.display().to_string())
            }
        }
        .map_err(|e| anyhow::anyhow!("{}", e.message(lang)))?;
        Ok(Config {
            database_url,
            lang,
            time_zone,
            bind,
            profile,
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read configuration file {}", path.display()))?;
    toml::from_str(&text)
        .with_context(|| format!("configuration file {} is not valid", path.display()))
}
