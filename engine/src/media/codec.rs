//! G.711 (ITU-T) mu-law and A-law <-> 16-bit linear PCM. Bit-exact with the ITU's reference
//! implementation (G.191 Software Tool Library, `g711.c`): decoding is a 256-entry table built
//! at compile time, encoding a segment search over the sample's bit length. Nothing here
//! allocates; slice functions write into buffers the caller owns.
//!
//! Linear samples are 16-bit and left-justified, as the reference takes them: mu-law looks at
//! the top 14 bits, A-law at the top 13, and decodes to multiples of 4 and 8 respectively
//! (mu-law spans -32124..=32124, A-law -32256..=32256).

/// Mu-law silence (positive zero).
pub const MULAW_SILENCE: u8 = 0xFF;

/// Decodes one mu-law code.
#[inline]
pub fn mulaw_decode(code: u8) -> i16 {
    MULAW_TO_PCM[usize::from(code)]
}

/// Encodes one sample as mu-law.
#[inline]
pub fn mulaw_encode(sample: i16) -> u8 {
    // Negative samples are taken in one's complement (`!s` = -s - 1), as the reference does, so
    // the quantiser is symmetric about -0.5 LSB rather than about 0: -1 maps to the negative
    // zero code 0x7F, not to the first negative step.
    let (magnitude, sign) = if sample < 0 {
        (i32::from(!sample) >> 2, 0x00)
    } else {
        (i32::from(sample) >> 2, 0x80)
    };
    // The 0x21 (33) bias makes every segment start at a power of two, so the segment is the
    // bit length of `biased >> 6`; 0x1FFF is the clip level of the 14-bit domain.
    let biased = (magnitude + 0x21).min(0x1FFF) as u32;
    let segment = 1 + (u32::BITS - (biased >> 6).leading_zeros());
    let step = (biased >> segment) & 0x0F;
    // Mu-law transmits every bit inverted.
    (((8 - segment) << 4) as u8 | (0x0F - step) as u8) | sign
}

/// Decodes one A-law code.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TO_PCM[usize::from(code)]
}

/// Encodes one sample as A-law.
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    // One's complement for negatives, as in `mulaw_encode`; 0..2048 after the shift.
    let (magnitude, sign) = if sample < 0 {
        ((!sample) >> 4, 0x00)
    } else {
        (sample >> 4, 0x80)
    };
    let magnitude = magnitude as u16;
    let code = if magnitude <= 0x0F {
        // Segments 0 and 1 share a step size: segment 0 is linear with no implied leading one.
        magnitude as u8
    } else {
        let bits = u16::BITS - magnitude.leading_zeros(); // 5..=11
        let segment = bits - 4; // 1..=7
        let mantissa = (magnitude >> (segment - 1)) & 0x0F;
        ((segment << 4) as u8) | mantissa as u8
    };
    // A-law transmits the even bits inverted.
    (code | sign) ^ 0x55
}

/// Decodes mu-law codes into `dst`.
///
/// # Panics
/// If `src` and `dst` differ in length: a silent truncation would hide a framing bug.
pub fn mulaw_to_pcm(src: &[u8], dst: &mut [i16]) {
    assert_eq!(src.len(), dst.len(), "one PCM sample per mu-law code");
    for (code, sample) in src.iter().zip(dst) {
        *sample = mulaw_decode(*code);
    }
}

/// Encodes samples into mu-law codes in `dst`.
///
/// # Panics
/// If `src` and `dst` differ in length.
pub fn pcm_to_mulaw(src: &[i16], dst: &mut [u8]) {
    assert_eq!(src.len(), dst.len(), "one mu-law code per PCM sample");
    for (sample, code) in src.iter().zip(dst) {
        *code = mulaw_encode(*sample);
    }
}

/// Decodes A-law codes into `dst`.
///
/// # Panics
/// If `src` and `dst` differ in length.
pub fn alaw_to_pcm(src: &[u8], dst: &mut [i16]) {
    assert_eq!(src.len(), dst.len(), "one PCM sample per A-law code");
    for (code, sample) in src.iter().zip(dst) {
        *sample = alaw_decode(*code);
    }
}

/// Encodes samples into A-law codes in `dst`.
///
/// # Panics
/// If `src` and `dst` differ in length.
pub fn pcm_to_alaw(src: &[i16], dst: &mut [u8]) {
    assert_eq!(src.len(), dst.len(), "one A-law code per PCM sample");
    for (sample, code) in src.iter().zip(dst) {
        *code = alaw_encode(*sample);
    }
}

