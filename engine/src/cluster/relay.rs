//! The nodes tell each other what happened (live events, for every node's `/api/events`) and
//! ask each other for what only the holder of a live call can do (`Notice`s), over
//! PostgreSQL's LISTEN/NOTIFY. Events are packed several to a notification; one too big for a
//! notification goes as a `relayed_events` row and its number.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::domain::Timestamp;
use crate::engine::Engine;
use crate::events::Event;
use crate::live::{Control, Notice};
use crate::store::relay::{AUDIO_END, MAX_NOTIFICATION, audio_channel};

/// A listen-in through another node stops when that node has not renewed it for this long
/// (it renews every few seconds while its listener is there).
const LISTEN_LAPSES_AFTER: Duration = Duration::from_secs(30);
/// Audio goes in notifications of this many bytes of PCM (100 ms).
const AUDIO_CHUNK: usize = 1_600;

/// The listen-ins this node streams to other nodes, by id, and when each was last renewed.
type Listens = Arc<Mutex<HashMap<String, Instant>>>;

const EVENTS: &str = "sb_events";
const NOTICES: &str = "sb_notices";
/// How long a call's bridge may take to come up when another node asks something of it.
const BRIDGE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// Events taken at once before they are sent (the rest wait for the next round).
const MAX_BATCH: usize = 512;

/// One notification on `EVENTS`: a node's events, in the order it published them.
#[derive(Serialize, Deserialize)]
struct Batch {
    from: String,
    /// The events themselves, as `/api/events` sends them.
    #[serde(default)]
    events: Vec<Box<RawValue>>,
    /// Or, for one too big to travel here, its `relayed_events` row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stored: Option<i64>,
}

/// One notification on `NOTICES`.
#[derive(Serialize, Deserialize)]
struct Envelope {
    from: String,
    notice: Notice,
}

/// Starts relaying, when there are other nodes to relay to (PostgreSQL).
pub async fn start(engine: &Engine) {
    let listener = match engine.store().listen(&[EVENTS, NOTICES]).await {
        Ok(Some(l)) => l,
        Ok(None) => return, // SQLite: one node
        Err(e) => {
            tracing::error!(error = %e, "cannot listen to the other nodes; live views show this node only");
            return;
        }
    };
    tokio::spawn(send_events(engine.clone()));
    if let Some(notices) = engine.notices().take() {
        tokio::spawn(send_notices(engine.clone(), notices));
    }
    tokio::spawn(receive(engine.clone(), listener));
}

async fn send_events(engine: Engine) {
    let me = engine.store().node_id().to_owned();
    let mut events = engine.events().subscribe();
    let mut batch: Vec<String> = Vec::new();
    loop {
        let first = tokio::select! {
            e = events.next() => e,
            () = engine.stopping() => return,
        };
        let Some(first) = first else { return };
        // Whatever queued meanwhile goes in the same notifications.
        let mut next = Some(first);
        while let Some(event) = next.take() {
            match &*event {
                Event::Relayed { .. } | Event::Lagged { .. } => {}
                e => batch.push(e.to_json()),
            }
            if batch.len() < MAX_BATCH {
                next = events.try_next();
            }
        }
        for payload in pack(&me, std::mem::take(&mut batch)) {
            let payload = match payload {
                Packed::Notification(p) => p,
                Packed::TooBig(json) => {
                    match engine.store().put_relayed(json, Timestamp::now()).await {
                        Ok(seq) => serde_json::to_string(&Batch {
                            from: me.clone(),
                            events: Vec::new(),
                            stored: Some(seq),
                        })
                        .expect("a batch serialises"),
                        Err(e) => {
                            tracing::warn!(error = %e, "an event was not relayed to the other nodes");
                            continue;
                        }
                    }
                }
            };
            if let Err(e) = engine.store().notify(EVENTS, &payload).await {
                tracing::warn!(error = %e, "events were not relayed to the other nodes");
            }
        }
    }
}

enum Packed {
    Notification(String),
    TooBig(String),
}

