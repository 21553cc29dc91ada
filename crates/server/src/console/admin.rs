//! Admin pages: `/admin/users` (list, create with role and region,
//! disable/enable, reset password), `/admin/tokens` (list, revoke),
//! `/admin/audit` (the audit log with filters, paginated) and
//! `/admin/audit/verify` (the hash chain check). ManageUsers or ReadAudit;
//! an admin manages the users of their own jurisdiction only (others: 404).

use super::text::T;
use super::{current_path, non_empty, opt_date, render, Page, PageResult, PageViewer};
use crate::error::{ApiError, Entity};
use crate::AppState;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use closedloop_domain::access::{Capability, Role};
use closedloop_domain::region::{RegionLevel, RegionTree};
use closedloop_domain::time::{day_bounds, from_epoch};
use closedloop_domain::{ErrorCode, Lang};
use closedloop_store::accounts::{AccountError, NewUser, UserRecord};
use closedloop_store::{AuditPageFilter, BreakKind};
use serde::Deserialize;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(users_page).post(create_user))
        .route("/admin/users/{login}/disable", post(disable_user))
        .route("/admin/users/{login}/enable", post(enable_user))
        .route("/admin/users/{login}/password", post(reset_password))
        .route("/admin/tokens", get(tokens_page))
        .route("/admin/tokens/{id}/revoke", post(revoke_token))
        .route("/admin/audit", get(audit_page))
        .route("/admin/audit/verify", get(verify_page))
}

/// Audit entries per page.
const AUDIT_PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

/// The notice after a change (`?done=`), localised.
fn done_notice(done: &Option<String>, lang: Lang) -> String {
    match non_empty(done) {
        Some("created") => T::UserCreated.get(lang).into(),
        Some("disabled") => T::UserDisabled.get(lang).into(),
        Some("enabled") => T::UserEnabled.get(lang).into(),
        Some("password") => T::PasswordReset.get(lang).into(),
        Some("revoked") => T::TokenRevoked.get(lang).into(),
        _ => String::new(),
    }
}

pub(crate) struct UserRow {
    pub login: String,
    pub name: String,
    pub role: &'static str,
    pub region: String,
    pub facility: String,
    pub disabled: bool,
    pub created: String,
    pub is_self: bool,
}

pub(crate) struct Choice {
    pub value: String,
    pub label: String,
}

#[derive(askama::Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    page: Page,
    notice: String,
    error: String,
    users: Vec<UserRow>,
    roles: Vec<Choice>,
    regions: Vec<Choice>,
    form: UserForm,
}

#[derive(Deserialize, Default, Clone)]
pub(crate) struct UserForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    facility: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

fn region_name(tree: &RegionTree, code: &str, lang: Lang) -> String {
    tree.get(code)
        .map(|r| r.name(lang).to_string())
        .unwrap_or_else(|| code.to_string())
}

/// The jurisdiction and the regions below it down to districts, indented.
fn region_choices(tree: &RegionTree, top: &str, lang: Lang) -> Vec<Choice> {
    let base = tree.ancestors(top).count();
    let mut out = Vec::new();
    let mut stack = vec![top.to_string()];
    while let Some(code) = stack.pop() {
        if let Some(r) = tree.get(&code) {
            let depth = tree.ancestors(&code).count().saturating_sub(base);
            out.push(Choice {
                value: r.code.clone(),
                label: format!("{}{} {}", "　".repeat(depth), r.name(lang), r.code),
            });
            if r.level < RegionLevel::District {
                let mut kids: Vec<String> = tree.children(&code).map(|c| c.code.clone()).collect();
                kids.reverse();
                stack.extend(kids);
            }
        }
    }
    out
}

async fn users_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> Response {
    let page = Page::new(&s, &viewer, &headers, &current_path(&uri), T::Users).await;
    let notice = done_notice(&q.done, page.lang);
    super::finish(
        build_users(
            &s,
            page,
            notice,
            String::new(),
            UserForm::default(),
            StatusCode::OK,
        )
        .await,
    )
}

