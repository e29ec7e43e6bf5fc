//! A call's transfers to a person. Cold: the carrier connects the caller at once and the agent
//! leaves. Warm: the person is called while the caller stays with the agent, told who is
//! calling and why, and only then joined to the caller; if they do not answer, decline or hang
//! up, the agent is told and goes on. Each transfer is kept on the call's record as it goes
//! (`call_transfers`) and told to live views.

use std::time::Duration;

use tokio::time::Instant;

use crate::domain::{Call, CallTransfer, Timestamp, TransferState, TransferTarget};
use crate::engine::Engine;
use crate::events::Event;
use crate::live::LegNews;
use crate::telephony::{CarrierError, Consult};

/// Beyond its ring time, how long a warm transfer waits for the person to have heard the
/// summary (the carrier's news of it may never come) before the agent is told it failed.
const HEARING_ALLOWANCE: Duration = Duration::from_secs(45);

/// What the bridge does next about a transfer.
#[derive(Debug)]
pub(super) enum Next {
    /// Nothing for the agent; a line for the transcript, if any.
    Goes(Option<String>),
    /// The caller is with the person: the bridge ends, the call goes on at the carrier.
    Transferred { line: String, reason: String },
    /// It did not happen: a transcript line, and a note for the agent, which goes on with the
    /// caller.
    Failed { line: String, note: String },
}

/// A warm transfer under way: the person is being called and told.
#[derive(Debug)]
pub(super) struct Warm {
    transfer: CallTransfer,
    answered: bool,
    /// Past this, the person is hung up on and the agent told nobody came.
    pub(super) deadline: Instant,
    ring_secs: u32,
}

fn begin(call: &Call, target: &TransferTarget, summary: String) -> CallTransfer {
    CallTransfer {
        id: uuid::Uuid::now_v7().to_string(),
        call_id: call.id.clone(),
        target: target.name.clone(),
        to: target.to.clone(),
        warm: target.warm,
        summary,
        leg_id: None,
        state: TransferState::Calling,
        detail: None,
        started_at: Timestamp::now(),
        ended_at: None,
    }
}

/// Records where `t` stands, then tells live views. Awaited: a transfer the carrier acted on is
/// on the record before the bridge goes on.
async fn save(engine: &Engine, t: &CallTransfer, new: bool) {
    let saved = if new {
        engine.store().insert_transfer(t).await
    } else {
        engine.store().update_transfer(t).await
    };
    if let Err(e) = saved {
        tracing::error!(call_id = %t.call_id, transfer = %t.id, error = %e, "a transfer was not recorded");
    }
    engine.events().publish(Event::CallTransfer {
        transfer: t.clone(),
    });
}

async fn finish(engine: &Engine, t: &mut CallTransfer, state: TransferState, detail: String) {
    t.state = state;
    t.detail = Some(detail);
    t.ended_at = Some(Timestamp::now());
    save(engine, t, false).await;
}

fn failed(t: &CallTransfer, why: &str) -> Next {
    Next::Failed {
        line: format!("transfer_call failed: {} ({}): {why}", t.target, t.to),
        note: format!(
            "The transfer to {} did not happen: {why}. Tell the caller, and help them another \
             way (offer to take a message).",
            t.target.replace('_', " ")
        ),
    }
}

/// A cold transfer: the carrier connects the caller to `target` now.
pub(super) async fn cold(engine: &Engine, call: &Call, target: &TransferTarget) -> Next {
    let mut t = begin(call, target, String::new());
    save(engine, &t, true).await;
    let done = match engine.carriers().get(call.carrier) {
        Ok(api) => api.transfer(call, &target.to).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(()) => {
            tracing::info!(call_id = %call.id, to = %target.to, "transferred");
            finish(engine, &mut t, TransferState::Connected, "connected".into()).await;
            Next::Transferred {
                line: format!("Transferred to {} ({}).", target.name, target.to),
                reason: format!("transferred to {} ({})", target.name, target.to),
            }
        }
        Err(e) => {
            tracing::warn!(call_id = %call.id, error = %e, "the transfer failed");
            let why = format!("the carrier refused it ({e})");
            finish(engine, &mut t, TransferState::Failed, why.clone()).await;
            failed(&t, &why)
        }
    }
}

/// The words the person hears before being joined: who is calling and why.
fn announcement(agent: &str, summary: &str) -> String {
    let summary = summary.trim();
    let summary = if summary.is_empty() {
        "They did not say what it is about."
    } else {
        summary
    };
    format!(
        "Hello, this is {agent}, the automated assistant, with a caller for you. {summary} Connecting you now."
    )
}

