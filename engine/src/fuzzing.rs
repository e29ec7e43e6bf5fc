//! The fuzz targets' entry points (feature `fuzzing`; the targets are in `engine/fuzz`, how to
//! run them in docs/FUZZING.md). Each reads untrusted bytes exactly as the engine reads what
//! the internet sends it (a carrier's webhook or media stream, the voice backend's events, a
//! lead list) and then checks what must hold of the result, panicking when it does not. A
//! panic, an overflow (debug builds check them) or a hang is what a fuzzer reports.

use quick_xml::events::Event;

use crate::carriers::livekit::webhook as livekit;
use crate::carriers::telnyx::webhook::{Delivery, What};
use crate::carriers::twilio::webhooks::{Amd, Callback, Form, Recording, Status, StreamStatus};
use crate::carriers::twilio::{signature, twiml, webhooks::inbound_call};
use crate::carriers::{telnyx, twilio};
use crate::domain::{Timestamp, parse_leads_csv};
use crate::media::MediaIn;
use crate::voice::VoiceEvent;
use crate::voice::openai_realtime::Reader;

const AUTH_TOKEN: &str = "12345678901234567890123456789012";

fn now() -> Timestamp {
    Timestamp::from_millis(1_780_000_000_000)
}

/// The first line (the URL the webhook was sent to) and the rest (its body).
fn url_and_body(input: &[u8]) -> (String, &[u8]) {
    let cut = input
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(input.len());
    let body = input.get(cut + 1..).unwrap_or_default();
    (String::from_utf8_lossy(&input[..cut]).into_owned(), body)
}

/// A Twilio webhook: its form read, its signature checked (Twilio's own signature of it
/// passes; one character off, or another account's, fails), then read as the voice webhook
/// and each callback reads it.
pub fn twilio_form(input: &[u8]) {
    let (url, body) = url_and_body(input);
    let form = Form::read(body);
    let signed = signature::sign(AUTH_TOKEN, &url, &form.0);
    assert!(signature::verify(AUTH_TOKEN, &url, &form.0, &signed));
    assert!(!signature::verify("another token", &url, &form.0, &signed));
    let mut forged = signed.clone().into_bytes();
    forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("base64 is ASCII");
    assert!(!signature::verify(AUTH_TOKEN, &url, &form.0, &forged));

    if let Ok(call) = inbound_call(&form, now()) {
        assert!(!call.carrier_call_id.is_empty() && !call.to.is_empty());
    }
    let Some(call_sid) = form.param("CallSid") else {
        return;
    };
    for read in [Status::read, Amd::read, Recording::read, StreamStatus::read] {
        if let Ok((key, _events)) = read(&form, call_sid) {
            assert!(key.starts_with(call_sid), "a delivery's key names its call");
        }
    }
}

/// TwiML with untrusted text in every place text goes (an agent's transfer summary, a
/// number, a SIP URI, ids): the document is well-formed XML 1.0, and a conforming parser
/// reads each value back exactly (less the characters XML cannot carry).
pub fn twiml(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let expected: String = text.chars().filter(|c| twiml::is_xml_char(*c)).collect();
    for document in [
        twiml::announce(&text, &text),
        twiml::dial_sip(&text),
        twiml::transfer(&text),
        twiml::conference(&text),
        twiml::connect_stream(&text, &text, &text, &text),
        twiml::play_digits(&text, &text, &text, &text, &text),
    ] {
        assert!(
            document.chars().all(twiml::is_xml_char),
            "a character XML cannot carry: {document:?}"
        );
        let values = xml_values(&document);
        // Nothing to read back from an empty element.
        assert!(
            expected.is_empty() || values.contains(&expected),
            "{expected:?} is not read back from {document:?}: {values:?}"
        );
    }
}

/// Every attribute value and text node of a document, as a conforming XML 1.0 parser reads
/// them (attribute values normalized, references resolved). Panics if it is not well-formed.
fn xml_values(document: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(document);
    let (mut values, mut text) = (Vec::new(), String::new());
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed ({e}): {document:?}"));
        match event {
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => match r.resolve_char_ref() {
                Ok(Some(c)) => text.push(c),
                Ok(None) => text.push_str(
                    quick_xml::escape::resolve_predefined_entity(&r)
                        .unwrap_or_else(|| panic!("unknown entity {:?}", &*r)),
                ),
                Err(e) => panic!("bad character reference ({e}): {document:?}"),
            },
            other => {
                if !text.is_empty() {
                    values.push(std::mem::take(&mut text));
                }
                match other {
                    Event::Start(e) | Event::Empty(e) => {
                        for attribute in e.attributes() {
                            let attribute = attribute.expect("attributes are well-formed");
                            let value = attribute
                                .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                                .expect("attribute values are well-formed");
                            values.push(value.into_owned());
                        }
                    }
                    Event::Eof => return values,
                    _ => {}
                }
            }
        }
    }
}

