//! The one error local audio reports, worded for the person at the machine: which device,
//! and what to do about it. cpal's error kinds are mapped here and nowhere else.

/// Which side of the duplex a device is on; it names the device in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Input,
    Output,
}

impl Direction {
    pub fn noun(self) -> &'static str {
        match self {
            Direction::Input => "microphone",
            Direction::Output => "speaker",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudioError {
    #[error(
        "no sound server or sound card is available ({0}); start PulseAudio or PipeWire, or connect a device"
    )]
    NoSoundServer(String),
    #[error("the {kind} '{name}' is not available")]
    NoSuchDevice { kind: &'static str, name: String },
    #[error(
        "the {kind} '{name}' is busy (another program holds it); close that program or pick another device"
    )]
    DeviceBusy { kind: &'static str, name: String },
    #[error("permission denied opening the {kind} '{name}' (on Linux, join the 'audio' group)")]
    PermissionDenied { kind: &'static str, name: String },
    #[error("the {kind} '{name}' offers no usable format: {detail}")]
    UnsupportedFormat {
        kind: &'static str,
        name: String,
        detail: String,
    },
    #[error("the {kind} '{name}' stopped working: {detail}")]
    DeviceLost {
        kind: &'static str,
        name: String,
        detail: String,
    },
    #[error("the {kind} '{name}' failed: {detail}")]
    Device {
        kind: &'static str,
        name: String,
        detail: String,
    },
    #[error("local audio has stopped")]
    Closed,
}

impl AudioError {
    /// Maps a cpal error met while opening or running `name`.
    pub fn from_cpal(direction: Direction, name: &str, error: &cpal::Error) -> Self {
        use cpal::ErrorKind as K;
        let kind = direction.noun();
        let name = name.to_owned();
        let detail = error.to_string();
        match error.kind() {
            K::HostUnavailable => AudioError::NoSoundServer(detail),
            // ALSA's `default` with no server behind it reports exactly this.
            K::DeviceNotAvailable if name == "default" || name.ends_with(":default") => {
                AudioError::NoSoundServer(detail)
            }
            K::DeviceNotAvailable => AudioError::NoSuchDevice { kind, name },
            K::DeviceBusy => AudioError::DeviceBusy { kind, name },
            K::PermissionDenied => AudioError::PermissionDenied { kind, name },
            K::UnsupportedConfig | K::InvalidInput => {
                AudioError::UnsupportedFormat { kind, name, detail }
            }
            K::StreamInvalidated => AudioError::DeviceLost { kind, name, detail },
            _ => AudioError::Device { kind, name, detail },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_device_and_its_role() {
        let e = AudioError::from_cpal(
            Direction::Input,
            "alsa:hw:CARD=X,DEV=0",
            &cpal::Error::new(cpal::ErrorKind::DeviceNotAvailable),
        );
        assert_eq!(
            e.to_string(),
            "the microphone 'alsa:hw:CARD=X,DEV=0' is not available"
        );
        let e = AudioError::from_cpal(
            Direction::Output,
            "alsa:default",
            &cpal::Error::new(cpal::ErrorKind::DeviceNotAvailable),
        );
        assert!(matches!(e, AudioError::NoSoundServer(_)), "{e}");
        let e = AudioError::from_cpal(
            Direction::Output,
            "x",
            &cpal::Error::new(cpal::ErrorKind::DeviceBusy),
        );
        assert!(e.to_string().contains("speaker 'x' is busy"), "{e}");
    }
}
