//! The records and tracing pages through the real router, signed in through
//! `/login` as a district investigator, on every backend under test:
//! filters change the rows, sorting orders them, the CSV export is the
//! filtered list (audited), the person page shows the timeline and offers
//! only valid transitions, a transition through the form changes the state
//! and writes audit, a refused one shows the translated error, and every
//! id-taking page answers 404 for a record of another district.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, TimeZone, Utc};
use closedloop_domain::access::Role;
use closedloop_domain::case::{CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin};
use closedloop_domain::contact::{ContactCategory, Explanation, ExposureKind};
use closedloop_domain::lifecycle::{FacilityKind, LoopState, ManagedCategory};
use closedloop_domain::person::{resident_id_check_digit, Document, DocumentType, PersonDraft};
use closedloop_domain::profile::{Profile, DEFAULT_PROFILE};
use closedloop_domain::region::{Region, RegionLevel};
use closedloop_domain::time::DEFAULT_TIME_ZONE;
use closedloop_domain::Lang;
use closedloop_server::{router, ServerConfig};
use closedloop_store::accounts::NewUser;
use closedloop_store::testing::TestDatabase;
use closedloop_store::{Actor, AuditFilter, ContactDraft, Facility, ImportMode, Store};
use http_body_util::BodyExt;
use tower::ServiceExt;

const TZ: chrono_tz::Tz = DEFAULT_TIME_ZONE;
const STRICT: ImportMode = ImportMode {
    skip_bad_rows: false,
    update: false,
};
const PASSWORD: &str = "Correct-Horse-42-battery";

fn region(code: &str, parent: Option<&str>, level: RegionLevel, zh: &str) -> (u64, Region) {
    (
        2,
        Region {
            code: code.into(),
            parent_code: parent.map(Into::into),
            level,
            name_zh: zh.into(),
            name_en: zh.into(),
            population: 1000,
        },
    )
}

