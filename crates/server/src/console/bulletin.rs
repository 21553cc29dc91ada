//! The bulletin pages: `/bulletin?date=&region=` for any day and region in
//! the viewer's jurisdiction, in the official wording (the domain's
//! renderer), printable; and `/public/bulletin?date=`, which needs no
//! sign-in and shows the province's aggregate figures only.

use super::dashboard::{bulletin_text, default_day};
use super::text::T;
use super::{
    current_path, non_empty, opt_date, render, Page, PageResult, PageViewer, RegionOption,
};
use crate::error::{ApiError, Entity};
use crate::lang::ReqLang;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use closedloop_domain::access::Capability;
use closedloop_domain::region::parse_region_code;
use serde::Deserialize;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/bulletin", get(bulletin_page))
        .route("/public/bulletin", get(public_bulletin))
}

#[derive(Deserialize)]
pub(crate) struct BulletinQuery {
    date: Option<String>,
    region: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "bulletin.html")]
struct BulletinPage {
    page: Page,
    public: bool,
    date_value: String,
    regions: Vec<RegionOption>,
    title: String,
    paragraphs: Vec<String>,
    figures: Vec<super::dashboard::Figure>,
}

async fn bulletin_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<BulletinQuery>,
) -> Response {
    let page = Page::new(&s, &viewer, &headers, &current_path(&uri), T::Bulletin).await;
    super::finish(build(&s, page, q).await)
}

async fn build(s: &AppState, page: Page, q: BulletinQuery) -> PageResult {
    page.require(Capability::ReadRegistry)?;
    let viewer = page.viewer()?.clone();
    let lang = page.lang;
    let scope = viewer.region_scope();
    let tree = s.region_tree().await.map_err(|e| page.fail(e))?;
    let jur = viewer.jurisdiction.region.clone();
    // A region outside the jurisdiction is not there for this reader: 404.
    let region = match non_empty(&q.region) {
        None => jur.clone(),
        Some(raw) => {
            let code = parse_region_code(raw).map_err(|e| page.fail(e))?;
            if tree.get(&code).is_none()
                || !tree.is_within(&code, &jur)
                || !viewer.covers_region(&code)
            {
                return Err(page.fail(ApiError::not_found(Entity::Region, code)));
            }
            code
        }
    };
    let day = match opt_date(&q.date).map_err(|e| page.fail(e))? {
        Some(d) => d,
        None => default_day(s, scope.as_deref())
            .await
            .map_err(|e| page.fail(e))?,
    };
    let b = s
        .store
        .bulletin(day, Some(&region), s.tz, lang)
        .await
        .map_err(|e| page.fail(e))?;
    let (title, paragraphs) = bulletin_text(&b, lang);
    let regions = super::region_options(&tree, &jur, &region, lang);
    let tpl = BulletinPage {
        public: false,
        date_value: day.to_string(),
        regions,
        title,
        paragraphs,
        figures: figures(&page, &b),
        page,
    };
    render(&tpl, &tpl.page)
}

fn figures(
    page: &Page,
    b: &closedloop_domain::bulletin::Bulletin,
) -> Vec<super::dashboard::Figure> {
    use super::dashboard::Figure;
    let lang = page.lang;
    let c = &b.cumulative;
    vec![
        Figure {
            label: T::NewConfirmed.get(lang),
            value: page.int(b.new_local_confirmed as i64),
        },
        Figure {
            label: T::NewAsymptomatic.get(lang),
            value: page.int(b.new_local_asymptomatic as i64),
        },
        Figure {
            label: T::Reclassified.get(lang),
            value: page.int(b.new_local_confirmed_reclassified as i64),
        },
        Figure {
            label: T::CumulativeConfirmed.get(lang),
            value: page.int((c.local_confirmed + c.imported_confirmed) as i64),
        },
        Figure {
            label: T::CumulativeAsymptomatic.get(lang),
            value: page.int((c.local_asymptomatic + c.imported_asymptomatic) as i64),
        },
    ]
}

/// The public bulletin: no Viewer, the root region, aggregates only.
async fn public_bulletin(
    State(s): State<AppState>,
    ReqLang(lang): ReqLang,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<BulletinQuery>,
) -> Response {
    let page = Page::anonymous(&s, lang, &headers, &current_path(&uri), T::PublicBulletin);
    super::finish(build_public(&s, page, q).await)
}

async fn build_public(s: &AppState, page: Page, q: BulletinQuery) -> PageResult {
    let lang = page.lang;
    let tree = s.region_tree().await.map_err(|e| page.fail(e))?;
    let root = tree.single_root().map(|r| r.code.clone()).ok_or_else(|| {
        page.fail(ApiError::bad_request(
            &crate::error::HttpError::RegionRequired,
        ))
    })?;
    let day = match opt_date(&q.date).map_err(|e| page.fail(e))? {
        Some(d) => d,
        None => default_day(s, None).await.map_err(|e| page.fail(e))?,
    };
    let b = s
        .store
        .bulletin(day, Some(&root), s.tz, lang)
        .await
        .map_err(|e| page.fail(e))?;
    let (title, paragraphs) = bulletin_text(&b, lang);
    let tpl = BulletinPage {
        public: true,
        date_value: day.to_string(),
        regions: Vec::new(),
        title,
        paragraphs,
        figures: figures(&page, &b),
        page,
    };
    render(&tpl, &tpl.page)
}
