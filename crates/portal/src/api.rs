//! The portal's routes and their JSON bodies. Every route names who may call it in its
//! arguments (see `auth`); `tests/authorization.rs` checks each against every role.

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use axum_extra::extract::CookieJar;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    Portal, PortalError,
    auth::{self, AgencyAdmin, Caller, PlatformAdmin, SESSION_COOKIE, SignedIn},
    db::{self, Account, Agency, Token},
    domain::{self, Email, Role},
};

/// How long a web session lasts.
const SESSION_HOURS: i64 = 12;

/// The portal's routes, with their OpenAPI description.
pub fn router(portal: Portal) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(sign_in, sign_out))
        .routes(routes!(me))
        .routes(routes!(appoint_moderator))
        .routes(routes!(create_agency, agencies))
        .routes(routes!(agency))
        .routes(routes!(verify_agency))
        .routes(routes!(appoint_agency_admin))
        .routes(routes!(officers, add_officer))
        .routes(routes!(remove_officer))
        .routes(routes!(create_token))
        .routes(routes!(revoke_token))
        .merge(crate::requests_api::router())
        .merge(crate::clips::router())
        .merge(crate::push::router())
        .with_state(portal)
}

/// An error with a stable code and a message; never internals.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }
    pub(crate) fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    pub(crate) fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    pub(crate) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub(crate) fn too_large(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, code, message)
    }
    pub(crate) fn gone(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, code, message)
    }
    pub(crate) fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong on our side")
    }
    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "portal database error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong on our side")
    }
}

impl From<domain::Invalid> for ApiError {
    fn from(e: domain::Invalid) -> Self {
        Self::bad_request("invalid_field", e.to_string())
    }
}

impl From<PortalError> for ApiError {
    fn from(e: PortalError) -> Self {
        match e {
            PortalError::Invalid(e) => e.into(),
            PortalError::Database(e) => e.into(),
            other => {
                tracing::error!(error = %other, "portal error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong on our side")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

pub(crate) fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| ApiError::bad_request("invalid_body", e.body_text()))
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalAccount)]
struct AccountBody {
    id: Uuid,
    email: String,
    display_name: String,
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    agency: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<Account> for AccountBody {
    fn from(a: Account) -> Self {
        Self {
            id: a.id,
            email: a.email,
            display_name: a.display_name,
            role: a.role,
            agency: a.agency_id,
            created_at: a.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = PortalNewAccount)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    email: String,
    password: String,
    display_name: String,
}

/// Anyone may make a resident account.
#[utoipa::path(post, path = "/v1/portal/accounts", tag = "portal: accounts", request_body = NewAccount, responses((status = 201, description = "The resident account", body = AccountBody), (status = 400, description = "A field is invalid"), (status = 409, description = "An account with this address exists")))]
async fn register(
    State(portal): State<Portal>,
    new: Result<Json<NewAccount>, JsonRejection>,
) -> Result<(StatusCode, Json<AccountBody>), ApiError> {
    let new = body(new)?;
    let email = Email::parse(&new.email)?;
    let name = domain::display_name(&new.display_name)?;
    let hash = domain::hash_password(&new.password)?;
    match db::create_resident(&portal.pool, &email, &name, &hash).await? {
        Some(account) => Ok((StatusCode::CREATED, Json(account.into()))),
        None => Err(ApiError::conflict("email_taken", "an account with this address exists")),
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = PortalCredentials)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalSession)]
struct SessionBody {
    /// Send it back in `x-csrf-token` with every request that changes anything.
    csrf_token: String,
    expires_at: DateTime<Utc>,
    account: AccountBody,
}

/// Sign in: a session cookie, and the CSRF token in the body. A wrong address and a wrong
/// password get the same answer.
#[utoipa::path(post, path = "/v1/portal/sessions", tag = "portal: accounts", request_body = Credentials, responses((status = 201, description = "Signed in: a session cookie (Set-Cookie) and the CSRF token for changes", body = SessionBody), (status = 400, description = "The body is invalid"), (status = 401, description = "The address or the password is wrong")))]
async fn sign_in(
    State(portal): State<Portal>,
    credentials: Result<Json<Credentials>, JsonRejection>,
) -> Result<Response, ApiError> {
    let credentials = body(credentials)?;
    let refused = || ApiError::unauthorized("sign_in_failed", "the address or the password is wrong");
    let email = Email::parse(&credentials.email).map_err(|_| refused())?;
    let Some((account, hash)) = db::account_for_login(&portal.pool, &email).await? else {
        // Spend the time a check would, so that timing does not tell which addresses exist.
        domain::password_matches(&credentials.password, &DUMMY_HASH);
        return Err(refused());
    };
    if !domain::password_matches(&credentials.password, &hash) {
        return Err(refused());
    }
    let (token, csrf) = (auth::new_token(), auth::new_token());
    let expires_at = db::now() + chrono::Duration::hours(SESSION_HOURS);
    db::create_session(&portal.pool, account.id, &auth::hash(&token), &auth::hash(&csrf), expires_at).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/v1/portal; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        SESSION_HOURS * 3600
    );
    let mut response =
        (StatusCode::CREATED, Json(SessionBody { csrf_token: csrf, expires_at, account: account.into() }))
            .into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("a valid cookie"));
    Ok(response)
}