/// Events packed into as few notifications as fit, in order.
fn pack(me: &str, events: Vec<String>) -> Vec<Packed> {
    let head = format!("{{\"from\":{},\"events\":[", serde_json::json!(me));
    let mut out = Vec::new();
    let mut current = head.clone();
    let flush = |current: &mut String, out: &mut Vec<Packed>| {
        if current.len() > head.len() {
            current.push_str("]}");
            out.push(Packed::Notification(std::mem::replace(
                current,
                head.clone(),
            )));
        }
    };
    for json in events {
        if head.len() + json.len() + 2 > MAX_NOTIFICATION {
            flush(&mut current, &mut out);
            out.push(Packed::TooBig(json));
            continue;
        }
        if current.len() + json.len() + 3 > MAX_NOTIFICATION {
            flush(&mut current, &mut out);
        }
        if current.len() > head.len() {
            current.push(',');
        }
        current.push_str(&json);
    }
    flush(&mut current, &mut out);
    out
}

async fn send_notices(engine: Engine, mut notices: tokio::sync::mpsc::UnboundedReceiver<Notice>) {
    let me = engine.store().node_id().to_owned();
    loop {
        let notice = tokio::select! {
            n = notices.recv() => n,
            () = engine.stopping() => return,
        };
        let Some(notice) = notice else { return };
        let payload = serde_json::to_string(&Envelope {
            from: me.clone(),
            notice,
        })
        .expect("a notice serialises");
        if let Err(e) = engine.store().notify(NOTICES, &payload).await {
            tracing::warn!(error = %e, "a notice was not passed on to the other nodes");
        }
    }
}

async fn receive(engine: Engine, mut listener: crate::store::relay::Listener) {
    let me = engine.store().node_id().to_owned();
    let listens = Listens::default();
    loop {
        let got = tokio::select! {
            n = listener.next() => n,
            () = engine.stopping() => return,
        };
        match got {
            Ok(Some((channel, payload))) if channel == EVENTS => {
                on_events(&engine, &me, &payload).await;
            }
            Ok(Some((_, payload))) => match serde_json::from_str::<Envelope>(&payload) {
                Ok(envelope) if envelope.from != me => {
                    on_notice(&engine, &listens, envelope.notice).await;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "an unreadable notice from another node"),
            },
            Ok(None) => {
                // The connection was lost and taken again: views may have missed events,
                // as a subscriber that lags does.
                engine.events().publish(Event::Lagged { missed: 0 });
            }
            Err(e) => {
                tracing::warn!(error = %e, "listening to the other nodes failed; trying again");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

async fn on_events(engine: &Engine, me: &str, payload: &str) {
    let batch: Batch = match serde_json::from_str(payload) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable events from another node");
            return;
        }
    };
    if batch.from == me {
        return;
    }
    let mut events: Vec<String> = batch
        .events
        .into_iter()
        .map(|e| e.get().to_owned())
        .collect();
    if let Some(seq) = batch.stored {
        match engine.store().relayed(seq).await {
            Ok(Some(json)) => events.push(json),
            Ok(None) => tracing::warn!(seq, "a relayed event was gone before it was read"),
            Err(e) => tracing::warn!(error = %e, "cannot read a relayed event"),
        }
    }
    for json in events {
        // Settings are read once and kept; another node's change must reach this one's copy.
        if json.starts_with("{\"type\":\"settings_changed\"")
            && let Err(e) = engine.settings().reload().await
        {
            tracing::warn!(error = %e, "cannot read the settings another node changed");
        }
        engine.events().publish(Event::Relayed {
            json: Arc::from(json),
        });
    }
}

/// Does what another node asked, for what this node holds (others ignore it).
async fn on_notice(engine: &Engine, listens: &Listens, notice: Notice) {
    match notice {
        Notice::Listen { call_id, listen_id } => {
            let Some(live) = engine.live_calls().get(&call_id) else {
                return;
            };
            let fresh = {
                let mut all = listens.lock().unwrap_or_else(|e| e.into_inner());
                all.insert(listen_id.clone(), Instant::now()).is_none()
            };
            if fresh {
                let tap = live.tap.listen();
                tokio::spawn(stream_audio(
                    engine.clone(),
                    listens.clone(),
                    listen_id,
                    tap,
                ));
            }
        }
        Notice::Unlisten { listen_id } => {
            listens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&listen_id);
        }
        Notice::CallInstructions { call_id } => {
            if engine.live_calls().get(&call_id).is_some()
                && let Ok(call) = engine.store().get_call(&call_id).await
            {
                crate::calls::context::push_call_instructions_here(engine, &call).await;
            }
        }
        Notice::AgentInstructions { agent_id } => {
            if let Ok(agent) = engine.store().get_agent(&agent_id).await {
                crate::calls::context::push_agent_instructions_here(engine, &agent).await;
            }
        }
        Notice::HangUp { call_id, reason } => {
            held(engine, &call_id, Control::HangUp { reason }).await;
        }
        Notice::LeaveMessage { call_id, message } => {
            held(engine, &call_id, Control::LeaveMessage { message }).await;
        }
    }
}

/// Streams a call's tap to a listener on another node, 100 ms to a notification, until the
/// call ends (then says so), the listener goes, or its renewals stop.
async fn stream_audio(
    engine: Engine,
    listens: Listens,
    listen_id: String,
    tap: crate::media::tap::Listener,
) {
    let channel = audio_channel(&listen_id);
    let wanted = || {
        listens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&listen_id)
            .is_some_and(|renewed| renewed.elapsed() < LISTEN_LAPSES_AFTER)
    };
    let mut pcm: Vec<u8> = Vec::with_capacity(AUDIO_CHUNK);
    while wanted() {
        let frame = tokio::select! {
            f = tap.recv() => f,
            () = tokio::time::sleep(Duration::from_secs(1)) => continue,
            () = engine.stopping() => None,
        };
        let Some(frame) = frame else {
            let _ = engine.store().notify(&channel, AUDIO_END).await;
            break;
        };
        pcm.extend(frame.data().iter().flat_map(|s| s.to_le_bytes()));
        if pcm.len() >= AUDIO_CHUNK {
            let text = base64::engine::general_purpose::STANDARD.encode(&pcm);
            pcm.clear();
            if let Err(e) = engine.store().notify(&channel, &text).await {
                tracing::warn!(error = %e, "a listen-in's audio was not sent");
            }
        }
    }
    listens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&listen_id);
}

