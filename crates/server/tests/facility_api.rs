//! `GET /api/facilities` in process, on every backend under test: the
//! viewer's jurisdiction and capability decide what it answers.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use closedloop_domain::access::{Jurisdiction, Role};
use closedloop_domain::lifecycle::FacilityKind;
use closedloop_domain::region::{Region, RegionLevel};
use closedloop_domain::Lang;
use closedloop_server::auth::Viewer;
use closedloop_server::{router, ServerConfig};
use closedloop_store::testing::TestDatabase;
use closedloop_store::{Actor, Facility, ImportMode};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

fn viewer(role: Role, regions: Option<Vec<String>>) -> Viewer {
    Viewer {
        user_id: 1,
        login: "u".into(),
        display_name: "U".into(),
        role,
        jurisdiction: Jurisdiction {
            region: "220000".into(),
            facility: None,
        },
        regions: regions.map(Arc::new),
        lang: Lang::En,
        csrf_token: String::new(),
    }
}

async fn get(app: &axum::Router, who: Option<Viewer>, uri: &str) -> (StatusCode, Value) {
    let app = match who {
        Some(v) => app.clone().layer(axum::Extension(v)),
        None => app.clone(),
    };
    let res = app
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn ids(v: &Value) -> Vec<String> {
    v["facilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["facility_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn facilities_are_listed_within_the_viewers_jurisdiction() {
    for db in TestDatabase::each("facilityapi").await {
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
                    (4, region("220200", Some("220000"), RegionLevel::City)),
                ],
                ImportMode::default(),
                "r.csv",
                &a,
            )
            .await
            .unwrap();
        let f = |id: &str, region: &str| {
            (
                2,
                Facility {
                    facility_id: id.into(),
                    name: id.into(),
                    kind: FacilityKind::Fangcang,
                    region_code: Some(region.into()),
                    address: String::new(),
                    capacity: 100,
                },
            )
        };
        store
            .import_facilities(
                &[f("CC1", "220100"), f("JL1", "220200")],
                ImportMode::default(),
                "f.csv",
                &a,
            )
            .await
            .unwrap();
        let app = router(store.clone(), &ServerConfig::default());
        let (st, v) = get(&app, None, "/api/facilities").await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
        let (st, v) = get(&app, Some(viewer(Role::Public, None)), "/api/facilities").await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
        let (st, v) = get(
            &app,
            Some(viewer(Role::ProvincialCommander, None)),
            "/api/facilities",
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(ids(&v), vec!["CC1", "JL1"]);
        assert_eq!(v["facilities"][0]["capacity"], 100);
        assert_eq!(v["facilities"][0]["occupied"], 0);
        assert_eq!(v["facilities"][0]["free"], 100);
        let city = Some(vec!["220100".to_string()]);
        let (st, v) = get(
            &app,
            Some(viewer(Role::CityCommander, city.clone())),
            "/api/facilities",
        )
        .await;
        assert_eq!((st, ids(&v)), (StatusCode::OK, vec!["CC1".to_string()]));
        // A region outside the jurisdiction shows nothing of it.
        let (st, v) = get(
            &app,
            Some(viewer(Role::CityCommander, city)),
            "/api/facilities?region=220200",
        )
        .await;
        assert_eq!((st, ids(&v)), (StatusCode::OK, Vec::<String>::new()));
        let (st, v) = get(
            &app,
            Some(viewer(Role::ProvincialCommander, None)),
            "/api/facilities?region=999999",
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        db.cleanup().await;
    }
}