/// An argon2id hash of a password nobody is given, checked against when the address is
/// unknown.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| domain::hash_password(&auth::new_token()).expect("a long enough password"));

#[utoipa::path(delete, path = "/v1/portal/sessions", tag = "portal: accounts", responses((status = 204, description = "Signed out"), (status = 401, description = "Not signed in")))]
async fn sign_out(
    SignedIn(_): SignedIn,
    jar: CookieJar,
    State(portal): State<Portal>,
) -> Result<Response, ApiError> {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        db::delete_session(&portal.pool, &auth::hash(cookie.value())).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let expired = format!("{SESSION_COOKIE}=; Path=/v1/portal; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_str(&expired).expect("a valid cookie"));
    Ok(response)
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalMe)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum MeBody {
    Account(AccountBody),
    AgencyToken { agency: String, name: String, scopes: Vec<String>, expires_at: DateTime<Utc> },
}

#[utoipa::path(get, path = "/v1/portal/me", tag = "portal: accounts", responses((status = 200, description = "Who is calling: an account, or an agency token", body = MeBody), (status = 401, description = "Not signed in")))]
async fn me(caller: Caller) -> Json<MeBody> {
    Json(match caller {
        Caller::Account(a) => MeBody::Account(a.into()),
        Caller::Agency(t) => MeBody::AgencyToken {
            agency: t.agency_id,
            name: t.name,
            scopes: t.scopes,
            expires_at: t.expires_at,
        },
    })
}

#[derive(Deserialize, ToSchema)]
#[schema(as = PortalAppointment)]
#[serde(deny_unknown_fields)]
struct Appointment {
    email: String,
}

/// The account an appointment names; only a resident can be given a role (so that no
/// appointment quietly demotes an administrator).
async fn appointee(portal: &Portal, appointment: Appointment) -> Result<Account, ApiError> {
    let email = Email::parse(&appointment.email)?;
    let account = db::account_by_email(&portal.pool, &email)
        .await?
        .ok_or_else(|| ApiError::not_found("account_not_found", "no account with this address"))?;
    if account.role != Role::Resident {
        return Err(ApiError::conflict(
            "account_has_a_role",
            "the account already has a role; remove it first",
        ));
    }
    Ok(account)
}

#[utoipa::path(post, path = "/v1/portal/moderators", tag = "portal: accounts", request_body = Appointment, responses((status = 200, description = "The new moderator", body = AccountBody), (status = 400, description = "The body is invalid"), (status = 401, description = "Not signed in"), (status = 403, description = "Only a platform administrator may"), (status = 404, description = "No account with this address"), (status = 409, description = "The account already has a role")))]
async fn appoint_moderator(
    PlatformAdmin(_): PlatformAdmin,
    State(portal): State<Portal>,
    appointment: Result<Json<Appointment>, JsonRejection>,
) -> Result<Json<AccountBody>, ApiError> {
    let mut account = appointee(&portal, body(appointment)?).await?;
    db::set_role(&portal.pool, account.id, Role::Moderator, None).await?;
    account.role = Role::Moderator;
    Ok(Json(account.into()))
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalAgency)]
struct AgencyBody {
    id: String,
    name: String,
    verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified_at: Option<DateTime<Utc>>,
}

