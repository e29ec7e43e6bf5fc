//! Switchboard's own call recordings: the file format and its crash repair (`file`), one call
//! recorded while its bridge runs (`call`), and keeping them (`upkeep`: repair at start,
//! retention, deleting a call), and a carrier's recording fetched and kept the same way
//! (`fetch`). The audio's layout (which sample goes where) is
//! `media::record`'s.

pub mod call;
pub mod fetch;
pub mod file;
pub mod upkeep;

pub use call::CallRecording;
