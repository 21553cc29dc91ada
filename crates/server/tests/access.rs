//! Access on every backend under test, through the real router in process
//! (`oneshot`) with real sign-ins (POST /login, cookies) and real API tokens:
//! jurisdictions (404 for another district's records, nothing of them in
//! lists and search, pseudonymised links), CSRF, sign-in throttling, the
//! public role, disabled users and revoked tokens, and the session cookie.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, TimeZone, Utc};
use closedloop_domain::access::Role;
use closedloop_domain::case::{CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin};
use closedloop_domain::contact::{ContactCategory, Explanation, ExposureKind};
use closedloop_domain::person::{resident_id_check_digit, Document, DocumentType, PersonDraft};
use closedloop_domain::region::{Region, RegionLevel};
use closedloop_domain::time::DEFAULT_TIME_ZONE;
use closedloop_domain::Lang;
use closedloop_server::{router, ServerConfig};
use closedloop_store::accounts::NewUser;
use closedloop_store::testing::TestDatabase;
use closedloop_store::{Actor, ContactDraft, ImportMode, Store};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const PASSWORD: &str = "access test 2022";

fn region(code: &str, parent: Option<&str>, level: RegionLevel) -> Region {
    Region {
        code: code.into(),
        parent_code: parent.map(Into::into),
        level,
        name_zh: format!("区{code}"),
        name_en: format!("R{code}"),
        population: 1000,
    }
}