/// A Telnyx Call Control event's body, as the webhook reads it before acting on it.
pub fn telnyx_webhook(input: &[u8]) {
    let Ok(delivery) = Delivery::read(input, now()) else {
        return;
    };
    assert!(
        delivery.call_control_id.is_some() || delivery.event_type == "call.recording.saved",
        "only a saved recording may name no call"
    );
    if let What::Incoming { inbound } = &delivery.what {
        assert!(!inbound.carrier_call_id.is_empty() && !inbound.to.is_empty());
    }
}

/// A LiveKit webhook event's body, as the webhook reads it before acting on it.
pub fn livekit_webhook(input: &[u8]) {
    if let Ok(Some(update)) = livekit::read(input, now()) {
        assert!(!update.event_id.is_empty() && !update.room.is_empty());
    }
}

/// A Twilio media stream, one text frame per line: frames are read as the bridge reads them
/// until the stream is refused or ends.
pub fn twilio_media_stream(input: &[u8]) {
    let read_frame = twilio::media_stream::read_frame;
    media_stream(input, read_frame, |line| {
        twilio::media_stream::read_start(line).map(|start| {
            start.map(|s| {
                // Written back unescaped in every frame sent to Twilio.
                assert!(s.stream_sid.bytes().all(|b| b.is_ascii_alphanumeric()));
                assert!(!s.stream_sid.is_empty());
            })
        })
    });
}

/// A Telnyx media stream, one text frame per line, as `twilio_media_stream`.
pub fn telnyx_media_stream(input: &[u8]) {
    let read_frame = telnyx::media_stream::read_frame;
    media_stream(input, read_frame, |line| {
        telnyx::media_stream::read_start(line).map(|start| start.map(|_| ()))
    });
}

fn media_stream<E, F>(
    input: &[u8],
    read_frame: impl Fn(&str) -> Result<Option<MediaIn>, F>,
    read_start: impl Fn(&str) -> Result<Option<()>, E>,
) {
    let text = String::from_utf8_lossy(input);
    let mut lines = text.lines();
    loop {
        let Some(line) = lines.next() else { return };
        match read_start(line) {
            Ok(Some(())) => break,
            Ok(None) => {}
            Err(_) => return,
        }
    }
    for line in lines {
        match read_frame(line) {
            Ok(Some(MediaIn::Stop)) | Err(_) => return,
            Ok(Some(MediaIn::Audio(audio))) => assert_eq!(
                audio.base64().len() % 4,
                0,
                "audio goes on as well-formed base64"
            ),
            Ok(_) => {}
        }
    }
}

/// OpenAI Realtime server events, one per line, read by one call's reader: each event the
/// bridge gets is sound, and no API key quoted back by the backend reaches it.
pub fn realtime_events(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let mut reader = Reader::default();
    for line in text.lines() {
        let first = reader.read(line);
        for event in first
            .into_iter()
            .chain(std::iter::from_fn(|| reader.queued()))
        {
            match event {
                VoiceEvent::Warning(w) => assert!(
                    !w.split_whitespace().any(|word| word.starts_with("sk-")),
                    "a key reached a warning: {w:?}"
                ),
                VoiceEvent::CallerSaid { text, .. } | VoiceEvent::AgentSaid { text, .. } => {
                    assert!(!text.is_empty() && text.trim() == text);
                }
                _ => {}
            }
        }
    }
}

/// A lead list, as the importer reads it: every row is counted once (a lead, a rejected row
/// or a duplicate), and no number is imported twice.
pub fn lead_csv(input: &[u8]) {
    for region in [None, Some("US"), Some("GB")] {
        let Ok(import) = parse_leads_csv(input, region, |phone| phone.as_str().ends_with('7'))
        else {
            continue;
        };
        let counted = import.leads.len() + import.rejected.len() + import.duplicates.len();
        assert_eq!(counted as u64, import.total_rows);
        let mut phones: Vec<_> = import.leads.iter().map(|l| l.phone.as_str()).collect();
        phones.sort_unstable();
        let before = phones.len();
        phones.dedup();
        assert_eq!(phones.len(), before, "a number imported twice");
        assert!(
            phones.iter().all(|p| !p.ends_with('7')),
            "an existing number imported"
        );
    }
}

