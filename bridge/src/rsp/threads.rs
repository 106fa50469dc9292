//! Thread ids (`p<pid>.<tid>` or `<tid>`), `qfThreadInfo`/`qsThreadInfo`, `Hg`, `qThreadExtraInfo`.

use super::malformed::{MalformedReply, Problem};
use crate::target::VcpuId;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while1};
use nom::combinator::{all_consuming, map, map_res, opt};
use nom::multi::separated_list1;
use nom::sequence::{pair, preceded};
use nom::{IResult, Parser};

fn hex_u32(i: &[u8]) -> IResult<&[u8], u32> {
    map_res(take_while1(|c: u8| c.is_ascii_hexdigit()), |h: &[u8]| {
        u32::from_str_radix(std::str::from_utf8(h).unwrap_or(""), 16)
    })
    .parse(i)
}

/// A thread id: `p<pid>.<tid>` with multiprocess, `<tid>` without (then pid 1).
pub fn thread_id(i: &[u8]) -> IResult<&[u8], VcpuId> {
    alt((
        map(
            pair(
                preceded(tag(&b"p"[..]), hex_u32),
                opt(preceded(tag(&b"."[..]), hex_u32)),
            ),
            |(pid, tid)| VcpuId {
                pid,
                tid: tid.unwrap_or(1),
            },
        ),
        map(hex_u32, |tid| VcpuId { pid: 1, tid }),
    ))
    .parse(i)
}

/// One page of a thread list: `m<id>,<id>...` (more may follow) or `l` (the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadListPage {
    More(Vec<VcpuId>),
    End,
}

/// Parses a `qfThreadInfo`/`qsThreadInfo` reply.
pub fn parse_thread_list(body: &[u8]) -> Result<ThreadListPage, MalformedReply> {
    if body == b"l" {
        return Ok(ThreadListPage::End);
    }
    all_consuming(preceded(
        tag(&b"m"[..]),
        separated_list1(tag(&b","[..]), thread_id),
    ))
    .parse(body)
    .map(|(_, ids)| ThreadListPage::More(ids))
    .map_err(|_| {
        MalformedReply::new(
            "thread list",
            body,
            Problem::Shape("not 'l', or 'm' and comma-separated thread ids"),
        )
    })
}

/// `Hg<id>`: select the thread for register and memory requests.
pub fn select_request(id: VcpuId) -> Vec<u8> {
    format!("Hg{}", id.to_rsp()).into_bytes()
}

/// `qThreadExtraInfo,<id>`: its reply is hex-encoded text.
pub fn extra_info_request(id: VcpuId) -> Vec<u8> {
    format!("qThreadExtraInfo,{}", id.to_rsp()).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qemu_thread_lists() {
        assert_eq!(
            parse_thread_list(b"mp01.01,p01.02").unwrap(),
            ThreadListPage::More(vec![VcpuId { pid: 1, tid: 1 }, VcpuId { pid: 1, tid: 2 }])
        );
        assert_eq!(
            parse_thread_list(b"m1,a").unwrap(),
            ThreadListPage::More(vec![VcpuId { pid: 1, tid: 1 }, VcpuId { pid: 1, tid: 10 }])
        );
        assert_eq!(parse_thread_list(b"l").unwrap(), ThreadListPage::End);
        assert!(parse_thread_list(b"m").is_err());
        assert!(parse_thread_list(b"mp01.zz").is_err());
    }

    #[test]
    fn builds_requests() {
        let id = VcpuId { pid: 1, tid: 2 };
        assert_eq!(select_request(id), b"Hgp1.2");
        assert_eq!(extra_info_request(id), b"qThreadExtraInfo,p1.2");
    }
}
