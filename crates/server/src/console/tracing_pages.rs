//! Tracing pages: a case's contacts by category with why, the clusters in
//! the jurisdiction, and a cluster's transmission chain as a server-drawn
//! SVG graph with its table of links. People outside the jurisdiction are
//! pseudonymised; a case or cluster outside it is 404.

use super::chain_svg::{self, ChainWords, NodeLabel};
use super::records::{case_in, enc, person_links, region_name, when, PersonLink};
use super::{current_path, finish, render, Page, PageResult, PageViewer, T};
use crate::auth::Viewer;
use crate::error::{ApiError, Entity};
use crate::trace_handlers::{clusters_at, clusters_for};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use closedloop_domain::access::Capability;
use closedloop_domain::contact::ContactCategory;
use closedloop_store::ClusterReport;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/cases/{case_id}/contacts", get(contacts_page))
        .route("/clusters", get(clusters_page))
        .route("/clusters/{id}", get(cluster_page))
}

pub(crate) struct ContactRow {
    pub person: PersonLink,
    pub degree: i64,
    pub first_exposure: String,
    pub via: PersonLink,
    pub why: Vec<String>,
}

pub(crate) struct ContactGroup {
    pub key: &'static str,
    pub label: &'static str,
    pub count: String,
    pub rows: Vec<ContactRow>,
}

#[derive(Template)]
#[template(path = "records/contacts.html")]
struct ContactsTpl {
    page: Page,
    case_id: String,
    case_href: String,
    groups: Vec<ContactGroup>,
}

async fn contacts_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Path(case_id): Path<String>,
) -> Response {
    finish(contacts_inner(&s, &viewer, &headers, &uri, &case_id).await)
}

async fn contacts_inner(
    s: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    uri: &Uri,
    case_id: &str,
) -> PageResult {
    let page = Page::new(s, viewer, headers, &current_path(uri), T::RecContactsOf).await;
    page.require(Capability::ReadTracing)?;
    let lang = page.lang;
    let c = case_in(s, viewer, case_id)
        .await
        .map_err(|e| page.fail(e))?;
    let contacts = s
        .store
        .contacts_of_case(&c.case.case_id)
        .await
        .map_err(|e| page.fail(e))?;
    let mut ids: Vec<i64> = contacts.iter().map(|k| k.person_id).collect();
    ids.extend(contacts.iter().map(|k| k.contact.via_person));
    let links = person_links(s, viewer, &ids)
        .await
        .map_err(|e| page.fail(e))?;
    let link = |id: i64| {
        links
            .get(&id)
            .cloned()
            .unwrap_or_else(|| PersonLink::unknown(id))
    };
    let groups = ContactCategory::ALL
        .iter()
        .map(|cat| {
            let rows: Vec<ContactRow> = contacts
                .iter()
                .filter(|k| k.contact.category == *cat)
                .map(|k| ContactRow {
                    person: link(k.person_id),
                    degree: i64::from(k.contact.degree),
                    first_exposure: when(&page, k.contact.first_exposure),
                    via: link(k.contact.via_person),
                    why: k
                        .contact
                        .explanations
                        .iter()
                        .map(|x| super::records::why(x, lang, s.tz))
                        .collect(),
                })
                .collect();
            ContactGroup {
                key: cat.as_str(),
                label: cat.label(lang),
                count: page.int(rows.len() as i64),
                rows,
            }
        })
        .collect();
    let tpl = ContactsTpl {
        case_href: format!("/cases/{}", enc(&c.case.case_id)),
        case_id: c.case.case_id.clone(),
        groups,
        page,
    };
    render(&tpl, &tpl.page)
}

/// A case id of a cluster masked for the viewer
/// ([`crate::trace_handlers::clusters_for`]), marked when it is a pseudonym.
fn case_label(c: &ClusterReport, id: &str) -> NodeLabel {
    NodeLabel {
        text: id.to_string(),
        outside: c.cases.iter().any(|m| m.pseudonymised && m.case_id == id),
    }
}

pub(crate) struct ClusterRow {
    pub id: String,
    pub href: String,
    pub size: String,
    pub first: String,
    pub last: String,
    pub edges: String,
    pub shared: String,
    pub regions: String,
}

#[derive(Template)]
#[template(path = "records/clusters.html")]
struct ClustersTpl {
    page: Page,
    rows: Vec<ClusterRow>,
}

async fn clusters_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    finish(clusters_inner(&s, &viewer, &headers, &uri).await)
}

