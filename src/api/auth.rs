//! Accounts from the user's side: first-run setup, registration, login and logout, the current
//! session, the list of sessions, password change and personal access tokens.

use http::{Response, header};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::state::ApiState;
use crate::accounts::{self, User, UserView};
use crate::auth::password;
use crate::config::RegistrationMode;
use crate::db::now_ms;
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::libraries::invites;
use crate::sessions::{self, ApiToken, Credential, Session, TokenScope};

/// Longest display name or token name accepted.
const MAX_NAME_LEN: usize = 100;

/// `GET /api/_auth/config`: whether the owner still has to be created, and who may register.
pub async fn config(app: &ApiState) -> ApiResult<Response<Body>> {
    let mut conn = app.db.conn().await?;
    let needs_setup = !accounts::owner_exists(&mut conn).await?;
    let mode = accounts::registration_mode(&mut conn, app.config.registration_mode).await?;
    Ok(response::ok(&AuthConfig {
        needs_setup,
        registration_mode: mode,
    }))
}

/// What the sign-in screens need before anyone is signed in.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthConfig {
    /// No account exists yet: the first to register becomes the instance owner.
    pub needs_setup: bool,
    pub registration_mode: RegistrationMode,
}

/// The signed-in user and their session (`null` when signed in with an access token).
#[derive(Serialize, JsonSchema)]
pub struct SignedIn {
    pub user: UserView,
    pub session: Option<Session>,
    /// `session` or `token`.
    pub via: &'static str,
}

/// A session of the signed-in user, marked when it is the one making the request.
#[derive(Serialize, JsonSchema)]
pub struct SessionItem {
    #[serde(flatten)]
    pub session: Session,
    pub current: bool,
}