/// The reference's `ulaw_expand`, once per code at compile time: each code decodes to the
/// middle of its quantisation interval.
const MULAW_TO_PCM: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        let inverted = !(code as u8);
        let exponent = ((inverted >> 4) & 0x07) as i32;
        let mantissa = (inverted & 0x0F) as i32;
        let step = 4 << (exponent + 1);
        let magnitude = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 0x21;
        table[code] = if code < 0x80 {
            -magnitude as i16
        } else {
            magnitude as i16
        };
        code += 1;
    }
    table
};

/// The reference's `alaw_expand`, once per code at compile time.
const ALAW_TO_PCM: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        let toggled = (code as u8 ^ 0x55) & 0x7F;
        let exponent = (toggled >> 4) as i32;
        let mut mantissa = (toggled & 0x0F) as i32;
        if exponent > 0 {
            mantissa += 16;
        }
        // Left-justify and add half a step so the code decodes to its interval's middle.
        let mut magnitude = (mantissa << 4) + 0x08;
        if exponent > 1 {
            magnitude <<= exponent - 1;
        }
        table[code] = if code > 0x7F {
            magnitude as i16
        } else {
            -magnitude as i16
        };
        code += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::test_signal::{sine, zero_crossings};

    /// `ulaw_compress` from ITU-T G.191's `g711.c`, transcribed loop for loop, as the oracle
    /// the fast encoder must match on every input.
    fn reference_ulaw_compress(linear: i16) -> u8 {
        let linear = i32::from(linear);
        let mut absno = if linear < 0 {
            ((!linear) >> 2) + 33
        } else {
            (linear >> 2) + 33
        };
        if absno > 0x1FFF {
            absno = 0x1FFF;
        }
        let mut i = absno >> 6;
        let mut segno = 1;
        while i != 0 {
            segno += 1;
            i >>= 1;
        }
        let high_nibble = 0x0008 - segno;
        let low_nibble = 0x000F - ((absno >> segno) & 0x000F);
        let mut log = (high_nibble << 4) | low_nibble;
        if linear >= 0 {
            log |= 0x0080;
        }
        log as u8
    }

    /// `alaw_compress` from ITU-T G.191's `g711.c`, transcribed loop for loop.
    fn reference_alaw_compress(linear: i16) -> u8 {
        let linear = i32::from(linear);
        let mut ix = if linear < 0 {
            (!linear) >> 4
        } else {
            linear >> 4
        };
        if ix > 15 {
            let mut iexp = 1;
            while ix > 16 + 15 {
                ix >>= 1;
                iexp += 1;
            }
            ix -= 16;
            ix += iexp << 4;
        }
        if linear >= 0 {
            ix |= 0x0080;
        }
        (ix ^ 0x0055) as u8
    }

    #[test]
    fn mulaw_decodes_reference_values() {
        // Values from the G.711 mu-law reconstruction table (x4 for 16-bit left-justified).
        let cases: [(u8, i16); 10] = [
            (0xFF, 0),
            (0x7F, 0),
            (0xFE, 8),
            (0x7E, -8),
            (0xF0, 120),
            (0xEF, 132),
            (0xE0, 372),
            (0x80, 32124),
            (0x00, -32124),
            (0x8F, 16764),
        ];
        for (code, pcm) in cases {
            assert_eq!(mulaw_decode(code), pcm, "mu-law code {code:#04x}");
        }
    }

    #[test]
    fn alaw_decodes_reference_values() {
        // Values from the G.711 A-law reconstruction table (x8 for 16-bit left-justified).
        let cases: [(u8, i16); 10] = [
            (0xD5, 8),
            (0x55, -8),
            (0xD4, 24),
            (0xDA, 248),
            (0xC5, 264),
            (0xC4, 280),
            (0xF5, 528),
            (0xAA, 32256),
            (0x2A, -32256),
            (0xA5, 16896),
        ];
        for (code, pcm) in cases {
            assert_eq!(alaw_decode(code), pcm, "A-law code {code:#04x}");
        }
    }

    #[test]
    fn encoders_match_the_itu_reference_on_every_sample() {
        for sample in i16::MIN..=i16::MAX {
            assert_eq!(
                mulaw_encode(sample),
                reference_ulaw_compress(sample),
                "mu-law encoding of {sample}"
            );
            assert_eq!(
                alaw_encode(sample),
                reference_alaw_compress(sample),
                "A-law encoding of {sample}"
            );
        }
    }

    #[test]
    fn encoders_pick_the_known_codes() {
        assert_eq!(mulaw_encode(0), 0xFF, "positive zero");
        assert_eq!(
            mulaw_encode(-1),
            0x7F,
            "one's complement: -1 is negative zero"
        );
        assert_eq!(mulaw_encode(i16::MAX), 0x80, "clips to the top code");
        assert_eq!(mulaw_encode(i16::MIN), 0x00, "clips to the bottom code");
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn every_code_survives_a_round_trip() {
        for code in 0..=255u8 {
            let back = mulaw_encode(mulaw_decode(code));
            if code == 0x7F {
                // Negative zero decodes to 0, which encodes as positive zero: the only code
                // that G.711 mu-law cannot reproduce.
                assert_eq!(back, 0xFF, "mu-law negative zero");
            } else {
                assert_eq!(back, code, "mu-law code {code:#04x}");
            }
            assert_eq!(
                alaw_encode(alaw_decode(code)),
                code,
                "A-law has no duplicate zero, so every code comes back: {code:#04x}"
            );
        }
    }

    #[test]
    fn decoded_levels_are_monotonic() {
        // Codes listed from the most negative level to the most positive. Mu-law: the
        // negative codes rise from 0x00 to 0x7F (-0), then the positive ones from 0xFF (+0)
        // down to 0x80. A-law: sign bit, then 7 magnitude bits with the even bits inverted.
        let mulaw_order = |level: u8| {
            if level < 0x80 {
                level
            } else {
                0xFF - (level - 0x80)
            }
        };
        let alaw_order = |level: u8| {
            if level < 0x80 {
                (0x7F - level) ^ 0x55
            } else {
                level ^ 0x55
            }
        };
        let mut previous_mu = i16::MIN;
        let mut previous_a = i16::MIN;
        for level in 0..=255u8 {
            let mu = mulaw_decode(mulaw_order(level));
            let a = alaw_decode(alaw_order(level));
            // Mu-law's two zeros sit next to each other, hence >= rather than >.
            assert!(
                mu >= previous_mu,
                "mu-law level {level}: {mu} < {previous_mu}"
            );
            assert!(a > previous_a, "A-law level {level}: {a} <= {previous_a}");
            previous_mu = mu;
            previous_a = a;
        }
        assert_eq!(previous_mu, 32124);
        assert_eq!(previous_a, 32256);
    }

    #[test]
    fn encoding_is_monotonic_in_the_sample() {
        let mut previous_mu = mulaw_decode(mulaw_encode(i16::MIN));
        let mut previous_a = alaw_decode(alaw_encode(i16::MIN));
        for sample in i16::MIN..=i16::MAX {
            let mu = mulaw_decode(mulaw_encode(sample));
            let a = alaw_decode(alaw_encode(sample));
            assert!(mu >= previous_mu, "mu-law quantiser went down at {sample}");
            assert!(a >= previous_a, "A-law quantiser went down at {sample}");
            previous_mu = mu;
            previous_a = a;
        }
    }

    fn snr_db(reference: &[i16], degraded: &[i16]) -> f64 {
        let signal: f64 = reference.iter().map(|&s| f64::from(s).powi(2)).sum();
        let noise: f64 = reference
            .iter()
            .zip(degraded)
            .map(|(&r, &d)| (f64::from(r) - f64::from(d)).powi(2))
            .sum();
        10.0 * (signal / noise).log10()
    }

    #[test]
    fn a_sine_survives_encoding_within_g711_quantisation_error() {
        // 440 Hz at -6 dBFS for one second at 8 kHz. G.711's companding keeps the SNR near
        // 38 dB across its range; 30 dB leaves margin but fails any wrong segment or step.
        let original = sine(440.0, 16384.0, 8000, 8000);
        let mut codes = vec![0u8; original.len()];
        let mut decoded = vec![0i16; original.len()];

        pcm_to_mulaw(&original, &mut codes);
        mulaw_to_pcm(&codes, &mut decoded);
        let mu_snr = snr_db(&original, &decoded);
        assert!(mu_snr > 30.0, "mu-law SNR {mu_snr:.1} dB");
        assert_eq!(
            zero_crossings(&decoded),
            zero_crossings(&original),
            "mu-law keeps the sign of every sample, so the pitch is unchanged"
        );

        pcm_to_alaw(&original, &mut codes);
        alaw_to_pcm(&codes, &mut decoded);
        let a_snr = snr_db(&original, &decoded);
        assert!(a_snr > 30.0, "A-law SNR {a_snr:.1} dB");
        assert_eq!(zero_crossings(&decoded), zero_crossings(&original));
        // 440 Hz over one second crosses zero 880 times (give or take the end points).
        assert!((878..=882).contains(&zero_crossings(&original)));
    }

    #[test]
    #[should_panic(expected = "one PCM sample per mu-law code")]
    fn mismatched_buffers_are_refused() {
        mulaw_to_pcm(&[0xFF; 160], &mut [0i16; 159]);
    }
}
