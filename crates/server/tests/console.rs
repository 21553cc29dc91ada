//! The console's pages in process: dashboard, bulletins (signed in and
//! public), loop pages, admin pages, the language switch and error pages,
//! through the whole router (session layer, CSRF, language, store).

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Duration, TimeZone, Utc};
use closedloop_domain::access::Role;
use closedloop_domain::case::{CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin};
use closedloop_domain::person::{resident_id_check_digit, Document, DocumentType, PersonDraft};
use closedloop_domain::region::{Region, RegionLevel};
use closedloop_domain::time::DEFAULT_TIME_ZONE;
use closedloop_domain::Lang;
use closedloop_server::{router, ServerConfig};
use closedloop_store::accounts::NewUser;
use closedloop_store::testing::TestDatabase;
use closedloop_store::{Actor, ImportMode, Store};
use http_body_util::BodyExt;
use tower::ServiceExt;

fn region(code: &str, parent: Option<&str>, level: RegionLevel, zh: &str, en: &str) -> Region {
    Region {
        code: code.into(),
        parent_code: parent.map(Into::into),
        level,
        name_zh: zh.into(),
        name_en: en.into(),
        population: 1000,
    }
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    DEFAULT_TIME_ZONE
        .with_ymd_and_hms(2022, 3, day, hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn case(
    id: &str,
    seq: u32,
    name: &str,
    region: &str,
    class: Classification,
    reported: DateTime<Utc>,
) -> CaseDraft {
    let first17 = format!("22010219850101{:03}", seq);
    let number = format!("{first17}{}", resident_id_check_digit(&first17).unwrap());
    let mut p = PersonDraft::new(
        Document::parse(DocumentType::ResidentId, &number).unwrap(),
        name,
    );
    p.region_code = Some(region.into());
    CaseDraft {
        case_id: id.into(),
        person: p,
        classification: class,
        clinical_type: (class == Classification::Confirmed).then_some(ClinicalType::Mild),
        origin: Origin::Local,
        discovery_channel: DiscoveryChannel::CommunityScreening,
        onset_date: None,
        sample_time: Some(reported - Duration::hours(8)),
        report_time: reported,
        reporting_region: region.into(),
        residence_region: Some(region.into()),
        reclassified_at: None,
        outcome: None,
        outcome_time: None,
        isolated_at: None,
    }
}

const PASSWORD: &str = "console-test-2022";

struct App {
    db: TestDatabase,
    store: Store,
    router: Router,
}

struct Session {
    cookie: String,
    csrf: String,
}

impl App {
    async fn each() -> Vec<App> {
        let mut apps = Vec::new();
        for db in TestDatabase::each("console").await {
            let store = db.open().await;
            use RegionLevel::*;
            let regions: Vec<(u64, Region)> = [
                region("220000", None, Province, "吉林省", "Jilin Province"),
                region("220100", Some("220000"), City, "长春市", "Changchun"),
                region(
                    "220102",
                    Some("220100"),
                    District,
                    "南关区",
                    "Nanguan District",
                ),
                region("220200", Some("220000"), City, "吉林市", "Jilin City"),
                region(
                    "220202",
                    Some("220200"),
                    District,
                    "昌邑区",
                    "Changyi District",
                ),
            ]
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i as u64 + 2, r))
            .collect();
            store
                .import_regions(&regions, ImportMode::default(), "r.csv", &Actor::system())
                .await
                .unwrap();
            use Classification::*;
            let cases: Vec<(u64, CaseDraft)> = vec![
                case("C1", 1, "张三", "220102", Confirmed, at(9, 10)),
                case("C2", 2, "张四", "220102", Confirmed, at(9, 12)),
                case("C3", 3, "李五", "220102", Asymptomatic, at(8, 10)),
                case("C4", 4, "王六", "220202", Asymptomatic, at(9, 11)),
            ]
            .into_iter()
            .enumerate()
            .map(|(i, c)| (i as u64 + 2, c))
            .collect();
            store
                .import_cases(&cases, ImportMode::default(), "c.csv", &Actor::system())
                .await
                .unwrap();
            for (login, role, region) in [
                ("admin", Role::Admin, "220000"),
                ("boss", Role::ProvincialCommander, "220000"),
                ("changyi", Role::DistrictCommander, "220202"),
            ] {
                store
                    .create_user(
                        &NewUser {
                            login: login.into(),
                            display_name: format!("<b>{login}</b>"),
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
            let router = router(store.clone(), &ServerConfig::default());
            apps.push(App { db, store, router });
        }
        apps
    }

    async fn sign_in(&self, login: &str) -> Session {
        let s = self
            .store
            .sign_in(login, PASSWORD, "127.0.0.1")
            .await
            .unwrap();
        Session {
            cookie: format!("closedloop_session={}", s.token),
            csrf: s.csrf_token,
        }
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, String, String) {
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            String::from_utf8_lossy(&bytes).into_owned(),
            location,
        )
    }

    async fn get(&self, who: Option<&Session>, uri: &str) -> (StatusCode, String) {
        let mut req = Request::get(uri);
        if let Some(s) = who {
            req = req.header(header::COOKIE, &s.cookie);
        }
        let (status, body, _) = self.send(req.body(Body::empty()).unwrap()).await;
        (status, body)
    }

    async fn page(&self, who: &Session, uri: &str) -> String {
        let (status, body) = self.get(Some(who), uri).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{:?} {uri}: {body}",
            self.db.backend
        );
        assert!(body.starts_with("<!doctype html>"), "{uri}: {body}");
        body
    }

    async fn post(&self, who: &Session, uri: &str, form: &str) -> (StatusCode, String, String) {
        self.send(
            Request::post(uri)
                .header(header::COOKIE, &who.cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form.to_string()))
                .unwrap(),
        )
        .await
    }
}

