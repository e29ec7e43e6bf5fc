//! A carrier's recording of a call, kept like Switchboard's own: once the carrier says it is
//! ready (the call's `recording_url`, the row marked as waiting), its file is fetched through
//! the carrier's adapter into the recordings folder, measured, and becomes the call's
//! recording; the Calls page, retention and deletion then treat it as any other. A fetch that
//! keeps failing gives up, and the call keeps the carrier's URL. The waiting mark is a column
//! (`recording_fetch_pending`), so calls still waiting at start (the engine stopped mid-fetch)
//! are fetched then. A fetch is claimed for this node in a write before it starts, so of
//! several nodes on one database only one downloads each file (into its own data directory);
//! one whose node dies is taken over by the next look at the waiting rows, every few seconds.

use std::collections::HashSet;
use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::file::{self, FileError};
use crate::domain::Timestamp;
use crate::engine::Engine;
use crate::events::Event;

/// Waits before the second and third tries: a carrier may announce a file a moment before it
/// serves it (Twilio's media URLs can answer 404 briefly). Each try is itself retried on
/// network errors and 5xx (`telephony::rest`).
const RETRY_AFTER: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(3)];

/// The calls whose recording is being fetched: one fetch per call at a time.
type InFlight = Arc<Mutex<HashSet<String>>>;

/// How often the waiting rows are looked at unprompted: for a fetch whose node died while at
/// it, or one this node left without finishing it.
const LOOK_EVERY: Duration = Duration::from_secs(10);

/// Starts the fetcher: the calls still waiting are fetched now (the last stop interrupted
/// them), then each waiting call as it is reported. It listens to the calls' updates; a
/// missed one (the bus lagged) only delays a fetch until the next look at the waiting rows.
pub fn spawn(engine: Engine) {
    tokio::spawn(async move {
        let in_flight = InFlight::default();
        let mut events = engine.events().subscribe();
        let mut look = tokio::time::interval(LOOK_EVERY);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stopping = engine.stopping();
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                // The first tick is at once: the calls still waiting at start.
                _ = look.tick() => start_waiting(&engine, &in_flight).await,
                e = events.next() => match e.as_deref() {
                    None => return,
                    Some(Event::CallUpdated { call })
                        if call.recording_url.is_some() && call.recording.is_none() =>
                    {
                        start_waiting(&engine, &in_flight).await;
                    }
                    Some(Event::Lagged { .. }) => start_waiting(&engine, &in_flight).await,
                    Some(_) => {}
                },
                () = &mut stopping => return,
            }
        }
    });
}

/// Starts a fetch for each waiting call not being fetched already.
async fn start_waiting(engine: &Engine, in_flight: &InFlight) {
    let waiting = match engine
        .store()
        .pending_recording_fetches(Timestamp::now())
        .await
    {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "could not look for recordings waiting to be fetched");
            return;
        }
    };
    for call_id in waiting {
        if !in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(call_id.clone())
        {
            continue;
        }
        let (engine, in_flight) = (engine.clone(), in_flight.clone());
        tokio::spawn(async move {
            // A stop leaves the call waiting: the next start fetches it.
            tokio::select! {
                () = claim_and_fetch(&engine, &call_id) => {}
                () = engine.stopping() => {}
            }
            in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&call_id);
        });
    }
}

/// Fetches `call_id`'s recording once this node has claimed it (another may have first).
async fn claim_and_fetch(engine: &Engine, call_id: &str) {
    match engine
        .store()
        .claim_recording_fetch(call_id, Timestamp::now())
        .await
    {
        Ok(Some(url)) => fetch(engine, call_id, &url).await,
        Ok(None) => {}
        Err(e) => tracing::error!(%call_id, error = %e, "could not claim a recording's fetch"),
    }
}

async fn fetch(engine: &Engine, call_id: &str, url: &str) {
    let call = match engine.store().get_call(call_id).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(%call_id, error = %e, "no call for a carrier's recording");
            return;
        }
    };
    let mut last = String::new();
    for attempt in 0..=RETRY_AFTER.len() {
        if attempt > 0 {
            tokio::time::sleep(RETRY_AFTER[attempt - 1]).await;
        }
        let bytes = match engine.carriers().get(call.carrier) {
            Ok(carrier) => carrier.fetch_recording(url).await,
            Err(e) => Err(e),
        };
        match bytes {
            Ok(bytes) => match keep(engine, &call, bytes).await {
                Ok(()) => return,
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tracing::warn!(%call_id, attempt = attempt + 1, error = %last, "could not fetch the carrier's recording");
    }
    tracing::error!(%call_id, error = %last, "gave up fetching the carrier's recording; the call keeps its URL");
    if let Err(e) = engine.store().give_up_recording_fetch(call_id).await {
        tracing::error!(%call_id, error = %e, "could not note the recording fetch given up");
    }
}

#[derive(Debug, thiserror::Error)]
enum KeepError {
    #[error("the carrier's file is not a WAV recording: {0}")]
    NotWav(hound::Error),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Writes the file (whole, or not at all) and makes it the call's recording. Its start is the
/// call's answer: the carrier is asked to record as the call is bridged.
async fn keep(
    engine: &Engine,
    call: &crate::domain::Call,
    bytes: Vec<u8>,
) -> Result<(), KeepError> {
    let ms = {
        let reader = hound::WavReader::new(Cursor::new(&bytes)).map_err(KeepError::NotWav)?;
        u64::from(reader.duration()) * 1000 / u64::from(reader.spec().sample_rate.max(1))
    };
    let name = file::name_for(&call.id);
    let path = file::path_for(engine.data_dir(), &name);
    let written = path.clone();
    file::blocking(move || write_whole(&written, &bytes)).await?;
    let started = call.answered_at.unwrap_or_else(Timestamp::now);
    if engine
        .store()
        .keep_carrier_recording(&call.id, &name, started, ms)
        .await?
    {
        tracing::info!(call_id = %call.id, ms, "kept the carrier's recording");
        if let Ok(call) = engine.store().get_call(&call.id).await {
            engine.events().publish(Event::CallUpdated { call });
        }
    } else {
        // Deleted meanwhile, or recorded by Switchboard too (whose file has this name: it
        // must not be removed).
        tracing::info!(call_id = %call.id, "the carrier's recording is not needed any more");
        if engine
            .store()
            .recording_file(&call.id)
            .await
            .ok()
            .flatten()
            .is_none()
        {
            let _ = tokio::fs::remove_file(&path).await;
        }
    }
    Ok(())
}

/// Writes beside the final name and renames: a crash never leaves half a file under it.
fn write_whole(path: &std::path::Path, bytes: &[u8]) -> Result<(), FileError> {
    let io = |source| FileError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let part = path.with_extension("wav.part");
    std::fs::write(&part, bytes).map_err(io)?;
    std::fs::rename(&part, path).map_err(io)
}
