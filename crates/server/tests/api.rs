//! The API in process, on every backend under test: requests go through the
//! whole router (language layer, extractors, handlers, store) with `oneshot`.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Duration, TimeZone, Utc};
use closedloop_domain::access::Role;
use closedloop_domain::case::{CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin};
use closedloop_domain::person::{
    resident_id_check_digit, Document, DocumentType, PersonDraft, Sex,
};
use closedloop_domain::region::{Region, RegionLevel};
use closedloop_domain::time::DEFAULT_TIME_ZONE;
use closedloop_domain::Lang;
use closedloop_server::{router, ServerConfig};
use closedloop_store::accounts::NewUser;
use closedloop_store::testing::TestDatabase;
use closedloop_store::{Actor, ImportMode, Store};
use http_body_util::BodyExt;
use serde_json::{json, Value};
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

fn regions() -> Vec<(u64, Region)> {
    use RegionLevel::*;
    [
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
    .collect()
}

fn resident_id(seq: u32) -> String {
    let first17 = format!("22010219850101{:03}", seq % 1000);
    format!("{first17}{}", resident_id_check_digit(&first17).unwrap())
}

fn person(seq: u32, name: &str, region: &str) -> PersonDraft {
    let doc = Document::parse(DocumentType::ResidentId, &resident_id(seq)).unwrap();
    let mut p = PersonDraft::new(doc, name);
    p.region_code = Some(region.into());
    p
}

/// A local time in March 2022, Asia/Shanghai.
fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    DEFAULT_TIME_ZONE
        .with_ymd_and_hms(2022, 3, day, hour, minute, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn case(
    id: &str,
    p: PersonDraft,
    class: Classification,
    origin: Origin,
    reported: DateTime<Utc>,
) -> CaseDraft {
    let region = p.region_code.clone().unwrap_or_else(|| "220102".into());
    CaseDraft {
        case_id: id.into(),
        person: p,
        classification: class,
        clinical_type: (class == Classification::Confirmed).then_some(ClinicalType::Mild),
        origin,
        discovery_channel: DiscoveryChannel::CommunityScreening,
        onset_date: None,
        sample_time: Some(reported - Duration::hours(8)),
        report_time: reported,
        reporting_region: region.clone(),
        residence_region: Some(region),
        reclassified_at: None,
        outcome: None,
        outcome_time: None,
        isolated_at: None,
    }
}

/// Six cases around 9 March 2022 (local). On the 9th, for the province:
/// 3 new local confirmed (one of them reclassified from the 8th), 1 new local
/// asymptomatic (in 220202), 1 new imported confirmed.
fn cases() -> Vec<(u64, CaseDraft)> {
    use Classification::*;
    let mut c3 = case(
        "C3",
        person(3, "李五", "220102"),
        Confirmed,
        Origin::Local,
        at(8, 10, 0),
    );
    c3.reclassified_at = Some(at(9, 12, 0));
    [
        case(
            "C1",
            person(1, "张三", "220102"),
            Confirmed,
            Origin::Local,
            at(9, 10, 0),
        ),
        // 23:30 local is still the 9th, though already the 9th 15:30 UTC.
        case(
            "C2",
            person(2, "张四", "220102"),
            Confirmed,
            Origin::Local,
            at(9, 23, 30),
        ),
        c3,
        case(
            "C4",
            person(4, "王六", "220202"),
            Asymptomatic,
            Origin::Local,
            at(9, 8, 0),
        ),
        case(
            "C5",
            person(5, "赵七", "220102"),
            Confirmed,
            Origin::Imported,
            at(9, 11, 0),
        ),
        case(
            "C6",
            person(6, "钱八", "220102"),
            Confirmed,
            Origin::Local,
            at(10, 1, 0),
        ),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, c)| (i as u64 + 2, c))
    .collect()
}

struct App {
    db: TestDatabase,
    store: Store,
    router: Router,
    /// An investigator's API token over the whole province: every request
    /// carries it (or `admin_token` for the audit log), since the API answers
    /// only signed-in users. Jurisdictions are tested in access.rs.
    token: String,
    admin_token: String,
}

/// A user of the whole province and an API token of theirs.
async fn token_for(store: &Store, login: &str, role: Role) -> String {
    store
        .create_user(
            &NewUser {
                login: login.into(),
                display_name: String::new(),
                role,
                region_code: "220000".into(),
                facility_id: None,
                lang: Lang::Zh,
                password: "test password 1".into(),
            },
            &Actor::system(),
        )
        .await
        .unwrap();
    store
        .create_api_token(login, "api tests", &Actor::system())
        .await
        .unwrap()
        .token
}

impl App {
    async fn each(name: &str) -> Vec<App> {
        let mut out = Vec::new();
        for db in TestDatabase::each(name).await {
            let store = db.open().await;
            store
                .import_regions(
                    &regions(),
                    ImportMode::default(),
                    "regions.csv",
                    &Actor::system(),
                )
                .await
                .unwrap();
            let cfg = ServerConfig {
                lang: Lang::Zh,
                ..ServerConfig::default()
            };
            let router = router(store.clone(), &cfg);
            let token = token_for(&store, "tester", Role::Investigator).await;
            let admin_token = token_for(&store, "auditor", Role::Admin).await;
            out.push(App {
                db,
                store,
                router,
                token,
                admin_token,
            });
        }
        out
    }

    async fn with_cases(name: &str) -> Vec<App> {
        let apps = App::each(name).await;
        for app in &apps {
            app.store
                .import_cases(
                    &cases(),
                    ImportMode::default(),
                    "cases.csv",
                    &Actor::system(),
                )
                .await
                .unwrap();
        }
        apps
    }

    /// Adds the API token unless the request has one (or is anonymous on purpose).
    fn authorised(&self, mut req: Request<Body>) -> Request<Body> {
        if !req.headers().contains_key(header::AUTHORIZATION) {
            let token = if req.uri().path().starts_with("/api/audit") {
                &self.admin_token
            } else {
                &self.token
            };
            req.headers_mut().insert(
                header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            );
        }
        req
    }

    /// Sends the request as it is: no token added.
    async fn send_anonymous(&self, req: Request<Body>) -> (StatusCode, Value) {
        self.send_raw(req).await
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let req = self.authorised(req);
        self.send_raw(req).await
    }

    async fn send_raw(&self, req: Request<Body>) -> (StatusCode, Value) {
        let what = format!("{:?} {} {}", self.db.backend, req.method(), req.uri());
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert!(
            content_type.starts_with("application/json"),
            "{what}: {status} answered {content_type:?}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{what}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, body)
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// A 200 answer's body.
    async fn ok(&self, uri: &str) -> Value {
        let (status, body) = self.get(uri).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{:?} {uri}: {body}",
            self.db.backend
        );
        body
    }

    /// The error code of a non-2xx answer, checking the error shape on the way.
    async fn error(&self, uri: &str, expected: StatusCode) -> String {
        let (status, body) = self.get(uri).await;
        assert_eq!(status, expected, "{:?} {uri}: {body}", self.db.backend);
        error_code(&body)
    }

    async fn post(&self, uri: &str, body: &Value) -> (StatusCode, Value) {
        self.send(
            Request::post(uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    async fn person_id(&self, name: &str) -> i64 {
        let page = self.ok(&format!("/api/persons?q={}", enc(name))).await;
        assert_eq!(page["total"], 1, "{name}: {page}");
        page["items"][0]["id"].as_i64().unwrap()
    }

    async fn done(self) {
        self.store.close().await;
        self.db.cleanup().await;
    }
}

fn error_code(body: &Value) -> String {
    let obj = body.as_object().unwrap();
    assert_eq!(
        obj.len(),
        2,
        "an error has exactly error and message: {body}"
    );
    assert!(!obj["message"].as_str().unwrap().is_empty(), "{body}");
    obj["error"].as_str().unwrap().to_string()
}

/// Percent-encodes a query value (names are Chinese).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn strings<'a>(items: &'a Value, key: &str) -> Vec<&'a str> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[key].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn health_answers_and_degrades_without_a_database() {
    for app in App::each("health").await {
        let (status, body) = app.get("/health").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"status": "ok", "database": "ok"}));

        app.store.close().await;
        let (status, body) = app.get("/health").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "degraded");

        // A failing database is a 500 with a code, and none of its internals.
        let (status, body) = app.get("/api/persons?lang=en").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error_code(&body), "database_error");
        let message = body["message"].as_str().unwrap().to_lowercase();
        assert!(
            !message.contains("pool") && !message.contains("sqlx"),
            "{message}"
        );
        app.done().await;
    }
}