fn person(seq: u32, name: &str, region: &str) -> PersonDraft {
    let first17 = format!("22010219900101{seq:03}");
    let doc = Document::parse(
        DocumentType::ResidentId,
        &format!("{first17}{}", resident_id_check_digit(&first17).unwrap()),
    )
    .unwrap();
    let mut p = PersonDraft::new(doc, name);
    p.region_code = Some(region.into());
    p.phone = Some(format!("1390000{seq:04}"));
    p.address = Some(format!("{name}的住址"));
    p
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    DEFAULT_TIME_ZONE
        .with_ymd_and_hms(2022, 3, day, hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn case(id: &str, p: PersonDraft, region: &str) -> CaseDraft {
    CaseDraft {
        case_id: id.into(),
        person: p,
        classification: Classification::Confirmed,
        clinical_type: Some(ClinicalType::Mild),
        origin: Origin::Local,
        discovery_channel: DiscoveryChannel::CommunityScreening,
        onset_date: None,
        sample_time: Some(at(9, 2)),
        report_time: at(9, 10),
        reporting_region: region.into(),
        residence_region: Some(region.into()),
        reclassified_at: None,
        outcome: None,
        outcome_time: None,
        isolated_at: None,
    }
}

/// Nanguan (220102) and Kuancheng (220103) under Changchun (220100).
/// CA: 甲某 in Nanguan; CB: 乙某 in Kuancheng. 丙某 lives in Kuancheng and is
/// a close contact of CA (linked from Nanguan, outside it); 丁某 lives in
/// Nanguan and is a close contact of CB.
struct World {
    db: TestDatabase,
    store: Store,
    router: Router,
    /// Person ids: a (CA), b (CB), c (contact of CA in Kuancheng), d.
    a: i64,
    b: i64,
    c: i64,
}

async fn user(store: &Store, login: &str, role: Role, region: &str) {
    store
        .create_user(
            &NewUser {
                login: login.into(),
                display_name: format!("{login} 显示名"),
                role,
                region_code: region.into(),
                facility_id: None,
                lang: Lang::Zh,
                password: PASSWORD.into(),
            },
            &Actor::system(),
        )
        .await
        .unwrap();
}

async fn token(store: &Store, login: &str) -> String {
    store
        .create_api_token(login, "access tests", &Actor::system())
        .await
        .unwrap()
        .token
}

impl World {
    async fn each(name: &str, cfg: ServerConfig) -> Vec<World> {
        let mut out = Vec::new();
        for db in TestDatabase::each(name).await {
            let store = db.open().await;
            let a = Actor::system();
            use RegionLevel::*;
            let regions = [
                region("220000", None, Province),
                region("220100", Some("220000"), City),
                region("220102", Some("220100"), District),
                region("220103", Some("220100"), District),
            ];
            let numbered: Vec<(u64, Region)> = regions
                .into_iter()
                .zip(2u64..)
                .map(|(r, i)| (i, r))
                .collect();
            store
                .import_regions(&numbered, ImportMode::default(), "r.csv", &a)
                .await
                .unwrap();
            store
                .import_persons(
                    &[
                        (2, person(3, "丙某", "220103")),
                        (3, person(4, "丁某", "220102")),
                    ],
                    ImportMode::default(),
                    "p.csv",
                    &a,
                )
                .await
                .unwrap();
            store
                .import_cases(
                    &[
                        (2, case("CA", person(1, "甲某", "220102"), "220102")),
                        (3, case("CB", person(2, "乙某", "220103"), "220103")),
                        (4, {
                            let mut c = case("CB2", person(5, "戊某", "220103"), "220103");
                            c.report_time = at(10, 10);
                            c
                        }),
                    ],
                    ImportMode::default(),
                    "c.csv",
                    &a,
                )
                .await
                .unwrap();
            let id = |seq: u32, name: &str| {
                let store = store.clone();
                let doc = person(seq, name, "").document;
                async move { store.person_by_document(&doc).await.unwrap().unwrap().id }
            };
            let (pa, pb, pc, pd) = (
                id(1, "甲某").await,
                id(2, "乙某").await,
                id(3, "丙某").await,
                id(4, "丁某").await,
            );
            // CB2 (戊某) was CB's close contact first: CB and CB2 form a
            // cluster in Kuancheng.
            let pe = id(5, "戊某").await;
            for (case_id, contacts, source) in [("CA", vec![pc], pa), ("CB", vec![pd, pe], pb)] {
                let c = store.case(case_id).await.unwrap().unwrap();
                let drafts: Vec<ContactDraft> = contacts
                    .into_iter()
                    .map(|contact| ContactDraft {
                        person_id: contact,
                        category: ContactCategory::CloseContact,
                        degree: 1,
                        first_exposure: at(8, 20).timestamp(),
                        via_person: source,
                        explanations: vec![Explanation::at(ExposureKind::Household, source, "H1")],
                    })
                    .collect();
                store
                    .record_contacts(c.id, &drafts, "china-8th@1", &a)
                    .await
                    .unwrap();
            }
            user(&store, "nanguan", Role::DistrictCommander, "220102").await;
            user(&store, "kuancheng", Role::DistrictCommander, "220103").await;
            user(&store, "province", Role::ProvincialCommander, "220000").await;
            user(&store, "investigator", Role::Investigator, "220102").await;
            user(&store, "citizen", Role::Public, "220000").await;
            let router = router(store.clone(), &cfg);
            out.push(World {
                db,
                store,
                router,
                a: pa,
                b: pb,
                c: pc,
            });
        }
        out
    }

    async fn send(&self, req: Request<Body>) -> Answer {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get_with_token(&self, path: &str, token: &str) -> Answer {
        self.send(
            Request::get(path)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn get_with_cookie(&self, path: &str, cookie: &str) -> Answer {
        self.send(
            Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    /// Posts the sign-in form the way a browser does: GET /login for the
    /// form's token and its cookie, then POST both with the credentials.
    async fn sign_in(&self, login: &str, password: &str) -> Answer {
        let form = self.get("/login?next=/account").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        let csrf_cookie = form.cookie("closedloop_login_csrf").unwrap();
        let field = hidden(&form.body, "csrf_token").unwrap();
        assert_eq!(csrf_cookie, field);
        self.send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(
                    header::COOKIE,
                    format!("closedloop_login_csrf={csrf_cookie}"),
                )
                .body(Body::from(format!(
                    "login={login}&password={}&next=%2Faccount&csrf_token={field}",
                    password.replace(' ', "+")
                )))
                .unwrap(),
        )
        .await
    }

    /// Signs in and returns the session cookie (`name=value`) and the
    /// session's CSRF token (read from the account page's form).
    async fn session(&self, login: &str) -> (String, String) {
        let r = self.sign_in(login, PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let cookie = format!(
            "closedloop_session={}",
            r.cookie("closedloop_session").unwrap()
        );
        let page = self.get_with_cookie("/account", &cookie).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let csrf = hidden(&page.body, "csrf_token").unwrap();
        (cookie, csrf)
    }

    async fn done(self) {
        self.store.close().await;
        self.db.cleanup().await;
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Every Set-Cookie header.
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    /// The value a Set-Cookie gives `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().iter().find_map(|c| {
            let first = c.split(';').next()?;
            let (k, v) = first.split_once('=')?;
            (k == name && !v.is_empty()).then(|| v.to_string())
        })
    }

    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// The value of the hidden input `name` in a page.
fn hidden(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

/// Every `field` of the list's items.
fn ids(v: &Value, field: &str) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[field].to_string().trim_matches('"').to_string())
        .collect()
}

#[tokio::test]
async fn a_district_reads_nothing_of_another_district() {
    for w in World::each("crossdistrict", ServerConfig::default()).await {
        let nanguan = token(&w.store, "nanguan").await;
        let kuancheng = token(&w.store, "kuancheng").await;
        let (b, a) = (w.b, w.a);

        // Every path that reads a record by id. The owner (Kuancheng) reads
        // each; Nanguan gets 404, the same answer as for no such record, so
        // existence does not leak.
        //
        // PAGE ENGINEERS: add your console pages here (`/persons/{id}`,
        // `/cases/{id}`, `/cases/{id}/contacts`, `/clusters/{id}`…), with the
        // record of Kuancheng they read. Pages answer the same 404.
        let by_id: Vec<String> = vec![
            format!("/api/persons/{b}"),
            "/api/cases/CB".into(),
            "/api/cases/CB/contacts".into(),
            format!("/api/persons/{b}/exposures"),
            "/api/clusters/CB".into(),
            "/api/clusters/CB/chain".into(),
            // Console pages (same jurisdiction rule, HTML 404).
            format!("/persons/{b}"),
            "/cases/CB".into(),
            "/cases/CB/contacts".into(),
        ];
        for path in &by_id {
            let own = w.get_with_token(path, &kuancheng).await;
            assert_eq!(
                own.status,
                StatusCode::OK,
                "{:?} kuancheng {path}: {}",
                w.db.backend,
                own.body
            );
            let other = w.get_with_token(path, &nanguan).await;
            assert_eq!(
                other.status,
                StatusCode::NOT_FOUND,
                "{:?} nanguan {path}: {}",
                w.db.backend,
                other.body
            );
            assert!(
                !other.body.contains("乙某"),
                "{path} leaks a name: {}",
                other.body
            );
        }
        // And the other way round for one path: the rule is not one-sided.
        let r = w
            .get_with_token(&format!("/api/persons/{a}"), &kuancheng)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);

        // Lists and search: nothing of Kuancheng, even when asked for by region.
        let persons = w
            .get_with_token("/api/persons?limit=100", &nanguan)
            .await
            .json();
        assert!(!ids(&persons, "id").contains(&b.to_string()), "{persons}");
        assert!(ids(&persons, "id").contains(&a.to_string()), "{persons}");
        for q in ["%E4%B9%99%E6%9F%90", "13900000002"] {
            let found = w
                .get_with_token(&format!("/api/persons?q={q}"), &nanguan)
                .await
                .json();
            assert_eq!(found["total"], 0, "search {q}: {found}");
            let owner = w
                .get_with_token(&format!("/api/persons?q={q}"), &kuancheng)
                .await
                .json();
            assert_eq!(owner["total"], 1, "search {q} by the owner: {owner}");
        }
        let cases = w.get_with_token("/api/cases", &nanguan).await.json();
        assert_eq!(ids(&cases, "case_id"), ["CA"], "{cases}");
        let asked = w
            .get_with_token("/api/cases?region=220103", &nanguan)
            .await
            .json();
        assert_eq!(asked["total"], 0, "{asked}");
        let above = w
            .get_with_token("/api/cases?region=220000", &nanguan)
            .await
            .json();
        assert_eq!(ids(&above, "case_id"), ["CA"], "{above}");
        let clusters = w.get_with_token("/api/clusters", &nanguan).await.json();
        assert!(!clusters.to_string().contains("\"CB\""), "{clusters}");
        // The console's export: exactly what the list shows, nothing of Kuancheng.
        let export = w.get_with_token("/cases/export?format=csv", &nanguan).await;
        assert_eq!(export.status, StatusCode::OK, "{}", export.body);
        assert!(
            export.body.contains("CA") && !export.body.contains("CB"),
            "{}",
            export.body
        );
        assert!(!export.body.contains("乙某"), "{}", export.body);
        let export = w
            .get_with_token("/persons/export?format=csv", &nanguan)
            .await;
        assert_eq!(export.status, StatusCode::OK, "{}", export.body);
        assert!(export.body.contains("甲某"), "{}", export.body);
        assert!(!export.body.contains("乙某"), "{}", export.body);

        // A linked person outside the jurisdiction is pseudonymised: 丙某
        // (Kuancheng) is a contact of CA (Nanguan).
        let contacts = w
            .get_with_token("/api/cases/CA/contacts", &nanguan)
            .await
            .json();
        let c = &contacts["items"][0];
        assert_eq!(c["person_id"], w.c, "{contacts}");
        assert_eq!(c["pseudonymised"], true, "{contacts}");
        assert_eq!(c["name"], "丙*");
        assert!(
            c["document_number"].as_str().unwrap().contains("********"),
            "{contacts}"
        );
        assert!(!contacts.to_string().contains("丙某"));
        // The province sees them named.
        let province = token(&w.store, "province").await;
        let named = w
            .get_with_token("/api/cases/CA/contacts", &province)
            .await
            .json();
        assert_eq!(named["items"][0]["name"], "丙某");
        assert_eq!(named["items"][0]["pseudonymised"], false);

        // Views of a named person's record are audited.
        let admin_log = w.store.audit_log(&Default::default()).await.unwrap();
        assert!(
            admin_log.iter().any(|e| e.action == "view"
                && e.actor == "user:kuancheng"
                && e.entity_id == b.to_string()),
            "view not audited"
        );
        w.done().await;
    }
}

#[tokio::test]
async fn changes_need_the_session_csrf_token() {
    for w in World::each("csrf", ServerConfig::default()).await {
        let (cookie, csrf) = w.session("investigator").await;
        assert_eq!(csrf.len(), 64);
        let merge = |extra: Option<(&'static str, String)>| {
            let mut r = Request::post("/api/duplicates/merge")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::COOKIE, cookie.clone());
            if let Some((k, v)) = extra {
                r = r.header(k, v);
            }
            r.body(Body::from(format!(
                r#"{{"keep": {}, "merge": {}, "reason": "test"}}"#,
                w.a, 999_999
            )))
            .unwrap()
        };
        let missing = w.send(merge(None)).await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN, "{}", missing.body);
        assert_eq!(missing.error(), "csrf_failed");
        let wrong = w.send(merge(Some(("x-csrf-token", "0".repeat(64))))).await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN);
        assert_eq!(wrong.error(), "csrf_failed");
        // With the token the request reaches the handler (999999 is unknown: 404).
        let right = w.send(merge(Some(("x-csrf-token", csrf.clone())))).await;
        assert_eq!(right.status, StatusCode::NOT_FOUND, "{}", right.body);

        // A form without its token is refused; with it, it goes through.
        let logout = |body: String| {
            Request::post("/logout")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, cookie.clone())
                .body(Body::from(body))
                .unwrap()
        };
        let refused = w.send(logout(String::new())).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(w.get_with_cookie("/api/persons", &cookie).await.status == StatusCode::OK);
        let out = w.send(logout(format!("csrf_token={csrf}"))).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert_eq!(
            w.get_with_cookie("/api/persons", &cookie).await.status,
            StatusCode::UNAUTHORIZED
        );

        // A bearer token needs no CSRF token (it is not sent by browsers).
        let t = token(&w.store, "investigator").await;
        let r = w
            .send(
                Request::post("/api/duplicates/merge")
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::AUTHORIZATION, format!("Bearer {t}"))
                    .body(Body::from(format!(
                        r#"{{"keep": {}, "merge": 999999, "reason": "x"}}"#,
                        w.a
                    )))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

        // The sign-in form without its double-submit cookie is refused.
        let forged = w
            .send(
                Request::post("/login")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(format!(
                        "login=investigator&password={}&csrf_token=abc",
                        PASSWORD.replace(' ', "+")
                    )))
                    .unwrap(),
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert!(forged.cookie("closedloop_session").is_none());
        w.done().await;
    }
}

