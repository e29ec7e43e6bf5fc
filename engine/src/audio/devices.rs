//! Which sound devices there are, and opening one: finding it by id, and the stream format it
//! is driven in (its own default format, converted at the edge). Listing never opens a device:
//! a failed open of some ALSA plugins leaks descriptors and poisons later opens (cpal avoids it
//! too).

use cpal::traits::{DeviceTrait, HostTrait};

use super::error::{AudioError, Direction};

/// The sound devices of the default host.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Devices {
    /// cpal's host: "PulseAudio" where a PulseAudio (or PipeWire-Pulse) server runs, which cpal
    /// then talks to directly; otherwise "ALSA" (its `default` device).
    pub host: String,
    pub inputs: Vec<DeviceInfo>,
    pub outputs: Vec<DeviceInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DeviceInfo {
    /// cpal's device id, `host:device` (e.g. `alsa:default`): what `Duplex`, `play_tone` and
    /// `measure_level` take.
    pub id: String,
    /// The device's description, for people.
    pub name: String,
    pub is_default: bool,
}

pub fn devices() -> Result<Devices, AudioError> {
    let host = cpal::default_host();
    let all = host
        .devices()
        .map_err(|e| AudioError::from_cpal(Direction::Output, "default", &e))?;
    let default_id = |d: Option<cpal::Device>| d.and_then(|d| d.id().ok());
    let default_in = default_id(host.default_input_device());
    let default_out = default_id(host.default_output_device());
    let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
    for device in all {
        let Ok(id) = device.id() else { continue };
        let name = device
            .description()
            .map(|d| d.name().to_owned())
            .unwrap_or_else(|_| id.to_string());
        // ALSA leaves the direction of some PCMs (`default` among them) unknown without
        // opening them: list those both ways.
        let (input, output) = (device.supports_input(), device.supports_output());
        let unknown = !input && !output;
        if input || unknown {
            inputs.push(DeviceInfo {
                id: id.to_string(),
                name: name.clone(),
                is_default: default_in.as_ref() == Some(&id),
            });
        }
        if output || unknown {
            outputs.push(DeviceInfo {
                id: id.to_string(),
                name,
                is_default: default_out.as_ref() == Some(&id),
            });
        }
    }
    Ok(Devices {
        host: host.id().name().to_owned(),
        inputs,
        outputs,
    })
}

/// A device picked for a stream, with what to call it in messages.
pub struct Opened {
    pub device: cpal::Device,
    /// The id string (`alsa:default`) or, failing that, what the caller asked for.
    pub label: String,
}

/// Finds `id` (a `DeviceInfo::id`, or a device's name), or the default device when `None`.
pub fn find(direction: Direction, id: Option<&str>) -> Result<Opened, AudioError> {
    let host = cpal::default_host();
    let device = match id {
        None => match direction {
            Direction::Input => host.default_input_device(),
            Direction::Output => host.default_output_device(),
        }
        .ok_or_else(|| AudioError::NoSoundServer(format!("no default {}", direction.noun())))?,
        Some(wanted) => {
            let by_id = wanted
                .parse::<cpal::DeviceId>()
                .ok()
                .and_then(|id| host.device_by_id(&id));
            let by_name = || {
                host.devices()
                    .ok()?
                    .find(|d| d.description().is_ok_and(|desc| desc.name() == wanted))
            };
            by_id
                .or_else(by_name)
                .ok_or_else(|| AudioError::NoSuchDevice {
                    kind: direction.noun(),
                    name: wanted.to_owned(),
                })?
        }
    };
    let label = device
        .id()
        .map(|id| id.to_string())
        .unwrap_or_else(|_| id.unwrap_or("default").to_owned());
    Ok(Opened { device, label })
}

/// The stream format for `opened`: its default format and channel count, at its default rate
/// if the resampler takes it (else 48 kHz if the device offers it), ~20 ms callbacks when the
/// device lets us ask.
pub fn stream_config(
    opened: &Opened,
    direction: Direction,
) -> Result<(cpal::StreamConfig, cpal::SampleFormat), AudioError> {
    use crate::media::resample::SUPPORTED_RATES;
    let err = |e: cpal::Error| AudioError::from_cpal(direction, &opened.label, &e);
    let default = match direction {
        Direction::Input => opened.device.default_input_config(),
        Direction::Output => opened.device.default_output_config(),
    }
    .map_err(err)?;
    let mut chosen = default;
    if !SUPPORTED_RATES.contains(&default.sample_rate()) {
        let ranges: Vec<_> = match direction {
            Direction::Input => opened.device.supported_input_configs().map(|r| r.collect()),
            Direction::Output => opened
                .device
                .supported_output_configs()
                .map(|r| r.collect()),
        }
        .map_err(err)?;
        chosen = ranges
            .into_iter()
            .filter(|r| r.sample_format() == default.sample_format())
            .find_map(|r| r.try_with_sample_rate(48_000))
            .ok_or_else(|| AudioError::UnsupportedFormat {
                kind: direction.noun(),
                name: opened.label.clone(),
                detail: format!(
                    "it runs at {} Hz; 8, 16, 24, 44.1 or 48 kHz is needed",
                    default.sample_rate()
                ),
            })?;
    }
    let rate = chosen.sample_rate();
    let mut config = chosen.config();
    // Periods of 20 ms in, 10 ms out. Asked for even when the host gives no range
    // (PulseAudio's): left at its default, a PulseAudio playback stream buffers two seconds,
    // and the agent (or a call listened to) would be heard that late. Output periods are
    // shorter because agent audio waits for the next output callback: 10 ms keeps that wait,
    // and the queue ahead of it, inside the 30 ms the local path may add (BENCHMARKS.md).
    let period = match direction {
        Direction::Input => rate / 50,
        Direction::Output => rate / 100,
    };
    config.buffer_size = cpal::BufferSize::Fixed(match *chosen.buffer_size() {
        cpal::SupportedBufferSize::Range { min, max } => period.clamp(min, max),
        cpal::SupportedBufferSize::Unknown => period,
    });
    Ok((config, chosen.sample_format()))
}