async fn build_users(
    s: &AppState,
    page: Page,
    notice: String,
    error: String,
    form: UserForm,
    status: StatusCode,
) -> PageResult {
    page.require(Capability::ManageUsers)?;
    let viewer = page.viewer()?.clone();
    let lang = page.lang;
    let tree = s.region_tree().await.map_err(|e| page.fail(e))?;
    let users = s.store.users().await.map_err(|e| page.fail(e))?;
    let users = users
        .iter()
        .filter(|u| viewer.covers_region(&u.region_code))
        .map(|u| UserRow {
            login: u.login.clone(),
            name: u.display_name.clone(),
            role: u.role.label(lang),
            region: region_name(&tree, &u.region_code, lang),
            facility: u.facility_id.clone().unwrap_or_default(),
            disabled: u.is_disabled(),
            created: page.datetime(from_epoch(u.created_at)),
            is_self: u.id == viewer.user_id,
        })
        .collect();
    let roles = Role::ALL
        .iter()
        .map(|r| Choice {
            value: r.as_str().to_string(),
            label: r.label(lang).to_string(),
        })
        .collect();
    let regions = region_choices(&tree, &viewer.jurisdiction.region, lang);
    let tpl = UsersPage {
        notice,
        error,
        users,
        roles,
        regions,
        form: UserForm {
            password: String::new(),
            ..form
        },
        page,
    };
    let mut response = render(&tpl, &tpl.page)?;
    *response.status_mut() = status;
    Ok(response)
}

/// The user named `login`, if the admin's jurisdiction holds them.
async fn user_in_jurisdiction(
    s: &AppState,
    page: &Page,
    login: &str,
) -> Result<UserRecord, Response> {
    let viewer = page.viewer()?;
    match s
        .store
        .user_by_login(login)
        .await
        .map_err(|e| page.fail(e))?
    {
        Some(u) if viewer.covers_region(&u.region_code) => Ok(u),
        _ => Err(page.fail(ApiError::not_found(
            Entity::Other("user"),
            login.chars().take(64).collect::<String>(),
        ))),
    }
}

