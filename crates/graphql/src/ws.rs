//! GraphQL subscriptions over WebSocket at `/ws`, in both protocols that
//! clients speak: `graphql-transport-ws` and the legacy `graphql-ws`
//! (subscriptions-transport-ws).
//!
//! The first message must be `connection_init` with a token in its payload
//! (`{"authorization": "Bearer <jwt>"}` or `{"token": "<jwt>"}`), checked
//! exactly as an HTTP request's. We read it ourselves before handing the
//! socket to async-graphql, because the library's refusal carries only a
//! message and no code: a refused `graphql-transport-ws` client gets close
//! code 4403 with the reason `CODE: message`, a legacy client a
//! `connection_error` whose payload has `extensions.code`, then the close.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};

use crate::context::RequestCtx;
use crate::error::Code;
use crate::http::{AppState, Session, verify};

/// How long a client has to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Close code for a refused `connection_init` (graphql-transport-ws: Forbidden).
const REFUSED: u16 = 4403;
/// A close frame's reason holds at most 123 bytes.
const MAX_REASON: usize = 123;
/// Each connection reads through a buffer of this size, allocated up front
/// (tungstenite's default is 128 KiB). What clients send is small (init,
/// subscribe, pings) and larger messages still arrive, in more reads; at
/// 128 KiB, thousands of idle subscribers would hold most of the server's
/// memory in empty buffers.
const READ_BUFFER: usize = 4 * 1024;

pub(crate) async fn upgrade(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    protocol: Result<GraphQLProtocol, StatusCode>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let (Ok(protocol), Some(which)) = (protocol, requested_protocol(&headers)) else {
        return crate::http::error_response(
            StatusCode::BAD_REQUEST,
            Code::BadUserInput,
            "ask for the graphql-transport-ws or graphql-ws subprotocol (Sec-WebSocket-Protocol)",
        );
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| serve(app, socket, protocol, which, peer))
        .into_response()
}

/// The protocol the client asked for, as async-graphql picks it.
fn requested_protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
}

#[tracing::instrument(skip_all, fields(protocol = which.sec_websocket_protocol()))]
async fn serve(
    app: AppState,
    socket: WebSocket,
    protocol: GraphQLProtocol,
    which: WebSocketProtocols,
    peer: SocketAddr,
) {
    let (mut sink, mut stream) = socket.split();
    let init = match tokio::time::timeout(INIT_TIMEOUT, first_text(&mut stream)).await {
        Ok(Some(text)) => text,
        Ok(None) => return,
        Err(_) => {
            let message = "no connection_init within 10 s";
            refuse(&mut sink, which, Code::Unauthenticated, message).await;
            return;
        }
    };
    let session = match authenticate(&app, &init).await {
        Ok(session) => session,
        Err((code, message)) => {
            tracing::debug!(code = code.as_str(), %message, "refused a WebSocket connection");
            refuse(&mut sink, which, code, &message).await;
            return;
        }
    };
    // The library sees the connection_init too, and acknowledges it.
    let input = futures::stream::once(async move { Ok(Message::Text(init.into())) }).chain(stream);
    GraphQLWebSocket::new_with_pair(sink, input, app.schema, protocol)
        .on_connection_init(move |_| async move {
            let mut data = Data::default();
            // For resolvers shared with queries; subscriptions recheck the session.
            data.insert(RequestCtx {
                actor: Some(session.actor),
                client_ip: peer.ip(),
            });
            data.insert(session);
            Ok(data)
        })
        .serve()
        .await;
}

/// The first text (or binary) message; `None` if the client went away.
async fn first_text(stream: &mut futures::stream::SplitStream<WebSocket>) -> Option<String> {
    while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Text(text) => return Some(text.to_string()),
            Message::Binary(bytes) => return String::from_utf8(bytes.to_vec()).ok(),
            Message::Close(_) => return None,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    None
}

/// Checks the token in a `connection_init` message.
async fn authenticate(app: &AppState, init: &str) -> Result<Session, (Code, String)> {
    let message: Value = serde_json::from_str(init).map_err(|_| {
        (
            Code::BadUserInput,
            "the first message must be connection_init (JSON)".to_string(),
        )
    })?;
    if message["type"] != "connection_init" {
        return Err((
            Code::Unauthenticated,
            "send connection_init with a token before anything else".to_string(),
        ));
    }
    let token = token(&message["payload"]).ok_or_else(|| {
        (
            Code::Unauthenticated,
            "connection_init needs {\"authorization\": \"Bearer <token>\"} or {\"token\": \"<token>\"} in its payload"
                .to_string(),
        )
    })?;
    verify(&app.services, token).await
}

/// The token in a `connection_init` payload: `authorization` (any case,
/// also under `headers`) or `token`, with or without `Bearer `.
fn token(payload: &Value) -> Option<&str> {
    fn field(object: &Value) -> Option<&str> {
        object.as_object()?.iter().find_map(|(key, value)| {
            let key = key.to_ascii_lowercase();
            (key == "authorization" || key == "token")
                .then(|| value.as_str())
                .flatten()
        })
    }
    let raw = field(payload).or_else(|| field(&payload["headers"]))?;
    let token = raw.strip_prefix("Bearer ").unwrap_or(raw).trim();
    (!token.is_empty()).then_some(token)
}

async fn refuse(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    which: WebSocketProtocols,
    code: Code,
    message: &str,
) {
    if which == WebSocketProtocols::SubscriptionsTransportWS {
        let error = json!({
            "type": "connection_error",
            "payload": { "message": message, "extensions": { "code": code.as_str() } },
        });
        let _ = sink.send(Message::Text(error.to_string().into())).await;
    }
    let mut reason = format!("{}: {message}", code.as_str());
    if reason.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: REFUSED,
            reason: reason.into(),
        })))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_token_in_every_payload_shape_clients_send() {
        for payload in [
            json!({ "authorization": "Bearer abc" }),
            json!({ "Authorization": "Bearer abc" }),
            json!({ "token": "abc" }),
            json!({ "headers": { "Authorization": "Bearer abc" } }),
        ] {
            assert_eq!(token(&payload), Some("abc"), "{payload}");
        }
        assert_eq!(token(&json!({})), None);
        assert_eq!(token(&Value::Null), None);
        assert_eq!(token(&json!({ "token": "" })), None);
    }
}
