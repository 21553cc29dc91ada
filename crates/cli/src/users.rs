//! `user`: accounts of the web console and the API (add, list, disable,
//! enable, passwd) and their API tokens (add, list, revoke).

use crate::cli::open_store;
use crate::config::Config;
use crate::report::Failure;
use anyhow::Result;
use clap::{Args, Subcommand};
use closedloop_domain::access::Role;
use closedloop_domain::{ErrorCode, Lang};
use closedloop_store::accounts::{generate_password, AccountError, NewUser, UserRecord};
use closedloop_store::Actor;
use std::io::Read;

#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    pub command: UserCommand,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; without --password-stdin a strong password is generated and printed once / 新建用户
    Add {
        /// Sign-in name (letters, digits, '.', '_', '-')
        #[arg(long)]
        name: String,
        /// Name shown in the console and the audit log (default: the sign-in name)
        #[arg(long)]
        display_name: Option<String>,
        /// provincial_commander, city_commander, district_commander, investigator, quarantine_operator, hospital_operator, lab_operator, transfer_dispatcher, admin or public
        #[arg(long)]
        role: String,
        /// Region code at the top of the user's jurisdiction
        #[arg(long)]
        region: String,
        /// Facility of a quarantine-site or hospital operator
        #[arg(long)]
        facility: Option<String>,
        /// Language of the user's pages and messages: zh or en (default: the
        /// language of this command, --lang)
        #[arg(long)]
        user_lang: Option<String>,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users / 用户列表
    List,
    /// Disable a user: their sessions end and their API tokens stop working / 停用用户
    Disable { name: String },
    /// Enable a disabled user / 启用用户
    Enable { name: String },
    /// Set a user's password (read from standard input); ends their sessions / 重置密码
    Passwd {
        name: String,
        /// Read the password from the first line of standard input
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// API tokens of a user / API令牌
    Token(TokenArgs),
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for a user; it is printed once / 新建令牌
    Add {
        name: String,
        /// What the token is for
        #[arg(long)]
        label: String,
    },
    /// List a user's tokens (never the tokens themselves) / 令牌列表
    List { name: String },
    /// Revoke a token by its id / 吊销令牌
    Revoke { id: i64 },
}

fn failure(e: &dyn ErrorCode, lang: Lang) -> anyhow::Error {
    Failure::coded(e, lang).into()
}

fn read_password(lang: Lang) -> Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    let line = s.lines().next().unwrap_or_default().trim_end().to_string();
    if line.is_empty() {
        return Err(Failure::Coded {
            code: "password_missing",
            message: lang
                .pick("标准输入中没有密码", "no password on standard input")
                .into(),
        }
        .into());
    }
    Ok(line)
}

fn time(t: i64, config: &Config) -> String {
    closedloop_domain::time::from_epoch(t)
        .with_timezone(&config.time_zone)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn describe(u: &UserRecord, lang: Lang) -> String {
    let state = if u.is_disabled() {
        lang.pick("已停用", "disabled")
    } else {
        lang.pick("启用", "active")
    };
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
        u.login,
        u.display_name,
        u.role.label(lang),
        u.region_code,
        u.facility_id.as_deref().unwrap_or("-"),
        u.lang,
        state
    )
}