async fn create_user(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    Form(form): Form<UserForm>,
) -> Response {
    let page = Page::new(&s, &viewer, &headers, "/admin/users", T::Users).await;
    if let Err(r) = page
        .require(Capability::ManageUsers)
        .and_then(|_| page.check_csrf(&form.csrf))
    {
        return r;
    }
    let lang = page.lang;
    let refuse = |e: &dyn ErrorCode| e.message(lang);
    let role = match Role::parse(&form.role) {
        Ok(r) => r,
        Err(e) => {
            let msg = refuse(&e);
            return super::finish(
                build_users(&s, page, String::new(), msg, form, StatusCode::BAD_REQUEST).await,
            );
        }
    };
    let region = form.region.trim().to_string();
    if !viewer.covers_region(&region) {
        let msg = refuse(&AccountError::UnknownRegion(
            region.chars().take(20).collect(),
        ));
        return super::finish(
            build_users(&s, page, String::new(), msg, form, StatusCode::BAD_REQUEST).await,
        );
    }
    let new = NewUser {
        login: form.login.trim().to_string(),
        display_name: form.display_name.trim().to_string(),
        role,
        region_code: region,
        facility_id: Some(form.facility.trim().to_string()).filter(|f| !f.is_empty()),
        lang: Lang::default(),
        password: form.password.clone(),
    };
    match s.store.create_user(&new, &viewer.actor()).await {
        Ok(_) => Redirect::to("/admin/users?done=created").into_response(),
        Err(AccountError::Store(e)) => page.fail(e),
        Err(e) => {
            let msg = refuse(&e);
            super::finish(
                build_users(&s, page, String::new(), msg, form, StatusCode::BAD_REQUEST).await,
            )
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

async fn set_disabled(
    s: AppState,
    viewer: crate::auth::Viewer,
    headers: HeaderMap,
    login: String,
    form: CsrfForm,
    disabled: bool,
) -> Response {
    let page = Page::new(&s, &viewer, &headers, "/admin/users", T::Users).await;
    if let Err(r) = page
        .require(Capability::ManageUsers)
        .and_then(|_| page.check_csrf(&form.csrf))
    {
        return r;
    }
    let user = match user_in_jurisdiction(&s, &page, &login).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if disabled && user.id == viewer.user_id {
        return super::finish(
            build_users(
                &s,
                page,
                String::new(),
                T::CannotDisableSelf.get(viewer.lang).into(),
                UserForm::default(),
                StatusCode::BAD_REQUEST,
            )
            .await,
        );
    }
    match s
        .store
        .set_user_disabled(&user.login, disabled, &viewer.actor())
        .await
    {
        Ok(_) => Redirect::to(if disabled {
            "/admin/users?done=disabled"
        } else {
            "/admin/users?done=enabled"
        })
        .into_response(),
        Err(e) => page.fail(e),
    }
}

async fn disable_user(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    Path(login): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    set_disabled(s, viewer, headers, login, form, true).await
}

async fn enable_user(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    Path(login): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    set_disabled(s, viewer, headers, login, form, false).await
}

async fn reset_password(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    Path(login): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let page = Page::new(&s, &viewer, &headers, "/admin/users", T::Users).await;
    if let Err(r) = page
        .require(Capability::ManageUsers)
        .and_then(|_| page.check_csrf(&form.csrf))
    {
        return r;
    }
    let user = match user_in_jurisdiction(&s, &page, &login).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match s
        .store
        .reset_password(&user.login, &form.password, &viewer.actor())
        .await
    {
        Ok(()) => Redirect::to("/admin/users?done=password").into_response(),
        Err(AccountError::Store(e)) => page.fail(e),
        Err(e) => {
            let msg = e.message(page.lang);
            super::finish(
                build_users(
                    &s,
                    page,
                    String::new(),
                    msg,
                    UserForm::default(),
                    StatusCode::BAD_REQUEST,
                )
                .await,
            )
        }
    }
}

pub(crate) struct TokenRow {
    pub id: i64,
    pub label: String,
    pub owner: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
    pub revoked: String,
}

#[derive(askama::Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    page: Page,
    notice: String,
    tokens: Vec<TokenRow>,
}

async fn tokens_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> Response {
    let page = Page::new(&s, &viewer, &headers, &current_path(&uri), T::Tokens).await;
    let notice = done_notice(&q.done, page.lang);
    super::finish(build_tokens(&s, page, notice).await)
}

async fn build_tokens(s: &AppState, page: Page, notice: String) -> PageResult {
    page.require(Capability::ManageUsers)?;
    let viewer = page.viewer()?.clone();
    let users = s.store.users().await.map_err(|e| page.fail(e))?;
    let tokens = s.store.api_tokens(None).await.map_err(|e| page.fail(e))?;
    let mine = |login: &str| {
        users
            .iter()
            .any(|u| u.login == login && viewer.covers_region(&u.region_code))
    };
    let tokens = tokens
        .iter()
        .filter(|t| mine(&t.login))
        .map(|t| TokenRow {
            id: t.id,
            label: t.label.clone(),
            owner: t.login.clone(),
            prefix: t.prefix.clone(),
            created: page.datetime(from_epoch(t.created_at)),
            last_used: t
                .last_used
                .map(|x| page.datetime(from_epoch(x)))
                .unwrap_or_else(|| "-".into()),
            revoked: t
                .revoked_at
                .map(|x| page.datetime(from_epoch(x)))
                .unwrap_or_default(),
        })
        .collect();
    let tpl = TokensPage {
        notice,
        tokens,
        page,
    };
    render(&tpl, &tpl.page)
}

async fn revoke_token(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let page = Page::new(&s, &viewer, &headers, "/admin/tokens", T::Tokens).await;
    if let Err(r) = page
        .require(Capability::ManageUsers)
        .and_then(|_| page.check_csrf(&form.csrf))
    {
        return r;
    }
    let not_found = || {
        page.fail(ApiError::not_found(
            Entity::Other("API token"),
            id.chars().take(20).collect::<String>(),
        ))
    };
    let Ok(id_n) = id.parse::<i64>() else {
        return not_found();
    };
    // Only a token of a user in the admin's jurisdiction.
    let tokens = match s.store.api_tokens(None).await {
        Ok(t) => t,
        Err(e) => return page.fail(e),
    };
    let Some(token) = tokens.iter().find(|t| t.id == id_n) else {
        return not_found();
    };
    match s.store.user_by_login(&token.login).await {
        Ok(Some(u)) if viewer.covers_region(&u.region_code) => {}
        Ok(_) => return not_found(),
        Err(e) => return page.fail(e),
    }
    match s.store.revoke_api_token(id_n, &viewer.actor()).await {
        Ok(()) => Redirect::to("/admin/tokens?done=revoked").into_response(),
        Err(e) => page.fail(e),
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct AuditQuery {
    actor: Option<String>,
    entity: Option<String>,
    entity_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<String>,
}

pub(crate) struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub detail: String,
}

#[derive(askama::Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    page: Page,
    actor: String,
    entity: String,
    entity_id: String,
    from: String,
    to: String,
    rows: Vec<AuditRow>,
    total: String,
    page_no: String,
    pages: String,
    prev_href: Option<String>,
    next_href: Option<String>,
}

async fn audit_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<AuditQuery>,
) -> Response {
    let page = Page::new(&s, &viewer, &headers, &current_path(&uri), T::Audit).await;
    super::finish(build_audit(&s, page, q).await)
}

/// Encodes a query value.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn build_audit(s: &AppState, page: Page, q: AuditQuery) -> PageResult {
    page.require(Capability::ReadAudit)?;
    let from = opt_date(&q.from).map_err(|e| page.fail(e))?;
    let to = opt_date(&q.to).map_err(|e| page.fail(e))?;
    let page_no: i64 = match non_empty(&q.page) {
        None => 1,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1 && *n <= 1_000_000)
            .ok_or_else(|| {
                page.fail(ApiError::bad_request(
                    &closedloop_domain::DomainError::UnknownValue {
                        value: raw.chars().take(20).collect(),
                        expected: "a page number",
                    },
                ))
            })?,
    };
    let filter = AuditPageFilter {
        actor: non_empty(&q.actor).map(str::to_string),
        entity: non_empty(&q.entity).map(str::to_string),
        entity_id: non_empty(&q.entity_id).map(str::to_string),
        from: from.map(|d| day_bounds(d, s.tz).0.timestamp()),
        to: to.map(|d| day_bounds(d, s.tz).1.timestamp()),
        limit: AUDIT_PAGE,
        offset: (page_no - 1) * AUDIT_PAGE,
    };
    let (entries, total) = s
        .store
        .audit_page(&filter)
        .await
        .map_err(|e| page.fail(e))?;
    let pages = (total as i64 + AUDIT_PAGE - 1) / AUDIT_PAGE;
    let base = format!(
        "/admin/audit?actor={}&entity={}&entity_id={}&from={}&to={}",
        enc(non_empty(&q.actor).unwrap_or("")),
        enc(non_empty(&q.entity).unwrap_or("")),
        enc(non_empty(&q.entity_id).unwrap_or("")),
        from.map(|d| d.to_string()).unwrap_or_default(),
        to.map(|d| d.to_string()).unwrap_or_default(),
    );
    let rows = entries
        .iter()
        .map(|e| {
            let detail = e.detail.to_string();
            let detail = if detail.chars().count() > 300 {
                format!("{}…", detail.chars().take(300).collect::<String>())
            } else {
                detail
            };
            AuditRow {
                id: e.id,
                at: page.datetime(from_epoch(e.at)),
                actor: e.actor.clone(),
                action: action_label(&e.action, page.lang),
                entity: e.entity.clone(),
                entity_id: e.entity_id.clone(),
                detail,
            }
        })
        .collect();
    let tpl = AuditPage {
        actor: non_empty(&q.actor).unwrap_or("").to_string(),
        entity: non_empty(&q.entity).unwrap_or("").to_string(),
        entity_id: non_empty(&q.entity_id).unwrap_or("").to_string(),
        from: from.map(|d| d.to_string()).unwrap_or_default(),
        to: to.map(|d| d.to_string()).unwrap_or_default(),
        rows,
        total: page.int(total as i64),
        page_no: page.int(page_no),
        pages: page.int(pages.max(1)),
        prev_href: (page_no > 1).then(|| format!("{base}&page={}", page_no - 1)),
        next_href: (page_no < pages).then(|| format!("{base}&page={}", page_no + 1)),
        page,
    };
    render(&tpl, &tpl.page)
}

