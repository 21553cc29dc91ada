//! `closedloop user`: the real binary on each backend under test: accounts,
//! generated and piped passwords, disable/enable, tokens, and refusals with
//! their codes, in zh and en.

use closedloop_store::testing::TestDatabase;
use closedloop_store::Store;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_closedloop");

fn run(url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("CLOSEDLOOP_DATABASE_URL", url)
        .env_remove("CLOSEDLOOP_LANG")
        .env_remove("CLOSEDLOOP_CONFIG")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn ok(url: &str, args: &[&str], stdin: Option<&str>) -> String {
    let out = run(url, args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(url: &str, args: &[&str], stdin: Option<&str>) -> String {
    let out = run(url, args, stdin);
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

#[tokio::test]
async fn users_and_tokens_from_the_command_line() {
    for db in TestDatabase::each("cli_users").await {
        let url = db.url.as_str();
        let regions = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/regions.csv");
        ok(url, &["import", "regions", regions.to_str().unwrap()], None);

        // A generated password, printed once, that signs in.
        let out = ok(
            url,
            &[
                "user",
                "add",
                "--name",
                "wang",
                "--role",
                "district_commander",
                "--region",
                "220102",
                "--lang",
                "en",
            ],
            None,
        );
        assert!(out.contains("user wang created"), "{out}");
        let password = out
            .lines()
            .find_map(|l| l.strip_prefix("password (shown this once): "))
            .unwrap()
            .to_string();
        assert_eq!(password.len(), 16);
        let store = Store::open(url).await.unwrap();
        store.sign_in("wang", &password, "cli-test").await.unwrap();
        assert_eq!(
            store.user_by_login("wang").await.unwrap().unwrap().lang,
            closedloop_domain::Lang::En
        );

        // A piped password; the role by its Chinese label.
        let out = ok(
            url,
            &[
                "user",
                "add",
                "--name",
                "li",
                "--display-name",
                "李医生",
                "--role",
                "流调溯源人员",
                "--region",
                "220100",
                "--password-stdin",
            ],
            Some("piped password 2022\n"),
        );
        assert!(out.contains("已创建用户 li"), "{out}");
        assert!(!out.contains("piped password"), "{out}");
        store
            .sign_in("li", "piped password 2022", "cli-test")
            .await
            .unwrap();

        // Refusals, with their codes.
        for (args, stdin, code) in [
            (
                vec![
                    "user", "add", "--name", "x1", "--role", "mayor", "--region", "220100",
                ],
                None,
                "unknown_role",
            ),
            (
                vec![
                    "user", "add", "--name", "x2", "--role", "admin", "--region", "999999",
                ],
                None,
                "unknown_region",
            ),
            (
                vec![
                    "user", "add", "--name", "wang", "--role", "admin", "--region", "220000",
                ],
                None,
                "login_taken",
            ),
            (
                vec![
                    "user",
                    "add",
                    "--name",
                    "x3",
                    "--role",
                    "admin",
                    "--region",
                    "220000",
                    "--password-stdin",
                ],
                Some("short\n"),
                "weak_password",
            ),
            (vec!["user", "disable", "nobody"], None, "unknown_user"),
            (
                vec!["user", "token", "revoke", "9999"],
                None,
                "unknown_token",
            ),
        ] {
            let err = fails(url, &args, stdin);
            assert!(err.contains(&format!("[{code}]")), "{args:?}: {err}");
        }

        let list = ok(url, &["user", "list", "--lang", "en"], None);
        assert!(
            list.contains("wang")
                && list.contains("李医生")
                && list.contains("Epidemiological investigator"),
            "{list}"
        );

        // Tokens: shown once, listed by prefix, revoked.
        let out = ok(
            url,
            &["user", "token", "add", "li", "--label", "nightly"],
            None,
        );
        let token = out
            .lines()
            .find(|l| l.starts_with("cl_"))
            .unwrap()
            .to_string();
        assert_eq!(
            store
                .resolve_api_token(&token)
                .await
                .unwrap()
                .unwrap()
                .login,
            "li"
        );
        let listed = ok(url, &["user", "token", "list", "li", "--lang", "en"], None);
        assert!(
            listed.contains(&token[..9]) && listed.contains("active"),
            "{listed}"
        );
        assert!(
            !listed.contains(&token),
            "the token itself is never listed: {listed}"
        );
        let id = store.api_tokens(Some("li")).await.unwrap()[0]
            .id
            .to_string();
        ok(url, &["user", "token", "revoke", &id], None);
        assert!(store.resolve_api_token(&token).await.unwrap().is_none());
        assert!(
            ok(url, &["user", "token", "list", "li", "--lang", "en"], None).contains("revoked")
        );

        // Disable ends sessions; enable and passwd bring the account back.
        let session = store.sign_in("wang", &password, "cli-test").await.unwrap();
        ok(url, &["user", "disable", "wang"], None);
        assert!(store.session(&session.token).await.unwrap().is_none());
        assert_eq!(
            closedloop_domain::ErrorCode::code(
                &store
                    .sign_in("wang", &password, "cli-test")
                    .await
                    .unwrap_err()
            ),
            "account_disabled"
        );
        ok(url, &["user", "enable", "wang"], None);
        ok(
            url,
            &["user", "passwd", "wang", "--password-stdin"],
            Some("another pass 77\n"),
        );
        store
            .sign_in("wang", "another pass 77", "cli-test")
            .await
            .unwrap();

        let actions: Vec<String> = store
            .audit_log(&Default::default())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        for a in [
            "user_created",
            "token_created",
            "token_revoked",
            "user_disabled",
            "user_enabled",
            "password_reset",
        ] {
            assert!(actions.iter().any(|x| x == a), "{a}: {actions:?}");
        }
        store.close().await;
        db.cleanup().await;
    }
}