#[tokio::test]
async fn regions_list_and_detail_in_the_request_language() {
    for app in App::each("regions").await {
        let list = app.ok("/api/regions").await;
        assert_eq!(
            strings(&list["items"], "code"),
            ["220000", "220100", "220102", "220200", "220202"]
        );
        assert_eq!(list["items"][1]["name"], "长春市");
        assert_eq!(list["items"][1]["level"], "city");
        assert_eq!(list["items"][1]["parent_code"], "220000");

        let city = app.ok("/api/regions/220100?lang=en").await;
        assert_eq!(city["code"], "220100");
        assert_eq!(city["name"], "Changchun");
        assert_eq!(strings(&city["children"], "code"), ["220102"]);
        assert_eq!(city["children"][0]["name"], "Nanguan District");

        let by_header = app
            .send(
                Request::get("/api/regions/220000")
                    .header(header::ACCEPT_LANGUAGE, "en-US,en;q=0.9,zh;q=0.5")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .1;
        // The signed-in user's language (zh) wins over the browser's.
        assert_eq!(by_header["name"], "吉林省");
        assert_eq!(
            strings(&by_header["children"], "code"),
            ["220100", "220200"]
        );

        assert_eq!(
            app.error("/api/regions/990000", StatusCode::NOT_FOUND)
                .await,
            "not_found"
        );
        app.done().await;
    }
}

#[tokio::test]
async fn persons_paginate_filter_by_region_scope_and_show_their_cases() {
    for app in App::with_cases("persons").await {
        let all = app.ok("/api/persons").await;
        assert_eq!(all["total"], 6);
        assert_eq!(all["limit"], 50);
        assert_eq!(all["offset"], 0);
        assert_eq!(all["items"].as_array().unwrap().len(), 6);

        let page = app.ok("/api/persons?limit=2&offset=2").await;
        assert_eq!(page["total"], 6);
        assert_eq!(page["limit"], 2);
        assert_eq!(page["offset"], 2);
        let ids: Vec<i64> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        let all_ids: Vec<i64> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, all_ids[2..4]);
        assert_eq!(app.ok("/api/persons?limit=5000").await["limit"], 1000);

        let changchun = app.ok("/api/persons?region=220100").await;
        assert_eq!(changchun["total"], 5);
        assert!(!strings(&changchun["items"], "name").contains(&"王六"));
        let jilin = app.ok("/api/persons?region=220200").await;
        assert_eq!(strings(&jilin["items"], "name"), ["王六"]);
        assert_eq!(jilin["items"][0]["region_name"], "昌邑区");

        let zhang = app.ok(&format!("/api/persons?q={}", enc("张"))).await;
        assert_eq!(strings(&zhang["items"], "name"), ["张三", "张四"]);
        let by_document = app.ok(&format!("/api/persons?q={}", resident_id(4))).await;
        assert_eq!(strings(&by_document["items"], "name"), ["王六"]);

        let id = app.person_id("张三").await;
        let detail = app.ok(&format!("/api/persons/{id}?lang=en")).await;
        assert_eq!(detail["id"], id);
        assert_eq!(detail["document_type"], "resident_id");
        assert_eq!(detail["document_number"], resident_id(1));
        assert_eq!(detail["sex"], "male");
        assert_eq!(detail["region_name"], "Nanguan District");
        assert_eq!(detail["merged_into"], Value::Null);
        assert_eq!(strings(&detail["cases"], "case_id"), ["C1"]);
        assert_eq!(detail["merges"], json!([]));

        for bad in ["/api/persons/999999", "/api/persons/not-a-number"] {
            assert_eq!(app.error(bad, StatusCode::NOT_FOUND).await, "not_found");
        }
        for (uri, code) in [
            ("/api/persons?limit=abc", "invalid_number"),
            ("/api/persons?limit=0", "invalid_number"),
            ("/api/persons?offset=-1", "invalid_number"),
            ("/api/persons?region=22A000", "invalid_region_code"),
            ("/api/persons?region=990000", "unknown_region"),
        ] {
            assert_eq!(app.error(uri, StatusCode::BAD_REQUEST).await, code, "{uri}");
        }
        app.done().await;
    }
}

