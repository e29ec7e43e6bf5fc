//! The `switchboard` binary's commands beyond `serve` (not part of the library): `call` uses the
//! engine as any client does, through its control API; `backup` and `restore` work on the
//! data directory through the store, whether or not an engine runs on it.

pub mod backup;
pub mod test_call;