async fn clusters_inner(
    s: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    uri: &Uri,
) -> PageResult {
    let page = Page::new(s, viewer, headers, &current_path(uri), T::Clusters).await;
    page.require(Capability::ReadTracing)?;
    let lang = page.lang;
    let tree = s.region_tree().await.map_err(|e| page.fail(e))?;
    let all = clusters_at(s, chrono::Utc::now().timestamp())
        .await
        .map_err(|e| page.fail(e))?;
    let rows = clusters_for(viewer, &all)
        .iter()
        .map(|c| ClusterRow {
            id: c.id.clone(),
            href: format!("/clusters/{}", enc(&c.id)),
            size: page.int(c.size as i64),
            first: when(&page, c.first_case.reference_time),
            last: when(&page, c.last_case.reference_time),
            edges: page.int(c.transmission_edges as i64),
            shared: page.int(c.shared_exposures as i64),
            regions: c
                .regions
                .iter()
                .map(|(code, n)| {
                    format!("{} {}", region_name(&tree, code, lang), page.int(*n as i64))
                })
                .collect::<Vec<_>>()
                .join(lang.pick("、", ", ")),
        })
        .collect();
    let tpl = ClustersTpl { rows, page };
    render(&tpl, &tpl.page)
}

pub(crate) struct LinkRow {
    pub from: String,
    pub from_href: Option<String>,
    pub to: String,
    pub to_href: Option<String>,
    pub kind: &'static str,
    pub at: String,
    pub place: String,
}

#[derive(Template)]
#[template(path = "records/cluster.html")]
struct ClusterTpl {
    page: Page,
    id: String,
    size: String,
    svg: String,
    drawn: String,
    capped: bool,
    links: Vec<LinkRow>,
    places: Vec<String>,
    institutions: Vec<String>,
    regions: Vec<String>,
}

async fn cluster_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    finish(cluster_inner(&s, &viewer, &headers, &uri, &id).await)
}

async fn cluster_inner(
    s: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    uri: &Uri,
    id: &str,
) -> PageResult {
    let page = Page::new(s, viewer, headers, &current_path(uri), T::RecChainGraph).await;
    page.require(Capability::ReadTracing)?;
    let lang = page.lang;
    let missing = || ApiError::not_found(Entity::Cluster, id.chars().take(64).collect::<String>());
    let all = clusters_at(s, chrono::Utc::now().timestamp())
        .await
        .map_err(|e| page.fail(e))?;
    let Some(cluster) = clusters_for(viewer, &all)
        .into_iter()
        .find(|c| c.id == id.trim())
    else {
        return Err(page.fail(missing()));
    };
    let tree = s.region_tree().await.map_err(|e| page.fail(e))?;
    let label = |cid: &str| case_label(&cluster, cid);
    let drawn = chain_svg::draw(
        &cluster,
        s.tz,
        &ChainWords {
            title: &format!("{} {}", page.t(T::RecChainGraph), label(&cluster.id).text),
            desc: page.t(T::RecChainDesc),
            transmission: page.t(T::RecTransmission),
            shared: page.t(T::RecSharedExposures),
            outside: page.t(T::RecOutside),
        },
        label,
        |d| super::text::short_date(d, lang),
    );
    let href = |cid: &str| {
        let l = label(cid);
        (!l.outside).then(|| format!("/cases/{}", enc(cid)))
    };
    let links = cluster
        .chain
        .iter()
        .map(|l| LinkRow {
            from: label(&l.from).text,
            from_href: href(&l.from),
            to: label(&l.to).text,
            to_href: href(&l.to),
            kind: if l.kind == "transmission" {
                page.t(T::RecTransmission)
            } else {
                page.t(T::RecSharedExposures)
            },
            at: when(&page, l.at),
            place: format!("{} {}", l.place_kind.label(lang), l.place),
        })
        .collect();
    let place = |p: &closedloop_store::ClusterPlace| {
        format!(
            "{} {}{} · {}",
            p.kind.label(lang),
            p.name.clone().unwrap_or_else(|| p.id.clone()),
            p.venue_type
                .map(|t| lang.text(
                    format!("（{}）", t.label(lang)),
                    format!(" ({})", t.label(lang))
                ))
                .unwrap_or_default(),
            page.int(p.links as i64)
        )
    };
    let tpl = ClusterTpl {
        id: label(&cluster.id).text,
        size: page.int(cluster.size as i64),
        svg: drawn.svg,
        drawn: page.int(drawn.drawn as i64),
        capped: drawn.capped,
        links,
        places: cluster.places.iter().map(place).collect(),
        institutions: cluster.institutions.iter().map(place).collect(),
        regions: cluster
            .regions
            .iter()
            .map(|(code, n)| format!("{} {}", region_name(&tree, code, lang), page.int(*n as i64)))
            .collect(),
        page,
    };
    render(&tpl, &tpl.page)
}
