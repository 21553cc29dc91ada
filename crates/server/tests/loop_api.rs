//! The closed loop over HTTP, in process, on every backend under test.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::TimeZone;
use closedloop_domain::access::Role;
use closedloop_domain::case::{CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin};
use closedloop_domain::lifecycle::FacilityKind;
use closedloop_domain::person::{resident_id_check_digit, Document, DocumentType, PersonDraft};
use closedloop_domain::profile::Profile;
use closedloop_domain::region::{Region, RegionLevel};
use closedloop_domain::time::DEFAULT_TIME_ZONE;
use closedloop_server::{router, ServerConfig};
use closedloop_store::accounts::NewUser;
use closedloop_store::testing::TestDatabase;
use closedloop_store::{Actor, Facility, ImportMode, Store};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// The router and API tokens of the roles the loop's endpoints need (all
/// over the whole province; jurisdictions are tested in access.rs).
struct Api {
    router: axum::Router,
    commander: String,
    investigator: String,
    lab: String,
    admin: String,
}

async fn api(router: axum::Router, store: &Store) -> Api {
    let mut tokens = Vec::new();
    for (login, role) in [
        ("commander", Role::ProvincialCommander),
        ("investigator", Role::Investigator),
        ("lab", Role::LabOperator),
        ("admin", Role::Admin),
    ] {
        store
            .create_user(
                &NewUser {
                    login: login.into(),
                    display_name: String::new(),
                    role,
                    region_code: "220000".into(),
                    facility_id: None,
                    lang: closedloop_domain::Lang::Zh,
                    password: "test password 1".into(),
                },
                &Actor::system(),
            )
            .await
            .unwrap();
        let t = store
            .create_api_token(login, "loop tests", &Actor::system())
            .await
            .unwrap();
        tokens.push(t.token);
    }
    let [commander, investigator, lab, admin] = <[String; 4]>::try_from(tokens).unwrap();
    Api {
        router,
        commander,
        investigator,
        lab,
        admin,
    }
}

impl Api {
    /// The token of the role whose work the path is.
    fn token_for(&self, path: &str) -> &str {
        if path.starts_with("/api/loop/transitions") {
            &self.investigator
        } else if path.starts_with("/api/loop/results") {
            &self.lab
        } else if path.starts_with("/api/audit") {
            &self.admin
        } else {
            &self.commander
        }
    }
}

