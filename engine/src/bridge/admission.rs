//! Who may be bridged: a carrier's media stream names a call (and maybe its agent); it is
//! bridged only if that call is live, is that carrier's, carries that carrier id and that
//! agent. Anything else is closed with the reason, so a replayed or forged stream cannot
//! reach an agent.

use crate::domain::Carrier;
use crate::engine::Engine;
use crate::live::{Control, NewStream};
use crate::media::MediaSession;

/// The stream names a call; bridge it if the call is a live one of this carrier's, with this
/// carrier id (and this agent, when the stream says), else close it saying why. A stream that
/// `resumes` a call whose bridge runs (the carrier restarted it after playing keys) is handed
/// to that bridge instead.
pub async fn admit<C: MediaSession + 'static>(
    engine: Engine,
    carrier: Carrier,
    call_id: &str,
    carrier_call_id: &str,
    agent_id: Option<&str>,
    resumes: bool,
    media: C,
) {
    let refuse = |why: String| {
        tracing::warn!(carrier = carrier.as_str(), %call_id, reason = %why, "media stream refused");
        why
    };
    let call = match engine.store().get_call(call_id).await {
        Ok(c) => c,
        Err(e) => {
            let why = refuse(format!("unknown call: {e}"));
            return media.close(&why).await;
        }
    };
    let why = if call.carrier != carrier || call.carrier_call_id.as_deref() != Some(carrier_call_id)
    {
        Some("the stream's carrier call does not match the call".to_owned())
    } else if call.ended_at.is_some() {
        Some("the call has ended".to_owned())
    } else if agent_id.is_some() && agent_id != call.agent_id.as_deref() {
        Some("the stream's agent is not the call's agent".to_owned())
    } else {
        None
    };
    if let Some(why) = why {
        let why = refuse(why);
        return media.close(&why).await;
    }
    if resumes {
        let Some(live) = engine.live_calls().get(call_id) else {
            let why = refuse("no session of the call to resume".into());
            return media.close(&why).await;
        };
        // Dropped (closed) by the bridge if it was not waiting for it.
        if !live.send(Control::Resume(NewStream(Box::new(media)))) {
            tracing::warn!(%call_id, "the call's session could not take its resumed stream");
        }
        return;
    }
    let Some(agent_id) = call.agent_id.clone() else {
        let why = refuse("the call has no agent".into());
        return media.close(&why).await;
    };
    match engine.store().get_agent(&agent_id).await {
        Ok(agent) => super::run(engine, call, agent, media).await,
        Err(e) => {
            let why = refuse(format!("unknown agent: {e}"));
            media.close(&why).await
        }
    }
}
