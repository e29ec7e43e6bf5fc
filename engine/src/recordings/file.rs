//! A recording's file: stereo 16-bit WAV at 8 kHz, written with `hound`. Each chunk written is
//! followed by a flush that rewrites the header's lengths, so a crash leaves a file that plays
//! up to the last chunk (a second at most is lost); `repair` trims what came after it.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::media::frame::TELEPHONY_RATE;

/// The folder of recordings inside the data directory.
pub const DIR: &str = "recordings";

const SPEC: hound::WavSpec = hound::WavSpec {
    channels: 2,
    sample_rate: TELEPHONY_RATE,
    bits_per_sample: 16,
    sample_format: hound::SampleFormat::Int,
};
/// hound writes plain PCM with a 16-byte `fmt ` chunk for this spec: the data's length is
/// the header's last field.
const HEADER_LEN: u64 = 44;
const BYTES_PER_FRAME: u64 = 4;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Wav { path: PathBuf, source: hound::Error },
    /// The blocking task doing the work panicked or was cancelled.
    #[error("the recording's writer stopped: {0}")]
    Stopped(#[from] tokio::task::JoinError),
}

/// Runs file work on a blocking thread.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, FileError> + Send + 'static,
) -> Result<T, FileError> {
    tokio::task::spawn_blocking(work).await?
}

/// The path of `call_id`'s recording in `data_dir`, and the name the call's row keeps.
pub fn path_for(data_dir: &Path, file: &str) -> PathBuf {
    data_dir.join(DIR).join(file)
}

pub fn name_for(call_id: &str) -> String {
    format!("{call_id}.wav")
}

/// A recording being written.
pub struct WavFile {
    path: PathBuf,
    writer: hound::WavWriter<BufWriter<File>>,
}

impl WavFile {
    /// Creates the file (and the recordings folder); an existing file is replaced.
    pub fn create(path: &Path) -> Result<Self, FileError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| FileError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let writer = hound::WavWriter::create(path, SPEC).map_err(|source| FileError::Wav {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            writer,
        })
    }

    /// Appends interleaved stereo samples and makes the file valid up to them.
    pub fn append(&mut self, interleaved: &[i16]) -> Result<(), FileError> {
        // A chunk is about a second of audio: far below u32's range.
        let count = u32::try_from(interleaved.len()).unwrap_or(u32::MAX) & !1;
        let mut samples = self.writer.get_i16_writer(count);
        for &s in &interleaved[..count as usize] {
            samples.write_sample(s);
        }
        samples
            .flush()
            .and_then(|()| self.writer.flush())
            .map_err(|source| FileError::Wav {
                path: self.path.clone(),
                source,
            })
    }

    /// Completes the file; returns its length in milliseconds.
    pub fn finish(self) -> Result<u64, FileError> {
        let frames = u64::from(self.writer.duration());
        self.writer.finalize().map_err(|source| FileError::Wav {
            path: self.path.clone(),
            source,
        })?;
        Ok(frames_ms(frames))
    }
}

fn frames_ms(frames: u64) -> u64 {
    frames * 1000 / u64::from(TELEPHONY_RATE)
}

/// Makes a file cut short by a crash whole: what follows the data the header counts (written
/// after the last flush) is trimmed. Returns the recording's length in milliseconds.
pub fn repair(path: &Path) -> Result<u64, FileError> {
    let io = |source| FileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    let mut header = [0u8; HEADER_LEN as usize];
    file.read_exact(&mut header).map_err(io)?;
    let counted = u64::from(u32::from_le_bytes([
        header[40], header[41], header[42], header[43],
    ]));
    let on_disk = file.metadata().map_err(io)?.len() - HEADER_LEN;
    // Whole frames only: a crash may cut one in half.
    let data = counted.min(on_disk) / BYTES_PER_FRAME * BYTES_PER_FRAME;
    file.set_len(HEADER_LEN + data).map_err(io)?;
    if data != counted {
        // The header promised more than the disk holds: its two lengths (the RIFF chunk's,
        // which counts the rest of the header, and the data chunk's) are made to match.
        let data32 = u32::try_from(data).unwrap_or(u32::MAX);
        file.seek(SeekFrom::Start(4)).map_err(io)?;
        file.write_all(&(data32 + 36).to_le_bytes()).map_err(io)?;
        file.seek(SeekFrom::Start(40)).map_err(io)?;
        file.write_all(&data32.to_le_bytes()).map_err(io)?;
    }
    file.sync_all().map_err(io)?;
    drop(file);
    let reader = hound::WavReader::open(path).map_err(|source| FileError::Wav {
        path: path.to_owned(),
        source,
    })?;
    Ok(frames_ms(u64::from(reader.duration())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stereo(frames: usize, left: i16, right: i16) -> Vec<i16> {
        (0..frames).flat_map(|_| [left, right]).collect()
    }

    #[test]
    fn a_finished_file_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), &name_for("c1"));
        let mut f = WavFile::create(&path).unwrap();
        f.append(&stereo(8000, 100, -100)).unwrap();
        f.append(&stereo(4000, 7, 9)).unwrap();
        assert_eq!(f.finish().unwrap(), 1500);
        let mut r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.spec(), SPEC);
        let samples: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(samples.len(), 24_000);
        assert_eq!(&samples[..2], &[100, -100]);
        assert_eq!(&samples[23_998..], &[7, 9]);
    }

    #[test]
    fn a_file_cut_by_a_crash_plays_up_to_its_last_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), &name_for("c2"));
        let mut f = WavFile::create(&path).unwrap();
        f.append(&stereo(8000, 1000, 0)).unwrap();
        f.append(&stereo(8000, 2000, 0)).unwrap();
        // The process dies: nothing finalizes the writer, and half a chunk (and half a frame)
        // had reached the disk after the last flush.
        std::mem::forget(f);
        let mut raw = OpenOptions::new().append(true).open(&path).unwrap();
        raw.write_all(&[1, 2, 3, 4, 5, 6]).unwrap();
        drop(raw);
        // Before the repair the header already counts the two chunks: the file plays.
        assert_eq!(hound::WavReader::open(&path).unwrap().duration(), 16_000);
        assert_eq!(repair(&path).unwrap(), 2000);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            HEADER_LEN + 16_000 * 4
        );
        let samples: Vec<i16> = hound::WavReader::open(&path)
            .unwrap()
            .samples::<i16>()
            .map(Result::unwrap)
            .collect();
        assert_eq!(samples[31_998], 2000);
    }

    #[test]
    fn a_header_that_counts_more_than_was_written_is_made_to_match() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), &name_for("c3"));
        let mut f = WavFile::create(&path).unwrap();
        f.append(&stereo(800, 5, 5)).unwrap();
        std::mem::forget(f);
        // A disk that lost the data's tail but kept the header.
        let raw = OpenOptions::new().write(true).open(&path).unwrap();
        raw.set_len(HEADER_LEN + 400 * 4 + 2).unwrap();
        drop(raw);
        assert_eq!(repair(&path).unwrap(), 50);
        assert_eq!(hound::WavReader::open(&path).unwrap().duration(), 400);
    }
}
