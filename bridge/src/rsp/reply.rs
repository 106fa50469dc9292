//! The generic shape of a reply: `OK`, `E NN`, empty (unsupported), or data.

use nom::bytes::complete::{tag, take_while_m_n};
use nom::combinator::{all_consuming, map_res};
use nom::sequence::preceded;
use nom::{IResult, Parser};

/// A reply as every request may get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<'a> {
    Ok,
    /// `E NN`: an error number (hex on the wire).
    Error(u8),
    /// An empty reply: the stub does not know the request.
    Unsupported,
    /// Anything else, for the request's own parser.
    Data(&'a [u8]),
}

fn errno(i: &[u8]) -> IResult<&[u8], u8> {
    preceded(
        tag(&b"E"[..]),
        map_res(
            take_while_m_n(2, 2, |c: u8| c.is_ascii_hexdigit()),
            |h: &[u8]| u8::from_str_radix(std::str::from_utf8(h).unwrap_or(""), 16),
        ),
    )
    .parse(i)
}

/// Classifies a (run-length expanded) reply body.
pub fn classify(body: &[u8]) -> Reply<'_> {
    if body.is_empty() {
        return Reply::Unsupported;
    }
    if body == b"OK" {
        return Reply::Ok;
    }
    if let Ok((_, n)) = all_consuming(errno).parse(body) {
        return Reply::Error(n);
    }
    Reply::Data(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_wire_literals() {
        assert_eq!(classify(b"OK"), Reply::Ok);
        assert_eq!(classify(b"E14"), Reply::Error(0x14));
        assert_eq!(classify(b"E22"), Reply::Error(0x22));
        assert_eq!(classify(b""), Reply::Unsupported);
        // Memory whose hex happens to start with E is data, not an error.
        assert_eq!(classify(b"E1400000"), Reply::Data(b"E1400000"));
        assert_eq!(classify(b"ef"), Reply::Data(b"ef"));
    }
}
