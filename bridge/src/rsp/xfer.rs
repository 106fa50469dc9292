//! `qXfer:<object>:read:<annex>:<offset>,<length>` and its `m`/`l` replies.

use super::encoding::unescape_binary;
use super::malformed::{MalformedReply, Problem};

/// Builds a read request for one page of an object.
pub fn read_request(object: &str, annex: &str, offset: usize, len: usize) -> Vec<u8> {
    format!("qXfer:{object}:read:{annex}:{offset:x},{len:x}").into_bytes()
}

/// One page of an object: `m<data>` (more follows) or `l<data>` (last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XferPage {
    pub data: Vec<u8>,
    pub last: bool,
}

/// Parses a qXfer read reply body (already run-length expanded).
pub fn parse_page(body: &[u8]) -> Result<XferPage, MalformedReply> {
    let bad = |p: Problem| MalformedReply::new("qXfer reply", body, p);
    let (&kind, rest) = body
        .split_first()
        .ok_or_else(|| bad(Problem::Shape("empty")))?;
    let last = match kind {
        b'm' => false,
        b'l' => true,
        _ => return Err(bad(Problem::Shape("not 'm' or 'l'"))),
    };
    Ok(XferPage {
        data: unescape_binary(rest).map_err(|e| bad(e.into()))?,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_literals() {
        assert_eq!(
            read_request("features", "target.xml", 0, 0xffb),
            b"qXfer:features:read:target.xml:0,ffb"
        );
        assert_eq!(
            parse_page(b"l<xml/>").unwrap(),
            XferPage {
                data: b"<xml/>".to_vec(),
                last: true
            }
        );
        assert_eq!(
            parse_page(b"ma}]b").unwrap(),
            XferPage {
                data: b"a}b".to_vec(),
                last: false
            }
        );
        assert!(parse_page(b"").is_err());
        assert!(parse_page(b"zz").is_err());
    }
}