pub async fn run(args: UserArgs, config: &Config) -> Result<()> {
    let lang = config.lang;
    let actor = Actor("cli".into());
    let store = open_store(config).await?;
    let result = match args.command {
        UserCommand::Add {
            name,
            display_name,
            role,
            region,
            facility,
            user_lang,
            password_stdin,
        } => {
            let role = Role::parse(role.trim())
                .map_err(|_| failure(&AccountError::UnknownRole(role.clone()), lang))?;
            let user_lang = match user_lang {
                None => lang,
                Some(raw) => raw.parse::<Lang>().map_err(|_| {
                    failure(
                        &closedloop_domain::DomainError::UnknownValue {
                            value: raw.clone(),
                            expected: "zh en",
                        },
                        lang,
                    )
                })?,
            };
            let (password, generated) = if password_stdin {
                (read_password(lang)?, false)
            } else {
                (generate_password(), true)
            };
            let u = store
                .create_user(
                    &NewUser {
                        login: name,
                        display_name: display_name.unwrap_or_default(),
                        role,
                        region_code: region,
                        facility_id: facility,
                        lang: user_lang,
                        password: password.clone(),
                    },
                    &actor,
                )
                .await
                .map_err(|e| failure(&e, lang))?;
            println!(
                "{}",
                lang.pick(
                    &format!(
                        "已创建用户 {}（{}，{}）",
                        u.login,
                        u.role.label(lang),
                        u.region_code
                    ),
                    &format!(
                        "user {} created ({}, {})",
                        u.login,
                        u.role.label(lang),
                        u.region_code
                    )
                )
            );
            if generated {
                println!(
                    "{}",
                    lang.pick(
                        &format!("初始密码（仅显示这一次）：{password}"),
                        &format!("password (shown this once): {password}")
                    )
                );
            }
            Ok(())
        }
        UserCommand::List => {
            let users = store.users().await.map_err(|e| failure(&e, lang))?;
            println!(
                "{}",
                lang.pick(
                    "用户名\t显示名\t角色\t区划\t场所\t语言\t状态",
                    "login\tname\trole\tregion\tfacility\tlang\tstate"
                )
            );
            for u in &users {
                println!("{}", describe(u, lang));
            }
            Ok(())
        }
        UserCommand::Disable { name } => {
            let u = store
                .set_user_disabled(&name, true, &actor)
                .await
                .map_err(|e| failure(&e, lang))?;
            println!(
                "{}",
                lang.pick(
                    &format!("已停用用户 {}，其登录会话已全部结束", u.login),
                    &format!(
                        "user {} disabled; every session of theirs has ended",
                        u.login
                    )
                )
            );
            Ok(())
        }
        UserCommand::Enable { name } => {
            let u = store
                .set_user_disabled(&name, false, &actor)
                .await
                .map_err(|e| failure(&e, lang))?;
            println!(
                "{}",
                lang.pick(
                    &format!("已启用用户 {}", u.login),
                    &format!("user {} enabled", u.login)
                )
            );
            Ok(())
        }
        UserCommand::Passwd { name, .. } => {
            let password = read_password(lang)?;
            store
                .reset_password(&name, &password, &actor)
                .await
                .map_err(|e| failure(&e, lang))?;
            println!(
                "{}",
                lang.pick(
                    &format!("已重置用户 {name} 的密码，其登录会话已全部结束"),
                    &format!("password of {name} set; every session of theirs has ended")
                )
            );
            Ok(())
        }
        UserCommand::Token(t) => match t.command {
            TokenCommand::Add { name, label } => {
                let t = store
                    .create_api_token(&name, &label, &actor)
                    .await
                    .map_err(|e| failure(&e, lang))?;
                println!(
                    "{}",
                    lang.pick(
                        &format!(
                            "已为 {} 创建令牌 {}（{}），仅显示这一次：",
                            t.record.login, t.record.id, t.record.label
                        ),
                        &format!(
                            "token {} ({}) created for {}; shown this once:",
                            t.record.id, t.record.label, t.record.login
                        )
                    )
                );
                println!("{}", t.token);
                Ok(())
            }
            TokenCommand::List { name } => {
                if store
                    .user_by_login(&name)
                    .await
                    .map_err(|e| failure(&e, lang))?
                    .is_none()
                {
                    return Err(failure(&AccountError::UnknownUser(name), lang));
                }
                let tokens = store
                    .api_tokens(Some(&name))
                    .await
                    .map_err(|e| failure(&e, lang))?;
                println!(
                    "{}",
                    lang.pick(
                        "编号\t用途\t前缀\t创建时间\t最近使用\t状态",
                        "id\tlabel\tprefix\tcreated\tlast used\tstate"
                    )
                );
                for t in &tokens {
                    println!(
                        "{}\t{}\t{}…\t{}\t{}\t{}",
                        t.id,
                        t.label,
                        t.prefix,
                        time(t.created_at, config),
                        t.last_used.map_or("-".into(), |x| time(x, config)),
                        match t.revoked_at {
                            Some(r) => lang.text(
                                format!("已吊销 {}", time(r, config)),
                                format!("revoked {}", time(r, config)),
                            ),
                            None => lang.pick("有效", "active").to_string(),
                        }
                    );
                }
                Ok(())
            }
            TokenCommand::Revoke { id } => {
                store
                    .revoke_api_token(id, &actor)
                    .await
                    .map_err(|e| failure(&e, lang))?;
                println!(
                    "{}",
                    lang.pick(&format!("令牌 {id} 已吊销"), &format!("token {id} revoked"))
                );
                Ok(())
            }
        },
    };
    store.close().await;
    result
}
