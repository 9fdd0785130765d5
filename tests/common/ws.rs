//! A GraphQL-over-WebSocket client speaking either protocol, as a browser
//! client would.

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::TestApp;

/// How long a test waits for any one message before failing.
const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws`.
    TransportWs,
    /// The legacy `graphql-ws` (subscriptions-transport-ws).
    Legacy,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::Legacy => "graphql-ws",
        }
    }
}

/// How the server turned a connection down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `extensions.code` (legacy) or the code before the colon of the close
    /// reason (graphql-transport-ws).
    pub code: String,
    pub close_code: Option<u16>,
    pub message: String,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Debug)]
pub struct WsClient {
    socket: Socket,
    protocol: Protocol,
    next_id: u32,
    /// Messages for other subscriptions than the one being read.
    pending: VecDeque<Value>,
}

impl WsClient {
    pub async fn connect(app: &TestApp, protocol: Protocol) -> Self {
        let mut request = format!("ws://{}/ws", app.addr)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol.name().parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket connects");
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            protocol.name(),
            "the server speaks the protocol asked for"
        );
        Self {
            socket,
            protocol,
            next_id: 0,
            pending: VecDeque::new(),
        }
    }

    /// Connects and initialises with `token`, expecting the ack.
    pub async fn authenticated(app: &TestApp, protocol: Protocol, token: &str) -> Self {
        let mut ws = Self::connect(app, protocol).await;
        ws.init(json!({ "authorization": format!("Bearer {token}") }))
            .await
            .unwrap_or_else(|r| panic!("connection refused: {r:?}"));
        ws
    }

    async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("message sent");
    }

    /// The next protocol message; `Err` with the close frame if the server
    /// closed the connection.
    async fn receive(&mut self) -> Result<Value, (Option<u16>, String)> {
        loop {
            let message = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("the server answers in time");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON message");
                    if matches!(value["type"].as_str(), Some("ka" | "ping" | "pong")) {
                        continue;
                    }
                    return Ok(value);
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame
                        .map(|f| (Some(u16::from(f.code)), f.reason.to_string()))
                        .unwrap_or((None, String::new())));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err((None, e.to_string())),
                None => return Err((None, "connection closed".into())),
            }
        }
    }

    /// Sends `connection_init` with `payload`; `Err` when refused.
    pub async fn init(&mut self, payload: Value) -> Result<(), Refusal> {
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        match self.receive().await {
            Ok(v) if v["type"] == "connection_ack" => Ok(()),
            Ok(v) if v["type"] == "connection_error" => {
                let close_code = match self.receive().await {
                    Err((code, _)) => code,
                    Ok(other) => panic!("a message after connection_error: {other}"),
                };
                Err(Refusal {
                    code: v["payload"]["extensions"]["code"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    close_code,
                    message: v["payload"]["message"].as_str().unwrap_or_default().into(),
                })
            }
            Ok(other) => panic!("unexpected answer to connection_init: {other}"),
            Err((close_code, reason)) => {
                let (code, message) = reason.split_once(": ").unwrap_or(("", &reason));
                Err(Refusal {
                    code: code.to_string(),
                    close_code,
                    message: message.to_string(),
                })
            }
        }
    }

    /// Starts a subscription; returns its id.
    pub async fn subscribe(&mut self, query: &str, variables: Value) -> String {
        self.next_id += 1;
        let id = self.next_id.to_string();
        let kind = match self.protocol {
            Protocol::TransportWs => "subscribe",
            Protocol::Legacy => "start",
        };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } }))
            .await;
        id
    }

    /// The next result (`{data, errors}`) of subscription `id`; `None` once
    /// it completed.
    pub async fn next(&mut self, id: &str) -> Option<Value> {
        let position = self.pending.iter().position(|m| m["id"] == id);
        let message = match position {
            Some(i) => self.pending.remove(i).expect("present"),
            None => loop {
                let message = self
                    .receive()
                    .await
                    .unwrap_or_else(|e| panic!("connection closed: {e:?}"));
                if message["id"] == id {
                    break message;
                }
                self.pending.push_back(message);
            },
        };
        match message["type"].as_str() {
            Some("next" | "data") => Some(message["payload"].clone()),
            Some("complete") => None,
            // graphql-transport-ws reports errors that end a subscription so.
            Some("error") => Some(json!({ "errors": message["payload"] })),
            _ => panic!("unexpected message: {message}"),
        }
    }

    /// The next result's `data.<field>`, failing on errors.
    pub async fn data(&mut self, id: &str, field: &str) -> Value {
        let result = self
            .next(id)
            .await
            .unwrap_or_else(|| panic!("subscription {id} completed early"));
        assert!(
            result.get("errors").is_none_or(Value::is_null),
            "unexpected errors: {result}"
        );
        result["data"][field].clone()
    }

    /// The error code a subscription was refused with.
    pub async fn refused(&mut self, id: &str) -> String {
        let result = self
            .next(id)
            .await
            .unwrap_or_else(|| panic!("subscription {id} completed without an error"));
        result["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected a coded error, got {result}"))
            .to_string()
    }
}

/// The close code for a refusal, for readable asserts.
pub fn forbidden_close() -> u16 {
    u16::from(CloseCode::Library(4403))
}