fn person(seq: u32, district: &str, name: &str) -> PersonDraft {
    let first17 = format!("22010219800101{:03}", seq % 1000);
    let id = format!("{first17}{}", resident_id_check_digit(&first17).unwrap());
    let mut p = PersonDraft::new(
        Document::parse(DocumentType::ResidentId, &id).unwrap(),
        name,
    );
    p.region_code = Some(district.into());
    p.phone = Some(format!("1390000{seq:04}"));
    p.address = Some(format!("{district}路{seq}号"));
    p.household_id = Some(format!("H{seq}"));
    p
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    TZ.with_ymd_and_hms(2022, 3, day, hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn case(
    id: &str,
    p: PersonDraft,
    class: Classification,
    channel: DiscoveryChannel,
    reported: DateTime<Utc>,
) -> CaseDraft {
    let district = p.region_code.clone().unwrap();
    CaseDraft {
        case_id: id.into(),
        person: p,
        classification: class,
        clinical_type: (class == Classification::Confirmed).then_some(ClinicalType::Mild),
        origin: Origin::Local,
        discovery_channel: channel,
        onset_date: None,
        sample_time: None,
        report_time: reported,
        reporting_region: district.clone(),
        residence_region: Some(district),
        reclassified_at: None,
        outcome: None,
        outcome_time: None,
        isolated_at: None,
    }
}

/// Ids of what the tests look at.
struct World {
    store: Store,
    /// Person of case A01 (南关区, the investigator's district).
    a01_person: i64,
    /// Person of case B01 (朝阳区, another district).
    b01_person: i64,
    /// 王五, a close contact in 南关区 exposed by B01 (outside) and A01.
    contact: i64,
}

async fn world(db: &TestDatabase) -> World {
    let store = db.open().await;
    let a = Actor::system();
    store
        .import_regions(
            &[
                region("220000", None, RegionLevel::Province, "吉林省"),
                region("220100", Some("220000"), RegionLevel::City, "长春市"),
                region("220102", Some("220100"), RegionLevel::District, "南关区"),
                region("220104", Some("220100"), RegionLevel::District, "朝阳区"),
            ],
            STRICT,
            "r.csv",
            &a,
        )
        .await
        .unwrap();
    use Classification::*;
    use DiscoveryChannel::*;
    let cases = vec![
        case(
            "A01",
            person(1, "220102", "张一"),
            Confirmed,
            FeverClinic,
            at(10, 8),
        ),
        case(
            "A02",
            person(2, "220102", "张二"),
            Asymptomatic,
            CommunityScreening,
            at(11, 9),
        ),
        case(
            "A03",
            person(3, "220102", "张三"),
            Confirmed,
            CommunityScreening,
            at(12, 10),
        ),
        case(
            "A04",
            person(4, "220102", "张四"),
            Asymptomatic,
            FeverClinic,
            at(13, 11),
        ),
        case(
            "A05",
            person(5, "220102", "张五"),
            Confirmed,
            CentralizedQuarantine,
            at(14, 12),
        ),
        case(
            "B01",
            person(11, "220104", "李一"),
            Confirmed,
            FeverClinic,
            at(10, 7),
        ),
        case(
            "B02",
            person(12, "220104", "李二"),
            Confirmed,
            FeverClinic,
            at(12, 7),
        ),
    ];
    let rows: Vec<(u64, CaseDraft)> = cases
        .into_iter()
        .enumerate()
        .map(|(i, c)| (i as u64 + 2, c))
        .collect();
    store
        .import_cases(&rows, STRICT, "c.csv", &a)
        .await
        .unwrap();
    store
        .import_persons(&[(2, person(21, "220102", "王五"))], STRICT, "p.csv", &a)
        .await
        .unwrap();
    let pid = |seq: u32| {
        let store = store.clone();
        async move {
            store
                .person_by_document(&person(seq, "x", "x").document)
                .await
                .unwrap()
                .unwrap()
                .id
        }
    };
    let (p1, p2, p11, p12, p21) = (
        pid(1).await,
        pid(2).await,
        pid(11).await,
        pid(12).await,
        pid(21).await,
    );
    let contact = |person_id, via, exposed: DateTime<Utc>| ContactDraft {
        person_id,
        category: ContactCategory::CloseContact,
        degree: 1,
        first_exposure: exposed.timestamp(),
        via_person: via,
        explanations: vec![Explanation::at(ExposureKind::Household, via, "H-shared")],
    };
    let pk = |id: &'static str| {
        let store = store.clone();
        async move { store.case(id).await.unwrap().unwrap().id }
    };
    // A01 exposed A02 (a transmission link) and 王五; B01 exposed B02 and 王五.
    store
        .record_contacts(
            pk("A01").await,
            &[contact(p2, p1, at(9, 20)), contact(p21, p1, at(9, 21))],
            "china-8th@1",
            &a,
        )
        .await
        .unwrap();
    store
        .record_contacts(
            pk("B01").await,
            &[contact(p12, p11, at(9, 18)), contact(p21, p11, at(9, 19))],
            "china-8th@1",
            &a,
        )
        .await
        .unwrap();
    store
        .upsert_facilities(
            &[
                Facility {
                    facility_id: "H1".into(),
                    name: "南关区隔离酒店".into(),
                    kind: FacilityKind::QuarantineHotel,
                    region_code: Some("220102".into()),
                    address: String::new(),
                    capacity: 300,
                },
                Facility {
                    facility_id: "D1".into(),
                    name: "长春定点医院".into(),
                    kind: FacilityKind::DesignatedHospital,
                    region_code: Some("220100".into()),
                    address: String::new(),
                    capacity: 800,
                },
            ],
            &a,
        )
        .await
        .unwrap();
    let profile = Profile::shipped(DEFAULT_PROFILE).unwrap();
    store.enrol_cases(&profile, None, &a).await.unwrap();
    store
        .enrol_contacts(&profile, TZ, at(10, 12).timestamp(), &a)
        .await
        .unwrap();
    store
        .create_user(
            &NewUser {
                login: "inv102".into(),
                display_name: "南关流调".into(),
                role: Role::Investigator,
                region_code: "220102".into(),
                facility_id: None,
                lang: Lang::Zh,
                password: PASSWORD.into(),
            },
            &a,
        )
        .await
        .unwrap();
    World {
        store,
        a01_person: p1,
        b01_person: p11,
        contact: p21,
    }
}

/// A browser: the session cookie and the page's anti-forgery token.
struct Browser {
    app: Router,
    cookie: String,
    csrf: String,
}

fn set_cookie(r: &axum::http::Response<Body>, name: &str) -> Option<String> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let first = v.split(';').next()?;
            let (k, val) = first.split_once('=')?;
            (k.trim() == name && !val.is_empty()).then(|| val.to_string())
        })
}

