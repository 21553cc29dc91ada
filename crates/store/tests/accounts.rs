//! Accounts on SQLite and (when configured) PostgreSQL: users, sign-in and its
//! throttling, sessions, API tokens, and their audit records.

use closedloop_domain::access::Role;
use closedloop_domain::region::{Region, RegionLevel};
use closedloop_domain::{ErrorCode, Lang};
use closedloop_store::accounts::{AccountError, NewUser};
use closedloop_store::testing::TestDatabase;
use closedloop_store::{Actor, AuditFilter, ImportMode, Store};

async fn regions(store: &Store) {
    let r = |code: &str, parent: Option<&str>, level| {
        (
            2,
            Region {
                code: code.into(),
                parent_code: parent.map(Into::into),
                level,
                name_zh: code.into(),
                name_en: code.into(),
                population: 1,
            },
        )
    };
    store
        .import_regions(
            &[
                r("220000", None, RegionLevel::Province),
                r("220100", Some("220000"), RegionLevel::City),
                r("220102", Some("220100"), RegionLevel::District),
            ],
            ImportMode::default(),
            "test",
            &Actor::system(),
        )
        .await
        .unwrap();
}

fn new_user(login: &str, role: Role, region: &str, password: &str) -> NewUser {
    NewUser {
        login: login.into(),
        display_name: String::new(),
        role,
        region_code: region.into(),
        facility_id: None,
        lang: Lang::Zh,
        password: password.into(),
    }
}

const PW: &str = "correct horse 42";