#[tokio::test]
async fn cases_filter_by_scope_vocabulary_and_local_days() {
    for app in App::with_cases("cases").await {
        let all = app.ok("/api/cases").await;
        assert_eq!(all["total"], 6);
        // Report order.
        assert_eq!(
            strings(&all["items"], "case_id"),
            ["C3", "C4", "C1", "C5", "C2", "C6"]
        );
        let page = app.ok("/api/cases?limit=2&offset=1").await;
        assert_eq!(page["total"], 6);
        assert_eq!(strings(&page["items"], "case_id"), ["C4", "C1"]);

        // A case in 220202 lies outside 220100's subtree.
        let changchun = app.ok("/api/cases?region=220100").await;
        assert_eq!(
            strings(&changchun["items"], "case_id"),
            ["C3", "C1", "C5", "C2", "C6"]
        );
        let jilin = app.ok("/api/cases?region=220200").await;
        assert_eq!(strings(&jilin["items"], "case_id"), ["C4"]);
        assert_eq!(jilin["items"][0]["reporting_region_name"], "昌邑区");

        let day = app.ok("/api/cases?from=2022-03-09&to=2022-03-09").await;
        assert_eq!(strings(&day["items"], "case_id"), ["C4", "C1", "C5", "C2"]);
        let next = app.ok("/api/cases?from=2022-03-10").await;
        assert_eq!(strings(&next["items"], "case_id"), ["C6"]);
        let before = app.ok("/api/cases?to=2022-03-08").await;
        assert_eq!(strings(&before["items"], "case_id"), ["C3"]);

        let asym = app.ok("/api/cases?classification=asymptomatic").await;
        assert_eq!(strings(&asym["items"], "case_id"), ["C4"]);
        let imported = app.ok("/api/cases?origin=imported").await;
        assert_eq!(strings(&imported["items"], "case_id"), ["C5"]);
        let none = app
            .ok("/api/cases?discovery_channel=fever_clinic&region=220100")
            .await;
        assert_eq!(none["total"], 0);

        let c2 = &day["items"][3];
        assert_eq!(c2["report_time"], "2022-03-09T23:30:00+08:00");
        assert_eq!(c2["person"]["name"], "张四");

        let c3 = app.ok("/api/cases/C3").await;
        assert_eq!(c3["classification"], "confirmed");
        assert_eq!(c3["reclassified_at"], "2022-03-09T12:00:00+08:00");
        assert_eq!(
            strings(&c3["classification_history"], "classification"),
            ["asymptomatic", "confirmed"]
        );
        assert_eq!(
            app.error("/api/cases/C404", StatusCode::NOT_FOUND).await,
            "not_found"
        );

        for (uri, code) in [
            ("/api/cases?from=2022-02-30", "invalid_date"),
            ("/api/cases?to=yesterday", "invalid_date"),
            ("/api/cases?classification=probable", "unknown_value"),
            ("/api/cases?origin=mars", "unknown_value"),
            ("/api/cases?limit=-3", "invalid_number"),
        ] {
            assert_eq!(app.error(uri, StatusCode::BAD_REQUEST).await, code, "{uri}");
        }
        app.done().await;
    }
}