#[tokio::test]
async fn the_dashboard_shows_the_curve_the_bulletin_and_the_regions() {
    for app in App::each().await {
        let boss = app.sign_in("boss").await;
        let body = app.page(&boss, "/?date=2022-03-09").await;
        assert!(body.contains(r#"<svg xmlns="http://www.w3.org/2000/svg""#));
        assert!(body.contains(r#"role="img""#));
        assert!(
            body.contains("id=\"loop-funnel\""),
            "a commander reads the loop"
        );
        assert!(body.contains("总览"), "zh by default");
        // The day's bulletin by the official renderer: 2 new confirmed in the province.
        assert!(body.contains("3月9日0—24时"), "{body}");
        assert!(
            body.contains("长春市") && body.contains("吉林市"),
            "child regions"
        );
        // Names never reach the dashboard; display names are escaped.
        assert!(!body.contains("张三"));
        assert!(
            body.contains("&lt;b&gt;boss&lt;/b&gt;") || body.contains("&#60;b&#62;boss"),
            "escaped display name"
        );
        assert!(!body.contains("<b>boss</b>"));
        // Default day: the last day with a report.
        let latest = app.page(&boss, "/").await;
        assert!(
            latest.contains("2022年3月9日"),
            "the last report day is selected"
        );
        // A wall screen reloads itself, at most every 30 s.
        let wall = app.page(&boss, "/?refresh=5").await;
        assert!(wall.contains(r#"<meta http-equiv="refresh" content="30">"#));
        assert!(!latest.contains("http-equiv=\"refresh\""));
        // English on request.
        let en = app.page(&boss, "/?date=2022-03-09&lang=en").await;
        assert!(en.contains("Dashboard") && en.contains("Changchun"));
        assert!(!en.contains("总览"));
        app.store.close().await;
        app.db.cleanup().await;
    }
}

#[tokio::test]
async fn a_district_reads_its_own_district_only() {
    for app in App::each().await {
        let d = app.sign_in("changyi").await;
        let body = app.page(&d, "/?date=2022-03-09").await;
        assert!(body.contains("昌邑区"));
        assert!(!body.contains("长春市"), "another city is not listed");
        let (status, body) = app
            .get(Some(&d), "/bulletin?date=2022-03-09&region=220102")
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            body.contains("未找到"),
            "a localised page, not a code: {body}"
        );
        assert!(!body.contains("not_found"));
        let (status, _) = app.get(Some(&d), "/loop?region=220102").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another district's tasks");
        app.page(&d, "/loop?region=220202").await;
        let own = app
            .page(&d, "/bulletin?date=2022-03-09&region=220202")
            .await;
        assert!(own.contains("昌邑区"));
        app.store.close().await;
        app.db.cleanup().await;
    }
}

#[tokio::test]
async fn the_public_bulletin_needs_no_sign_in_and_shows_aggregates() {
    for app in App::each().await {
        let (status, body) = app.get(None, "/public/bulletin?date=2022-03-09").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("3月9日0—24时"));
        assert!(!body.contains("张三") && !body.contains("220102198501"));
        assert!(
            !body.contains("class=\"main-nav\""),
            "no navigation for the public"
        );
        let (status, body) = app
            .get(None, "/public/bulletin?date=2022-03-09&lang=en")
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("March"), "{body}");
        // Anonymous readers are sent to sign in anywhere else.
        let (status, _, location) = app
            .send(Request::get("/").body(Body::empty()).unwrap())
            .await;
        assert!(status.is_redirection());
        assert!(location.starts_with("/login"));
        let (status, _) = app.get(None, "/static/console.css").await;
        assert_eq!(status, StatusCode::OK);
        // An unknown page: the 404 page for a browser, JSON for everyone else.
        let (status, body, _) = app
            .send(
                Request::get("/no/such/page")
                    .header(header::ACCEPT, "text/html,application/xhtml+xml")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            body.starts_with("<!doctype html>") && body.contains("没有这个页面"),
            "{body}"
        );
        let (status, body) = app.get(None, "/no/such/page").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            body.starts_with('{') && body.contains("\"not_found\""),
            "{body}"
        );
        let (status, body, _) = app
            .send(
                Request::get("/api/no/such")
                    .header(header::ACCEPT, "text/html")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.starts_with('{'), "the API answers JSON: {body}");
        app.store.close().await;
        app.db.cleanup().await;
    }
}

#[tokio::test]
async fn loop_pages_answer_and_roles_are_checked() {
    for app in App::each().await {
        let boss = app.sign_in("boss").await;
        for uri in [
            "/loop",
            "/loop/overdue",
            "/loop/leaks",
            "/loop/accountability?from=2022-03-01&to=2022-03-10",
            "/bulletin",
        ] {
            app.page(&boss, uri).await;
        }
        let (status, body) = app.get(Some(&boss), "/admin/users").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("无权"), "{body}");
        for bad in [
            "/loop?at=-9223372036854775808",
            "/loop/overdue?at=x",
            "/?date=-262143-01-01",
        ] {
            let (status, body) = app.get(Some(&boss), bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(body.starts_with("<!doctype html>"), "{bad}: {body}");
        }
        let (status, body) = app
            .get(Some(&boss), "/loop/accountability?from=2022-13-01")
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.starts_with("<!doctype html>"));
        app.store.close().await;
        app.db.cleanup().await;
    }
}

#[tokio::test]
async fn admins_manage_users_and_read_the_audit_log() {
    for app in App::each().await {
        let admin = app.sign_in("admin").await;
        let users = app.page(&admin, "/admin/users").await;
        assert!(users.contains("changyi"));
        // Without the token: 403.
        let (status, _, _) = app
            .post(
                &admin,
                "/admin/users",
                "login=newbie&role=investigator&region=220102&password=abcdef123456",
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let form = format!(
            "csrf={}&login=newbie&display_name=New&role=investigator&region=220102&password=abcdef123456",
            admin.csrf
        );
        let (status, body, location) = app.post(&admin, "/admin/users", &form).await;
        assert!(status.is_redirection(), "{status} {body}");
        assert_eq!(location, "/admin/users?done=created");
        assert!(app.store.user_by_login("newbie").await.unwrap().is_some());
        // A weak password is refused in words.
        let form = format!(
            "csrf={}&login=weak&role=investigator&region=220102&password=x",
            admin.csrf
        );
        let (status, body, _) = app.post(&admin, "/admin/users", &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("id=\"form-error\""));
        // Disable, then the user's session ends.
        let d = app.sign_in("changyi").await;
        let (status, _, _) = app
            .post(
                &admin,
                "/admin/users/changyi/disable",
                &format!("csrf={}", admin.csrf),
            )
            .await;
        assert!(status.is_redirection());
        let (status, _) = app.get(Some(&d), "/").await;
        assert!(
            status.is_redirection() || status == StatusCode::UNAUTHORIZED,
            "{status}"
        );
        // The audit log has it, filtered by actor.
        let audit = app.page(&admin, "/admin/audit?actor=user%3Aadmin").await;
        assert!(audit.contains("newbie"), "{audit}");
        let verify = app.page(&admin, "/admin/audit/verify").await;
        assert!(verify.contains("审计链完整"), "{verify}");
        app.page(&admin, "/admin/tokens").await;
        app.store.close().await;
        app.db.cleanup().await;
    }
}

#[tokio::test]
async fn the_language_switch_is_saved_for_the_user() {
    for app in App::each().await {
        let boss = app.sign_in("boss").await;
        let (status, _, location) = app
            .post(
                &boss,
                "/lang",
                &format!(
                    "lang=en&next=%2Fbulletin%3Fdate%3D2022-03-09&csrf={}",
                    boss.csrf
                ),
            )
            .await;
        assert!(status.is_redirection(), "{status}");
        assert_eq!(location, "/bulletin?date=2022-03-09");
        let body = app.page(&boss, "/bulletin?date=2022-03-09").await;
        assert!(
            body.contains("Bulletin") && body.contains("lang=\"en\""),
            "{body}"
        );
        assert_eq!(
            app.store.user_by_login("boss").await.unwrap().unwrap().lang,
            Lang::En
        );
        // Never off-site.
        let (_, _, location) = app
            .post(
                &boss,
                "/lang",
                &format!("lang=zh&next=%2F%2Fevil.example&csrf={}", boss.csrf),
            )
            .await;
        assert_eq!(location, "/");
        app.store.close().await;
        app.db.cleanup().await;
    }
}
