//! Payload encodings: hex, run-length (`*`), and binary escapes (`}`).

use std::fmt::Write;

/// Why an encoded payload could not be decoded; offsets are into the payload given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodingError {
    #[error("run-length '*' at offset {offset} with nothing to repeat")]
    RunWithoutByte { offset: usize },
    #[error("run-length '*' at offset {offset} without a count")]
    RunWithoutCount { offset: usize },
    #[error("bad run-length count byte {byte:#04x} at offset {offset}")]
    BadRunCount { byte: u8, offset: usize },
    #[error("escape '}}' at offset {offset} ends the packet")]
    DanglingEscape { offset: usize },
    #[error("odd number of hex digits ({digits})")]
    OddHexLength { digits: usize },
    #[error("bad hex digit at offset {offset}")]
    BadHexDigit { offset: usize },
}

/// The most bytes one run-length group may expand to: `*` with `~` (126) repeats 97 times.
const MAX_RUN: usize = 126 - 29;

/// Expands run-length encoding: `c*n` stands for `c` followed by `n - 29` more copies of `c`.
///
/// Replies from a stub may use it anywhere; it is undone before any other decoding.
pub fn expand_rle(body: &[u8]) -> Result<Vec<u8>, EncodingError> {
    if !body.contains(&b'*') {
        return Ok(body.to_vec());
    }
    let mut out = Vec::with_capacity(body.len() * 2);
    let mut it = body.iter().copied().enumerate();
    while let Some((i, b)) = it.next() {
        if b != b'*' {
            out.push(b);
            continue;
        }
        let prev = *out
            .last()
            .ok_or(EncodingError::RunWithoutByte { offset: i })?;
        let (_, n) = it
            .next()
            .ok_or(EncodingError::RunWithoutCount { offset: i })?;
        let count = usize::from(n)
            .checked_sub(29)
            .filter(|&c| c <= MAX_RUN)
            .ok_or(EncodingError::BadRunCount {
                byte: n,
                offset: i + 1,
            })?;
        out.extend(std::iter::repeat_n(prev, count));
    }
    Ok(out)
}

/// Undoes binary escapes: `}` followed by `c ^ 0x20` stands for `c`.
pub fn unescape_binary(data: &[u8]) -> Result<Vec<u8>, EncodingError> {
    let mut out = Vec::with_capacity(data.len());
    let mut it = data.iter().copied().enumerate();
    while let Some((i, b)) = it.next() {
        if b == b'}' {
            let (_, e) = it
                .next()
                .ok_or(EncodingError::DanglingEscape { offset: i })?;
            out.push(e ^ 0x20);
        } else {
            out.push(b);
        }
    }
    Ok(out)
}

/// Escapes `$`, `#`, `}` and `*` for sending binary data.
pub fn escape_binary(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for &b in data {
        if matches!(b, b'$' | b'#' | b'}' | b'*') {
            out.push(b'}');
            out.push(b ^ 0x20);
        } else {
            out.push(b);
        }
    }
    out
}

/// Lower-case hex of `data`.
pub fn to_hex(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Decodes hex pairs into bytes.
pub fn from_hex(hex: &[u8]) -> Result<Vec<u8>, EncodingError> {
    if !hex.len().is_multiple_of(2) {
        return Err(EncodingError::OddHexLength { digits: hex.len() });
    }
    let mut out = Vec::with_capacity(hex.len() / 2);
    let mut bad = 0u8;
    for pair in hex.chunks_exact(2) {
        if let [h, l] = *pair {
            let (h, l) = (hex_value(h), hex_value(l));
            bad |= h | l;
            out.push((h << 4) | (l & 0x0f));
        }
    }
    if bad & 0xf0 != 0 {
        let at = hex.iter().position(|&b| nibble(b).is_none()).unwrap_or(0);
        return Err(EncodingError::BadHexDigit { offset: at });
    }
    Ok(out)
}

/// Decodes register-style hex where `xx` means "value unavailable".
pub fn from_hex_maybe(hex: &[u8]) -> Result<Option<Vec<u8>>, EncodingError> {
    if !hex.is_empty() && hex.iter().all(|&b| b == b'x' || b == b'X') {
        return Ok(None);
    }
    from_hex(hex).map(Some)
}

/// `b`'s value as a hex digit, or 0xff.
fn hex_value(b: u8) -> u8 {
    HEX_VALUE.get(usize::from(b)).copied().unwrap_or(0xff)
}

/// Each byte's value as a hex digit, or 0xff: a table so that decoding megabytes of `m`
/// replies costs one load per digit and one check per reply.
// Built at compile time: an index out of range would fail the build, never panic at run time.
#[allow(clippy::indexing_slicing)]
const HEX_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 256 {
        if let Some(v) = nibble(i as u8) {
            t[i] = v;
        }
        i += 1;
    }
    t
};

const fn nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rle_expands_runs() {
        // "0* " is '0' plus (32 - 29) = 3 more.
        assert_eq!(expand_rle(b"0* ").unwrap(), b"0000");
        assert_eq!(expand_rle(b"ab*\"c").unwrap(), b"abbbbbbc");
        assert_eq!(expand_rle(b"plain").unwrap(), b"plain");
    }

    #[test]
    fn rle_rejects_bad_runs() {
        assert!(expand_rle(b"*a")
            .unwrap_err()
            .to_string()
            .contains("nothing to repeat"));
        assert!(expand_rle(b"a*")
            .unwrap_err()
            .to_string()
            .contains("without a count"));
        assert!(expand_rle(b"a*\x05")
            .unwrap_err()
            .to_string()
            .contains("offset 2"));
    }

    #[test]
    fn binary_escapes_round_trip() {
        let raw = b"a$b#c}d*e\x00";
        let esc = escape_binary(raw);
        assert_eq!(esc, b"a}\x04b}\x03c}]d}\x0ae\x00");
        assert_eq!(unescape_binary(&esc).unwrap(), raw);
        assert!(unescape_binary(b"ab}").is_err());
    }

    #[test]
    fn hex_round_trip_and_errors() {
        assert_eq!(to_hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(from_hex(b"00AB10").unwrap(), vec![0, 0xab, 0x10]);
        assert!(from_hex(b"abc").unwrap_err().to_string().contains("odd"));
        assert!(from_hex(b"zz")
            .unwrap_err()
            .to_string()
            .contains("offset 0"));
        assert_eq!(from_hex_maybe(b"xxxx").unwrap(), None);
        assert_eq!(from_hex_maybe(b"0100").unwrap(), Some(vec![1, 0]));
    }
}
