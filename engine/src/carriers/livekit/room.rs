//! How a call maps onto a LiveKit room. Invariant: the room's name is the call record's
//! carrier call id, so webhooks and status look-ups find the call by room alone.

/// The room for Switchboard's call `call_id`: what the call record keeps as its carrier
/// call id.
pub fn room_name(call_id: &str) -> String {
    format!("call-{call_id}")
}

/// The call a room was named for (`room_name`'s inverse), if it is one of that shape.
pub fn call_id_of_room(room: &str) -> Option<&str> {
    room.strip_prefix("call-").filter(|id| !id.is_empty())
}

/// The callee's identity in the room of call `call_id`.
pub fn participant_identity(call_id: &str) -> String {
    format!("pstn-{call_id}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_room_names_its_call() {
        assert_eq!(
            super::call_id_of_room(&super::room_name("c_9f1")),
            Some("c_9f1")
        );
        assert_eq!(super::call_id_of_room("someone-elses-room"), None);
        assert_eq!(super::call_id_of_room("call-"), None);
    }
}