#[tokio::test]
async fn the_bulletin_counts_the_seeded_cases() {
    for app in App::with_cases("bulletin").await {
        let b = app.ok("/api/bulletins/2022-03-09").await;
        for key in [
            "date",
            "region",
            "new_local_confirmed",
            "new_local_confirmed_reclassified",
            "new_local_asymptomatic",
            "new_imported_confirmed",
            "new_imported_asymptomatic",
            "by_region",
        ] {
            assert!(b.get(key).is_some(), "missing {key}: {b}");
        }
        assert_eq!(b["date"], "2022-03-09");
        assert_eq!(
            b["region"],
            json!({"code": "220000", "name": "吉林省", "level": "province"})
        );
        assert_eq!(b["new_local_confirmed"], 3);
        assert_eq!(b["new_local_confirmed_reclassified"], 1);
        assert_eq!(b["new_local_asymptomatic"], 1);
        assert_eq!(b["new_imported_confirmed"], 1);
        assert_eq!(b["new_imported_asymptomatic"], 0);
        let lines: Vec<Value> = b["by_region"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                json!([
                    r["code"],
                    r["name"],
                    r["new_local_confirmed"],
                    r["new_local_asymptomatic"]
                ])
            })
            .collect();
        assert_eq!(
            lines,
            [
                json!(["220100", "长春市", 3, 0]),
                json!(["220200", "吉林市", 0, 1])
            ]
        );

        let city = app
            .ok("/api/bulletins/2022-03-09?region=220100&lang=en")
            .await;
        assert_eq!(city["region"]["name"], "Changchun");
        assert_eq!(city["new_local_confirmed"], 3);
        assert_eq!(city["new_local_asymptomatic"], 0);
        assert_eq!(strings(&city["by_region"], "name"), ["Nanguan District"]);

        let text = app.ok("/api/bulletins/2022-03-09?format=text").await;
        let text = text["text"].as_str().unwrap();
        assert!(text.contains("3月9日0—24时"), "{text}");
        assert!(
            text.contains("新增本地确诊病例3例（含1例无症状感染者转为确诊病例）"),
            "{text}"
        );
        let md = app
            .ok("/api/bulletins/2022-03-09?format=markdown&lang=en")
            .await;
        let md = md["text"].as_str().unwrap();
        assert!(md.starts_with("# Jilin Province"), "{md}");
        assert!(md.contains("From 0:00 to 24:00 on 9 March 2022"), "{md}");
        assert!(md.contains("| Changchun | 220100 |"), "{md}");

        for (uri, code) in [
            ("/api/bulletins/2022-13-01", "invalid_date"),
            ("/api/bulletins/today", "invalid_date"),
            ("/api/bulletins/2022-03-09?format=pdf", "unknown_value"),
            ("/api/bulletins/2022-03-09?region=990000", "unknown_region"),
        ] {
            assert_eq!(app.error(uri, StatusCode::BAD_REQUEST).await, code, "{uri}");
        }
        app.done().await;
    }
}

