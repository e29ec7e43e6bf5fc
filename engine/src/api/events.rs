//! `/api/events`: the event bus as a WebSocket of JSON text messages, one event each.

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::Response;

use crate::engine::Engine;
use crate::web::{ApiError, ApiResult, ErrorBody, ErrorCode};

/// Upgrades to a WebSocket streaming every engine event as JSON (see the `Event` schema).
/// Browsers may pass the token as `?access_token=`.
#[utoipa::path(operation_id = "events", get, path = "/api/events", tag = "events",
    responses(
        (status = 101, description = "Switching to a WebSocket of `Event` JSON messages"),
        (status = 426, body = ErrorBody, description = "Not a WebSocket request"),
    ))]
pub async fn stream(
    State(engine): State<Engine>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    Ok(websocket(ws)?.on_upgrade(move |socket| pump(engine, socket)))
}

/// The upgrade, or 426 saying to connect with a WebSocket client (the API's WebSocket routes).
pub(super) fn websocket(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<WebSocketUpgrade> {
    ws.map_err(|e| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            ErrorCode::Malformed,
            format!("connect with a WebSocket client ({})", e.body_text()),
        )
    })
}

async fn pump(engine: Engine, mut socket: WebSocket) {
    let mut events = engine.events().subscribe();
    loop {
        tokio::select! {
            () = engine.stopping() => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
            event = events.next() => {
                let Some(event) = event else { break };
                let text = event.to_json();
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                // The stream is one-way; pings are answered by axum, anything else is ignored.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
}
