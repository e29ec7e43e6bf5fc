//! `/api/calls/{id}/audio`: listen in on a live call from a browser. The call's tap (both
//! sides mixed) streams as binary WebSocket messages, each 20 ms of 16-bit little-endian mono
//! PCM at 8 kHz, for the UI to play with Web Audio. Costs the call nothing when nobody listens.
//! A page of another origin is refused: call audio is the most private thing the engine has.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::carriers::local::listen::{self, ListenError, ListenInput, Listening};
use base64::Engine as _;

use crate::domain::Timestamp;
use crate::engine::Engine;
use crate::live::Notice;
use crate::media::tap::Listener;
use crate::store::Conflict;
use crate::store::relay::{AUDIO_END, audio_channel};
use crate::web::{ApiError, ApiResult, ErrorBody, ErrorCode, Json};

/// Streams a live call's audio, caller and agent mixed: binary messages of 20 ms of 16-bit
/// little-endian mono PCM at 8000 Hz. Browsers pass the token as `?access_token=`.
#[utoipa::path(operation_id = "listen_to_call", get, path = "/api/calls/{id}/audio", tag = "calls",
    params(("id" = String, Path)),
    responses(
        (status = 101, description = "Switching to a WebSocket of 16-bit LE mono PCM at 8000 Hz, 20 ms a message"),
        (status = 403, body = ErrorBody, description = "A page of another origin"),
        (status = 404, body = ErrorBody, description = "No such call"),
        (status = 409, body = ErrorBody, description = "The call is not live"),
        (status = 426, body = ErrorBody, description = "Not a WebSocket request"),
    ))]
pub async fn audio(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let call = engine.store().get_call(&id).await?;
    let live = engine
        .live_calls()
        .get(&id)
        .filter(|_| call.ended_at.is_none());
    if let Some(live) = live {
        let ws = super::events::websocket(ws)?;
        let listener = live.tap.listen();
        return Ok(ws.on_upgrade(move |socket| pump(engine, listener, socket)));
    }
    // Its session may run on another node sharing the database: that node sends the audio.
    let store = engine.store();
    if call.ended_at.is_none() && store.held_elsewhere(&id, Timestamp::now()).await? {
        let listen_id = uuid::Uuid::now_v7().simple().to_string();
        if let Some(heard) = store.listen_alone(&audio_channel(&listen_id)).await? {
            let ws = super::events::websocket(ws)?;
            return Ok(
                ws.on_upgrade(move |socket| pump_from_node(engine, id, listen_id, heard, socket))
            );
        }
    }
    Err(crate::store::StoreError::from(Conflict::CallEnded(id)).into())
}

/// How often a listen-in through another node is renewed there.
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// `pump` for a call another node holds: its audio arrives as notifications of 100 ms.
async fn pump_from_node(
    engine: Engine,
    call_id: String,
    listen_id: String,
    mut heard: crate::store::relay::Listener,
    mut socket: WebSocket,
) {
    let ask = || Notice::Listen {
        call_id: call_id.clone(),
        listen_id: listen_id.clone(),
    };
    engine.notices().tell(ask());
    let mut renew = tokio::time::interval(RENEW_EVERY);
    renew.tick().await;
    loop {
        tokio::select! {
            () = engine.stopping() => break,
            _ = renew.tick() => engine.notices().tell(ask()),
            got = heard.next() => match got {
                Ok(Some((_, payload))) if payload == AUDIO_END => break,
                Ok(Some((_, payload))) => {
                    let Ok(pcm) = base64::engine::general_purpose::STANDARD.decode(payload) else {
                        continue;
                    };
                    // 20 ms a message, as a local listen-in sends.
                    for frame in pcm.chunks(320) {
                        if socket.send(Message::Binary(frame.to_vec().into())).await.is_err() {
                            engine.notices().tell(Notice::Unlisten { listen_id });
                            return;
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "a listen-in through another node broke off");
                    break;
                }
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    engine.notices().tell(Notice::Unlisten { listen_id });
                    return;
                }
                Some(Ok(_)) => {}
            },
        }
    }
    engine.notices().tell(Notice::Unlisten { listen_id });
    let _ = socket.send(Message::Close(None)).await;
}