/// A new personal access token; the secret is shown only here.
#[derive(Serialize, JsonSchema)]
pub struct CreatedToken {
    pub token: ApiToken,
    pub secret: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBody {
    username: String,
    password: String,
    display_name: Option<String>,
    invite_token: Option<String>,
}

/// `POST /api/_auth/register`: the first account becomes the instance owner; later ones follow
/// the registration mode (an invite token lets people in under `invite_only` and joins its
/// library). Signs the new user in.
pub async fn register(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let body: RegisterBody = ctx.json().await?;
    if let Some(wait) = app.throttle.registration(&ctx.client_ip.to_string()) {
        return Err(ApiError::TooManyRequests(wait));
    }
    let username = accounts::normalize_username(&body.username)?;
    password::validate(&body.password)?;
    let display_name = display_name(body.display_name.as_deref(), &username)?;
    // Whether this caller may register at all is settled before anything about the username
    // and before the costly hash.
    admit_registration(app, &mut app.db.conn().await?, body.invite_token.as_deref()).await?;
    let hash = password::hash(&body.password).await?;

    let mut tx = app.db.begin().await?;
    // Again inside the transaction: the first owner may have been created meanwhile.
    let first = admit_registration(app, &mut tx, body.invite_token.as_deref()).await?;
    let user = accounts::create(&mut tx, &username, &display_name, hash, first).await?;
    if let Some(token) = body.invite_token.as_deref().filter(|_| !first) {
        invites::redeem(&mut tx, token, &user.id).await?;
    }
    tx.commit().await?;
    tracing::info!(user = %user.username, owner = user.is_owner, "registered");
    sign_in(app, ctx, &user, http::StatusCode::CREATED).await
}

/// Whether someone may register now: anyone while no owner exists (returns true: they become
/// it), else by the registration mode, with a usable invite where one is given or needed.
async fn admit_registration(
    app: &ApiState,
    conn: &mut crate::db::Conn,
    invite_token: Option<&str>,
) -> ApiResult<bool> {
    if !accounts::owner_exists(conn).await? {
        return Ok(true);
    }
    let mode = accounts::registration_mode(conn, app.config.registration_mode).await?;
    match (mode, invite_token) {
        (RegistrationMode::Closed, _) => Err(ApiError::Denied(
            "registration_closed",
            "registration is closed".into(),
        )),
        (RegistrationMode::InviteOnly, None) => Err(ApiError::Denied(
            "invite_required",
            "registration needs an invite link".into(),
        )),
        (_, Some(token)) => Ok(invites::find_usable(conn, token).await.map(|_| false)?),
        (RegistrationMode::Open, None) => Ok(false),
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct LoginBody {
    username: String,
    password: String,
}

/// `POST /api/_auth/login`: checks the password (throttled per account and address) and sets
/// the session cookie.
pub async fn login(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let body: LoginBody = ctx.json().await?;
    let username = body.username.trim().to_lowercase();
    let user = check_password(app, ctx, &username, &body.password).await?;
    sign_in(app, ctx, &user, http::StatusCode::OK).await
}

/// The user whose password this is, or `BadCredentials`; failures count towards throttling.
async fn check_password(
    app: &ApiState,
    ctx: &Ctx,
    username: &str,
    password: &str,
) -> ApiResult<User> {
    let address = ctx.client_ip.to_string();
    if let Some(wait) = app.throttle.wait_secs(username, &address) {
        return Err(ApiError::TooManyRequests(wait));
    }
    let user = {
        let mut conn = app.db.conn().await?;
        accounts::find_by_username(&mut conn, username).await?
    };
    let matches = match &user {
        Some(u) => password::verify(password, &u.password_hash).await,
        None => {
            password::dummy_verify(password).await;
            false
        }
    };
    match user.filter(|_| matches) {
        Some(user) => {
            app.throttle.succeeded(username, &address);
            Ok(user)
        }
        None => {
            app.throttle.failed(username, &address);
            Err(ApiError::BadCredentials)
        }
    }
}

async fn sign_in(
    app: &ApiState,
    ctx: &Ctx,
    user: &User,
    status: http::StatusCode,
) -> ApiResult<Response<Body>> {
    let mut conn = app.db.conn().await?;
    let user_agent = ctx.header(header::USER_AGENT).map(str::to_owned);
    let session = sessions::create(
        &mut conn,
        &user.id,
        app.config.session_days,
        user_agent,
        Some(ctx.client_ip.to_string()),
    )
    .await?;
    let res = response::json(
        status,
        &SignedIn {
            user: UserView::from(user),
            session: Some(session.clone()),
            via: "session",
        },
    );
    Ok(response::with_cookie(res, &app.cookies.set(&session.id)))
}

/// `POST /api/_auth/logout`: ends the cookie's session and clears the cookie.
pub async fn logout(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let caller = ctx.caller()?;
    if let Some(id) = caller.session_id() {
        let mut conn = app.db.conn().await?;
        sessions::revoke(&mut conn, &caller.user.id, id).await?;
    }
    Ok(response::with_cookie(
        response::no_content(),
        &app.cookies.clear(),
    ))
}

/// `GET /api/_auth/session`: the signed-in user and how they signed in.
pub fn session(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let caller = ctx.caller()?;
    let (session, via) = match &caller.credential {
        Credential::Session(s) => (Some(s), "session"),
        Credential::Token(_) => (None, "token"),
    };
    Ok(response::ok(&SignedIn {
        user: UserView::from(&caller.user),
        session: session.cloned(),
        via,
    }))
}

/// `GET /api/_auth/sessions`.
pub async fn list_sessions(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let caller = ctx.caller()?;
    let mut conn = app.db.conn().await?;
    let current = caller.session_id();
    let list: Vec<_> = sessions::list(&mut conn, &caller.user.id)
        .await?
        .into_iter()
        .map(|session| SessionItem {
            current: current == Some(session.id.as_str()),
            session,
        })
        .collect();
    Ok(response::ok(&list))
}

/// `DELETE /api/_auth/sessions/{session}`.
pub async fn revoke_session(app: &ApiState, ctx: &Ctx, session: Uuid) -> ApiResult<Response<Body>> {
    let caller = ctx.caller()?;
    let mut conn = app.db.conn().await?;
    if !sessions::revoke(&mut conn, &caller.user.id, &session.to_string()).await? {
        return Err(ApiError::NotFound);
    }
    Ok(response::no_content())
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

/// `POST /api/_auth/password`: needs the current password; revokes every other session.
pub async fn change_password(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let caller = ctx.caller()?.clone();
    signed_in_with_password(&caller)?;
    let body: ChangePasswordBody = ctx.json().await?;
    password::validate(&body.new_password)?;
    check_password(app, ctx, &caller.user.username, &body.current_password).await?;
    let hash = password::hash(&body.new_password).await?;
    let tokens_revoked =
        sessions::change_password(&app.db, &caller.user.id, &hash, caller.session_id()).await?;
    Ok(response::ok(&PasswordChanged { tokens_revoked }))
}

/// What a password change ended besides the other sessions.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChanged {
    /// Access tokens revoked: scripts and apps using them must get new ones.
    pub tokens_revoked: usize,
}

/// Refuses what only a password sign-in may do (changing the password, minting tokens) to a
/// caller using an access token, so a stolen token cannot entrench itself.
fn signed_in_with_password(caller: &crate::http::request::Caller) -> ApiResult<()> {
    match caller.credential {
        Credential::Session(_) => Ok(()),
        Credential::Token(_) => Err(ApiError::Denied(
            "session_required",
            "sign in with your password to do this: access tokens cannot".into(),
        )),
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileChange {
    display_name: String,
}

/// `PATCH /api/_auth/me`: the name the signed-in user is shown by (empty = the username).
pub async fn update_profile(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let body: ProfileChange = ctx.json().await?;
    let mut user = ctx.caller()?.user.clone();
    user.display_name = display_name(Some(&body.display_name), &user.username)?;
    let mut conn = app.db.conn().await?;
    accounts::set_display_name(&mut conn, &user.id, &user.display_name).await?;
    Ok(response::ok(&UserView::from(&user)))
}

/// `GET /api/_auth/tokens`.
pub async fn list_tokens(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let caller = ctx.caller()?;
    let mut conn = app.db.conn().await?;
    Ok(response::ok(
        &sessions::list_tokens(&mut conn, &caller.user.id).await?,
    ))
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateTokenBody {
    name: String,
    expires_in_days: Option<u32>,
    /// `full` (the default) or `upload`: an app password for a phone's backup app.
    #[serde(default)]
    scope: TokenScope,
}

/// `POST /api/_auth/tokens`: the secret is in the response and nowhere else.
pub async fn create_token(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    signed_in_with_password(ctx.caller()?)?;
    let body: CreateTokenBody = ctx.json().await?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::BadRequest(format!(
            "token name must be 1-{MAX_NAME_LEN} characters"
        )));
    }
    let expires_at = body
        .expires_in_days
        .map(|d| now_ms() + i64::from(d) * 86_400_000);
    let caller = ctx.caller()?;
    let mut conn = app.db.conn().await?;
    let (token, secret) =
        sessions::create_token(&mut conn, &caller.user.id, name, expires_at, body.scope).await?;
    Ok(response::created(&CreatedToken { token, secret }))
}

/// `DELETE /api/_auth/tokens/{token}`.
pub async fn revoke_token(app: &ApiState, ctx: &Ctx, token: Uuid) -> ApiResult<Response<Body>> {
    let caller = ctx.caller()?;
    let mut conn = app.db.conn().await?;
    if !sessions::revoke_token(&mut conn, &caller.user.id, &token.to_string()).await? {
        return Err(ApiError::NotFound);
    }
    Ok(response::no_content())
}

/// A trimmed display name of 1-100 characters, defaulting to the username.
fn display_name(raw: Option<&str>, username: &str) -> ApiResult<String> {
    let name = raw
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(username);
    if name.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::BadRequest(format!(
            "display name must be at most {MAX_NAME_LEN} characters"
        )));
    }
    Ok(name.to_owned())
}