async fn body(r: axum::http::Response<Body>) -> String {
    String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

/// The value of the first `name="…" value="…"` input.
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Browser {
    async fn sign_in(store: &Store, login: &str) -> Browser {
        let app = router(store.clone(), &ServerConfig::default());
        let r = app
            .clone()
            .oneshot(Request::get("/login").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let login_csrf =
            set_cookie(&r, "closedloop_login_csrf").expect("the sign-in form's cookie");
        let form = format!(
            "login={login}&password={}&csrf_token={}&next=%2Fcases",
            enc(PASSWORD),
            enc(&login_csrf)
        );
        let r = app
            .clone()
            .oneshot(
                Request::post("/login")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(
                        header::COOKIE,
                        format!("closedloop_login_csrf={login_csrf}"),
                    )
                    .body(Body::from(form))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "signed in");
        let session = set_cookie(&r, "closedloop_session").expect("a session");
        let mut b = Browser {
            app,
            cookie: format!("closedloop_session={session}"),
            csrf: String::new(),
        };
        let (status, html) = b.get("/cases").await;
        assert_eq!(status, StatusCode::OK);
        b.csrf = input_value(&html, "csrf").expect("the page's csrf token");
        b
    }

    async fn get_raw(&self, path: &str) -> axum::http::Response<Body> {
        self.app
            .clone()
            .oneshot(
                Request::get(path)
                    .header(header::COOKIE, &self.cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self.get_raw(path).await;
        let (status, html) = (r.status(), body(r).await);
        // For a look at the pages: CONSOLE_RECORDS_DUMP=/some/dir.
        if let Ok(dir) = std::env::var("CONSOLE_RECORDS_DUMP") {
            let name: String = path
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let _ = std::fs::write(format!("{dir}/{name}.html"), &html);
        }
        (status, html)
    }

    async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, Option<String>, String) {
        let body_text = form
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let r = self
            .app
            .clone()
            .oneshot(
                Request::builder()
                    .method(Method::POST)
                    .uri(path)
                    .header(header::COOKIE, &self.cookie)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(body_text))
                    .unwrap(),
            )
            .await
            .unwrap();
        let location = r
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (r.status(), location, body(r).await)
    }
}

/// Case ids of the rows of the case table, in order.
fn case_rows(html: &str) -> Vec<String> {
    html.match_indices("data-case-id=\"")
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

/// The `<option value>`s of the select named `name` (first one on the page).
fn options_of(html: &str, name: &str) -> Vec<String> {
    let Some(start) = html.find(&format!("name=\"{name}\"")) else {
        return Vec::new();
    };
    let end = start + html[start..].find("</select>").unwrap();
    html[start..end]
        .match_indices("<option value=\"")
        .map(|(i, m)| {
            let rest = &html[start + i + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

#[tokio::test]
async fn lists_filter_sort_and_export_within_the_jurisdiction() {
    for db in TestDatabase::each("console_lists_http").await {
        let w = world(&db).await;
        let b = Browser::sign_in(&w.store, "inv102").await;

        // Only the district's cases, in report order by default.
        let (status, html) = b.get("/cases").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(case_rows(&html), ["A01", "A02", "A03", "A04", "A05"]);
        assert!(!html.contains("B01"));

        // Filters change the rows.
        let (_, html) = b.get("/cases?classification=asymptomatic").await;
        assert_eq!(case_rows(&html), ["A02", "A04"]);
        let (_, html) = b
            .get("/cases?discovery_channel=fever_clinic&from=2022-03-11")
            .await;
        assert_eq!(case_rows(&html), ["A04"]);
        let (_, html) = b.get("/cases?from=2022-03-11&to=2022-03-13").await;
        assert_eq!(case_rows(&html), ["A02", "A03", "A04"]);
        let (_, html) = b.get("/cases?region=220104").await;
        assert!(
            case_rows(&html).is_empty(),
            "another district's region shows nothing"
        );
        let (_, html) = b.get("/cases?state=reported").await;
        assert_eq!(
            case_rows(&html).len(),
            5,
            "every case is enrolled as reported"
        );
        let (_, html) = b.get("/cases?state=transfer_ordered").await;
        assert!(case_rows(&html).is_empty());

        // Sorting orders them.
        let (_, html) = b.get("/cases?sort=case_id&dir=desc").await;
        assert_eq!(case_rows(&html), ["A05", "A04", "A03", "A02", "A01"]);
        let (_, html) = b.get("/cases?sort=classification").await;
        assert_eq!(case_rows(&html), ["A02", "A04", "A01", "A03", "A05"]);
        // Input never reaches the SQL: an unknown column is refused.
        let (status, html) = b
            .get("/cases?sort=report_time%3BDROP%20TABLE%20cases")
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(!html.contains("unknown_value"), "codes are translated");

        // The export is exactly the filtered list, in its order, and audited.
        let filtered = "classification=confirmed&sort=case_id&dir=desc";
        let (_, html) = b.get(&format!("/cases?{filtered}")).await;
        let shown = case_rows(&html);
        assert_eq!(shown, ["A05", "A03", "A01"]);
        assert!(html.contains(&format!(
            "/cases/export?{}",
            "classification=confirmed&#38;sort=case_id&#38;dir=desc&#38;format=csv"
        )));
        let r = b
            .get_raw(&format!("/cases/export?{filtered}&format=csv"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let csv = body(r).await;
        let mut lines = csv.lines();
        let header_line = lines.next().unwrap();
        let col = header_line.split(',').position(|c| c == "case_id").unwrap();
        let exported: Vec<String> = lines
            .map(|l| l.split(',').nth(col).unwrap().to_string())
            .collect();
        assert_eq!(exported, shown);
        let r = b
            .get_raw(&format!("/cases/export?{filtered}&format=xlsx"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let xlsx = r.into_body().collect().await.unwrap().to_bytes();
        assert!(xlsx.starts_with(b"PK"), "a zip container");
        let audit = w
            .store
            .audit_log(&AuditFilter {
                entity: Some("cases".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        let exports: Vec<_> = audit.iter().filter(|e| e.action == "export").collect();
        assert_eq!(exports.len(), 2, "both exports are audited: {audit:?}");
        assert!(exports.iter().all(|e| e.actor == "user:inv102"));
        assert_eq!(exports[0].detail["rows"], 3);

        // Persons and the search, within the jurisdiction.
        let (status, html) = b.get("/persons").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("张一") && html.contains("王五"));
        assert!(!html.contains("李一"));
        let (_, html) = b.get(&format!("/search?q={}", enc("张"))).await;
        assert_eq!(html.matches("data-testid=\"person-row\"").count(), 5);
        let (_, html) = b.get(&format!("/search?q={}", enc("李"))).await;
        assert_eq!(html.matches("data-testid=\"person-row\"").count(), 0);
        let (_, html) = b.get("/search?q=13900000001").await;
        assert_eq!(html.matches("data-testid=\"person-row\"").count(), 1);

        // The person list's export: exactly what the list shows (the
        // district's people with the search), in the persons contract, audited.
        let (_, html) = b.get(&format!("/persons?q={}", enc("张"))).await;
        assert!(
            html.contains("/persons/export?q=%E5%BC%A0&#38;format=csv"),
            "{html}"
        );
        let r = b
            .get_raw(&format!("/persons/export?q={}&format=csv", enc("张")))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let csv = body(r).await;
        let mut lines = csv.lines();
        let header_line = lines.next().unwrap();
        let col = header_line.split(',').position(|c| c == "name").unwrap();
        let mut exported: Vec<String> = lines
            .map(|l| l.split(',').nth(col).unwrap().to_string())
            .collect();
        exported.sort();
        let mut shown: Vec<String> = html
            .split("data-testid=\"person-row\"")
            .skip(1)
            .filter_map(|row| {
                let name = row.split("\">").nth(1)?;
                Some(name.split('<').next()?.to_string())
            })
            .collect();
        shown.sort();
        assert_eq!(shown.len(), 5, "{html}");
        assert_eq!(exported, shown);
        let r = b.get_raw("/persons/export?format=xlsx").await;
        assert_eq!(r.status(), StatusCode::OK);
        let xlsx = r.into_body().collect().await.unwrap().to_bytes();
        assert!(xlsx.starts_with(b"PK"), "a zip container");
        let r = b.get_raw("/persons/export?format=pdf").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let audit = w
            .store
            .audit_log(&AuditFilter {
                entity: Some("persons".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        let exports: Vec<_> = audit.iter().filter(|e| e.action == "export").collect();
        assert_eq!(exports.len(), 2, "both exports are audited: {audit:?}");
        assert!(exports.iter().any(|e| e.detail["rows"] == 5));

        w.store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn the_person_page_offers_valid_transitions_and_the_form_moves_the_person() {
    for db in TestDatabase::each("console_person_http").await {
        let w = world(&db).await;
        let b = Browser::sign_in(&w.store, "inv102").await;
        let page = format!("/persons/{}", w.a01_person);
        let (status, html) = b.get(&page).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains("张一") && html.contains("13900000001"),
            "identity"
        );
        assert!(html.contains("id=\"transition-form\""));
        // A reported case: only transfer ordered or died.
        let mut offered = options_of(&html, "to");
        offered.sort();
        assert_eq!(offered, ["died", "transfer_ordered"]);
        let views = w
            .store
            .audit_log(&AuditFilter {
                entity: Some("person".into()),
                entity_id: Some(w.a01_person.to_string()),
                limit: 10,
            })
            .await
            .unwrap();
        assert!(
            views
                .iter()
                .any(|e| e.action == "view" && e.actor == "user:inv102"),
            "the view is audited"
        );

        let managed = w.store.managed_of_person(w.a01_person).await.unwrap();
        let m = managed
            .iter()
            .find(|m| m.category == ManagedCategory::Case)
            .unwrap();
        let mid = m.id.to_string();

        // Without the token: refused.
        let (status, _, _) = b
            .post(
                &format!("{page}/transition"),
                &[("managed_id", &mid), ("to", "transfer_ordered")],
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // A valid transition: Post/Redirect/Get, the state changes, audited, on the timeline.
        let (status, location, _) = b
            .post(
                &format!("{page}/transition"),
                &[
                    ("csrf", &b.csrf),
                    ("managed_id", &mid),
                    ("to", "transfer_ordered"),
                    ("facility", ""),
                    ("reason", "派车转运"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location.as_deref(), Some(format!("{page}?done=1").as_str()));
        let now = w.store.managed(m.id).await.unwrap().unwrap();
        assert_eq!(now.state, LoopState::TransferOrdered);
        let audit = w
            .store
            .audit_log(&AuditFilter {
                entity: Some("managed".into()),
                entity_id: Some(mid.clone()),
                limit: 10,
            })
            .await
            .unwrap();
        assert!(audit
            .iter()
            .any(|e| e.action == "transition" && e.actor == "user:inv102"));
        let (_, html) = b.get(&format!("{page}?done=1")).await;
        assert!(html.contains("data-testid=\"transition-done\""));
        assert!(
            html.contains("派车转运") && html.contains("user:inv102"),
            "the timeline says who and why"
        );
        let mut offered = options_of(&html, "to");
        offered.sort();
        assert_eq!(offered, ["died", "in_transfer"]);

        // An invalid one: the translated refusal, the state unchanged.
        let (status, _, html) = b
            .post(
                &format!("{page}/transition"),
                &[("csrf", &b.csrf), ("managed_id", &mid), ("to", "released")],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains("data-testid=\"transition-error\""));
        assert!(html.contains("不能由"), "the message in Chinese");
        assert!(!html.contains("invalid_transition"), "never the raw code");
        assert_eq!(
            w.store.managed(m.id).await.unwrap().unwrap().state,
            LoopState::TransferOrdered
        );
        // Admission needs a hospital: the hotel is refused, translated.
        w.store
            .transition(
                &Profile::shipped(DEFAULT_PROFILE).unwrap(),
                TZ,
                &closedloop_store::TransitionRequest {
                    managed_id: m.id,
                    to: LoopState::InTransfer,
                    at: Utc::now().timestamp(),
                    facility_id: None,
                    reason: String::new(),
                },
                &Actor("dispatcher".into()),
            )
            .await
            .unwrap();
        let (status, _, html) = b
            .post(
                &format!("{page}/transition"),
                &[
                    ("csrf", &b.csrf),
                    ("managed_id", &mid),
                    ("to", "admitted"),
                    ("facility", "H1"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains("需要") && !html.contains("wrong_facility_kind"));

        // The contact's page: exposures with why; the source outside the
        // jurisdiction pseudonymised (李一 → 李*), the one inside named.
        let (status, html) = b.get(&format!("/persons/{}", w.contact)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("李*"), "B01's person masked");
        assert!(!html.contains("李一"));
        assert!(
            !html.contains("13900000011"),
            "no phone of the outside person"
        );
        assert!(html.contains("张一"), "A01's person named");
        assert!(html.contains("同住"), "the explanation");
        let mut offered = options_of(&html, "to");
        offered.sort();
        assert_eq!(offered, ["converted_to_case", "lost", "notified"]);

        // Contacts of a case by category with why; the cluster's chain.
        let (status, html) = b.get("/cases/A01/contacts").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("data-category=\"close_contact\""));
        assert!(html.contains("王五") && html.contains("张二") && html.contains("同住"));
        let (status, html) = b.get("/cases/A01").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(&format!("/persons/{}", w.a01_person)));
        let (status, html) = b.get("/clusters").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("/clusters/A01"));
        assert!(
            !html.contains("/clusters/B01"),
            "another district's cluster is not listed"
        );
        let (status, html) = b.get("/clusters/A01").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains("<svg")
                && html.contains("chain-title")
                && html.contains("data-testid=\"chain-link\"")
        );

        w.store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn every_record_of_another_district_is_not_found() {
    for db in TestDatabase::each("console_404_http").await {
        let w = world(&db).await;
        let b = Browser::sign_in(&w.store, "inv102").await;
        let b_managed = w.store.managed_of_person(w.b01_person).await.unwrap()[0]
            .id
            .to_string();
        for path in [
            format!("/persons/{}", w.b01_person),
            "/persons/999999".to_string(),
            "/persons/not-a-number".to_string(),
            "/cases/B01".to_string(),
            "/cases/B01/contacts".to_string(),
            "/cases/NOPE".to_string(),
            "/clusters/B01".to_string(),
            "/clusters/NOPE".to_string(),
        ] {
            let (status, html) = b.get(&path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert!(!html.contains("李一"), "{path} leaks nothing");
        }
        // Changes by id too.
        let (status, _, _) = b
            .post(
                &format!("/persons/{}/transition", w.b01_person),
                &[
                    ("csrf", &b.csrf),
                    ("managed_id", &b_managed),
                    ("to", "transfer_ordered"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Someone else's record through one's own person: also 404.
        let (status, _, _) = b
            .post(
                &format!("/persons/{}/transition", w.a01_person),
                &[
                    ("csrf", &b.csrf),
                    ("managed_id", &b_managed),
                    ("to", "transfer_ordered"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            w.store.managed_of_person(w.b01_person).await.unwrap()[0].state,
            LoopState::Reported
        );
        let (status, _, _) = b
            .post(
                "/duplicates/merge",
                &[
                    ("csrf", &b.csrf),
                    ("kept", &w.a01_person.to_string()),
                    ("merged", &w.b01_person.to_string()),
                    ("confirm", "1"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        w.store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn duplicates_merge_after_a_confirmation_and_pages_speak_english() {
    for db in TestDatabase::each("console_dup_http").await {
        let w = world(&db).await;
        let twin = |seq| {
            let mut p = person(seq, "220102", "赵六");
            p.phone = Some("13812345678".into());
            p.household_id = None;
            p
        };
        w.store
            .import_persons(
                &[(2, twin(31)), (3, twin(32))],
                STRICT,
                "d.csv",
                &Actor::system(),
            )
            .await
            .unwrap();
        let kept = w
            .store
            .person_by_document(&twin(31).document)
            .await
            .unwrap()
            .unwrap()
            .id;
        let gone = w
            .store
            .person_by_document(&twin(32).document)
            .await
            .unwrap()
            .unwrap()
            .id;
        let b = Browser::sign_in(&w.store, "inv102").await;
        let (status, html) = b.get("/duplicates").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(html.matches("data-testid=\"duplicate-group\"").count(), 1);
        assert!(html.contains("data-testid=\"merge-form\""));

        // The first post asks for confirmation and changes nothing.
        let form = [
            ("csrf", b.csrf.as_str()),
            ("kept", &kept.to_string()),
            ("merged", &gone.to_string()),
            ("reason", "同一人"),
        ]
        .map(|(k, v)| (k, v.to_string()));
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, html) = b.post("/duplicates/merge", &pairs).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("data-testid=\"merge-confirm\""));
        assert!(w.store.merges_of(kept).await.unwrap().is_empty());

        let mut confirmed = pairs.clone();
        confirmed.push(("confirm", "1"));
        let (status, location, _) = b.post("/duplicates/merge", &confirmed).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location.as_deref(), Some("/duplicates?merged=1"));
        assert_eq!(w.store.merges_of(kept).await.unwrap().len(), 1);
        let audit = w
            .store
            .audit_log(&AuditFilter {
                entity: Some("person".into()),
                entity_id: Some(kept.to_string()),
                limit: 10,
            })
            .await
            .unwrap();
        assert!(audit
            .iter()
            .any(|e| e.action == "merge" && e.actor == "user:inv102"));
        let (_, html) = b.get("/duplicates?merged=1").await;
        assert!(html.contains("data-testid=\"merge-done\""));
        assert_eq!(html.matches("data-testid=\"duplicate-group\"").count(), 0);

        // The same pages in English: labels and vocabularies.
        let (_, html) = b.get("/cases?lang=en").await;
        assert!(
            html.contains("Case ID")
                && html.contains("Fever clinic")
                && html.contains("Export CSV")
        );
        assert!(!html.contains("病例编号"));
        let (_, html) = b.get(&format!("/persons/{}?lang=en", w.a01_person)).await;
        assert!(html.contains("State timeline") && html.contains("Transfer ordered"));
        w.store.close().await;
        db.cleanup().await;
    }
}