#[tokio::test]
async fn five_wrong_passwords_throttle_the_account() {
    for w in World::each("throttle", ServerConfig::default()).await {
        for i in 0..5 {
            let r = w.sign_in("nanguan", &format!("wrong password {i}")).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
            assert!(
                r.body.contains("data-error=\"invalid_credentials\""),
                "{}",
                r.body
            );
            assert!(r.cookie("closedloop_session").is_none());
        }
        let r = w.sign_in("nanguan", PASSWORD).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
        assert!(
            r.body.contains("data-error=\"sign_in_throttled\""),
            "{}",
            r.body
        );
        assert!(r.cookie("closedloop_session").is_none());
        // Another account is not locked.
        assert_eq!(
            w.sign_in("kuancheng", PASSWORD).await.status,
            StatusCode::SEE_OTHER
        );
        let failed = w
            .store
            .audit_log(&Default::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "sign_in_failed")
            .count();
        assert_eq!(failed, 5);
        w.done().await;
    }
}

#[tokio::test]
async fn the_public_role_reads_aggregates_only() {
    for w in World::each("public", ServerConfig::default()).await {
        let citizen = token(&w.store, "citizen").await;
        for path in [
            "/api/persons".to_string(),
            format!("/api/persons/{}", w.a),
            "/api/cases".into(),
            "/api/cases/CA".into(),
            "/api/cases/CA/contacts".into(),
            "/api/clusters".into(),
            "/api/loop/status".into(),
            "/api/audit".into(),
        ] {
            let r = w.get_with_token(&path, &citizen).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
            assert_eq!(r.error(), "forbidden");
            let anon = w.get(&path).await;
            assert_eq!(
                anon.status,
                StatusCode::UNAUTHORIZED,
                "{path}: {}",
                anon.body
            );
            assert_eq!(anon.error(), "sign_in_required");
        }
        // The bulletin's figures are aggregates.
        let b = w
            .get_with_token("/api/bulletins/2022-03-09", &citizen)
            .await;
        assert_eq!(b.status, StatusCode::OK, "{}", b.body);
        assert!(!b.body.contains("甲某"));
        // The public bulletin page needs no sign-in.
        let page = w.get("/public/bulletin").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(!page.body.contains("甲某"));
        w.done().await;
    }
}