/// CI's smoke run of every target, on stable and without libFuzzer: each target's corpus
/// (`engine/fuzz/corpus/<target>`: the seeds, and what long libFuzzer runs kept), then
/// inputs made from it by random edits (a fixed seed unless `SWITCHBOARD_FUZZ_SEED` says;
/// `SWITCHBOARD_FUZZ_RUNS` of them per target). A failure prints the input to add to the
/// corpus once fixed.
#[cfg(test)]
mod smoke {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    /// xorshift64*: reproducible from its seed, and enough to pick edits.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Bytes that matter to the formats read: JSON, forms, CSV, XML, base64.
    const SPECIAL: &[u8] = b"\"{}[],:\n\r\t\\0-9e.&=%+;<>/ \x00\xff\x80";

    fn mutate(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
        for _ in 0..=rng.below(8) {
            let at = rng.below(input.len() + 1);
            match rng.below(7) {
                0 if at < input.len() => input[at] ^= 1 << rng.below(8),
                1 if at < input.len() => input[at] = SPECIAL[rng.below(SPECIAL.len())],
                2 => input.insert(at, SPECIAL[rng.below(SPECIAL.len())]),
                3 => {
                    let end = (at + rng.below(16)).min(input.len());
                    input.drain(at..end);
                }
                4 => {
                    let end = (at + rng.below(64)).min(input.len());
                    let copy = input[at..end].to_vec();
                    let to = rng.below(input.len() + 1);
                    input.splice(to..to, copy);
                }
                5 => input.truncate(at),
                _ => {
                    let from = rng.below(other.len() + 1);
                    let end = (from + rng.below(128)).min(other.len());
                    input.splice(at..at, other[from..end].iter().copied());
                }
            }
        }
    }

    fn corpus(target: &str) -> Vec<Vec<u8>> {
        let dir = format!("{}/fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"));
        let files: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|f| std::fs::read(f.expect("a corpus entry").path()).expect("a corpus file"))
            .collect();
        assert!(!files.is_empty(), "{dir} holds no seeds");
        files
    }

    fn run(target: &str, check: fn(&[u8])) {
        let seeds = corpus(target);
        let seed = std::env::var("SWITCHBOARD_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5EED_CA11_u64);
        let runs: usize = std::env::var("SWITCHBOARD_FUZZ_RUNS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2000);
        let mut rng = Rng(seed | 1);
        let mutated = (0..runs).map(|_| {
            let mut input = seeds[rng.below(seeds.len())].clone();
            let other = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, &mut input, other);
            input
        });
        for input in seeds.clone().into_iter().chain(mutated) {
            if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
                panic!(
                    "{target} failed (SWITCHBOARD_FUZZ_SEED={seed}) on {:?}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }

    /// Every target here is a libFuzzer target in `engine/fuzz`, calling its entry point, and
    /// the other way round (CI builds neither libFuzzer nor nightly).
    #[test]
    fn each_entry_point_has_its_libfuzzer_target() {
        let names = [
            "twilio_form",
            "twiml",
            "telnyx_webhook",
            "livekit_webhook",
            "twilio_media_stream",
            "telnyx_media_stream",
            "realtime_events",
            "lead_csv",
        ];
        let fuzz = format!("{}/fuzz", env!("CARGO_MANIFEST_DIR"));
        let manifest = std::fs::read_to_string(format!("{fuzz}/Cargo.toml")).expect("manifest");
        let mut files: Vec<String> = std::fs::read_dir(format!("{fuzz}/fuzz_targets"))
            .expect("fuzz_targets")
            .map(|f| {
                f.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        files.sort();
        let mut expected: Vec<String> = names.iter().map(|n| format!("{n}.rs")).collect();
        expected.sort();
        assert_eq!(files, expected);
        for name in names {
            let source = std::fs::read_to_string(format!("{fuzz}/fuzz_targets/{name}.rs"))
                .expect("a target");
            assert!(source.contains(&format!("switchboard::fuzzing::{name}(data)")));
            assert!(manifest.contains(&format!(
                "name = \"{name}\"\npath = \"fuzz_targets/{name}.rs\""
            )));
            corpus(name);
        }
    }

    #[test]
    fn twilio_form() {
        run("twilio_form", super::twilio_form);
    }

    #[test]
    fn twiml() {
        run("twiml", super::twiml);
    }

    #[test]
    fn telnyx_webhook() {
        run("telnyx_webhook", super::telnyx_webhook);
    }

    #[test]
    fn livekit_webhook() {
        run("livekit_webhook", super::livekit_webhook);
    }

    #[test]
    fn twilio_media_stream() {
        run("twilio_media_stream", super::twilio_media_stream);
    }

    #[test]
    fn telnyx_media_stream() {
        run("telnyx_media_stream", super::telnyx_media_stream);
    }

    #[test]
    fn realtime_events() {
        run("realtime_events", super::realtime_events);
    }

    #[test]
    fn lead_csv() {
        run("lead_csv", super::lead_csv);
    }
}