async fn pump(engine: Engine, listener: Listener, mut socket: WebSocket) {
    let mut bytes = Vec::with_capacity(320);
    loop {
        tokio::select! {
            () = engine.stopping() => break,
            frame = listener.recv() => {
                // None: the call ended.
                let Some(frame) = frame else { break };
                bytes.clear();
                bytes.extend(frame.data().iter().flat_map(|s| s.to_le_bytes()));
                if socket.send(Message::Binary(bytes.clone().into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

impl From<ListenError> for ApiError {
    fn from(e: ListenError) -> Self {
        match e {
            ListenError::Store(e) => e.into(),
            ListenError::Audio(e) => e.into(),
            ListenError::BadVolume => crate::domain::Invalid::new("volume", e.to_string()).into(),
            ListenError::MicrophoneBusy(_) | ListenError::NotListening(_) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, e.to_string())
            }
        }
    }
}

/// Which call plays through this computer's speakers, if any, and how loud.
#[utoipa::path(operation_id = "get_listening", get, path = "/api/listen", tag = "calls",
    responses((status = 200, body = Listening)))]
pub async fn get_listening() -> axum::Json<Listening> {
    axum::Json(listen::current())
}

/// Plays a live call, caller and agent mixed, through the speaker chosen in Settings (one call
/// at a time: another call switches at once); `call_id: null` stops. The agent's audio is
/// heard as the caller heard it.
#[utoipa::path(operation_id = "put_listening", put, path = "/api/listen", tag = "calls",
    request_body = ListenInput,
    responses(
        (status = 200, body = Listening),
        (status = 404, body = ErrorBody, description = "No such call"),
        (status = 409, body = ErrorBody, description = "The call is not live, or the chosen speaker is not there now"),
        (status = 422, body = ErrorBody, description = "Volume out of range"),
        (status = 503, body = ErrorBody, description = "No sound server, or the speaker failed"),
    ))]
pub async fn put_listening(
    State(engine): State<Engine>,
    Json(input): Json<ListenInput>,
) -> ApiResult<axum::Json<Listening>> {
    Ok(axum::Json(listen::listen(&engine, input).await?))
}

/// Takes over a call being listened to here: this computer's microphone (echo-cancelled per
/// Settings) goes to the caller; the agent stops speaking and answering, and keeps hearing
/// the caller. The operator's words are transcribed (speaker `operator`).
#[utoipa::path(operation_id = "take_over_call", post, path = "/api/calls/{id}/take-over", tag = "calls",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = Listening),
        (status = 404, body = ErrorBody, description = "No such call"),
        (status = 409, body = ErrorBody, description = "The call is not live or not being listened to here, the microphone is in use, or the chosen microphone or speaker is not there now (code audio_unavailable)"),
        (status = 422, body = ErrorBody, description = "A test call (already on this computer's microphone)"),
        (status = 503, body = ErrorBody, description = "No sound server, or a device failed"),
    ))]
pub async fn take_over(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Listening>> {
    Ok(axum::Json(listen::take_over(&engine, &id).await?))
}

/// Hands a call taken over back to its agent, which is told what was said meanwhile and
/// answers next; listening goes on through the speaker.
#[utoipa::path(operation_id = "hand_back_call", post, path = "/api/calls/{id}/hand-back", tag = "calls",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = Listening),
        (status = 404, body = ErrorBody, description = "No such call"),
        (status = 409, body = ErrorBody, description = "The call is not live"),
    ))]
pub async fn hand_back(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Listening>> {
    Ok(axum::Json(listen::hand_back(&engine, &id).await?))
}
