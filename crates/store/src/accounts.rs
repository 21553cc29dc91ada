//! Accounts: users with argon2id password hashes, sign-in with throttling,
//! sessions and API tokens, and the audit records of reads (views of a named
//! person, exports) that the console and the API make.
//!
//! Secrets never reach the database in clear: passwords are argon2id PHC
//! strings; session and API tokens are stored as their SHA-256 (hex) and
//! handed to the caller once, when created. Every change here writes its
//! audit entry in the same transaction.

use crate::{audit, get_i64, get_opt_i64, get_opt_str, get_str, now, Actor, Store, StoreError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use closedloop_domain::access::Role;
use closedloop_domain::{ErrorCode, Lang};
use rand_core::{OsRng, RngCore};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;

/// Failures a login's wrong passwords may reach within [`THROTTLE_WINDOW_SECS`]
/// before the login is locked.
pub const MAX_FAILURES_PER_LOGIN: i64 = 5;
/// Failures one address may reach within the window, over every login.
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
/// The window of the counts above, and so how long a lock lasts (15 min).
pub const THROTTLE_WINDOW_SECS: i64 = 15 * 60;
/// A session ends after this long without a request (sliding, 12 h).
pub const SESSION_IDLE_SECS: i64 = 12 * 3600;
/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Every API token starts with this.
pub const TOKEN_PREFIX: &str = "cl_";

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Unknown login or wrong password: the same answer for both.
    #[error("the sign-in name or the password is wrong")]
    InvalidCredentials,
    #[error("too many failed sign-ins; try again in {minutes} minutes")]
    Throttled { minutes: i64 },
    #[error("this account is disabled")]
    Disabled,
    #[error("the password is too weak: at least {MIN_PASSWORD_CHARS} characters, not the sign-in name, with letters and digits")]
    WeakPassword,
    #[error("the sign-in name {0} is taken")]
    LoginTaken(String),
    #[error("invalid sign-in name {0:?}: 2 to 64 letters, digits, '.', '_' or '-'")]
    InvalidLogin(String),
    #[error("unknown role {0:?}")]
    UnknownRole(String),
    #[error("unknown region {0}")]
    UnknownRegion(String),
    #[error("unknown facility {0}")]
    UnknownFacility(String),
    #[error("a {} works in a facility: name the facility (--facility)", .0.label(Lang::En))]
    FacilityRequired(Role),
    #[error("unknown user {0}")]
    UnknownUser(String),
    #[error("unknown API token {0}")]
    UnknownToken(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        AccountError::Store(StoreError::Database(e))
    }
}

impl ErrorCode for AccountError {
    fn code(&self) -> &'static str {
        match self {
            AccountError::InvalidCredentials => "invalid_credentials",
            AccountError::Throttled { .. } => "sign_in_throttled",
            AccountError::Disabled => "account_disabled",
            AccountError::WeakPassword => "weak_password",
            AccountError::LoginTaken(_) => "login_taken",
            AccountError::InvalidLogin(_) => "invalid_login",
            AccountError::UnknownRole(_) => "unknown_role",
            AccountError::UnknownRegion(_) => "unknown_region",
            AccountError::UnknownFacility(_) => "unknown_facility",
            AccountError::FacilityRequired(_) => "facility_required",
            AccountError::UnknownUser(_) => "unknown_user",
            AccountError::UnknownToken(_) => "unknown_token",
            AccountError::Store(e) => e.code(),
        }
    }

    fn message(&self, lang: Lang) -> String {
        match (lang, self) {
            (Lang::En, e) => e.to_string(),
            (Lang::Zh, AccountError::InvalidCredentials) => "用户名或密码错误".into(),
            (Lang::Zh, AccountError::Throttled { minutes }) => {
                format!("登录失败次数过多，请{minutes}分钟后再试")
            }
            (Lang::Zh, AccountError::Disabled) => "该账号已停用".into(),
            (Lang::Zh, AccountError::WeakPassword) => format!(
                "密码强度不足：至少{MIN_PASSWORD_CHARS}个字符，不能与用户名相同，须同时包含字母和数字"
            ),
            (Lang::Zh, AccountError::LoginTaken(l)) => format!("用户名{l}已被占用"),
            (Lang::Zh, AccountError::InvalidLogin(l)) => {
                format!("用户名“{l}”无效：2至64个字母、数字、“.”“_”或“-”")
            }
            (Lang::Zh, AccountError::UnknownRole(r)) => format!("未知角色“{r}”"),
            (Lang::Zh, AccountError::UnknownRegion(c)) => format!("区划代码{c}不存在"),
            (Lang::Zh, AccountError::UnknownFacility(f)) => format!("场所{f}不存在"),
            (Lang::Zh, AccountError::FacilityRequired(r)) => {
                format!("{}须指定所在场所（--facility）", r.label(Lang::Zh))
            }
            (Lang::Zh, AccountError::UnknownUser(u)) => format!("用户{u}不存在"),
            (Lang::Zh, AccountError::UnknownToken(t)) => format!("API令牌{t}不存在"),
            (Lang::Zh, AccountError::Store(e)) => e.message(lang),
        }
    }
}