/// Hands `control` to a call this node holds, giving its bridge a moment to come up (the
/// request can beat the media stream); a call whose bridge never came is hung up at the
/// carrier. A call held by no node here is none of this node's business.
async fn held(engine: &Engine, call_id: &str, control: Control) {
    let Ok(call) = engine.store().get_call(call_id).await else {
        return;
    };
    let mine = engine
        .store()
        .call_node(call_id)
        .await
        .is_ok_and(|n| n.as_deref() == Some(engine.store().node_id()));
    if !mine {
        return;
    }
    let until = tokio::time::Instant::now() + BRIDGE_GRACE;
    loop {
        if let Some(live) = engine.live_calls().get(call_id) {
            live.send(control);
            return;
        }
        if tokio::time::Instant::now() >= until || call.ended_at.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if let Err(e) = crate::calls::hang_up::at_carrier(engine, &call).await {
        tracing::warn!(%call_id, error = %e, "could not hang up a call another node asked to end");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_packed_in_order_into_notifications_that_fit() {
        let small: Vec<String> = (0..300)
            .map(|i| {
                format!(
                    "{{\"type\":\"x\",\"n\":{i},\"pad\":\"{}\"}}",
                    "a".repeat(40)
                )
            })
            .collect();
        let big = format!("{{\"type\":\"y\",\"text\":\"{}\"}}", "b".repeat(9_000));
        let mut all = small.clone();
        all.insert(150, big.clone());
        let packed = pack("node-1", all);
        let mut seen = Vec::new();
        for p in &packed {
            match p {
                Packed::Notification(n) => {
                    assert!(n.len() <= MAX_NOTIFICATION, "{}", n.len());
                    let b: Batch = serde_json::from_str(n).unwrap();
                    assert_eq!(b.from, "node-1");
                    seen.extend(b.events.iter().map(|e| e.get().to_owned()));
                }
                Packed::TooBig(json) => seen.push(json.clone()),
            }
        }
        let mut expected = small;
        expected.insert(150, big);
        assert_eq!(seen, expected, "every event, once, in order");
        assert!(packed.len() < 10, "several to a notification");
    }
}