impl From<Agency> for AgencyBody {
    fn from(a: Agency) -> Self {
        Self { id: a.id, name: a.name, verified: a.verified_at.is_some(), verified_at: a.verified_at }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = PortalNewAgency)]
#[serde(deny_unknown_fields)]
struct NewAgency {
    id: String,
    name: String,
}

#[utoipa::path(post, path = "/v1/portal/agencies", tag = "portal: agencies", request_body = NewAgency, responses((status = 201, description = "The agency, not yet verified", body = AgencyBody), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this")))]
async fn create_agency(
    PlatformAdmin(_): PlatformAdmin,
    State(portal): State<Portal>,
    new: Result<Json<NewAgency>, JsonRejection>,
) -> Result<(StatusCode, Json<AgencyBody>), ApiError> {
    let new = body(new)?;
    let id = domain::agency_id(&new.id)?;
    let name = domain::display_name(&new.name)
        .map_err(|_| ApiError::bad_request("invalid_field", "name: must be 1 to 80 characters"))?;
    match db::create_agency(&portal.pool, &id, &name).await? {
        Some(agency) => Ok((StatusCode::CREATED, Json(agency.into()))),
        None => Err(ApiError::conflict("agency_exists", "an agency with this id exists")),
    }
}

async fn find_agency(portal: &Portal, id: &str) -> Result<Agency, ApiError> {
    db::agency(&portal.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("agency_not_found", "no agency with this id"))
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalAgencyList)]
struct AgencyList {
    agencies: Vec<AgencyBody>,
}

/// Every agency and whether it is verified: public, as each agency's page is.
#[utoipa::path(get, path = "/v1/portal/agencies", tag = "portal: agencies", responses((status = 200, description = "Every agency and whether it is verified", body = AgencyList)))]
async fn agencies(State(portal): State<Portal>) -> Result<Json<AgencyList>, ApiError> {
    let agencies = db::agencies(&portal.pool).await?;
    Ok(Json(AgencyList { agencies: agencies.into_iter().map(AgencyBody::from).collect() }))
}

/// An agency's public page: whether it is verified.
#[utoipa::path(get, path = "/v1/portal/agencies/{agency}", tag = "portal: agencies", params(("agency" = String, Path, description = "The agency's id")), responses((status = 200, description = "The agency", body = AgencyBody), (status = 404, description = "No such agency")))]
async fn agency(State(portal): State<Portal>, Path(id): Path<String>) -> Result<Json<AgencyBody>, ApiError> {
    Ok(Json(find_agency(&portal, &id).await?.into()))
}

#[utoipa::path(post, path = "/v1/portal/agencies/{agency}/verify", tag = "portal: agencies", params(("agency" = String, Path, description = "The agency's id")), responses((status = 200, description = "The agency, verified", body = AgencyBody), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn verify_agency(
    PlatformAdmin(admin): PlatformAdmin,
    State(portal): State<Portal>,
    Path(id): Path<String>,
) -> Result<Json<AgencyBody>, ApiError> {
    find_agency(&portal, &id).await?;
    db::verify_agency(&portal.pool, &id, admin.id).await?;
    Ok(Json(find_agency(&portal, &id).await?.into()))
}

#[utoipa::path(post, path = "/v1/portal/agencies/{agency}/admins", tag = "portal: agencies", params(("agency" = String, Path, description = "The agency's id")), request_body = Appointment, responses((status = 200, description = "The agency's new administrator", body = AccountBody), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn appoint_agency_admin(
    PlatformAdmin(_): PlatformAdmin,
    State(portal): State<Portal>,
    Path(id): Path<String>,
    appointment: Result<Json<Appointment>, JsonRejection>,
) -> Result<Json<AccountBody>, ApiError> {
    find_agency(&portal, &id).await?;
    let mut account = appointee(&portal, body(appointment)?).await?;
    db::set_role(&portal.pool, account.id, Role::AgencyAdmin, Some(&id)).await?;
    (account.role, account.agency_id) = (Role::AgencyAdmin, Some(id));
    Ok(Json(account.into()))
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalMembers)]
struct Members {
    members: Vec<AccountBody>,
}