/// A user as the console and the admin pages show it (no password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRecord {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub role: Role,
    /// The top of the user's jurisdiction.
    pub region_code: String,
    /// The facility of a quarantine-site or hospital operator.
    pub facility_id: Option<String>,
    pub lang: Lang,
    /// When an admin disabled the account.
    pub disabled_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserRecord {
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// What [`Store::create_user`] needs.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub login: String,
    /// Defaults to the login when empty.
    pub display_name: String,
    pub role: Role,
    pub region_code: String,
    pub facility_id: Option<String>,
    pub lang: Lang,
    pub password: String,
}

/// A signed-in session: the plaintext token goes into the cookie, once.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie value. Only its SHA-256 is stored.
    pub token: String,
    /// The anti-forgery token every mutating request of this session carries.
    pub csrf_token: String,
    pub user: UserRecord,
    pub expires_at: i64,
}

/// A live session resolved from its cookie.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub session_id: i64,
    pub csrf_token: String,
    pub user: UserRecord,
    pub expires_at: i64,
}

/// An API token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiTokenRecord {
    pub id: i64,
    pub label: String,
    pub user_id: i64,
    pub login: String,
    /// The token's first characters (`cl_` and 6 more), to recognise it.
    pub prefix: String,
    pub created_at: i64,
    pub last_used: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A token just created: `token` is shown once and never again.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub token: String,
    pub record: ApiTokenRecord,
}

const USER_COLUMNS: &str = "u.id, u.login, u.display_name, u.role, u.region_code, u.facility_id, u.lang, u.disabled_at, u.created_at, u.updated_at";

fn user_from_row(row: &AnyRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: get_i64(row, "id")?,
        login: get_str(row, "login")?,
        display_name: get_str(row, "display_name")?,
        role: crate::decode(&get_str(row, "role")?, Role::parse)?,
        region_code: get_str(row, "region_code")?,
        facility_id: get_opt_str(row, "facility_id")?,
        lang: parse_lang(&get_str(row, "lang")?),
        disabled_at: get_opt_i64(row, "disabled_at")?,
        created_at: get_i64(row, "created_at")?,
        updated_at: get_i64(row, "updated_at")?,
    })
}

fn parse_lang(s: &str) -> Lang {
    match s {
        "en" => Lang::En,
        _ => Lang::Zh,
    }
}

fn lang_str(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "zh",
        Lang::En => "en",
    }
}

/// SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// `bytes` random bytes from the OS, as hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A strong password for a new account (16 characters, letters and digits,
/// no look-alikes), for the CLI and the demo to print once.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    loop {
        let mut buf = [0u8; 16];
        OsRng.fill_bytes(&mut buf);
        let p: String = buf
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect();
        if password_strong_enough(&p, "") {
            return p;
        }
    }
}

/// The rule for passwords: long enough, not the login, letters and digits.
pub fn password_strong_enough(password: &str, login: &str) -> bool {
    password.chars().count() >= MIN_PASSWORD_CHARS
        && !password.eq_ignore_ascii_case(login)
        && password.chars().any(|c| c.is_alphabetic())
        && password.chars().any(|c| c.is_ascii_digit())
}

fn hash_password(password: &str) -> Result<String, AccountError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Store(StoreError::Invalid(format!("password hashing: {e}"))))
}

/// [`hash_password`] on the blocking pool (argon2 is slow on purpose).
async fn hash_off_thread(password: &str) -> Result<String, AccountError> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AccountError::Store(StoreError::Invalid(format!("password hashing: {e}"))))?
}