/// A warm transfer's first step: the person is called; the caller stays with the agent.
pub(super) async fn start_warm(
    engine: &Engine,
    call: &Call,
    target: &TransferTarget,
    agent_name: &str,
    summary: &str,
) -> Result<(Warm, String), Next> {
    let mut t = begin(call, target, announcement(agent_name, summary));
    save(engine, &t, true).await;
    let placed = match (engine.carriers().get(call.carrier), engine.public()) {
        (Err(e), _) => Err(e),
        (Ok(_), None) => Err(CarrierError::NoPublicUrl),
        (Ok(api), Some(public)) => {
            let consult = Consult {
                call,
                transfer_id: &t.id,
                to: &target.to,
                summary: &t.summary,
                ring_secs: target.ring_secs,
                public: &public,
            };
            api.call_person(&consult).await
        }
    };
    match placed {
        Ok(leg) => {
            tracing::info!(call_id = %call.id, to = %target.to, %leg, "calling a person for a warm transfer");
            t.leg_id = Some(leg);
            save(engine, &t, false).await;
            let line = format!(
                "Calling {} ({}) to hand the caller over…",
                target.name, target.to
            );
            let deadline =
                Instant::now() + Duration::from_secs(target.ring_secs.into()) + HEARING_ALLOWANCE;
            let warm = Warm {
                transfer: t,
                answered: false,
                deadline,
                ring_secs: target.ring_secs,
            };
            Ok((warm, line))
        }
        Err(e) => {
            tracing::warn!(call_id = %call.id, error = %e, "the person could not be called");
            let why = format!("they could not be called ({e})");
            finish(engine, &mut t, TransferState::Failed, why.clone()).await;
            Err(failed(&t, &why))
        }
    }
}

impl Warm {
    /// News of the person's call. After `Goes` the transfer is still under way; after the
    /// others it is over (the bridge drops it).
    pub(super) async fn news(&mut self, engine: &Engine, call: &Call, news: LegNews) -> Next {
        let t = &mut self.transfer;
        match news {
            LegNews::Answered => {
                self.answered = true;
                t.state = TransferState::Answered;
                save(engine, t, false).await;
                Next::Goes(Some(format!(
                    "{} answered; telling them who is calling.",
                    t.target
                )))
            }
            LegNews::Gone(why) => {
                finish(engine, t, TransferState::Failed, why.clone()).await;
                failed(t, &why)
            }
            LegNews::Ready => {
                let leg = t.leg_id.clone().unwrap_or_default();
                let joined = match engine.carriers().get(call.carrier) {
                    Ok(api) => api.join(call, &leg).await,
                    Err(e) => Err(e),
                };
                match joined {
                    Ok(()) => {
                        tracing::info!(call_id = %call.id, to = %t.to, "warm transfer connected");
                        finish(engine, t, TransferState::Connected, "connected".into()).await;
                        Next::Transferred {
                            line: format!(
                                "Transferred to {} ({}) after telling them who is calling.",
                                t.target, t.to
                            ),
                            reason: format!("warm transfer to {} ({})", t.target, t.to),
                        }
                    }
                    Err(e) => {
                        tracing::warn!(call_id = %call.id, error = %e, "the caller could not be joined");
                        drop_leg(engine, call, &leg, true).await;
                        let why = format!("the carrier would not connect them ({e})");
                        finish(engine, t, TransferState::Failed, why.clone()).await;
                        failed(t, &why)
                    }
                }
            }
        }
    }

    /// Whether news about `leg` is about this transfer (news of an older one is not).
    pub(super) fn concerns(&self, leg: &str) -> bool {
        self.transfer.leg_id.as_deref() == Some(leg)
    }

    /// The deadline passed without the person being ready: they are hung up on.
    pub(super) async fn timed_out(mut self, engine: &Engine, call: &Call) -> Next {
        let leg = self.transfer.leg_id.clone().unwrap_or_default();
        drop_leg(engine, call, &leg, self.answered).await;
        let why = if self.answered {
            "they did not finish hearing who is calling in time".to_owned()
        } else {
            format!("nobody answered within {} s", self.ring_secs)
        };
        finish(
            engine,
            &mut self.transfer,
            TransferState::Failed,
            why.clone(),
        )
        .await;
        failed(&self.transfer, &why)
    }

    /// The call ended while the person was being called: they are hung up on.
    pub(super) async fn abandon(mut self, engine: &Engine, call: &Call, why: &str) {
        let leg = self.transfer.leg_id.clone().unwrap_or_default();
        drop_leg(engine, call, &leg, self.answered).await;
        finish(
            engine,
            &mut self.transfer,
            TransferState::Failed,
            why.to_owned(),
        )
        .await;
    }
}

/// Hangs up a person's call that will not be joined; a failure is logged (the carrier's own
/// ring timeout still ends it).
pub(super) async fn drop_leg(engine: &Engine, call: &Call, leg: &str, answered: bool) {
    let dropped = match engine.carriers().get(call.carrier) {
        Ok(api) => api.drop_leg(leg, answered).await,
        Err(e) => Err(e),
    };
    if let Err(e) = dropped {
        tracing::warn!(call_id = %call.id, %leg, error = %e, "a transfer's call to a person was not hung up");
    }
}
