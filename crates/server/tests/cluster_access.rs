//! Clusters that cross a jurisdiction's border, on every backend: each
//! reader sees their own cases in full and the others under a pseudonym, in
//! the JSON API, the DOT exports and the console's pages (the chain's SVG
//! included); and the server's cache of clusters follows every new case and
//! contact record.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
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

/// Case ids that cannot occur by chance in a page.
const NANGUAN_CASE: &str = "NG-0001";
const KUANCHENG_CASE: &str = "KC-0002";
const LATE_CASE: &str = "KC-0003";

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
    p
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    DEFAULT_TIME_ZONE
        .with_ymd_and_hms(2022, 3, day, hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn case(id: &str, p: PersonDraft, region: &str, day: u32) -> CaseDraft {
    CaseDraft {
        case_id: id.into(),
        person: p,
        classification: Classification::Confirmed,
        clinical_type: Some(ClinicalType::Mild),
        origin: Origin::Local,
        discovery_channel: DiscoveryChannel::CommunityScreening,
        onset_date: None,
        sample_time: Some(at(day, 2)),
        report_time: at(day, 10),
        reporting_region: region.into(),
        residence_region: Some(region.into()),
        reclassified_at: None,
        outcome: None,
        outcome_time: None,
        isolated_at: None,
    }
}

async fn user(store: &Store, login: &str, role: Role, region: &str) {
    store
        .create_user(
            &NewUser {
                login: login.into(),
                display_name: login.into(),
                role,
                region_code: region.into(),
                facility_id: None,
                lang: Lang::Zh,
                password: "cluster access 2022".into(),
            },
            &Actor::system(),
        )
        .await
        .unwrap();
}

/// Records that `contact` was a close contact of case `case_id` (a
/// household exposure on 8 March).
async fn contact_of(store: &Store, case_id: &str, contact: i64) {
    let c = store.case(case_id).await.unwrap().unwrap();
    let draft = ContactDraft {
        person_id: contact,
        category: ContactCategory::CloseContact,
        degree: 1,
        first_exposure: at(8, 20).timestamp(),
        via_person: c.person_id,
        explanations: vec![Explanation::at(ExposureKind::Household, c.person_id, "H1")],
    };
    store
        .record_contacts(c.id, &[draft], "china-8th@1", &Actor::system())
        .await
        .unwrap();
}

async fn person_id(store: &Store, seq: u32, name: &str) -> i64 {
    let doc = person(seq, name, "").document;
    store.person_by_document(&doc).await.unwrap().unwrap().id
}

/// Nanguan (220102) and Kuancheng (220103) under Changchun. NG-0001 (甲某,
/// Nanguan) exposed 戊某, who became KC-0002 in Kuancheng: one cluster
/// across the border, first case in Nanguan.
struct World {
    db: TestDatabase,
    store: Store,
    router: Router,
    tokens: Vec<(&'static str, String)>,
}

impl World {
    async fn each(name: &str) -> Vec<World> {
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
                .import_cases(
                    &[
                        (
                            2,
                            case(NANGUAN_CASE, person(1, "甲某", "220102"), "220102", 9),
                        ),
                        (
                            3,
                            case(KUANCHENG_CASE, person(5, "戊某", "220103"), "220103", 11),
                        ),
                    ],
                    ImportMode::default(),
                    "c.csv",
                    &a,
                )
                .await
                .unwrap();
            contact_of(&store, NANGUAN_CASE, person_id(&store, 5, "戊某").await).await;
            let mut tokens = Vec::new();
            for (login, role, region) in [
                ("nanguan", Role::DistrictCommander, "220102"),
                ("kuancheng", Role::DistrictCommander, "220103"),
                ("province", Role::ProvincialCommander, "220000"),
            ] {
                user(&store, login, role, region).await;
                let token = store
                    .create_api_token(login, "cluster tests", &a)
                    .await
                    .unwrap()
                    .token;
                tokens.push((login, token));
            }
            let router = router(store.clone(), &ServerConfig::default());
            out.push(World {
                db,
                store,
                router,
                tokens,
            });
        }
        out
    }

    /// The status and body of a GET as `login`.
    async fn get(&self, login: &str, path: &str) -> (StatusCode, String) {
        let token = &self.tokens.iter().find(|t| t.0 == login).unwrap().1;
        let res = self
            .router
            .clone()
            .oneshot(
                Request::get(path)
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn json(&self, login: &str, path: &str) -> Value {
        let (status, body) = self.get(login, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    async fn done(self) {
        self.store.close().await;
        self.db.cleanup().await;
    }
}

/// Every view of the one cluster `login` reads, which must name `own` and
/// never `foreign`; returns the cluster's id as `login` reads it.
async fn every_view(w: &World, login: &str, own: &str, foreign: &str) -> String {
    let list = w.json(login, "/api/clusters").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    let id = items[0]["id"].as_str().unwrap().to_string();
    let cases = items[0]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2, "{list}");
    for c in cases {
        let mine = c["case_id"] == own;
        assert_eq!(c["pseudonymised"], !mine, "{c}");
        assert_eq!(c["person_id"].is_null(), !mine, "{c}");
        if !mine {
            assert!(c["case_id"].as_str().unwrap().starts_with("C-"), "{c}");
        }
    }
    let pseudonym = cases
        .iter()
        .find(|c| c["pseudonymised"] == true)
        .and_then(|c| c["case_id"].as_str())
        .unwrap()
        .to_string();
    let paths = [
        "/api/clusters".to_string(),
        format!("/api/clusters/{id}"),
        format!("/api/clusters/{id}/chain"),
        format!("/api/clusters/{id}/chain?format=dot"),
        format!("/api/clusters/{id}/chain?format=dot&tree=true"),
        format!("/clusters/{id}"),
    ];
    for path in &paths {
        let (status, body) = w.get(login, path).await;
        assert_eq!(status, StatusCode::OK, "{login} {path}: {body}");
        assert!(
            body.contains(own),
            "{login} {path} names its own case: {body}"
        );
        assert!(
            body.contains(&pseudonym),
            "{login} {path} names the other case by its pseudonym: {body}"
        );
        assert!(
            !body.contains(foreign),
            "{login} {path} leaks {foreign}: {body}"
        );
    }
    // The console's list names clusters only, by their id as read here.
    let (status, body) = w.get(login, "/clusters").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(&format!("/clusters/{id}\"")), "{body}");
    assert!(
        !body.contains(foreign),
        "{login} /clusters leaks {foreign}: {body}"
    );
    // The chain links the two under the same names.
    let chain = w.json(login, &format!("/api/clusters/{id}/chain")).await;
    let link = &chain["links"][0];
    let ends = [link["from"].as_str().unwrap(), link["to"].as_str().unwrap()];
    assert!(
        ends.contains(&own) && ends.contains(&pseudonym.as_str()),
        "{chain}"
    );
    // The SVG draws the other case apart, under its pseudonym.
    let (_, page) = w.get(login, &format!("/clusters/{id}")).await;
    assert!(page.contains("<svg") && page.contains(&pseudonym), "{page}");
    id
}

#[tokio::test]
async fn a_cluster_across_the_border_shows_each_side_its_own_cases_only() {
    for w in World::each("clusteracross").await {
        // Nanguan holds the first case: the cluster keeps its name.
        let id = every_view(&w, "nanguan", NANGUAN_CASE, KUANCHENG_CASE).await;
        assert_eq!(id, NANGUAN_CASE);
        // Kuancheng reads the cluster under a pseudonym of its first case,
        // and the real id is no way in.
        let id = every_view(&w, "kuancheng", KUANCHENG_CASE, NANGUAN_CASE).await;
        assert!(id.starts_with("C-"), "{id}");
        for path in [
            format!("/api/clusters/{NANGUAN_CASE}"),
            format!("/api/clusters/{NANGUAN_CASE}/chain"),
            format!("/clusters/{NANGUAN_CASE}"),
        ] {
            let (status, body) = w.get("kuancheng", &path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        }
        // Nanguan cannot use Kuancheng's pseudonym either.
        let (status, _) = w.get("nanguan", &format!("/api/clusters/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // The province covers both: every case in full.
        let list = w.json("province", "/api/clusters").await;
        let body = list.to_string();
        assert!(body.contains(NANGUAN_CASE) && body.contains(KUANCHENG_CASE));
        assert!(!body.contains("\"pseudonymised\":true"), "{body}");
        w.done().await;
    }
}

#[tokio::test]
async fn a_new_case_or_contact_is_in_the_next_clusters_read() {
    for w in World::each("clustercache").await {
        let size = |v: &Value| v["items"][0]["size"].as_u64();
        let first = w.json("province", "/api/clusters").await;
        assert_eq!(size(&first), Some(2), "{first}");
        // Read again: the same answer (from the cache).
        assert_eq!(w.json("province", "/api/clusters").await, first);
        // A new case, not linked yet: the same cluster, and the case is
        // no cluster of its own.
        w.store
            .import_cases(
                &[(
                    2,
                    case(LATE_CASE, person(7, "庚某", "220103"), "220103", 12),
                )],
                ImportMode::default(),
                "late.csv",
                &Actor::system(),
            )
            .await
            .unwrap();
        assert_eq!(w.json("province", "/api/clusters").await, first);
        // Its person was a close contact of KC-0002: now the cluster has
        // three cases, on the API and on the console's page.
        contact_of(
            &w.store,
            KUANCHENG_CASE,
            person_id(&w.store, 7, "庚某").await,
        )
        .await;
        let grown = w.json("province", "/api/clusters").await;
        assert_eq!(size(&grown), Some(3), "{grown}");
        assert!(grown.to_string().contains(LATE_CASE));
        let id = w.json("kuancheng", "/api/clusters").await["items"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, page) = w.get("kuancheng", &format!("/clusters/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(LATE_CASE), "{page}");
        let chain = w
            .json("province", &format!("/api/clusters/{NANGUAN_CASE}/chain"))
            .await;
        assert_eq!(chain["links"].as_array().map(Vec::len), Some(2), "{chain}");
        // An earlier cut-off is its own answer, before the contact existed
        // as a case.
        let before = w
            .json(
                "province",
                "/api/clusters?as_of=2022-03-11T12:00:00%2B08:00",
            )
            .await;
        assert_eq!(size(&before), Some(2), "{before}");
        w.done().await;
    }
}