#[tokio::test]
async fn a_disabled_user_loses_their_session_and_a_revoked_token_stops() {
    for w in World::each("disable", ServerConfig::default()).await {
        let (cookie, _) = w.session("nanguan").await;
        assert_eq!(
            w.get_with_cookie("/api/persons", &cookie).await.status,
            StatusCode::OK
        );
        let t = token(&w.store, "nanguan").await;
        w.store
            .set_user_disabled("nanguan", true, &Actor("user:admin".into()))
            .await
            .unwrap();
        let r = w.get_with_cookie("/api/persons", &cookie).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.error(), "sign_in_required");
        let page = w.get_with_cookie("/account", &cookie).await;
        assert!(page.status.is_redirection(), "{}", page.status);
        assert!(
            page.headers[header::LOCATION]
                .to_str()
                .unwrap()
                .starts_with("/login"),
            "{:?}",
            page.headers
        );
        let r = w.get_with_token("/api/persons", &t).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.error(), "invalid_token");
        let r = w.sign_in("nanguan", PASSWORD).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.body.contains("account_disabled"), "{}", r.body);

        // A revoked token stops at once.
        let t = w
            .store
            .create_api_token("kuancheng", "script", &Actor::system())
            .await
            .unwrap();
        assert_eq!(
            w.get_with_token("/api/cases", &t.token).await.status,
            StatusCode::OK
        );
        w.store
            .revoke_api_token(t.record.id, &Actor::system())
            .await
            .unwrap();
        let r = w.get_with_token("/api/cases", &t.token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.error(), "invalid_token");
        w.done().await;
    }
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_strict() {
    for secure in [false, true] {
        let cfg = ServerConfig {
            secure_cookies: secure,
            ..ServerConfig::default()
        };
        for w in World::each("cookie", cfg).await {
            let r = w.sign_in("province", PASSWORD).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
            assert_eq!(r.headers[header::LOCATION], "/account");
            let session = r
                .set_cookies()
                .into_iter()
                .find(|c| c.starts_with("closedloop_session="))
                .unwrap();
            for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
                assert!(session.contains(attr), "{attr} missing: {session}");
            }
            assert_eq!(session.contains("Secure"), secure, "{session}");
            // The cookie holds the token; the database only its hash.
            let token = r.cookie("closedloop_session").unwrap();
            assert!(w.store.session(&token).await.unwrap().is_some());
            let audit = w.store.audit_log(&Default::default()).await.unwrap();
            assert!(audit
                .iter()
                .any(|e| e.action == "sign_in" && e.actor == "user:province"));
            assert!(!audit
                .iter()
                .any(|e| e.detail.to_string().contains(PASSWORD)));
            w.done().await;
        }
    }
}

