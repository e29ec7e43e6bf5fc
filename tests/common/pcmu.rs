//! G.711 μ-law test audio (8 kHz mono, 8 bytes = 1 ms, protocols/README.md "Phone audio"):
//! tones and silence for the simulators and the tests that drive them.

/// μ-law silence (linear 0 encodes to 0xFF).
pub const SILENCE: u8 = 0xFF;

/// Bytes of μ-law per millisecond at 8 kHz.
pub const BYTES_PER_MS: usize = 8;

/// `ms` milliseconds of μ-law silence.
pub fn silence(ms: usize) -> Vec<u8> {
    vec![SILENCE; ms * BYTES_PER_MS]
}

/// `len` bytes (len / 8 ms) of a sine tone at `hz`, amplitude a quarter of full scale, μ-law.
pub fn tone(len: usize, hz: f64) -> Vec<u8> {
    (0..len)
        .map(|n| {
            let t = n as f64 / 8000.0;
            encode((8192.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16)
        })
        .collect()
}

/// One linear 16-bit sample to μ-law (ITU-T G.711, bias 0x84, clip 32635).
pub fn encode(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(32635) + 0x84;
    let exponent = 31 - ((s >> 7) as u32).leading_zeros() as i32;
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// One μ-law byte to a linear 16-bit sample (ITU-T G.711).
pub fn decode(code: u8) -> i16 {
    let code = !code;
    let sign = code & 0x80;
    let exponent = i32::from((code >> 4) & 0x07);
    let mantissa = i32::from(code & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if sign != 0 { -magnitude } else { magnitude }) as i16
}
