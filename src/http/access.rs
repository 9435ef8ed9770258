//! The access check, run for every request before its handler: who is calling (session cookie
//! or Bearer token) and whether the route's rule lets them in. Non-members of a library get 404.

use http::header;

use super::error::{ApiError, ApiResult};
use super::request::{Caller, Ctx};
use super::routes::{AccessRule, Route};
use crate::api::state::ApiState;
use crate::libraries::{self, members};
use crate::sessions::{self, Credential, TokenScope};

/// Applies `route`'s access rule, filling in `ctx.caller` and `ctx.library`.
pub async fn authorize(app: &ApiState, ctx: &mut Ctx, route: &Route) -> ApiResult<()> {
    let rule = route.info().access;
    if rule == AccessRule::Public {
        return Ok(());
    }
    let caller = authenticate(app, ctx)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if let Credential::Token(token) = &caller.credential
        && token.scope() == TokenScope::Upload
        && !route.fits_upload_scope()
    {
        return Err(ApiError::Denied(
            "token_scope",
            "this app password may only upload".into(),
        ));
    }
    match rule {
        AccessRule::Public | AccessRule::Session => {}
        AccessRule::InstanceOwner => {
            if !caller.user.is_owner {
                return Err(ApiError::Forbidden);
            }
        }
        AccessRule::Library(min_role) => {
            let library_id = route
                .library_id()
                .ok_or_else(|| ApiError::Internal(format!("{} has no library id", route.name())))?
                .to_string();
            let mut conn = app.db.conn().await?;
            let role = members::role_of(&mut conn, &library_id, &caller.user.id)
                .await?
                .ok_or(ApiError::NotFound)?;
            if role < min_role {
                return Err(ApiError::Forbidden);
            }
            let library = libraries::get(&mut conn, &library_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            ctx.library = Some((library, role));
        }
    }
    ctx.caller = Some(caller);
    Ok(())
}

/// Who is calling: a Bearer token if one is sent (a wrong one is an error), else the session
/// cookie (a missing, tampered or expired one means anonymous).
async fn authenticate(app: &ApiState, ctx: &Ctx) -> ApiResult<Option<Caller>> {
    let mut conn = app.db.conn().await?;
    if let Some(auth) = ctx.header(header::AUTHORIZATION) {
        let secret = auth
            .strip_prefix("Bearer ")
            .ok_or(ApiError::Unauthorized)?
            .trim();
        let (token, user) = sessions::find_token(&mut conn, secret)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        return Ok(Some(Caller {
            user,
            credential: Credential::Token(token),
        }));
    }
    let cookies = ctx
        .parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let Some(session_id) = app.cookies.read(cookies) else {
        return Ok(None);
    };
    Ok(sessions::find_live(&mut conn, &session_id)
        .await?
        .map(|(session, user)| Caller {
            user,
            credential: Credential::Session(session),
        }))
}
