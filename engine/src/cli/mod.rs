//! The `switchboard` binary's commands beyond `serve` (not part of the library: they use the
//! engine as any client does, through its control API).

pub mod backup;
pub mod test_call;