/// An audit action as people read it; an action this table does not know
/// is shown as recorded.
fn action_label(action: &str, lang: Lang) -> String {
    let (zh, en) = match action {
        "create" => ("新建", "created"),
        "update" => ("修改", "changed"),
        "import" => ("导入", "imported"),
        "merge" => ("合并人员", "persons merged"),
        "view" => ("查看个人信息", "viewed a person"),
        "export" => ("导出", "exported"),
        "purge" => ("删除过期数据", "expired data purged"),
        "complete" => ("完成任务", "task done"),
        "register" => ("登记", "registered"),
        "trace" => ("流调追踪", "traced"),
        "enrol" => ("纳入闭环", "enrolled"),
        "release" => ("解除", "released"),
        "upgrade" => ("升级为密接", "upgraded to close contact"),
        "transition" => ("状态变更", "state changed"),
        "test_result" => ("检测结果", "test result"),
        "appoint" => ("任命", "appointed"),
        "sign_in" => ("登录", "signed in"),
        "sign_in_failed" => ("登录失败", "sign-in failed"),
        "sign_in_refused" => ("拒绝登录", "sign-in refused"),
        "sign_in_throttled" => ("登录受限", "sign-in throttled"),
        "sign_out" => ("退出登录", "signed out"),
        "user_created" => ("新建用户", "user created"),
        "user_changed" => ("修改用户", "user changed"),
        "user_disabled" => ("停用用户", "user disabled"),
        "user_enabled" => ("启用用户", "user enabled"),
        "password_changed" => ("修改密码", "password changed"),
        "password_reset" => ("重置密码", "password reset"),
        "token_created" => ("新建令牌", "token created"),
        "token_revoked" => ("吊销令牌", "token revoked"),
        other => return other.to_string(),
    };
    lang.pick(zh, en).to_string()
}

