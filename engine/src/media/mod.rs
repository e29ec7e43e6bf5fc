//! Call audio: the one frame type, G.711 codecs, resampling between the rates the media path
//! meets, and the listen-in tap. Formats are converted at these edges; inside, a frame is a frame.

pub mod codec;
pub mod frame;
pub mod resample;
pub mod tap;