#[utoipa::path(get, path = "/v1/portal/agencies/{agency}/officers", tag = "portal: agencies", params(("agency" = String, Path, description = "The agency's id")), responses((status = 200, description = "The agency's officers and administrators", body = Members), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn officers(admin: AgencyAdmin, State(portal): State<Portal>) -> Result<Json<Members>, ApiError> {
    let members = db::agency_members(&portal.pool, &admin.agency).await?;
    Ok(Json(Members { members: members.into_iter().map(AccountBody::from).collect() }))
}

#[utoipa::path(post, path = "/v1/portal/agencies/{agency}/officers", tag = "portal: agencies", params(("agency" = String, Path, description = "The agency's id")), request_body = Appointment, responses((status = 200, description = "The new officer", body = AccountBody), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn add_officer(
    admin: AgencyAdmin,
    State(portal): State<Portal>,
    appointment: Result<Json<Appointment>, JsonRejection>,
) -> Result<Json<AccountBody>, ApiError> {
    let mut account = appointee(&portal, body(appointment)?).await?;
    db::set_role(&portal.pool, account.id, Role::Officer, Some(&admin.agency)).await?;
    (account.role, account.agency_id) = (Role::Officer, Some(admin.agency));
    Ok(Json(account.into()))
}

/// An officer goes back to being a resident.
#[utoipa::path(delete, path = "/v1/portal/agencies/{agency}/officers/{account}", tag = "portal: agencies", params(("agency" = String, Path, description = "The agency's id"), ("account" = String, Path, description = "The account's id")), responses((status = 204, description = "The officer is a resident again"), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn remove_officer(
    admin: AgencyAdmin,
    State(portal): State<Portal>,
    Path((_, account)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let gone = || ApiError::not_found("officer_not_found", "no officer of this agency with this id");
    let id = Uuid::parse_str(&account).map_err(|_| gone())?;
    let members = db::agency_members(&portal.pool, &admin.agency).await?;
    if !members.iter().any(|m| m.id == id && m.role == Role::Officer) {
        return Err(gone());
    }
    db::set_role(&portal.pool, id, Role::Resident, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[schema(as = PortalNewToken)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    scopes: Vec<String>,
    /// 1 to 365.
    expires_in_days: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalToken)]
struct TokenBody {
    id: Uuid,
    /// Shown here once; only its hash is kept.
    token: String,
    name: String,
    scopes: Vec<String>,
    expires_at: DateTime<Utc>,
}

#[utoipa::path(post, path = "/v1/portal/agencies/{agency}/tokens", tag = "portal: agencies", params(("agency" = String, Path, description = "The agency's id")), request_body = NewToken, responses((status = 201, description = "The token, shown once", body = TokenBody), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn create_token(
    admin: AgencyAdmin,
    State(portal): State<Portal>,
    new: Result<Json<NewToken>, JsonRejection>,
) -> Result<(StatusCode, Json<TokenBody>), ApiError> {
    let new = body(new)?;
    let name = domain::display_name(&new.name)
        .map_err(|_| ApiError::bad_request("invalid_field", "name: must be 1 to 80 characters"))?;
    let scopes = domain::scopes(&new.scopes)?;
    if !(1..=365).contains(&new.expires_in_days) {
        return Err(ApiError::bad_request("invalid_field", "expires_in_days: must be 1 to 365"));
    }
    let secret = format!("{}{}", auth::TOKEN_PREFIX, auth::new_token());
    let token = Token {
        id: Uuid::new_v4(),
        agency_id: admin.agency,
        name,
        scopes,
        expires_at: db::now() + chrono::Duration::days(new.expires_in_days),
    };
    db::create_token(&portal.pool, &token, &auth::hash(&secret), admin.account.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenBody {
            id: token.id,
            token: secret,
            name: token.name,
            scopes: token.scopes,
            expires_at: token.expires_at,
        }),
    ))
}

#[utoipa::path(delete, path = "/v1/portal/agencies/{agency}/tokens/{token}", tag = "portal: agencies", params(("agency" = String, Path, description = "The agency's id"), ("token" = String, Path, description = "The token's id")), responses((status = 204, description = "Revoked"), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn revoke_token(
    admin: AgencyAdmin,
    State(portal): State<Portal>,
    Path((_, token)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let gone = || ApiError::not_found("token_not_found", "no live token of this agency with this id");
    let id = Uuid::parse_str(&token).map_err(|_| gone())?;
    if db::revoke_token(&portal.pool, &admin.agency, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(gone())
    }
}
