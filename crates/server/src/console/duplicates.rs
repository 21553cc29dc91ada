//! Likely duplicates (same name, birth date and phone, different documents)
//! and their merge: choose who is kept, confirm on a second page, then the
//! store's audited merge. Groups with someone in the jurisdiction are
//! listed (others in a group pseudonymised); both people of a merge must be
//! in the jurisdiction (404 otherwise).

use super::records::{person_in, person_links, region_name, Choice, PersonLink};
use super::{current_path, finish, render, Page, PageResult, PageViewer, T};
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::AppState;
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use closedloop_domain::access::Capability;
use serde::Deserialize;

/// Groups listed on the page.
const MAX_GROUPS: i64 = 200;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/duplicates", get(duplicates_page))
        .route("/duplicates/merge", post(merge))
}

pub(crate) struct Member {
    pub id: i64,
    pub link: PersonLink,
    pub birth_date: String,
    pub region: String,
}

pub(crate) struct Group {
    pub key: String,
    pub members: Vec<Member>,
    pub kept: Vec<Choice>,
    pub merged: Vec<Choice>,
    /// Whether every member is in the jurisdiction (a merge is offered then).
    pub mergeable: bool,
}

#[derive(Template)]
#[template(path = "records/duplicates.html")]
struct DuplicatesTpl {
    page: Page,
    groups: Vec<Group>,
    merged: bool,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DuplicatesQuery {
    merged: Option<String>,
}

async fn duplicates_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<DuplicatesQuery>,
) -> Response {
    finish(duplicates_inner(&s, &viewer, &headers, &uri, q.merged.is_some()).await)
}

async fn duplicates_inner(
    s: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    uri: &Uri,
    merged: bool,
) -> PageResult {
    let page = Page::new(
        s,
        viewer,
        headers,
        &current_path(uri),
        T::RecDuplicateGroups,
    )
    .await;
    page.require(Capability::MergeDuplicates)?;
    let lang = page.lang;
    let tree = s.region_tree().await.map_err(|e| page.fail(e))?;
    let scope = viewer.region_scope();
    let found = s
        .store
        .duplicate_groups(scope.as_deref(), MAX_GROUPS)
        .await
        .map_err(|e| page.fail(e))?;
    let ids: Vec<i64> = found
        .iter()
        .flat_map(|g| g.persons.iter().map(|p| p.id))
        .collect();
    let links = person_links(s, viewer, &ids)
        .await
        .map_err(|e| page.fail(e))?;
    let groups = found
        .iter()
        .map(|g| {
            let members: Vec<Member> = g
                .persons
                .iter()
                .map(|p| Member {
                    id: p.id,
                    link: links
                        .get(&p.id)
                        .cloned()
                        .unwrap_or_else(|| PersonLink::unknown(p.id)),
                    birth_date: p
                        .person
                        .birth_date
                        .map(|d| page.date(d))
                        .unwrap_or_default(),
                    region: p
                        .person
                        .region_code
                        .as_deref()
                        .map(|c| region_name(&tree, c, lang))
                        .unwrap_or_default(),
                })
                .collect();
            let mergeable = members.iter().all(|m| !m.link.masked);
            let choice = |selected: usize| {
                members
                    .iter()
                    .enumerate()
                    .map(|(i, m)| Choice {
                        value: m.id.to_string(),
                        label: format!("#{} {} {}", m.id, m.link.name, m.link.document),
                        selected: i == selected,
                    })
                    .collect::<Vec<_>>()
            };
            Group {
                key: g.key.clone(),
                kept: choice(0),
                merged: choice(1),
                members,
                mergeable,
            }
        })
        .collect();
    let tpl = DuplicatesTpl {
        groups,
        merged,
        page,
    };
    render(&tpl, &tpl.page)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct MergeForm {
    #[serde(default, alias = "csrf_token")]
    csrf: String,
    #[serde(default)]
    kept: String,
    #[serde(default)]
    merged: String,
    #[serde(default)]
    reason: String,
    /// Set by the confirmation page's button.
    #[serde(default)]
    confirm: String,
}

#[derive(Template)]
#[template(path = "records/merge_confirm.html")]
struct ConfirmTpl {
    page: Page,
    kept: PersonLink,
    kept_id: i64,
    merged: PersonLink,
    merged_id: i64,
    reason: String,
}

const MAX_REASON: usize = 500;

/// `POST /duplicates/merge`: without `confirm`, the confirmation page; with
/// it, the merge (audited by the store), then back to the list.
async fn merge(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    Form(form): Form<MergeForm>,
) -> Response {
    let page = Page::new(&s, &viewer, &headers, "/duplicates", T::RecConfirmMerge).await;
    finish(merge_inner(&s, &viewer, page, &form).await)
}

async fn merge_inner(s: &AppState, viewer: &Viewer, page: Page, form: &MergeForm) -> PageResult {
    page.check_csrf(&form.csrf)?;
    page.require(Capability::MergeDuplicates)?;
    let id = |raw: &str| {
        raw.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                ApiError::not_found(
                    crate::error::Entity::Person,
                    raw.chars().take(20).collect::<String>(),
                )
            })
    };
    let kept_id = id(&form.kept).map_err(|e| page.fail(e))?;
    let merged_id = id(&form.merged).map_err(|e| page.fail(e))?;
    let kept = person_in(s, viewer, kept_id)
        .await
        .map_err(|e| page.fail(e))?;
    let merged = person_in(s, viewer, merged_id)
        .await
        .map_err(|e| page.fail(e))?;
    let reason: String = form.reason.trim().chars().take(MAX_REASON).collect();
    if form.confirm != "1" {
        let tpl = ConfirmTpl {
            kept: PersonLink::named(&kept),
            kept_id,
            merged: PersonLink::named(&merged),
            merged_id,
            reason,
            page,
        };
        return render(&tpl, &tpl.page);
    }
    match s
        .store
        .merge_persons(kept_id, merged_id, &reason, &viewer.actor())
        .await
    {
        Ok(_) => Ok(Redirect::to("/duplicates?merged=1").into_response()),
        Err(e) => {
            let e: ApiError = e.into();
            let status = if e.status == StatusCode::INTERNAL_SERVER_ERROR {
                e.status
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let mut r = page.fail(e);
            *r.status_mut() = status;
            Err(r)
        }
    }
}