#[derive(askama::Template)]
#[template(path = "admin/verify.html")]
struct VerifyPage {
    page: Page,
    intact: bool,
    message: String,
    records: String,
    head_seq: String,
    head_hash: String,
}

async fn verify_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let page = Page::new(&s, &viewer, &headers, &current_path(&uri), T::AuditVerify).await;
    super::finish(build_verify(&s, page).await)
}

/// What a break in the chain means, in `lang`.
fn break_message(kind: BreakKind, id: Option<i64>, seq: i64, lang: Lang) -> String {
    let at = id.map(|i| i.to_string()).unwrap_or_default();
    match (kind, lang, id) {
        (BreakKind::Altered, Lang::Zh, _) => format!("审计链断裂：第{at}条记录（序号{seq}）被篡改"),
        (BreakKind::Inserted, Lang::Zh, _) => {
            format!("审计链断裂：第{at}条记录是插入的（应为序号{seq}）")
        }
        (BreakKind::Removed, Lang::Zh, Some(_)) => {
            format!("审计链断裂：第{at}条记录之前有记录被删除（缺序号{seq}）")
        }
        (BreakKind::Removed, Lang::Zh, None) => {
            format!("审计链断裂：末尾记录被删除（自序号{seq}起）")
        }
        (BreakKind::Altered, Lang::En, _) => {
            format!("audit chain broken: record {at} (seq {seq}) was altered")
        }
        (BreakKind::Inserted, Lang::En, _) => {
            format!("audit chain broken: record {at} was inserted (seq {seq} expected)")
        }
        (BreakKind::Removed, Lang::En, Some(_)) => {
            format!("audit chain broken: records removed before record {at} (seq {seq} missing)")
        }
        (BreakKind::Removed, Lang::En, None) => {
            format!("audit chain broken: records removed at the end (from seq {seq})")
        }
    }
}

async fn build_verify(s: &AppState, page: Page) -> PageResult {
    page.require(Capability::ReadAudit)?;
    let report = s
        .store
        .verify_audit_chain()
        .await
        .map_err(|e| page.fail(e))?;
    let lang = page.lang;
    let (intact, message) = match &report.first_break {
        None => (true, T::ChainIntact.get(lang).to_string()),
        Some(b) => (false, break_message(b.kind, b.id, b.expected_seq, lang)),
    };
    let tpl = VerifyPage {
        intact,
        message,
        records: page.int(report.records as i64),
        head_seq: report.head_seq.to_string(),
        head_hash: report.head_hash.clone(),
        page,
    };
    render(&tpl, &tpl.page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(enc("user:a b&c"), "user%3Aa%20b%26c");
        assert_eq!(enc("张"), "%E5%BC%A0");
    }

    #[test]
    fn audit_actions_are_read_in_words() {
        assert_eq!(action_label("sign_in_failed", Lang::Zh), "登录失败");
        assert_eq!(action_label("user_created", Lang::En), "user created");
        assert_eq!(action_label("something_new", Lang::Zh), "something_new");
    }

    #[test]
    fn breaks_read_in_both_languages() {
        let zh = break_message(BreakKind::Removed, None, 7, Lang::Zh);
        let en = break_message(BreakKind::Altered, Some(3), 3, Lang::En);
        assert!(zh.contains("序号7"));
        assert!(en.contains("record 3"));
    }
}
