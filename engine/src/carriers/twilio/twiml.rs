//! The TwiML Switchboard answers Twilio with.

/// Escapes text for an XML attribute value or element, so that a parser reads back exactly
/// `text`. Characters XML 1.0 cannot carry at all, even escaped (most control characters),
/// are left out: one would make the whole document unreadable to Twilio, failing the call.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // As references: a parser turns them into spaces in an attribute, and a bare
            // `\r` into `\n` anywhere.
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// XML 1.0's `Char` production.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Bridges the call to a bidirectional media stream carrying Switchboard's call and agent ids;
/// Twilio reports the stream's fate (started, stopped, error) to `status_url`. When the
/// stream ends, the `<Hangup/>` after `</Connect>` ends the call.
pub fn connect_stream(media_url: &str, status_url: &str, call_id: &str, agent_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{}</Response>",
        stream(media_url, status_url, call_id, agent_id, false)
    )
}

/// Plays `digits` (checked keys) into a live call, then streams it to its agent again: the
/// new stream says it resumes, so the call's live session takes it over (twilio.md §12).
pub fn play_digits(
    digits: &str,
    media_url: &str,
    status_url: &str,
    call_id: &str,
    agent_id: &str,
) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Play digits=\"{}\"/>{}</Response>",
        xml_escape(digits),
        stream(media_url, status_url, call_id, agent_id, true)
    )
}

/// `<Connect><Stream>` to the agent, then `<Hangup/>` for when the stream ends.
fn stream(
    media_url: &str,
    status_url: &str,
    call_id: &str,
    agent_id: &str,
    resume: bool,
) -> String {
    format!(
        "<Connect><Stream url=\"{url}\" name=\"{name}\" \
         statusCallback=\"{status}\" statusCallbackMethod=\"POST\">\
         <Parameter name=\"call_id\" value=\"{call}\"/>\
         <Parameter name=\"agent_id\" value=\"{agent}\"/>{resume}\
         </Stream></Connect><Hangup/>",
        url = xml_escape(media_url),
        status = xml_escape(status_url),
        name = xml_escape(&format!(
            "call-{call_id}{}",
            if resume { "-resumed" } else { "" }
        )),
        call = xml_escape(call_id),
        agent = xml_escape(agent_id),
        resume = if resume {
            "<Parameter name=\"resume\" value=\"1\"/>"
        } else {
            ""
        },
    )
}

/// Bridges the call to a SIP URI (a call registered with Retell, retell.md §7.2): Twilio
/// answers the caller only once the far end does.
pub fn dial_sip(uri: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Response><Dial answerOnBridge=\"true\" timeout=\"30\"><Sip>{uri}</Sip></Dial></Response>",
        uri = xml_escape(uri),
    )
}

/// Hands a live call to `to` (E.164, or a SIP URI) as its new instructions: the media stream
/// ends and Twilio dials the target; when that leg ends, so does the call.
pub fn transfer(to: &str) -> String {
    let target = match to.strip_prefix("sip:") {
        Some(_) => format!("<Sip>{}</Sip>", xml_escape(to)),
        None => format!("<Number>{}</Number>", xml_escape(to)),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Response><Dial timeout=\"30\">{target}</Dial></Response>"
    )
}

/// A warm transfer's call to the person: they hear who is calling and why, then Twilio asks
/// `ready_url` what next (the room with the caller, or word that the caller has gone).
pub fn announce(summary: &str, ready_url: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Response><Say>{summary}</Say>\
         <Redirect method=\"POST\">{url}</Redirect></Response>",
        summary = xml_escape(summary),
        url = xml_escape(ready_url),
    )
}

/// Into a warm transfer's conference `room` (both the person and the caller): no beep,
/// silence while alone, and the room ends for both when either leaves.
pub fn conference(room: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Response><Dial><Conference beep=\"false\" endConferenceOnExit=\"true\" waitUrl=\"\">\
         {room}</Conference></Dial></Response>",
        room = xml_escape(room),
    )
}

/// For the person of a warm transfer whose caller hung up meanwhile.
pub fn caller_gone() -> String {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
     <Say>Sorry, the caller has hung up.</Say><Hangup/></Response>"
        .to_owned()
}

/// Answers, says sorry, hangs up: for a call that was accepted but could not be put through.
pub fn apologise() -> String {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
     <Say>Sorry, we cannot take your call right now. Please try again later.</Say>\
     <Hangup/></Response>"
        .to_owned()
}

/// Refuses the call without answering it (the caller is not billed). `busy` when the agent is
/// full, so the caller hears a busy tone and may try again; `rejected` otherwise.
pub fn reject(busy: bool) -> String {
    let reason = if busy { "busy" } else { "rejected" };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Reject reason=\"{reason}\"/></Response>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_twiml_escapes_values_and_carries_both_ids() {
        let xml = connect_stream(
            "wss://x.example/media/twilio?a=1&b=2",
            "https://x.example/webhooks/twilio/stream-status",
            "c\"1",
            "a<2",
        );
        assert!(
            xml.contains("statusCallback=\"https://x.example/webhooks/twilio/stream-status\""),
            "{xml}"
        );
        assert!(
            xml.contains("url=\"wss://x.example/media/twilio?a=1&amp;b=2\""),
            "{xml}"
        );
        assert!(
            xml.contains("<Parameter name=\"call_id\" value=\"c&quot;1\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains("<Parameter name=\"agent_id\" value=\"a&lt;2\"/>"),
            "{xml}"
        );
        assert!(xml.ends_with("</Connect><Hangup/></Response>"));
    }

    #[test]
    fn a_warm_transfer_says_the_escaped_summary_then_asks_what_next() {
        let xml = announce(
            "Jo's bill <overdue> & unpaid",
            "https://x.example/webhooks/twilio/transfer-ready?transfer_id=t1&x=2",
        );
        assert!(
            xml.contains("<Say>Jo&apos;s bill &lt;overdue&gt; &amp; unpaid</Say>"),
            "{xml}"
        );
        assert!(
            xml.ends_with(
                "<Redirect method=\"POST\">https://x.example/webhooks/twilio/transfer-ready?transfer_id=t1&amp;x=2</Redirect></Response>"
            ),
            "{xml}"
        );
        let room = conference("transfer-c\"1");
        assert!(
            room.contains(
                "endConferenceOnExit=\"true\" waitUrl=\"\">transfer-c&quot;1</Conference>"
            ),
            "{room}"
        );
    }

    #[test]
    fn a_sip_hand_off_dials_the_escaped_uri() {
        let xml = dial_sip("sip:abc&1@sip.retellai.com");
        assert!(
            xml.contains("<Dial answerOnBridge=\"true\" timeout=\"30\"><Sip>sip:abc&amp;1@sip.retellai.com</Sip></Dial>"),
            "{xml}"
        );
        assert!(apologise().contains("<Say>") && apologise().ends_with("<Hangup/></Response>"));
    }

    #[test]
    fn reject_says_busy_only_when_busy() {
        assert!(reject(true).contains("<Reject reason=\"busy\"/>"));
        assert!(reject(false).contains("<Reject reason=\"rejected\"/>"));
    }
}