async fn call(app: &Api, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri).header(
        header::AUTHORIZATION,
        format!("Bearer {}", app.token_for(uri)),
    );
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let res = app
        .router
        .clone()
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_loop_is_served_with_stable_error_codes() {
    for db in TestDatabase::each("loopapi").await {
        let store = db.open().await;
        let a = Actor::system();
        let region = |code: &str, parent: Option<&str>, level| Region {
            code: code.into(),
            parent_code: parent.map(Into::into),
            level,
            name_zh: code.into(),
            name_en: code.into(),
            population: 1,
        };
        store
            .import_regions(
                &[
                    (2, region("220000", None, RegionLevel::Province)),
                    (3, region("220100", Some("220000"), RegionLevel::City)),
                ],
                ImportMode::default(),
                "r.csv",
                &a,
            )
            .await
            .unwrap();
        let first17 = "22010219800101001";
        let doc = Document::parse(
            DocumentType::ResidentId,
            &format!("{first17}{}", resident_id_check_digit(first17).unwrap()),
        )
        .unwrap();
        let reported = DEFAULT_TIME_ZONE
            .with_ymd_and_hms(2022, 3, 9, 8, 0, 0)
            .unwrap()
            .with_timezone(&chrono::Utc);
        let case = CaseDraft {
            case_id: "K1".into(),
            person: PersonDraft::new(doc, "甲"),
            classification: Classification::Confirmed,
            clinical_type: Some(ClinicalType::Mild),
            origin: Origin::Local,
            discovery_channel: DiscoveryChannel::Other,
            onset_date: None,
            sample_time: None,
            report_time: reported,
            reporting_region: "220100".into(),
            residence_region: None,
            reclassified_at: None,
            outcome: None,
            outcome_time: None,
            isolated_at: None,
        };
        store
            .import_cases(&[(2, case)], ImportMode::default(), "c.csv", &a)
            .await
            .unwrap();
        store
            .upsert_facilities(
                &[Facility {
                    facility_id: "F1".into(),
                    name: "方舱".into(),
                    kind: FacilityKind::Fangcang,
                    region_code: Some("220100".into()),
                    address: String::new(),
                    capacity: 10,
                }],
                &a,
            )
            .await
            .unwrap();
        let profile = Profile::shipped("china-8th").unwrap();
        store.enrol_cases(&profile, None, &a).await.unwrap();
        let app = api(
            router(
                store.clone(),
                &ServerConfig {
                    profile,
                    ..ServerConfig::default()
                },
            ),
            &store,
        )
        .await;

        let (st, v) = call(
            &app,
            Method::GET,
            "/api/loop/status?now=2022-03-09T12:00:00%2B08:00&region=220100",
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["status"]["by_category"]["case"]["reported"], 1);
        assert_eq!(v["status"]["leaks"]["not_admitted"], 1);
        assert_eq!(v["overdue"][0]["level"], "unit_head", "{v}");
        let (st, v) = call(&app, Method::GET, "/api/loop/status?region=999999", None).await;
        assert_eq!(
            (st, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("unknown_region"))
        );

        // Escalation notices: kept at each rung reached (12:00 is past the
        // unit head's rung for the admission due at 10:00), listed not yet
        // acknowledged first, acknowledged once; an unknown id is a 404.
        let noon = chrono::DateTime::parse_from_rfc3339("2022-03-09T12:00:00+08:00")
            .unwrap()
            .timestamp();
        let sent = store
            .escalate(&Profile::shipped("china-8th").unwrap(), noon, &a)
            .await
            .unwrap();
        assert!(sent.by_level.contains_key("unit_head"), "{sent:?}");
        let (st, v) = call(
            &app,
            Method::GET,
            "/api/loop/notices?unacknowledged=true",
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let listed = v.as_array().unwrap();
        assert_eq!(listed.len() as u64, sent.created, "{v}");
        let first = listed[0]["id"].as_i64().unwrap();
        let (st, v) = call(
            &app,
            Method::POST,
            &format!("/api/loop/notices/{first}/acknowledge"),
            Some(json!({})),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["acknowledged_by"], "user:commander", "{v}");
        let (_, v) = call(
            &app,
            Method::GET,
            "/api/loop/notices?unacknowledged=true",
            None,
        )
        .await;
        assert_eq!(v.as_array().unwrap().len() as u64, sent.created - 1);
        let (st, v) = call(
            &app,
            Method::POST,
            "/api/loop/notices/987654/acknowledge?lang=en",
            Some(json!({})),
        )
        .await;
        assert_eq!(
            (st, v["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{v}"
        );

        let body = |to: &str, at: &str, facility: Option<&str>| {
            Some(
                json!({"managed_id": 1, "to": to, "at": at, "facility_id": facility, "reason": "api test"}),
            )
        };
        let (st, v) = call(
            &app,
            Method::POST,
            "/api/loop/transitions?lang=en",
            body("admitted", "2022-03-09T09:00:00+08:00", Some("F1")),
        )
        .await;
        assert_eq!(
            (st, v["error"].as_str()),
            (StatusCode::CONFLICT, Some("invalid_transition")),
            "{v}"
        );
        for to in ["transfer_ordered", "in_transfer"] {
            let (st, v) = call(
                &app,
                Method::POST,
                "/api/loop/transitions",
                body(to, "2022-03-09T09:00:00+08:00", None),
            )
            .await;
            assert_eq!(st, StatusCode::OK, "{v}");
        }
        let (st, v) = call(
            &app,
            Method::POST,
            "/api/loop/transitions",
            body("admitted", "2022-03-09T11:00:00+08:00", Some("F1")),
        )
        .await;
        assert_eq!(
            (st, v["state"].as_str()),
            (StatusCode::OK, Some("admitted")),
            "{v}"
        );
        let (st, v) = call(
            &app,
            Method::POST,
            "/api/loop/transitions",
            body("quarantined", "2022-03-09T11:00:00+08:00", None),
        )
        .await;
        assert_eq!(
            (st, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("unknown_value"))
        );

        let (st, v) = call(
            &app,
            Method::GET,
            "/api/accountability?from=2022-03-09&to=2022-03-09&now=2022-03-10T00:00:00%2B08:00",
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let admit = v["lapses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["step"] == "admit")
            .unwrap()
            .clone();
        assert_eq!(admit["minutes_late"], 60);
        let (st, v) = call(
            &app,
            Method::GET,
            "/api/loop/tasks?overdue=true&now=2022-03-10T00:00:00%2B08:00",
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert!(v
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["task"]["kind"] != "admit"));

        // The unit filter reaches the query (this world's tasks have no
        // unit; the store's tests cover a unit's tasks beyond the limit).
        let (_, all) = call(&app, Method::GET, "/api/loop/tasks?limit=1000", None).await;
        assert!(!all.as_array().unwrap().is_empty(), "{all}");
        let (st, v) = call(&app, Method::GET, "/api/loop/tasks?limit=1000&unit=1", None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v.as_array().unwrap().len(), 0, "{v}");

        let (st, v) = call(&app, Method::GET, "/api/audit/verify", None).await;
        assert_eq!(
            (st, &v["intact"]),
            (StatusCode::OK, &Value::Bool(true)),
            "{v}"
        );
        let (_, doc) = call(&app, Method::GET, "/api/openapi.json", None).await;
        for path in [
            "/api/loop/status",
            "/api/loop/tasks",
            "/api/loop/transitions",
            "/api/loop/notices",
            "/api/loop/notices/{id}/acknowledge",
            "/api/accountability",
            "/api/audit/verify",
        ] {
            assert!(
                doc["paths"].get(path).is_some(),
                "{path} missing from the OpenAPI document"
            );
        }
        db.cleanup().await;
    }
}

/// A positive posted to /api/loop/results registers the contact's case
/// (`Q-` and the test id) and traces it at once; the same result again is
/// refused with `record_closed`; an unknown classification with `unknown_value`.
#[tokio::test]
async fn a_positive_result_registers_and_traces_a_case() {
    use closedloop_domain::contact::{ContactCategory, Explanation, ExposureKind};
    use closedloop_store::ContactDraft;
    for db in TestDatabase::each("loopresult").await {
        let store = db.open().await;
        let a = Actor::system();
        let region = |code: &str, parent: Option<&str>, level| Region {
            code: code.into(),
            parent_code: parent.map(Into::into),
            level,
            name_zh: code.into(),
            name_en: code.into(),
            population: 1,
        };
        store
            .import_regions(
                &[
                    (2, region("220000", None, RegionLevel::Province)),
                    (3, region("220100", Some("220000"), RegionLevel::City)),
                ],
                ImportMode::default(),
                "r.csv",
                &a,
            )
            .await
            .unwrap();
        let person = |seq: u32| {
            let first17 = format!("22010219800101{seq:03}");
            let doc = Document::parse(
                DocumentType::ResidentId,
                &format!("{first17}{}", resident_id_check_digit(&first17).unwrap()),
            )
            .unwrap();
            let mut p = PersonDraft::new(doc, format!("人{seq}"));
            p.region_code = Some("220100".into());
            p
        };
        let reported = DEFAULT_TIME_ZONE
            .with_ymd_and_hms(2022, 3, 9, 8, 0, 0)
            .unwrap()
            .with_timezone(&chrono::Utc);
        let case = CaseDraft {
            case_id: "K1".into(),
            person: person(1),
            classification: Classification::Confirmed,
            clinical_type: Some(ClinicalType::Mild),
            origin: Origin::Local,
            discovery_channel: DiscoveryChannel::Other,
            onset_date: None,
            sample_time: None,
            report_time: reported,
            reporting_region: "220100".into(),
            residence_region: None,
            reclassified_at: None,
            outcome: None,
            outcome_time: None,
            isolated_at: None,
        };
        store
            .import_cases(&[(2, case)], ImportMode::default(), "c.csv", &a)
            .await
            .unwrap();
        store
            .import_persons(&[(2, person(2))], ImportMode::default(), "p.csv", &a)
            .await
            .unwrap();
        let k1 = store.case("K1").await.unwrap().unwrap();
        let p2 = store
            .person_by_document(&person(2).document)
            .await
            .unwrap()
            .unwrap()
            .id;
        store
            .record_contacts(
                k1.id,
                &[ContactDraft {
                    person_id: p2,
                    category: ContactCategory::CloseContact,
                    degree: 1,
                    first_exposure: reported.timestamp() - 3600,
                    via_person: k1.person_id,
                    explanations: vec![Explanation::at(ExposureKind::Household, k1.person_id, "H")],
                }],
                "china-8th@1",
                &a,
            )
            .await
            .unwrap();
        let profile = Profile::shipped("china-8th").unwrap();
        store
            .enrol_contacts(&profile, DEFAULT_TIME_ZONE, reported.timestamp(), &a)
            .await
            .unwrap();
        let managed = store.managed_of_person(p2).await.unwrap()[0].id;
        let test = store.loop_tests(managed).await.unwrap()[0].id;
        let app = api(
            router(
                store.clone(),
                &ServerConfig {
                    profile,
                    ..ServerConfig::default()
                },
            ),
            &store,
        )
        .await;
        let body = |classification: &str| {
            Some(json!({
                "test_id": test,
                "result": "positive",
                "at": "2022-03-10T09:00:00+08:00",
                "classification": classification,
            }))
        };
        let (st, v) = call(&app, Method::POST, "/api/loop/results", body("severe")).await;
        assert_eq!(
            (st, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("unknown_value"))
        );
        let (st, v) = call(&app, Method::POST, "/api/loop/results", body("confirmed")).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let case_id = format!("Q-{test}");
        assert_eq!(v["case_id"], case_id.as_str());
        let case = store.case(&case_id).await.unwrap().unwrap();
        assert_eq!(
            (case.person_id, case.case.classification),
            (p2, Classification::Confirmed)
        );
        let (st, v) = call(&app, Method::POST, "/api/loop/results", body("confirmed")).await;
        assert_eq!(
            (st, v["error"].as_str()),
            (StatusCode::CONFLICT, Some("record_closed"))
        );
    }
}