/// [`verify_password`] on the blocking pool.
async fn verify_off_thread(password: &str, phc: String) -> bool {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .unwrap_or(false)
}

fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the login is unknown, so that an unknown
/// login costs the same time as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-password-0").unwrap_or_default())
}

fn valid_login(login: &str) -> bool {
    (2..=64).contains(&login.chars().count())
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Store {
    /// Creates a user: checks the login, the password's strength, the region
    /// and (for facility operators) the facility; stores an argon2id hash.
    /// Audited as `user_created`.
    pub async fn create_user(
        &self,
        new: &NewUser,
        actor: &Actor,
    ) -> Result<UserRecord, AccountError> {
        let login = new.login.trim();
        if !valid_login(login) {
            return Err(AccountError::InvalidLogin(login.to_string()));
        }
        if !password_strong_enough(&new.password, login) {
            return Err(AccountError::WeakPassword);
        }
        let region = new.region_code.trim();
        let found = sqlx::query("SELECT code FROM regions WHERE code = $1")
            .bind(region)
            .fetch_optional(&self.pool)
            .await?;
        if found.is_none() {
            return Err(AccountError::UnknownRegion(region.to_string()));
        }
        let facility = new
            .facility_id
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty());
        if let Some(f) = facility {
            let found = sqlx::query("SELECT facility_id FROM facilities WHERE facility_id = $1")
                .bind(f)
                .fetch_optional(&self.pool)
                .await?;
            if found.is_none() {
                return Err(AccountError::UnknownFacility(f.to_string()));
            }
        } else if new.role.works_in_a_facility() {
            return Err(AccountError::FacilityRequired(new.role));
        }
        let hash = hash_off_thread(&new.password).await?;
        let display = if new.display_name.trim().is_empty() {
            login.to_string()
        } else {
            new.display_name.trim().to_string()
        };
        let mut tx = self.pool.begin().await?;
        let taken = sqlx::query("SELECT id FROM users WHERE login = $1")
            .bind(login)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            tx.rollback().await?;
            return Err(AccountError::LoginTaken(login.to_string()));
        }
        let at = now();
        let row = sqlx::query(
            "INSERT INTO users (login, display_name, password_hash, role, region_code, facility_id, lang, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(login)
        .bind(&display)
        .bind(&hash)
        .bind(new.role.as_str())
        .bind(region)
        .bind(facility)
        .bind(lang_str(new.lang))
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        let id = get_i64(&row, "id")?;
        audit::record(
            &mut tx,
            actor,
            "user_created",
            "user",
            login,
            serde_json::json!({
                "role": new.role.as_str(),
                "region": region,
                "facility": facility,
                "display_name": display,
            }),
        )
        .await?;
        tx.commit().await?;
        self.user(id)
            .await?
            .ok_or_else(|| AccountError::UnknownUser(login.to_string()))
    }

    /// A user by id.
    pub async fn user(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// A user by sign-in name.
    pub async fn user_by_login(&self, login: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.login = $1"
        ))
        .bind(login.trim())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every user, by login (for the admin page and `closedloop user list`).
    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.login"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn user_or_unknown(&self, login: &str) -> Result<UserRecord, AccountError> {
        self.user_by_login(login)
            .await?
            .ok_or_else(|| AccountError::UnknownUser(login.to_string()))
    }

    /// Checks a sign-in and, when it is right, opens a session. Throttled per
    /// login ([`MAX_FAILURES_PER_LOGIN`] failures in [`THROTTLE_WINDOW_SECS`]
    /// lock it for that long) and per address ([`MAX_FAILURES_PER_ADDRESS`]).
    /// An unknown login and a wrong password give the same error. Audited:
    /// `sign_in` and `sign_in_failed` (with the login and address, never the
    /// password).
    pub async fn sign_in(
        &self,
        login: &str,
        password: &str,
        address: &str,
    ) -> Result<NewSession, AccountError> {
        let login = login.trim();
        let at = now();
        let since = at - THROTTLE_WINDOW_SECS;
        // Forget failures older than the window, and sessions that expired.
        sqlx::query("DELETE FROM sign_in_failures WHERE at < $1")
            .bind(since)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(at)
            .execute(&self.pool)
            .await?;
        // The attempt counts as a failure from the start, so that attempts
        // made at the same time all see each other: at most the allowed
        // number of them get as far as the password check.
        let attempt = get_i64(
            &sqlx::query(
                "INSERT INTO sign_in_failures (login, address, at) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(login)
            .bind(address)
            .bind(at)
            .fetch_one(&self.pool)
            .await?,
            "id",
        )?;
        let forget_attempt = || async {
            sqlx::query("DELETE FROM sign_in_failures WHERE id = $1")
                .bind(attempt)
                .execute(&self.pool)
                .await
        };
        let by_login = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(at) AS first FROM sign_in_failures WHERE login = $1 AND at >= $2",
        )
        .bind(login)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        let by_address = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(at) AS first FROM sign_in_failures WHERE address = $1 AND at >= $2",
        )
        .bind(address)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        for (row, max) in [
            (&by_login, MAX_FAILURES_PER_LOGIN),
            (&by_address, MAX_FAILURES_PER_ADDRESS),
        ] {
            // Counted with this attempt: `max` failures before it lock.
            if get_i64(row, "n")? > max {
                // A refused attempt does not extend the lock.
                forget_attempt().await?;
                let first = get_opt_i64(row, "first")?.unwrap_or(at);
                let minutes = ((first + THROTTLE_WINDOW_SECS - at) / 60 + 1).max(1);
                let mut tx = self.pool.begin().await?;
                audit::record(
                    &mut tx,
                    &Actor(format!("sign-in:{login}")),
                    "sign_in_throttled",
                    "user",
                    login,
                    serde_json::json!({ "address": address }),
                )
                .await?;
                tx.commit().await?;
                return Err(AccountError::Throttled { minutes });
            }
        }
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.login = $1"
        ))
        .bind(login)
        .fetch_optional(&self.pool)
        .await?;
        let (user, phc) = match &row {
            Some(r) => (Some(user_from_row(r)?), get_str(r, "password_hash")?),
            // An unknown login costs the same time as a wrong password.
            None => (None, dummy_hash().to_string()),
        };
        // argon2 is slow on purpose: off the async workers.
        let ok = verify_off_thread(password, phc).await && user.is_some();
        let mut tx = self.pool.begin().await?;
        let user = match (user, ok) {
            (Some(u), true) => u,
            (user, _) => {
                // The attempt's row stays: it is the failure.
                audit::record(
                    &mut tx,
                    &Actor(format!("sign-in:{login}")),
                    "sign_in_failed",
                    "user",
                    login,
                    serde_json::json!({ "address": address, "known_login": user.is_some() }),
                )
                .await?;
                tx.commit().await?;
                return Err(AccountError::InvalidCredentials);
            }
        };
        if user.is_disabled() {
            // Not a wrong password: the attempt does not count as a failure.
            sqlx::query("DELETE FROM sign_in_failures WHERE id = $1")
                .bind(attempt)
                .execute(&mut *tx)
                .await?;
            audit::record(
                &mut tx,
                &Actor(format!("user:{login}")),
                "sign_in_refused",
                "user",
                login,
                serde_json::json!({ "address": address, "reason": "account_disabled" }),
            )
            .await?;
            tx.commit().await?;
            return Err(AccountError::Disabled);
        }
        sqlx::query("DELETE FROM sign_in_failures WHERE login = $1")
            .bind(login)
            .execute(&mut *tx)
            .await?;
        let token = random_hex(32);
        let csrf_token = random_hex(32);
        let expires_at = at + SESSION_IDLE_SECS;
        sqlx::query(
            "INSERT INTO sessions (token_hash, csrf_token, user_id, created_at, last_seen, expires_at, address)
             VALUES ($1, $2, $3, $4, $4, $5, $6)",
        )
        .bind(token_hash(&token))
        .bind(&csrf_token)
        .bind(user.id)
        .bind(at)
        .bind(expires_at)
        .bind(address)
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            &Actor(format!("user:{login}")),
            "sign_in",
            "user",
            login,
            serde_json::json!({ "address": address }),
        )
        .await?;
        tx.commit().await?;
        Ok(NewSession {
            token,
            csrf_token,
            user,
            expires_at,
        })
    }

    /// The session of a cookie's token, when it has not expired and its user
    /// is not disabled. Slides the expiry ([`SESSION_IDLE_SECS`] from now),
    /// writing at most once a minute.
    pub async fn session(&self, token: &str) -> Result<Option<SessionInfo>, StoreError> {
        let at = now();
        let row = sqlx::query(&format!(
            "SELECT s.id AS session_id, s.csrf_token, s.last_seen, s.expires_at, {USER_COLUMNS}
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
        ))
        .bind(token_hash(token))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from_row(&row)?;
        let session_id = get_i64(&row, "session_id")?;
        let mut expires_at = get_i64(&row, "expires_at")?;
        if expires_at <= at || user.is_disabled() {
            return Ok(None);
        }
        if at - get_i64(&row, "last_seen")? >= 60 {
            expires_at = at + SESSION_IDLE_SECS;
            sqlx::query("UPDATE sessions SET last_seen = $1, expires_at = $2 WHERE id = $3")
                .bind(at)
                .bind(expires_at)
                .bind(session_id)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(SessionInfo {
            session_id,
            csrf_token: get_str(&row, "csrf_token")?,
            user,
            expires_at,
        }))
    }

    /// Ends the session of this token (sign-out). Audited as `sign_out`.
    pub async fn end_session(&self, token: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT u.login FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        )
        .bind(token_hash(token))
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = row {
            let login = get_str(&row, "login")?;
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(token_hash(token))
                .execute(&mut *tx)
                .await?;
            audit::record(
                &mut tx,
                &Actor(format!("user:{login}")),
                "sign_out",
                "user",
                &login,
                serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Changes one's own password: needs the old one. Ends every session of
    /// the user (the caller signs in again). Audited as `password_changed`.
    pub async fn change_password(
        &self,
        login: &str,
        old: &str,
        new: &str,
    ) -> Result<(), AccountError> {
        let row = sqlx::query("SELECT password_hash FROM users WHERE login = $1")
            .bind(login)
            .fetch_optional(&self.pool)
            .await?;
        let ok = match &row {
            Some(r) => verify_off_thread(old, get_str(r, "password_hash")?).await,
            None => false,
        };
        if !ok {
            return Err(AccountError::InvalidCredentials);
        }
        self.set_password(
            login,
            new,
            &Actor(format!("user:{login}")),
            "password_changed",
        )
        .await
    }

    /// An admin sets a user's password (without the old one). Ends every
    /// session of the user. Audited as `password_reset`.
    pub async fn reset_password(
        &self,
        login: &str,
        new: &str,
        actor: &Actor,
    ) -> Result<(), AccountError> {
        self.set_password(login, new, actor, "password_reset").await
    }

    async fn set_password(
        &self,
        login: &str,
        new: &str,
        actor: &Actor,
        action: &str,
    ) -> Result<(), AccountError> {
        let user = self.user_or_unknown(login).await?;
        if !password_strong_enough(new, &user.login) {
            return Err(AccountError::WeakPassword);
        }
        let hash = hash_off_thread(new).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(&hash)
            .bind(now())
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        audit::record(
            &mut tx,
            actor,
            action,
            "user",
            &user.login,
            serde_json::json!({ "sessions_ended": ended }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Disables (`true`) or enables a user. Disabling ends every session at
    /// once and its API tokens stop resolving. Audited as `user_disabled` /
    /// `user_enabled`.
    pub async fn set_user_disabled(
        &self,
        login: &str,
        disabled: bool,
        actor: &Actor,
    ) -> Result<UserRecord, AccountError> {
        let user = self.user_or_unknown(login).await?;
        let at = now();
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET disabled_at = $1, updated_at = $2 WHERE id = $3")
            .bind(disabled.then_some(at))
            .bind(at)
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
        let mut ended = 0;
        if disabled {
            ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        audit::record(
            &mut tx,
            actor,
            if disabled {
                "user_disabled"
            } else {
                "user_enabled"
            },
            "user",
            &user.login,
            serde_json::json!({ "sessions_ended": ended }),
        )
        .await?;
        tx.commit().await?;
        self.user_or_unknown(login).await
    }

    /// Sets a user's language (their pages and messages). Audited as `user_changed`.
    pub async fn set_user_lang(
        &self,
        login: &str,
        lang: Lang,
        actor: &Actor,
    ) -> Result<(), AccountError> {
        let user = self.user_or_unknown(login).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET lang = $1, updated_at = $2 WHERE id = $3")
            .bind(lang_str(lang))
            .bind(now())
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            actor,
            "user_changed",
            "user",
            &user.login,
            serde_json::json!({ "lang": lang_str(lang) }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates an API token for `login`, labelled. The token (`cl_` and 64 hex
    /// digits) is in the answer once; only its SHA-256 is stored. It carries
    /// its owner's role and jurisdiction. Audited as `token_created`.
    pub async fn create_api_token(
        &self,
        login: &str,
        label: &str,
        actor: &Actor,
    ) -> Result<NewApiToken, AccountError> {
        let user = self.user_or_unknown(login).await?;
        let token = format!("{TOKEN_PREFIX}{}", random_hex(32));
        let prefix: String = token.chars().take(TOKEN_PREFIX.len() + 6).collect();
        let label = label.trim();
        let at = now();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO api_tokens (label, user_id, token_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(label)
        .bind(user.id)
        .bind(token_hash(&token))
        .bind(&prefix)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        let id = get_i64(&row, "id")?;
        audit::record(
            &mut tx,
            actor,
            "token_created",
            "api_token",
            &id.to_string(),
            serde_json::json!({ "owner": user.login, "label": label, "prefix": prefix }),
        )
        .await?;
        tx.commit().await?;
        Ok(NewApiToken {
            token,
            record: ApiTokenRecord {
                id,
                label: label.to_string(),
                user_id: user.id,
                login: user.login,
                prefix,
                created_at: at,
                last_used: None,
                revoked_at: None,
            },
        })
    }

    /// The owner of an API token, when it is neither revoked nor its owner
    /// disabled. Notes when it was last used (at most once a minute).
    pub async fn resolve_api_token(&self, token: &str) -> Result<Option<UserRecord>, StoreError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT t.id AS token_id, t.last_used, {USER_COLUMNS}
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
        ))
        .bind(token_hash(token))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from_row(&row)?;
        if user.is_disabled() {
            return Ok(None);
        }
        let at = now();
        if get_opt_i64(&row, "last_used")?.is_none_or(|t| at - t >= 60) {
            sqlx::query("UPDATE api_tokens SET last_used = $1 WHERE id = $2")
                .bind(at)
                .bind(get_i64(&row, "token_id")?)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(user))
    }

    /// Revokes a token at once. Audited as `token_revoked`.
    pub async fn revoke_api_token(&self, id: i64, actor: &Actor) -> Result<(), AccountError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            tx.rollback().await?;
            return Err(AccountError::UnknownToken(id));
        }
        audit::record(
            &mut tx,
            actor,
            "token_revoked",
            "api_token",
            &id.to_string(),
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// API tokens, newest first: of one owner (`Some(login)`) or every user's
    /// (`None`, for the admin page). Revoked ones are included, marked.
    pub async fn api_tokens(&self, owner: Option<&str>) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.label, t.user_id, u.login, t.prefix, t.created_at, t.last_used, t.revoked_at
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE ($1 = '' OR u.login = $1) ORDER BY t.id DESC",
        )
        .bind(owner.unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiTokenRecord {
                    id: get_i64(r, "id")?,
                    label: get_str(r, "label")?,
                    user_id: get_i64(r, "user_id")?,
                    login: get_str(r, "login")?,
                    prefix: get_str(r, "prefix")?,
                    created_at: get_i64(r, "created_at")?,
                    last_used: get_opt_i64(r, "last_used")?,
                    revoked_at: get_opt_i64(r, "revoked_at")?,
                })
            })
            .collect()
    }

    /// Audits that `actor` viewed a named record (a person's page, a case
    /// with its person's identity): `entity` is `person` or `case`, `id` its
    /// id, `detail` anything useful (which page or endpoint).
    pub async fn audit_view(
        &self,
        actor: &Actor,
        entity: &str,
        id: &str,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        audit::record(&mut tx, actor, "view", entity, id, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Audits an export: `what` names the list (`persons`, `cases`, …),
    /// `filter` the filter that selected it, `rows` how many rows left.
    pub async fn audit_export(
        &self,
        actor: &Actor,
        what: &str,
        filter: serde_json::Value,
        rows: u64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        audit::record(
            &mut tx,
            actor,
            "export",
            what,
            "",
            serde_json::json!({ "filter": filter, "rows": rows }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
