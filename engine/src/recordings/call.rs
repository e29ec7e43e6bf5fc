//! Recording one call while the bridge runs it. The bridge feeds the `Recorder` (pure, in its
//! own task, no lock); each second of laid-down audio goes over a bounded channel to a writer
//! task that appends it to the file on a blocking thread. The bridge never waits on the disk:
//! should the writer fall 30 s behind, chunks are dropped and counted, and the call goes on.

use std::path::PathBuf;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::file::{self, WavFile};
use crate::domain::{Call, Timestamp};
use crate::engine::Engine;
use crate::media::frame::TELEPHONY_RATE;
use crate::media::record::Recorder;

/// A second of audio per chunk: the most a crash can cost.
const CHUNK_FRAMES: usize = TELEPHONY_RATE as usize;
/// Chunks the writer may fall behind by.
const QUEUE_CHUNKS: usize = 30;

pub struct CallRecording {
    call_id: String,
    recorder: Recorder,
    chunks: mpsc::Sender<Vec<i16>>,
    writer: JoinHandle<Option<u64>>,
    lost_chunks: u64,
}

impl CallRecording {
    /// Starts recording `call` (its file created, its row told). A failure is logged and the
    /// call goes on unrecorded.
    pub async fn start(engine: &Engine, call: &Call) -> Option<Self> {
        let name = file::name_for(&call.id);
        let path = file::path_for(engine.data_dir(), &name);
        let wav = {
            let path = path.clone();
            match file::blocking(move || WavFile::create(&path)).await {
                Ok(w) => w,
                Err(e) => {
                    tracing::error!(call_id = %call.id, error = %e, "could not start the call's recording");
                    return None;
                }
            }
        };
        if let Err(e) = engine
            .store()
            .start_recording(&call.id, &name, Timestamp::now())
            .await
        {
            tracing::error!(call_id = %call.id, error = %e, "could not note the call's recording; not recording");
            let _ = tokio::fs::remove_file(&path).await;
            return None;
        }
        let (chunks, queue) = mpsc::channel(QUEUE_CHUNKS);
        let writer = tokio::spawn(write(call.id.clone(), path, wav, queue));
        Some(Self {
            call_id: call.id.clone(),
            recorder: Recorder::new(),
            chunks,
            writer,
            lost_chunks: 0,
        })
    }

    /// Caller audio, as it arrived (G.711 mu-law): the recording's clock.
    pub fn caller(&mut self, mulaw: &[u8]) {
        self.recorder.caller(mulaw);
        if self.recorder.pending_frames() >= CHUNK_FRAMES {
            let chunk = self.recorder.take();
            if self.chunks.try_send(chunk).is_err() {
                self.lost_chunks += 1;
                if self.lost_chunks == 1 {
                    tracing::error!(call_id = %self.call_id, "the recording's writer fell behind; a second of it was lost");
                }
            }
        }
    }

    /// Audio given to the carrier for the caller (the agent's, or an operator's).
    pub fn agent(&mut self, mulaw: &[u8], new_item: bool) {
        self.recorder.agent(mulaw, new_item);
    }

    /// A barge-in: the current reply was heard for `heard_ms`.
    pub fn cut(&mut self, heard_ms: u64) {
        self.recorder.cut(heard_ms);
    }

    /// Writes the rest and closes the file; the call's row gets the recording's length.
    pub async fn finish(mut self, engine: &Engine) {
        let rest = self.recorder.take();
        if !rest.is_empty() && self.chunks.send(rest).await.is_err() {
            self.lost_chunks += 1;
        }
        drop(self.chunks);
        let duration = self.writer.await.ok().flatten();
        if self.lost_chunks > 0 || self.recorder.agent_dropped() > 0 {
            tracing::warn!(
                call_id = %self.call_id,
                lost_secs = self.lost_chunks,
                agent_samples_dropped = self.recorder.agent_dropped(),
                "the recording is missing parts"
            );
        }
        let Some(ms) = duration else { return };
        if let Err(e) = engine.store().finish_recording(&self.call_id, ms).await {
            tracing::error!(call_id = %self.call_id, error = %e, "could not note the recording's length");
        }
    }
}

/// The writer task: appends each chunk on a blocking thread. Returns the file's length, or
/// `None` when it could not be completed (the row keeps no length; the start-up repair
/// measures what there is).
async fn write(
    call_id: String,
    path: PathBuf,
    mut wav: WavFile,
    mut queue: mpsc::Receiver<Vec<i16>>,
) -> Option<u64> {
    while let Some(chunk) = queue.recv().await {
        match file::blocking(move || {
            wav.append(&chunk)?;
            Ok(wav)
        })
        .await
        {
            Ok(w) => wav = w,
            Err(e) => {
                tracing::error!(call_id = %call_id, error = %e, "the recording stopped");
                return measured(path).await;
            }
        }
    }
    match file::blocking(move || wav.finish()).await {
        Ok(ms) => Some(ms),
        Err(e) => {
            tracing::error!(call_id = %call_id, error = %e, "the recording could not be completed");
            measured(path).await
        }
    }
}

/// The length of what a failed writer left, made playable.
async fn measured(path: PathBuf) -> Option<u64> {
    match file::blocking(move || file::repair(&path)).await {
        Ok(ms) => Some(ms),
        Err(e) => {
            tracing::error!(error = %e, "a recording could not be repaired");
            None
        }
    }
}
