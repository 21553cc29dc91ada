//! Who is asking: the signed-in user (or the owner of an API token) as a
//! [`Viewer`], with their role, jurisdiction and language.
//!
//! The session/token layer (see `accounts`) resolves the credential and puts
//! a `Viewer` in the request's extensions; handlers and pages take it as an
//! extractor. Pages that need a user take [`PageViewer`], which sends an
//! anonymous browser to the sign-in page instead of answering 401.
//!
//! Capabilities are checked here, before a handler runs; the jurisdiction is
//! applied by the store in its queries, through [`Viewer::region_scope`] and
//! [`Viewer::facility`] (lists) and [`Viewer::scope`] (reads by id).

use crate::error::{ApiError, Entity, HttpError};
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use closedloop_domain::access::{Capability, Jurisdiction, Role};
use closedloop_domain::region::RegionTree;
use closedloop_domain::Lang;
use std::sync::Arc;

/// The user behind a request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user_id: i64,
    /// The sign-in name.
    pub login: String,
    /// The name shown in the console and the audit log.
    pub display_name: String,
    pub role: Role,
    pub jurisdiction: Jurisdiction,
    /// Every region code in the jurisdiction's subtree, `None` for the whole
    /// tree (the province's commander, the admin). Shared, built once per session.
    pub regions: Option<Arc<Vec<String>>>,
    /// The user's language (switched per user).
    pub lang: Lang,
    /// The session's anti-forgery token; every console form posts it back.
    /// Empty for API tokens, which send no cookies and so need none.
    pub csrf_token: String,
}

impl Viewer {
    pub fn can(&self, capability: Capability) -> bool {
        self.role.can(capability)
    }

    /// 403 unless the role may do this.
    pub fn require(&self, capability: Capability) -> Result<(), ApiError> {
        if self.can(capability) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                &HttpError::Forbidden(capability),
            ))
        }
    }

    /// The jurisdiction as the store's list filters take it (`scope` fields):
    /// `None` reads everywhere.
    pub fn region_scope(&self) -> Option<Vec<String>> {
        self.regions.as_deref().cloned()
    }

    /// The facility of a facility operator, as the store's lists take it
    /// (their `facility` filters): only the people placed there.
    pub fn facility(&self) -> Option<&str> {
        self.jurisdiction.facility.as_deref()
    }

    /// Whether a record held in `region_code` is in this viewer's jurisdiction.
    pub fn covers_region(&self, region_code: &str) -> bool {
        match &self.regions {
            None => true,
            Some(codes) => codes.iter().any(|c| c == region_code),
        }
    }

    /// The jurisdiction as the store's by-id reads take it (`store::access`):
    /// region subtree and, for facility operators, the facility.
    pub fn scope(&self) -> closedloop_store::access::Scope<'_> {
        closedloop_store::access::Scope {
            regions: self.regions.as_deref().map(Vec::as_slice),
            facility: self.jurisdiction.facility.as_deref(),
        }
    }

    /// The region codes a list reads when the request asks for `requested`
    /// (a stored region's code, or none): the requested subtree within the
    /// jurisdiction; the whole jurisdiction when the request names a region
    /// above it; nothing (an empty list) when it names one outside it.
    /// `None` reads everywhere.
    pub fn narrow(&self, tree: &RegionTree, requested: Option<&str>) -> Option<Vec<String>> {
        match (requested, &self.regions) {
            (None, _) => self.region_scope(),
            (Some(code), None) => Some(tree.subtree_codes(code)),
            (Some(code), Some(_)) if self.covers_region(code) => Some(tree.subtree_codes(code)),
            (Some(code), Some(_)) if tree.is_within(&self.jurisdiction.region, code) => {
                self.region_scope()
            }
            (Some(_), Some(_)) => Some(Vec::new()),
        }
    }

    /// The one region the loop's queries take (they filter by a subtree's
    /// top): the requested one within the jurisdiction, the jurisdiction when
    /// the request names a region above it or none; 404 for a region outside.
    pub fn loop_region(
        &self,
        tree: &RegionTree,
        requested: Option<String>,
    ) -> Result<Option<String>, ApiError> {
        match (requested, &self.regions) {
            (None, None) => Ok(None),
            (None, Some(_)) => Ok(Some(self.jurisdiction.region.clone())),
            (Some(code), None) => Ok(Some(code)),
            (Some(code), Some(_)) if self.covers_region(&code) => Ok(Some(code)),
            (Some(code), Some(_)) if tree.is_within(&self.jurisdiction.region, &code) => {
                Ok(Some(self.jurisdiction.region.clone()))
            }
            (Some(code), Some(_)) => Err(ApiError::not_found(Entity::Region, code)),
        }
    }

    /// The actor written to the audit log for this viewer's changes.
    pub fn actor(&self) -> closedloop_store::Actor {
        closedloop_store::Actor(format!("user:{}", self.login))
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Viewer>()
            .cloned()
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, &HttpError::SignInRequired))
    }
}

/// A [`Viewer`] for console pages: an anonymous browser is redirected to the
/// sign-in page, which returns it here afterwards.
pub struct PageViewer(pub Viewer);

impl FromRequestParts<AppState> for PageViewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Response> {
        match parts.extensions.get::<Viewer>() {
            Some(v) => Ok(PageViewer(v.clone())),
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into());
                let target = format!("/login?next={}", percent_encode_path(&next));
                Err(Redirect::to(&target).into_response())
            }
        }
    }
}

/// Encodes a path for a query value; only our own paths pass through here.
fn percent_encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