#[tokio::test]
async fn the_user_language_applies_and_the_account_page_changes_it() {
    for w in World::each("language", ServerConfig::default()).await {
        let (cookie, csrf) = w.session("nanguan").await;
        let zh = w
            .get_with_cookie("/api/persons/424242", &cookie)
            .await
            .json();
        assert_eq!(zh["message"], "未找到人员424242");
        let r = w
            .send(
                Request::builder()
                    .method(Method::POST)
                    .uri("/account")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(header::COOKIE, cookie.clone())
                    .body(Body::from(format!("action=lang&lang=en&csrf_token={csrf}")))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let en = w
            .get_with_cookie("/api/persons/424242", &cookie)
            .await
            .json();
        assert_eq!(en["message"], "person 424242 not found");
        // ?lang= still overrides.
        let zh = w
            .get_with_cookie("/api/persons/424242?lang=zh", &cookie)
            .await
            .json();
        assert_eq!(zh["message"], "未找到人员424242");

        // Changing the password needs the old one; the new one signs in.
        let change = |old: &str| {
            Request::post("/account")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, cookie.clone())
                .body(Body::from(format!(
                    "action=password&old_password={}&new_password=fresh+password+9&repeat_password=fresh+password+9&csrf_token={csrf}",
                    old.replace(' ', "+")
                )))
                .unwrap()
        };
        let r = w.send(change("not the password 1")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        let r = w.send(change(PASSWORD)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        // The old session ended with the change.
        assert_eq!(
            w.get_with_cookie("/api/persons", &cookie).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            w.sign_in("nanguan", "fresh password 9").await.status,
            StatusCode::SEE_OTHER
        );
        w.done().await;
    }
}

#[tokio::test]
async fn a_facility_operator_reads_the_people_placed_there_only() {
    use closedloop_domain::lifecycle::{FacilityKind, LoopState};
    use closedloop_domain::profile::Profile;
    use closedloop_store::{Facility, TransitionRequest};
    for w in World::each("facility", ServerConfig::default()).await {
        let a = Actor::system();
        w.store
            .upsert_facilities(
                &[Facility {
                    facility_id: "F1".into(),
                    name: "南关方舱".into(),
                    kind: FacilityKind::Fangcang,
                    region_code: Some("220102".into()),
                    address: String::new(),
                    capacity: 100,
                }],
                &a,
            )
            .await
            .unwrap();
        // CC: 己某, a case in Nanguan too, placed nowhere: the region's
        // lists hold it, the facility's do not.
        w.store
            .import_cases(
                &[(2, case("CC", person(6, "己某", "220102"), "220102"))],
                ImportMode::default(),
                "cc.csv",
                &a,
            )
            .await
            .unwrap();
        let cc = w
            .store
            .person_by_document(&person(6, "己某", "").document)
            .await
            .unwrap()
            .unwrap()
            .id;
        let profile = Profile::shipped("china-8th").unwrap();
        w.store.enrol_cases(&profile, None, &a).await.unwrap();
        // CA's person is admitted to F1.
        let managed = w.store.managed_of_person(w.a).await.unwrap()[0].id;
        for (to, facility) in [
            (LoopState::TransferOrdered, None),
            (LoopState::InTransfer, None),
            (LoopState::Admitted, Some("F1")),
        ] {
            w.store
                .transition(
                    &profile,
                    DEFAULT_TIME_ZONE,
                    &TransitionRequest {
                        managed_id: managed,
                        to,
                        at: at(9, 11).timestamp(),
                        facility_id: facility.map(Into::into),
                        reason: "test".into(),
                    },
                    &a,
                )
                .await
                .unwrap();
        }
        w.store
            .create_user(
                &NewUser {
                    login: "ward".into(),
                    display_name: String::new(),
                    role: Role::HospitalOperator,
                    region_code: "220102".into(),
                    facility_id: Some("F1".into()),
                    lang: Lang::Zh,
                    password: PASSWORD.into(),
                },
                &a,
            )
            .await
            .unwrap();
        let ward = token(&w.store, "ward").await;
        let persons = w.get_with_token("/api/persons", &ward).await.json();
        assert_eq!(ids(&persons, "id"), [w.a.to_string()], "{persons}");
        assert_eq!(persons["total"], 1, "{persons}");
        let cases = w.get_with_token("/api/cases", &ward).await.json();
        assert_eq!(ids(&cases, "case_id"), ["CA"], "{cases}");
        assert_eq!(cases["total"], 1, "{cases}");
        // The region's commander sees both of Nanguan's cases.
        let nanguan = token(&w.store, "nanguan").await;
        let all = w.get_with_token("/api/cases", &nanguan).await.json();
        assert_eq!(ids(&all, "case_id"), ["CA", "CC"], "{all}");
        // A search, a region or a filter narrows the facility; never widens it.
        for (path, want) in [
            ("/api/persons?q=%E7%94%B2%E6%9F%90", vec![w.a.to_string()]),
            ("/api/persons?q=%E5%B7%B1%E6%9F%90", vec![]),
            ("/api/persons?region=220102", vec![w.a.to_string()]),
            ("/api/persons?region=220103", vec![]),
        ] {
            let r = w.get_with_token(path, &ward).await.json();
            assert_eq!(ids(&r, "id"), want, "{path}: {r}");
        }
        let r = w
            .get_with_token("/api/cases?classification=confirmed", &ward)
            .await
            .json();
        assert_eq!(ids(&r, "case_id"), ["CA"], "{r}");
        // The loop: the tasks and counts of F1's record only.
        let tasks = w
            .get_with_token("/api/loop/tasks?status=open&limit=1000", &ward)
            .await
            .json();
        let tasks = tasks.as_array().unwrap();
        assert!(!tasks.is_empty());
        assert!(
            tasks.iter().all(|t| t["managed_id"] == managed),
            "{tasks:?}"
        );
        let region_tasks = w
            .get_with_token("/api/loop/tasks?status=open&limit=1000", &nanguan)
            .await
            .json();
        assert!(region_tasks.as_array().unwrap().len() > tasks.len());
        let status = w.get_with_token("/api/loop/status", &ward).await.json();
        assert_eq!(
            status["status"]["by_category"],
            serde_json::json!({"case": {"admitted": 1}}),
            "{status}"
        );
        let status = w.get_with_token("/api/loop/status", &nanguan).await.json();
        assert_eq!(
            status["status"]["by_category"]["case"]["reported"], 1,
            "CC, in the region: {status}"
        );

        // The console, signed in: lists, search and the loop's tasks.
        let (cookie, _) = w.session("ward").await;
        let link = |id: i64| format!("href=\"/persons/{id}\"");
        let d_id = w
            .store
            .person_by_document(&person(4, "丁某", "").document)
            .await
            .unwrap()
            .unwrap()
            .id;
        for path in [
            "/persons",
            "/persons?region=220102",
            "/search?q=%E7%94%B2%E6%9F%90",
            "/loop?status=all",
            "/loop",
        ] {
            let page = w.get_with_cookie(path, &cookie).await;
            assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
            assert!(page.body.contains(&link(w.a)), "{path}: {}", page.body);
            for other in [cc, d_id, w.b] {
                assert!(!page.body.contains(&link(other)), "{path} shows {other}");
            }
        }
        let page = w
            .get_with_cookie("/search?q=%E5%B7%B1%E6%9F%90", &cookie)
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains(&link(cc)), "the search finds 己某");
        let page = w.get_with_cookie("/cases", &cookie).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("href=\"/cases/CA\""), "{}", page.body);
        for other in ["CC", "CB", "CB2"] {
            assert!(
                !page.body.contains(&format!("href=\"/cases/{other}\"")),
                "/cases shows {other}"
            );
        }
        // The commander's /loop does show CC's tasks (the test can fail).
        let (commander, _) = w.session("nanguan").await;
        let page = w.get_with_cookie("/loop", &commander).await;
        assert!(page.body.contains(&link(cc)), "{}", page.body);
        // Pages a facility cannot be limited to are not theirs: the export
        // of lists and the overdue and leak lists.
        for path in [
            "/cases/export?format=csv",
            "/persons/export?format=csv",
            "/loop/overdue",
            "/loop/leaks",
        ] {
            let page = w.get_with_cookie(path, &cookie).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        }
        assert_eq!(
            w.get_with_cookie(&format!("/persons/{d_id}"), &cookie)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            w.get_with_cookie(&format!("/persons/{cc}"), &cookie)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        // The dashboard's loop funnel: F1's one record; Nanguan's two.
        let total = |n: i64| format!("<td class=\"num\">{n}</td></tr></tfoot>");
        let dashboard = w.get_with_cookie("/", &cookie).await;
        assert_eq!(dashboard.status, StatusCode::OK);
        assert!(dashboard.body.contains(&total(1)), "{}", dashboard.body);
        let dashboard = w.get_with_cookie("/", &commander).await;
        assert!(dashboard.body.contains(&total(2)), "{}", dashboard.body);
        assert_eq!(
            w.get_with_token(&format!("/api/persons/{}", w.a), &ward)
                .await
                .status,
            StatusCode::OK
        );
        // 丁某 lives in Nanguan too, but is not placed in F1.
        let d = w
            .store
            .person_by_document(&person(4, "丁某", "").document)
            .await
            .unwrap()
            .unwrap()
            .id;
        assert_eq!(
            w.get_with_token(&format!("/api/persons/{d}"), &ward)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            w.get_with_token("/api/cases/CB", &ward).await.status,
            StatusCode::NOT_FOUND
        );

        // A transition on a record outside the facility is a 404; inside it is checked by the loop.
        let cb_managed = w.store.managed_of_person(w.b).await.unwrap()[0].id;
        let post = |id: i64| {
            Request::post("/api/loop/transitions")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::AUTHORIZATION, format!("Bearer {ward}"))
                .body(Body::from(format!(r#"{{"managed_id": {id}, "to": "discharged", "at": "2022-03-20T10:00:00+08:00"}}"#)))
                .unwrap()
        };
        let r = w.send(post(cb_managed)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
        let r = w.send(post(managed)).await;
        assert_ne!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

        // A district's commander asking for another district's loop: 404.
        let r = w
            .get_with_token("/api/loop/status?region=220103", &nanguan)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
        assert_eq!(
            w.get_with_token("/api/loop/status?region=220102", &nanguan)
                .await
                .status,
            StatusCode::OK
        );
        w.done().await;
    }
}
