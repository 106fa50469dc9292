//! Stop replies: `S sig`, `T sig key:value;...`, `W status`, `X sig`.

use super::malformed::{lossy, MalformedReply, Problem};
use super::threads::thread_id;
use crate::target::StopReason;
use nom::combinator::all_consuming;
use nom::Parser;

/// Parses a stop reply. `O` console packets are not stop replies and must be handled first.
pub fn parse_stop(body: &[u8]) -> Result<StopReason, MalformedReply> {
    let bad = |p: Problem| MalformedReply::new("stop reply", body, p);
    let (&kind, rest) = body
        .split_first()
        .ok_or_else(|| bad(Problem::Shape("empty")))?;
    let code = rest
        .get(..2)
        .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
        .ok_or_else(|| bad(Problem::Shape("no two-digit hex signal number")))?;
    let tail = rest.get(2..).unwrap_or_default();
    match kind {
        b'S' if tail.is_empty() => Ok(StopReason::Signal {
            signal: code,
            thread: None,
            info: Vec::new(),
        }),
        b'T' => {
            let mut thread = None;
            let mut info = Vec::new();
            for field in tail.split(|&c| c == b';').filter(|f| !f.is_empty()) {
                let mut kv = field.splitn(2, |&c| c == b':');
                let key = kv.next().unwrap_or_default();
                let value = kv.next().ok_or_else(|| {
                    bad(Problem::BadValue {
                        field: "field (no ':')",
                        value: lossy(field),
                    })
                })?;
                if key == b"thread" {
                    let (_, id) = all_consuming(thread_id).parse(value).map_err(|_| {
                        bad(Problem::BadValue {
                            field: "thread id",
                            value: lossy(value),
                        })
                    })?;
                    thread = Some(id);
                } else {
                    info.push((
                        String::from_utf8_lossy(key).into_owned(),
                        String::from_utf8_lossy(value).into_owned(),
                    ));
                }
            }
            Ok(StopReason::Signal {
                signal: code,
                thread,
                info,
            })
        }
        // `W`/`X` may carry `;process:pid`.
        b'W' if tail.is_empty() || tail.starts_with(b";") => Ok(StopReason::Exited(code)),
        b'X' if tail.is_empty() || tail.starts_with(b";") => Ok(StopReason::Terminated(code)),
        b'S' | b'W' | b'X' => Err(bad(Problem::Shape("data after the signal number"))),
        _ => Err(bad(Problem::Shape("not S, T, W or X"))),
    }
}

/// Whether a reply body is a stop reply at all.
pub fn is_stop_reply(body: &[u8]) -> bool {
    matches!(body.first(), Some(b'S' | b'T' | b'W' | b'X'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::VcpuId;

    #[test]
    fn parses_qemu_stop_replies() {
        assert_eq!(
            parse_stop(b"T05thread:p01.01;").unwrap(),
            StopReason::Signal {
                signal: 5,
                thread: Some(VcpuId { pid: 1, tid: 1 }),
                info: vec![]
            }
        );
        assert_eq!(
            parse_stop(b"T05thread:p01.02;watch:ffffffff81e0a000;").unwrap(),
            StopReason::Signal {
                signal: 5,
                thread: Some(VcpuId { pid: 1, tid: 2 }),
                info: vec![("watch".into(), "ffffffff81e0a000".into())]
            }
        );
        assert_eq!(
            parse_stop(b"S02").unwrap(),
            StopReason::Signal {
                signal: 2,
                thread: None,
                info: vec![]
            }
        );
        assert_eq!(parse_stop(b"W00").unwrap(), StopReason::Exited(0));
        assert_eq!(
            parse_stop(b"X09;process:1").unwrap(),
            StopReason::Terminated(9)
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &b""[..],
            b"T",
            b"T0",
            b"Tzz",
            b"T05thread",
            b"T05thread:q;",
            b"S05x",
            b"Q05",
        ] {
            assert!(
                parse_stop(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