#[tokio::test]
async fn duplicates_merge_through_the_api_and_leave_a_trace() {
    for app in App::each("merge").await {
        let mut a = person(21, "郑一", "220102");
        a.phone = Some("13900000021".into());
        let mut b = PersonDraft::new(
            Document::parse(DocumentType::Passport, "E7654321").unwrap(),
            "郑一",
        );
        b.birth_date = a.birth_date;
        b.sex = Some(Sex::Male);
        b.phone = a.phone.clone();
        app.store
            .import_persons(
                &[(2, a.clone()), (3, b.clone())],
                ImportMode::default(),
                "p.csv",
                &Actor::system(),
            )
            .await
            .unwrap();
        let c9 = case(
            "C9",
            b.clone(),
            Classification::Asymptomatic,
            Origin::Local,
            at(12, 9, 0),
        );
        app.store
            .import_cases(&[(2, c9)], ImportMode::default(), "c.csv", &Actor::system())
            .await
            .unwrap();

        let groups = app.ok("/api/duplicates").await;
        assert_eq!(groups["items"].as_array().unwrap().len(), 1);
        let persons = &groups["items"][0]["persons"];
        assert_eq!(persons.as_array().unwrap().len(), 2);
        let ids: Vec<i64> = persons
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        let by_doc = |doc: &str| {
            persons
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["document_number"] == doc)
                .map(|p| p["id"].as_i64().unwrap())
                .unwrap()
        };
        let (keep, gone) = (by_doc(&resident_id(21)), by_doc("E7654321"));
        assert!(ids.contains(&keep) && ids.contains(&gone));
        assert_eq!(
            app.ok("/api/duplicates?region=220100").await["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            app.ok("/api/duplicates?region=220200").await["items"],
            json!([])
        );

        // Bad requests change nothing.
        for (body, status, code) in [
            (
                json!({"keep": keep, "merge": gone}),
                StatusCode::BAD_REQUEST,
                "invalid_body",
            ),
            (
                json!({"keep": keep, "merge": gone, "reason": "  "}),
                StatusCode::BAD_REQUEST,
                "missing_value",
            ),
            (
                json!({"keep": keep, "merge": keep, "reason": "x"}),
                StatusCode::BAD_REQUEST,
                "invalid_request",
            ),
            (
                json!({"keep": keep, "merge": 999_999, "reason": "x"}),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
        ] {
            let (s, e) = app.post("/api/duplicates/merge", &body).await;
            assert_eq!((s, error_code(&e).as_str()), (status, code), "{body}");
        }
        let (s, e) = app
            .send(
                Request::post("/api/duplicates/merge")
                    .body(Body::from(
                        json!({"keep": keep, "merge": gone, "reason": "x"}).to_string(),
                    ))
                    .unwrap(),
            )
            .await;
        assert_eq!(
            (s, error_code(&e).as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        );
        let (s, e) = app
            .send(
                Request::post("/api/duplicates/merge")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from("{not json"))
                    .unwrap(),
            )
            .await;
        assert_eq!(
            (s, error_code(&e).as_str()),
            (StatusCode::BAD_REQUEST, "invalid_body")
        );
        assert_eq!(
            app.ok("/api/duplicates").await["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );

        let (status, merged) = app
            .post(
                "/api/duplicates/merge",
                &json!({"keep": keep, "merge": gone, "reason": "same person, two documents"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{merged}");
        assert_eq!(merged["kept"], keep);
        assert_eq!(merged["merged"], gone);
        assert_eq!(merged["moved_cases"], 1);
        assert!(merged["merge_id"].as_i64().is_some());

        assert_eq!(app.ok("/api/duplicates").await["items"], json!([]));
        let kept = app.ok(&format!("/api/persons/{keep}")).await;
        assert_eq!(strings(&kept["cases"], "case_id"), ["C9"]);
        assert_eq!(kept["merges"].as_array().unwrap().len(), 1);
        let gone_detail = app.ok(&format!("/api/persons/{gone}")).await;
        assert_eq!(gone_detail["merged_into"], keep);
        assert_eq!(gone_detail["cases"], json!([]));
        assert_eq!(gone_detail["merges"][0]["kept"], keep);
        assert_eq!(app.ok("/api/cases/C9").await["person_id"], keep);
        // Merged-away people leave the list.
        assert_eq!(app.ok("/api/persons").await["total"], 1);

        let audit = app
            .ok(&format!(
                "/api/audit?entity=person&entity_id={keep}&limit=50"
            ))
            .await;
        let items = audit["items"].as_array().unwrap();
        // Reading the person through the API is audited as a view.
        assert!(
            items
                .iter()
                .any(|e| e["action"] == "view" && e["actor"] == "user:tester"),
            "{audit}"
        );
        let entry = items.iter().find(|e| e["action"] == "merge").unwrap();
        assert_eq!(
            (entry["action"].as_str(), entry["actor"].as_str()),
            (Some("merge"), Some("user:tester"))
        );
        assert_eq!(entry["detail"]["reason"], "same person, two documents");
        assert!(entry["at"].as_str().unwrap().ends_with("+08:00"));
        let imports = app.ok("/api/audit?entity=cases").await;
        assert_eq!(imports["items"][0]["action"], "import");
        assert_eq!(
            app.error("/api/audit?limit=x", StatusCode::BAD_REQUEST)
                .await,
            "invalid_number"
        );

        let (s, e) = app
            .post(
                "/api/duplicates/merge",
                &json!({"keep": keep, "merge": gone, "reason": "again"}),
            )
            .await;
        assert_eq!(
            (s, error_code(&e).as_str()),
            (StatusCode::BAD_REQUEST, "invalid_request")
        );
        app.done().await;
    }
}

#[tokio::test]
async fn errors_are_json_in_the_request_language() {
    for app in App::each("errors").await {
        let (status, zh) = app.get("/api/nothing/here").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(error_code(&zh), "not_found");
        let (_, en) = app.get("/api/nothing/here?lang=en").await;
        assert_eq!(error_code(&en), "not_found");
        assert_ne!(zh["message"], en["message"]);
        assert!(en["message"]
            .as_str()
            .unwrap()
            .contains("/api/nothing/here"));

        let (_, zh) = app.get("/api/persons/424242").await;
        let (_, en) = app.get("/api/persons/424242?lang=en").await;
        assert_eq!(en["message"], "person 424242 not found");
        assert_eq!(zh["message"], "未找到人员424242");

        // A signed-in user reads messages in their own language (zh here),
        // whatever the browser says; ?lang= still overrides.
        let (_, zh) = app
            .send(
                Request::get("/api/bulletins/2022-02-30")
                    .header(header::ACCEPT_LANGUAGE, "en")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        let (_, en) = app.get("/api/bulletins/2022-02-30?lang=en").await;
        assert_eq!(error_code(&zh), "invalid_date");
        assert_eq!(error_code(&en), "invalid_date");
        assert!(zh["message"].as_str().unwrap().contains("日期"), "{zh}");
        assert!(
            en["message"].as_str().unwrap().contains("YYYY-MM-DD"),
            "{en}"
        );
        // Anonymous requests follow Accept-Language: 401 in English.
        let (status, anon) = app
            .send_anonymous(
                Request::get("/api/bulletins/2022-03-09")
                    .header(header::ACCEPT_LANGUAGE, "en")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(&anon), "sign_in_required");
        assert!(
            anon["message"].as_str().unwrap().contains("sign in"),
            "{anon}"
        );

        assert_eq!(
            app.error("/api/regions?lang=fr", StatusCode::BAD_REQUEST)
                .await,
            "unknown_value"
        );

        let response = app
            .router
            .clone()
            .oneshot(
                Request::builder()
                    .method(Method::DELETE)
                    .uri("/api/persons")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(response.headers().contains_key(header::ALLOW));
        let (status, body) = app
            .send(
                Request::builder()
                    .method(Method::DELETE)
                    .uri("/api/persons?lang=en")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(error_code(&body), "method_not_allowed");
        app.done().await;
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint() {
    for app in App::each("openapi").await {
        let doc = app.ok("/api/openapi.json").await;
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3."),
            "{}",
            doc["openapi"]
        );
        let paths = doc["paths"].as_object().unwrap();
        for (path, method) in [
            ("/health", "get"),
            ("/api/regions", "get"),
            ("/api/regions/{code}", "get"),
            ("/api/persons", "get"),
            ("/api/persons/{id}", "get"),
            ("/api/cases", "get"),
            ("/api/cases/{case_id}", "get"),
            ("/api/duplicates", "get"),
            ("/api/duplicates/merge", "post"),
            ("/api/bulletins/{date}", "get"),
            ("/api/audit", "get"),
            ("/api/openapi.json", "get"),
        ] {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{method} {path} missing from {:?}",
                paths.keys().collect::<Vec<_>>()
            );
        }
        // The API token is documented as a bearer scheme every operation takes.
        assert_eq!(
            doc["components"]["securitySchemes"]["api_token"]["scheme"], "bearer",
            "{}",
            doc["components"]
        );
        assert!(
            doc["security"][0].get("api_token").is_some(),
            "{}",
            doc["security"]
        );
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for s in [
            "ErrorBody",
            "BulletinOut",
            "PersonPage",
            "CaseDetail",
            "MergeRequest",
        ] {
            assert!(schemas.contains_key(s), "schema {s} missing");
        }
        let params: Vec<&str> = doc["paths"]["/api/cases"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for p in [
            "region",
            "classification",
            "from",
            "to",
            "limit",
            "offset",
            "lang",
        ] {
            assert!(params.contains(&p), "{p} missing from {params:?}");
        }
        app.done().await;
    }
}

#[tokio::test]
async fn serve_listens_and_stops_gracefully() {
    let db = TestDatabase::sqlite("serve").await;
    let store = db.open().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let cfg = ServerConfig {
        bind: addr,
        ..ServerConfig::default()
    };
    let server = tokio::spawn({
        let store = store.clone();
        async move {
            closedloop_server::serve_on(listener, store, &cfg, async {
                let _ = stopped.await;
            })
            .await
        }
    });

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        conn.read_to_string(&mut answer),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(r#"{"status":"ok","database":"ok"}"#),
        "{answer}"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    // An address another socket holds is a bind error, not a panic.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap();
    let err = closedloop_server::serve(
        store.clone(),
        ServerConfig {
            bind: taken,
            ..ServerConfig::default()
        },
        async {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, closedloop_server::ServerError::Bind { .. }),
        "{err}"
    );
    store.close().await;
    db.cleanup().await;
}

impl App {
    async fn post_csv(&self, uri: &str, csv: &str) -> (StatusCode, Value) {
        self.send(
            Request::post(uri)
                .header(header::CONTENT_TYPE, "text/csv")
                .body(Body::from(csv.to_string()))
                .unwrap(),
        )
        .await
    }

    async fn text(&self, uri: &str) -> (StatusCode, String, String) {
        let response = self
            .router
            .clone()
            .oneshot(self.authorised(Request::get(uri).body(Body::empty()).unwrap()))
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, content_type, String::from_utf8_lossy(&bytes).into())
    }
}

fn case_body(id: &str, seq: u32, reported: &str) -> Value {
    json!({
        "case_id": id,
        "document_type": "resident_id",
        "document_number": resident_id(seq),
        "name": format!("病例{seq}"),
        "reporting_region": "220102",
        "classification": "confirmed",
        "clinical_type": "mild",
        "origin": "local",
        "report_time": reported,
        "isolated_at": reported,
    })
}

#[tokio::test]
async fn registered_cases_are_traced_at_once_on_an_index_that_follows_imports() {
    for app in App::each("api_tracing").await {
        let (a, b, c, d) = (
            resident_id(1),
            resident_id(2),
            resident_id(3),
            resident_id(4),
        );
        let (status, body) = app
            .post_csv(
                "/api/import/venues",
                "venue_id,name,type,region_code\nV1,农大食堂,school,220102\n",
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = app
            .post_csv(
                "/api/import/checkins",
                &format!("person_id,venue_id,check_in,check_out\n{a},V1,2022-03-07 12:00,2022-03-07 13:00\n{b},V1,2022-03-07 12:30,2022-03-07 13:30\n"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["created"].as_u64(), body["index_stays"].as_u64()),
            (Some(2), Some(2))
        );
        // A bad row: named by line and column, nothing written.
        let (status, body) = app
            .post_csv(
                "/api/import/checkins",
                &format!("person_id,venue_id,check_in,check_out\n{c},V1,2022-03-07 12:45,2022-03-07 13:15\n{d},V1,2022-03-07 12:45,2022-03-07 11:00\n"),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "check_out_before_check_in", "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("第3行"),
            "{body}"
        );
        assert_eq!(app.store.movement_counts().await.unwrap().0, 2);
        let (status, body) = app.post_csv("/api/import/people", "a\n1\n").await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (StatusCode::NOT_FOUND, "not_found")
        );

        // Registering A traces it at once: B was at the canteen with A.
        let (status, body) = app
            .post("/api/cases", &case_body("T1", 1, "2022-03-08 10:00"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["case"]["isolated_at"], "2022-03-08T10:00:00+08:00");
        let contacts = body["contacts"].as_array().unwrap();
        assert_eq!(contacts.len(), 1, "{body}");
        assert_eq!(contacts[0]["document_number"], b.as_str());
        assert_eq!(contacts[0]["category"], "close_contact");
        assert_eq!(contacts[0]["first_exposure"], "2022-03-07T12:30:00+08:00");
        // The same case again is a conflict; a bad field is named.
        let (status, body) = app
            .post("/api/cases", &case_body("T1", 1, "2022-03-08 10:00"))
            .await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (StatusCode::CONFLICT, "case_exists")
        );
        let mut bad = case_body("T9", 9, "2022-03-08 10:00");
        bad["classification"] = json!("probable");
        let (status, body) = app.post("/api/cases", &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("classification"),
            "{body}"
        );
        assert!(app.store.case("T9").await.unwrap().is_none());

        // C's stay arrives through the API, D's through the store (as the CLI
        // imports): both reach the warm index without a restart.
        let (status, body) = app
            .post_csv(
                "/api/import/checkins",
                &format!("person_id,venue_id,check_in,check_out\n{c},V1,2022-03-07 12:45,2022-03-07 13:15\n"),
            )
            .await;
        assert_eq!(
            (status, body["index_stays"].as_u64()),
            (StatusCode::OK, Some(3)),
            "{body}"
        );
        let table = closedloop_ingest::read_table_from(
            format!(
                "person_id,venue_id,check_in,check_out\n{d},V1,2022-03-07 13:00,2022-03-07 13:20\n"
            )
            .as_bytes(),
            closedloop_ingest::FileFormat::Csv,
            "cli.csv",
        )
        .unwrap();
        let parsed = closedloop_ingest::parse_checkins(&table, DEFAULT_TIME_ZONE).unwrap();
        app.store
            .import_checkins_with_progress(
                &parsed.records,
                ImportMode::default(),
                "cli.csv",
                &Actor::system(),
                &|_| {},
            )
            .await
            .unwrap();
        let (status, body) = app
            .post("/api/cases", &case_body("T2", 2, "2022-03-09 10:00"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mut found: Vec<&str> = body["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["document_number"].as_str().unwrap())
            .collect();
        found.sort_unstable();
        // A was reported first: a case, never B's contact.
        assert_eq!(found, vec![c.as_str(), d.as_str()], "{body}");

        let listed = app.ok("/api/cases/T1/contacts?lang=en").await;
        assert_eq!(listed["items"][0]["category_label"], "Close contact");
        assert!(
            listed["items"][0]["why"]
                .as_str()
                .unwrap()
                .starts_with("venue V1: source"),
            "{listed}"
        );
        assert_eq!(
            app.error("/api/cases/NOPE/contacts", StatusCode::NOT_FOUND)
                .await,
            "not_found"
        );
        let b_id = listed["items"][0]["person_id"].as_i64().unwrap();
        let exposures = app.ok(&format!("/api/persons/{b_id}/exposures")).await;
        assert_eq!(exposures["items"][0]["case_id"], "T1");

        // T1 exposed B (T2) before T2's reference time: a transmission edge, at a school.
        let clusters = app.ok("/api/clusters?lang=en").await;
        assert_eq!(clusters["items"].as_array().unwrap().len(), 1, "{clusters}");
        let cluster = &clusters["items"][0];
        assert_eq!(
            (cluster["id"].as_str(), cluster["size"].as_u64()),
            (Some("T1"), Some(2))
        );
        assert_eq!(cluster["institutions"][0]["venue_type"], "school");
        assert_eq!(cluster["regions"][0]["name"], "Nanguan District");
        assert_eq!(cluster["last_case"]["case_id"], "T2");
        let early = app
            .ok("/api/clusters?as_of=2022-03-09T09:00:00%2B08:00")
            .await;
        assert!(early["items"].as_array().unwrap().is_empty(), "{early}");
        assert_eq!(app.ok("/api/clusters/T1").await["size"], 2);
        assert_eq!(
            app.error("/api/clusters/T2", StatusCode::NOT_FOUND).await,
            "not_found"
        );
        let chain = app.ok("/api/clusters/T1/chain").await;
        assert_eq!(chain["links"][0]["from"], "T1");
        assert_eq!(chain["links"][0]["to"], "T2");
        assert_eq!(chain["links"][0]["kind"], "transmission");
        // The tree: T1 is the root, T2's likely infector is T1.
        let tree = chain["tree"].as_array().unwrap();
        let node = |id: &str| tree.iter().find(|n| n["case_id"] == id).unwrap().clone();
        assert!(node("T1")["infector"].is_null(), "{chain}");
        assert_eq!(node("T2")["infector"]["case_id"], "T1", "{chain}");
        let (_, _, tree_dot) = app
            .text("/api/clusters/T1/chain?format=dot&tree=true")
            .await;
        assert!(
            tree_dot.contains("rankdir=TB") && tree_dot.contains("\"T1\" -> \"T2\""),
            "{tree_dot}"
        );
        let (status, content_type, dot) = app.text("/api/clusters/T1/chain?format=dot").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            content_type.starts_with("text/vnd.graphviz"),
            "{content_type}"
        );
        assert!(
            dot.starts_with("digraph \"T1\"") && dot.contains("\"T1\" -> \"T2\""),
            "{dot}"
        );
        assert_eq!(
            app.error("/api/clusters/T1/chain?format=png", StatusCode::BAD_REQUEST)
                .await,
            "unknown_value"
        );

        // The retention purge: everything from 2022 is long expired.
        let purged = closedloop_server::purge_expired(&app.store, 28, &Actor("test".into()))
            .await
            .unwrap();
        assert_eq!(purged.checkins, 4);
        let audit = app.ok("/api/audit?entity=movements").await;
        assert_eq!(audit["items"][0]["action"], "purge", "{audit}");
        app.store.close().await;
        app.db.cleanup().await;
    }
}

#[tokio::test]
async fn serve_purges_expired_movements_at_start() {
    let db = TestDatabase::sqlite("serve_purge").await;
    let store = db.open().await;
    store
        .import_regions(
            &regions(),
            ImportMode::default(),
            "regions.csv",
            &Actor::system(),
        )
        .await
        .unwrap();
    let venues = closedloop_ingest::parse_venues(
        &closedloop_ingest::read_table_from(
            "venue_id,type\nV1,shop\n".as_bytes(),
            closedloop_ingest::FileFormat::Csv,
            "v.csv",
        )
        .unwrap(),
    )
    .unwrap();
    store
        .import_venues(
            &venues.records,
            ImportMode::default(),
            "v.csv",
            &Actor::system(),
        )
        .await
        .unwrap();
    let recent = (Utc::now() - Duration::days(1)).to_rfc3339();
    let csv =
        format!("person_id,venue_id,check_in\nE1,V1,2022-03-07T12:00:00+08:00\nE2,V1,{recent}\n");
    let checkins = closedloop_ingest::parse_checkins(
        &closedloop_ingest::read_table_from(
            csv.as_bytes(),
            closedloop_ingest::FileFormat::Csv,
            "c.csv",
        )
        .unwrap(),
        DEFAULT_TIME_ZONE,
    )
    .unwrap();
    store
        .import_checkins_with_progress(
            &checkins.records,
            ImportMode::default(),
            "c.csv",
            &Actor::system(),
            &|_| {},
        )
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let cfg = ServerConfig {
        purge_every: Some(std::time::Duration::from_millis(200)),
        ..ServerConfig::default()
    };
    let server = tokio::spawn({
        let store = store.clone();
        async move {
            closedloop_server::serve_on(listener, store, &cfg, async {
                let _ = stopped.await;
            })
            .await
        }
    });
    let mut left = 2;
    for _ in 0..50 {
        left = store.movement_counts().await.unwrap().0;
        if left == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, 1, "the 2022 check-in is purged, yesterday's kept");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    store.close().await;
    db.cleanup().await;
}
