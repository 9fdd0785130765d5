//! The HTTP surface: POST /graphql, subscriptions over WebSocket at /ws,
//! GraphiQL, health.
//!
//! GraphQL POSTs go through our own handler instead of the stock extractor,
//! so that every failure (a body over the limit, a body that is not JSON, a
//! bad token) comes back as a GraphQL error with a code.

use std::net::SocketAddr;

use async_graphql::http::GraphiQLSource;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use commands::Actor;
use serde_json::json;

use crate::auth::Claims;
use crate::context::{RequestCtx, Services};
use crate::error::{Code, api_error};
use crate::schema::AppSchema;

#[derive(Clone)]
pub(crate) struct AppState {
    pub schema: AppSchema,
    pub services: Services,
}

/// The API's routes. `body_limit` caps every request body, in bytes.
pub fn router(services: Services, body_limit: usize) -> Router {
    let schema = crate::schema::build(Some(services.clone()));
    Router::new()
        .route("/graphql", get(use_post).post(graphql))
        .route("/ws", get(crate::ws::upgrade))
        .route("/graphiql", get(graphiql))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(AppState { schema, services })
}

pub(crate) fn error_response(status: StatusCode, code: Code, message: &str) -> Response {
    (
        status,
        Json(
            json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] }),
        ),
    )
        .into_response()
}

async fn use_post() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        Code::BadUserInput,
        "send GraphQL requests as POST with a JSON body; GraphiQL is at /graphiql",
    )
}

async fn graphql(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::BadUserInput,
                "request body is too large",
            );
        }
        Err(rejection) => {
            return error_response(
                rejection.status(),
                Code::BadUserInput,
                &rejection.body_text(),
            );
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let request: async_graphql::Request = if content_type.starts_with("multipart/form-data") {
        // A file upload (the GraphQL multipart request spec): one file at
        // most, and never more than the body limit already allowed.
        let options = async_graphql::http::MultipartOptions::default()
            .max_num_files(1)
            .max_file_size(body.len());
        match async_graphql::http::receive_body(Some(content_type), &body[..], options).await {
            Ok(r) => r,
            Err(e) => {
                let message = format!("body is not a GraphQL multipart request: {e}");
                return error_response(StatusCode::BAD_REQUEST, Code::BadUserInput, &message);
            }
        }
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                let message =
                    format!("body is not a GraphQL request (JSON with a \"query\" string): {e}");
                return error_response(StatusCode::BAD_REQUEST, Code::BadUserInput, &message);
            }
        }
    };
    let actor = match authenticate(&app.services, &headers).await {
        Ok(actor) => actor,
        Err((code, message)) => return error_response(StatusCode::OK, code, &message),
    };
    let request = request.data(RequestCtx {
        actor,
        client_ip: peer.ip(),
    });
    // Errors the library makes itself get their code from the schema's
    // `ClientErrorCodes` extension, as over WebSocket.
    Json(app.schema.execute(request).await).into_response()
}

/// No header: anonymous. A header that does not check out is an error, never
/// silently anonymous.
async fn authenticate(s: &Services, headers: &HeaderMap) -> Result<Option<Actor>, (Code, String)> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            (
                Code::Unauthenticated,
                "the Authorization header must be `Bearer <token>`".to_string(),
            )
        })?;
    Ok(Some(verify(s, token).await?.actor))
}

/// A verified token and whose it is.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub actor: Actor,
    pub claims: Claims,
}

impl Session {
    /// Checks the session again against the user's current state, as every
    /// HTTP request does: long-lived connections must not outlive a
    /// deactivation, a password change or the token's expiry.
    pub async fn recheck(&self, s: &Services) -> async_graphql::Result<Actor> {
        if self.claims.exp < chrono::Utc::now().timestamp() {
            return Err(api_error(
                Code::Unauthenticated,
                "the token has expired; log in again",
            ));
        }
        current_actor(s, &self.claims)
            .await
            .map_err(|(code, message)| api_error(code, message))
    }
}

/// Checks a token's signature, expiry, session epoch and user, exactly as
/// for an HTTP request.
pub(crate) async fn verify(s: &Services, token: &str) -> Result<Session, (Code, String)> {
    let claims = s
        .keys
        .verify(token.trim())
        .map_err(|m| (Code::Unauthenticated, m))?;
    let actor = current_actor(s, &claims).await?;
    Ok(Session { actor, claims })
}

async fn current_actor(s: &Services, claims: &Claims) -> Result<Actor, (Code, String)> {
    let unauthenticated = |m: &str| (Code::Unauthenticated, m.to_string());
    let user = projections::queries::user_by_id(&s.db, claims.sub)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot load the user of a token");
            (
                Code::Internal,
                "internal error; it has been logged".to_string(),
            )
        })?;
    let Some(user) = user else {
        return Err(unauthenticated("the token's user does not exist"));
    };
    if !user.active {
        return Err(unauthenticated("this account is deactivated"));
    }
    if user.session_epoch != claims.epoch {
        return Err(unauthenticated("this session has ended; log in again"));
    }
    Ok(Actor {
        user_id: user.user_id,
        role: user.role,
    })
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/ws")
            .title("PyDojo GraphiQL")
            .finish(),
    )
}

async fn healthz(State(app): State<AppState>) -> Response {
    let db_ok = projections::queries::ping(&app.services.db).await.is_ok();
    let cursor = app.services.progress.current();
    let body = json!({
        "status": if db_ok { "ok" } else { "degraded" },
        "store": app.services.commands.store().backend(),
        "projectedTo": cursor.to_string(),
    });
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
