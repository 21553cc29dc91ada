//! The facility register over HTTP: `GET /api/facilities` lists the
//! facilities in the viewer's jurisdiction (optionally one region's subtree)
//! with their occupancy against capacity.

use crate::auth::Viewer;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::handlers::LangParam;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use closedloop_domain::access::Capability;
use closedloop_domain::region::parse_region_code;
use closedloop_store::StoreRowError;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FacilitiesQuery {
    /// Region code: facilities in this region and everything below it (within the viewer's jurisdiction).
    pub region: Option<String>,
}

#[utoipa::path(
    get, path = "/api/facilities", tag = "loop",
    params(FacilitiesQuery, LangParam),
    responses(
        (status = 200, description = "`facilities`: each with id, name, kind, region, address, capacity, `occupied` (managed people under quarantine or admitted there) and `free`", content_type = "application/json"),
        (status = 400, description = "A bad query value", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "The role may not read the loop", body = ErrorBody),
    )
)]
pub async fn list_facilities(
    State(s): State<AppState>,
    viewer: Viewer,
    ApiQuery(q): ApiQuery<FacilitiesQuery>,
) -> Result<Json<Value>, ApiError> {
    viewer.require(Capability::ReadLoop)?;
    let mut scope = viewer.region_scope();
    if let Some(raw) = q.region.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        let code = parse_region_code(raw)?;
        let tree = s.region_tree().await?;
        if tree.get(&code).is_none() {
            return Err(StoreRowError::UnknownRegion(code).into());
        }
        let below = tree.subtree_codes(&code);
        scope = Some(match scope {
            Some(allowed) => below.into_iter().filter(|c| allowed.contains(c)).collect(),
            None => below,
        });
    }
    let facilities = s.store.facility_occupancy_for(scope.as_deref()).await?;
    Ok(Json(json!({ "facilities": facilities })))
}