#[tokio::test]
async fn users_sign_in_and_sessions() {
    for db in TestDatabase::each("accounts").await {
        let store = db.open().await;
        regions(&store).await;
        let admin = Actor("cli".into());
        let u = store
            .create_user(
                &new_user("wang", Role::DistrictCommander, "220102", PW),
                &admin,
            )
            .await
            .unwrap();
        assert_eq!(u.display_name, "wang");
        assert_eq!(u.role, Role::DistrictCommander);

        // Refusals, each with its code.
        let refused = [
            (new_user("wang", Role::Admin, "220000", PW), "login_taken"),
            (new_user("li", Role::Admin, "999999", PW), "unknown_region"),
            (
                new_user("li", Role::Admin, "220000", "short1"),
                "weak_password",
            ),
            (
                new_user("li", Role::Admin, "220000", "onlyletterslong"),
                "weak_password",
            ),
            (
                new_user("li li", Role::Admin, "220000", PW),
                "invalid_login",
            ),
            (
                new_user("li", Role::QuarantineOperator, "220000", PW),
                "facility_required",
            ),
        ];
        for (n, code) in refused {
            let e = store.create_user(&n, &admin).await.unwrap_err();
            assert_eq!(e.code(), code, "{}", n.login);
            assert!(!e.message(Lang::Zh).is_empty());
        }

        // The hash is argon2id, never the password.
        let stored: String = sqlx_row(&db.url, "SELECT password_hash FROM users").await;
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains(PW));

        // Unknown login and wrong password: the same error.
        let a = store.sign_in("nobody", PW, "10.0.0.1").await.unwrap_err();
        let b = store
            .sign_in("wang", "wrong pass 1", "10.0.0.1")
            .await
            .unwrap_err();
        assert_eq!(a.code(), "invalid_credentials");
        assert_eq!(b.code(), "invalid_credentials");
        assert_eq!(a.message(Lang::En), b.message(Lang::En));

        let s = store.sign_in("wang", PW, "10.0.0.1").await.unwrap();
        assert_eq!(s.token.len(), 64);
        let found = store.session(&s.token).await.unwrap().unwrap();
        assert_eq!(found.user.login, "wang");
        assert_eq!(found.csrf_token, s.csrf_token);
        assert!(store.session("not-a-token").await.unwrap().is_none());
        // Only the hash is stored.
        let hashes: String = sqlx_row(&db.url, "SELECT token_hash FROM sessions").await;
        assert_ne!(hashes, s.token);

        // Password change needs the old one and ends the sessions.
        let e = store
            .change_password("wang", "wrong pass 1", "new password 7")
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_credentials");
        store
            .change_password("wang", PW, "new password 7")
            .await
            .unwrap();
        assert!(store.session(&s.token).await.unwrap().is_none());
        let s = store
            .sign_in("wang", "new password 7", "10.0.0.1")
            .await
            .unwrap();

        // Disabling ends the session and refuses sign-in; enabling restores it.
        store.set_user_disabled("wang", true, &admin).await.unwrap();
        assert!(store.session(&s.token).await.unwrap().is_none());
        let e = store
            .sign_in("wang", "new password 7", "10.0.0.1")
            .await
            .unwrap_err();
        assert!(matches!(e, AccountError::Disabled));
        store
            .set_user_disabled("wang", false, &admin)
            .await
            .unwrap();
        let s = store
            .sign_in("wang", "new password 7", "10.0.0.1")
            .await
            .unwrap();
        store.end_session(&s.token).await.unwrap();
        assert!(store.session(&s.token).await.unwrap().is_none());

        // An expired session does not resolve, and the next sign-in clears it away.
        let s = store
            .sign_in("wang", "new password 7", "10.0.0.1")
            .await
            .unwrap();
        sqlx_exec(&db.url, "UPDATE sessions SET expires_at = 1").await;
        assert!(store.session(&s.token).await.unwrap().is_none());
        store
            .sign_in("wang", "new password 7", "10.0.0.1")
            .await
            .unwrap();
        let left: String = sqlx_row(&db.url, "SELECT CAST(COUNT(*) AS TEXT) FROM sessions").await;
        assert_eq!(left, "1");

        store.set_user_lang("wang", Lang::En, &admin).await.unwrap();
        assert_eq!(
            store.user_by_login("wang").await.unwrap().unwrap().lang,
            Lang::En
        );
        assert_eq!(store.users().await.unwrap().len(), 1);

        let log = store
            .audit_log(&AuditFilter {
                entity: Some("user".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        for a in [
            "user_created",
            "sign_in",
            "sign_in_failed",
            "password_changed",
            "user_disabled",
            "user_enabled",
            "sign_out",
            "user_changed",
            "sign_in_refused",
        ] {
            assert!(actions.contains(&a), "{a} not audited: {actions:?}");
        }
        assert!(log
            .iter()
            .all(|e| !e.detail.to_string().contains("wrong pass")));
        assert!(store
            .verify_audit_chain()
            .await
            .unwrap()
            .first_break
            .is_none());
        db.cleanup().await;
    }
}

#[tokio::test]
async fn five_failures_throttle_a_login_and_twenty_an_address() {
    for db in TestDatabase::each("throttle").await {
        let store = db.open().await;
        regions(&store).await;
        let admin = Actor("cli".into());
        for login in ["zhao", "qian"] {
            store
                .create_user(&new_user(login, Role::Investigator, "220102", PW), &admin)
                .await
                .unwrap();
        }
        for _ in 0..5 {
            let e = store
                .sign_in("zhao", "bad password 1", "10.0.0.2")
                .await
                .unwrap_err();
            assert_eq!(e.code(), "invalid_credentials");
        }
        // The right password is refused now, and so is every attempt after.
        let e = store.sign_in("zhao", PW, "10.0.0.2").await.unwrap_err();
        assert_eq!(e.code(), "sign_in_throttled");
        assert!(e.message(Lang::Zh).contains("分钟"));
        // Another login from another address is not affected.
        store.sign_in("qian", PW, "10.0.0.3").await.unwrap();

        // Twenty failures from one address over many logins lock the address.
        for i in 0..20 {
            let _ = store.sign_in(&format!("guess{i}"), "x", "10.9.9.9").await;
        }
        let e = store.sign_in("qian", PW, "10.9.9.9").await.unwrap_err();
        assert_eq!(e.code(), "sign_in_throttled");
        store.sign_in("qian", PW, "10.0.0.3").await.unwrap();
        db.cleanup().await;
    }
}

#[tokio::test]
async fn api_tokens_are_hashed_and_revocable() {
    for db in TestDatabase::each("tokens").await {
        let store = db.open().await;
        regions(&store).await;
        let admin = Actor("cli".into());
        store
            .create_user(&new_user("sun", Role::CityCommander, "220100", PW), &admin)
            .await
            .unwrap();
        let t = store
            .create_api_token("sun", "nightly export", &admin)
            .await
            .unwrap();
        assert!(t.token.starts_with("cl_"));
        assert_eq!(
            store
                .resolve_api_token(&t.token)
                .await
                .unwrap()
                .unwrap()
                .login,
            "sun"
        );
        assert!(store.resolve_api_token("cl_0000").await.unwrap().is_none());
        let listed = store.api_tokens(Some("sun")).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(t.token.starts_with(&listed[0].prefix));
        assert!(listed[0].last_used.is_some());
        let stored: String = sqlx_row(&db.url, "SELECT token_hash FROM api_tokens").await;
        assert!(!stored.contains(&t.token[3..]));

        // A disabled owner's token stops resolving, and comes back with them.
        store.set_user_disabled("sun", true, &admin).await.unwrap();
        assert!(store.resolve_api_token(&t.token).await.unwrap().is_none());
        store.set_user_disabled("sun", false, &admin).await.unwrap();
        assert!(store.resolve_api_token(&t.token).await.unwrap().is_some());

        store.revoke_api_token(t.record.id, &admin).await.unwrap();
        assert!(store.resolve_api_token(&t.token).await.unwrap().is_none());
        assert_eq!(
            store
                .revoke_api_token(t.record.id, &admin)
                .await
                .unwrap_err()
                .code(),
            "unknown_token"
        );
        assert!(store.api_tokens(None).await.unwrap()[0]
            .revoked_at
            .is_some());

        store
            .audit_view(
                &Actor("user:sun".into()),
                "person",
                "7",
                serde_json::json!({"via": "test"}),
            )
            .await
            .unwrap();
        store
            .audit_export(
                &Actor("user:sun".into()),
                "cases",
                serde_json::json!({"region": "220100"}),
                3,
            )
            .await
            .unwrap();
        let log = store.audit_log(&AuditFilter::default()).await.unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        for a in ["token_created", "token_revoked", "view", "export"] {
            assert!(actions.contains(&a), "{a}: {actions:?}");
        }
        assert!(store
            .verify_audit_chain()
            .await
            .unwrap()
            .first_break
            .is_none());
        db.cleanup().await;
    }
}

/// The first column of the first row, read straight from the database.
async fn sqlx_row(url: &str, sql: &str) -> String {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let row = sqlx::query(sql).fetch_one(&pool).await.unwrap();
    let v: String = row.try_get(0).unwrap();
    pool.close().await;
    v
}

async fn sqlx_exec(url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn concurrent_guesses_get_no_more_than_five_password_checks() {
    for db in TestDatabase::each("throttle_burst").await {
        let store = db.open().await;
        regions(&store).await;
        store
            .create_user(
                &new_user("zhou", Role::Investigator, "220102", PW),
                &Actor("cli".into()),
            )
            .await
            .unwrap();
        let mut burst = tokio::task::JoinSet::new();
        for i in 0..20 {
            let store = store.clone();
            burst.spawn(async move {
                store
                    .sign_in("zhou", &format!("guess number {i}"), &format!("10.1.0.{i}"))
                    .await
                    .unwrap_err()
                    .code()
            });
        }
        let mut codes = Vec::new();
        while let Some(code) = burst.join_next().await {
            codes.push(code.unwrap());
        }
        let wrong = codes
            .iter()
            .filter(|c| **c == "invalid_credentials")
            .count();
        let throttled = codes.iter().filter(|c| **c == "sign_in_throttled").count();
        assert!(
            wrong <= 5,
            "{wrong} passwords checked in a burst: {codes:?}"
        );
        assert_eq!(wrong + throttled, 20, "{codes:?}");
        // And the right password is refused while the login is locked.
        if wrong == 5 {
            let e = store.sign_in("zhou", PW, "10.1.1.1").await.unwrap_err();
            assert_eq!(e.code(), "sign_in_throttled");
        }
        db.cleanup().await;
    }
}
