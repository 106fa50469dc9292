//! The TCP connection handed to `gdbstub`.
//!
//! - Buffered both ways: `gdbstub`'s own `TcpStream` connection issues one syscall per byte
//!   written (with `TCP_NODELAY`, one TCP segment per byte). Here a reply goes out in one
//!   write when `gdbstub` flushes, together with its ack `+`.
//! - Incoming packets are assembled whole before `gdbstub` sees them, counted (see
//!   `Counters::classify`), and a few that gdbstub cannot answer the way QEMU does are
//!   answered here instead ([`Conn::intercept`]): QEMU's `qqemu.*`/`Qqemu.*` packets, `qC`,
//!   `qfThreadInfo`/`qsThreadInfo` (one thread per reply), `Z`/`z` breakpoints, a bare `D`
//!   in multiprocess mode, and `p`/`P` before the target description was read (empty).
//! - Outgoing replies can be patched ([`Patch`], `qSupported` feature order).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use gdbstub::conn::{Connection, ConnectionExt};

use crate::target::{lock, Shared};

/// QEMU's single-step flags: `ENABLE | NOIRQ | NOTIMER`.
const SSTEP_ALL: u64 = 0x7;

/// A change the target asks for in its next reply, for the few places where gdbstub's fixed
/// wording differs from QEMU's and the extension API gives no say over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Patch {
    /// The reply is the last chunk of a `qXfer` object: QEMU marks it `l<data>` where gdbstub
    /// writes `m<data>` (and then answers the next offset with a bare `l`).
    FinalChunk,
    /// Replace the whole reply body (e.g. `E22` for an empty `qRcmd,`).
    Body(&'static [u8]),
}

/// Shared between a session's target (which sets it) and its connection (which applies it
/// to the next reply it sends).
pub(crate) type ReplyPatch = Arc<std::sync::Mutex<Option<Patch>>>;

/// Apply `patch` to the first packet in `wbuf`, fixing its checksum.
fn apply_patch(wbuf: &mut Vec<u8>, patch: Patch) {
    let Some(start) = wbuf.iter().position(|&b| b == b'$') else {
        return;
    };
    let Some(len) = wbuf
        .get(start..)
        .and_then(|w| w.iter().position(|&b| b == b'#'))
    else {
        return;
    };
    let end = start + len; // index of '#'
    if end + 3 > wbuf.len() {
        return;
    }
    let Some(body) = wbuf.get(start + 1..end) else {
        return;
    };
    let mut body = body.to_vec();
    match patch {
        Patch::FinalChunk => match body.first_mut() {
            Some(b) if *b == b'm' => *b = b'l',
            _ => return,
        },
        Patch::Body(new) => body = new.to_vec(),
    }
    let sum = body.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    let mut packet = Vec::with_capacity(body.len() + 4);
    packet.push(b'$');
    packet.extend_from_slice(&body);
    packet.extend_from_slice(format!("#{sum:02x}").as_bytes());
    wbuf.splice(start..end + 3, packet);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    Idle,
    Body,
    Checksum(u8),
}

pub(crate) struct Conn {
    stream: TcpStream,
    shared: Arc<Shared>,
    patch: ReplyPatch,
    raw: Vec<u8>,
    raw_pos: usize,
    raw_len: usize,
    /// Bytes released to gdbstub.
    ready: VecDeque<u8>,
    /// The packet being assembled, from `$` to the checksum.
    pkt: Vec<u8>,
    scan: Scan,
    /// The client offered `multiprocess+` in `qSupported` (gdbstub then uses `pPID.TID`).
    multiprocess: bool,
    /// The client has read the target description this session; until then QEMU 7.2
    /// answers `p`/`P` with an empty reply.
    xml_seen: bool,
    /// Next vCPU index `qsThreadInfo` reports.
    thread_cursor: usize,
    wbuf: Vec<u8>,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream, shared: Arc<Shared>, patch: ReplyPatch) -> Self {
        Conn {
            stream,
            shared,
            patch,
            raw: vec![0; 16 * 1024],
            raw_pos: 0,
            raw_len: 0,
            ready: VecDeque::new(),
            pkt: Vec::new(),
            scan: Scan::Idle,
            multiprocess: false,
            thread_cursor: usize::MAX,
            xml_seen: false,
            wbuf: Vec::with_capacity(8 * 1024),
        }
    }

    /// Read from the socket into `raw` if it is used up. Non-blocking mode returns
    /// `Ok(false)` when nothing is there.
    fn fill(&mut self, block: bool) -> io::Result<bool> {
        if self.raw_pos < self.raw_len {
            return Ok(true);
        }
        if !block {
            self.stream.set_nonblocking(true)?;
        }
        let r = Read::read(&mut self.stream, &mut self.raw);
        if !block {
            self.stream.set_nonblocking(false)?;
        }
        match r {
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                self.raw_pos = 0;
                self.raw_len = n;
                Ok(true)
            }
            Err(e) if !block && e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Move raw bytes through the packet scanner until something is ready for gdbstub or
    /// the raw buffer is used up.
    fn process(&mut self) -> io::Result<()> {
        while self.ready.is_empty() && self.raw_pos < self.raw_len {
            let Some(&b) = self.raw.get(self.raw_pos) else {
                break;
            };
            self.raw_pos += 1;
            match self.scan {
                Scan::Idle => {
                    if b == b'$' {
                        self.pkt.clear();
                        self.pkt.push(b);
                        self.scan = Scan::Body;
                    } else {
                        if b == 0x03 {
                            self.shared.counters.interrupts.fetch_add(1, Relaxed);
                        }
                        self.ready.push_back(b);
                    }
                }
                Scan::Body => {
                    self.pkt.push(b);
                    if b == b'#' {
                        self.scan = Scan::Checksum(2);
                    }
                }
                Scan::Checksum(n) => {
                    self.pkt.push(b);
                    if n > 1 {
                        self.scan = Scan::Checksum(n - 1);
                    } else {
                        self.scan = Scan::Idle;
                        self.packet_done()?;
                    }
                }
            }
        }
        Ok(())
    }

    fn packet_done(&mut self) -> io::Result<()> {
        let pkt = std::mem::take(&mut self.pkt);
        // `$<body>#xx`, as assembled by `process`; anything else goes on to gdbstub as is.
        let Some((body, [b'#', checksum @ ..])) = pkt
            .strip_prefix(b"$")
            .and_then(|p| p.split_last_chunk::<3>())
        else {
            self.ready.extend(pkt.iter().copied());
            self.pkt = pkt;
            return Ok(());
        };
        self.shared.counters.classify(body);
        let sum = body.iter().fold(0u8, |a, &b| a.wrapping_add(b));
        let valid = std::str::from_utf8(checksum)
            .ok()
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            == Some(sum);
        let reply = if valid { self.intercept(body) } else { None };
        match reply {
            Some(reply) => {
                self.wbuf.push(b'+');
                write_packet(&mut self.wbuf, reply.as_bytes());
                Connection::flush(self)?;
            }
            None => self.ready.extend(pkt.iter().copied()),
        }
        self.pkt = pkt;
        Ok(())
    }

    /// Answer `body` here, as QEMU 7.2 does, when gdbstub would answer differently.
    /// `None` passes the packet on to gdbstub.
    fn intercept(&mut self, body: &[u8]) -> Option<String> {
        if let Some(features) = body.strip_prefix(b"qSupported:") {
            self.multiprocess = features
                .split(|&b| b == b';')
                .any(|f| f == b"multiprocess+");
            return None;
        }
        if let Some(rest) = body.strip_prefix(b"qXfer:features:read:") {
            if rest.starts_with(b"target.xml:") || rest.starts_with(b"i386-64bit.xml:") {
                self.xml_seen = true;
            }
            return None;
        }
        if matches!(body.first(), Some(b'p' | b'P')) && !self.xml_seen {
            return Some(String::new());
        }
        match body {
            // QEMU lists one thread per reply: `qfThreadInfo` the first, each
            // `qsThreadInfo` the next, then `l`. (gdbstub lists all of them at once.)
            b"qfThreadInfo" => {
                self.thread_cursor = 0;
                return Some(self.next_thread());
            }
            b"qsThreadInfo" => return Some(self.next_thread()),
            // QEMU: always the first vCPU of the process. (gdbstub only has qC in
            // extended mode.)
            b"qC" if self.multiprocess => return Some("QCp01.01".into()),
            b"qC" => return Some("QC01".into()),
            // QEMU 7.2 wants `D;pid` once multiprocess is on; a bare `D` is E22 and the
            // session stays attached with the VM stopped.
            b"D" if self.multiprocess => return Some("E22".into()),
            b"qqemu.Supported" => {
                let mut f = Vec::new();
                if self.shared.sstep_supported {
                    f.extend(["sstepbits", "sstep"]);
                }
                if self.shared.phys_mem_mode_supported {
                    f.push("PhyMemMode");
                }
                return Some(f.join(";"));
            }
            b"qqemu.sstepbits" | b"qqemu.sstep" if !self.shared.sstep_supported => {
                return Some(String::new())
            }
            b"qqemu.PhyMemMode" if !self.shared.phys_mem_mode_supported => {
                return Some(String::new())
            }
            b"qqemu.sstepbits" => return Some("ENABLE=1,NOIRQ=2,NOTIMER=4".into()),
            b"qqemu.sstep" => {
                return Some(format!("0x{:x}", lock(&self.shared.machine).sstep_flags))
            }
            b"qqemu.PhyMemMode" => {
                let on = lock(&self.shared.machine).phys_mem_mode;
                return Some(if on { "1" } else { "0" }.into());
            }
            _ => {}
        }
        // QEMU: selecting (`Hg`/`Hc`) or asking about (`T`) a thread that does not exist is
        // E22 (gdbstub would accept the `H`, and answer `T` with E01).
        let thread_arg = match body {
            [b'H', b'g' | b'c', id @ ..] => Some(id),
            [b'T', id @ ..] => Some(id),
            _ => None,
        };
        if let Some(id) = thread_arg {
            let n = lock(&self.shared.machine).vcpus.len();
            if !thread_id_exists(id, n) {
                return Some("E22".into());
            }
            return None;
        }
        if let [c @ (b'Z' | b'z'), rest @ ..] = body {
            return Some(self.breakpoint(*c == b'Z', rest).into());
        }
        if let Some(arg) = body.strip_prefix(b"Qqemu.sstep=") {
            if !self.shared.sstep_supported {
                return Some(String::new());
            }
            return Some(match parse_ul(arg) {
                // QEMU refuses a bit it did not list in `qqemu.sstepbits`.
                Some(v) if v & !SSTEP_ALL != 0 => "E22".into(),
                Some(v) => {
                    lock(&self.shared.machine).sstep_flags = v;
                    "OK".into()
                }
                None => "E22".into(),
            });
        }
        if let Some(arg) = body.strip_prefix(b"Qqemu.PhyMemMode:") {
            if !self.shared.phys_mem_mode_supported {
                return Some(String::new());
            }
            return Some(match parse_ul(arg) {
                Some(v) => {
                    lock(&self.shared.machine).phys_mem_mode = v != 0;
                    "OK".into()
                }
                None => "E22".into(),
            });
        }
        None
    }
}

impl Conn {
    /// `Z`/`z` as QEMU 7.2 under TCG answers them: types 0-4 are accepted (`OK`); the same
    /// breakpoint may be inserted twice and is then removed twice; removing one that is not
    /// there, or a malformed packet, is `E22`; other types get the empty reply. They are kept
    /// in the machine: a continue "reaches" the first software or hardware one.
    fn breakpoint(&mut self, insert: bool, rest: &[u8]) -> &'static str {
        let Some((&t, args)) = rest.split_first() else {
            return "E22";
        };
        if !t.is_ascii_digit() {
            return "E22";
        }
        let t = t - b'0';
        let mut args = args.strip_prefix(b",").unwrap_or(b"").split(|&b| b == b',');
        let (Some(addr), Some(kind)) = (
            args.next().and_then(parse_ul),
            args.next().and_then(parse_ul),
        ) else {
            return "E22";
        };
        if t > 4 {
            return "";
        }
        let bps = &mut lock(&self.shared.machine).breakpoints;
        if insert {
            bps.push((t, addr, kind));
            return "OK";
        }
        // QEMU matches breakpoints by address, watchpoints by address and length.
        let found = bps
            .iter()
            .position(|&(bt, ba, bk)| bt == t && ba == addr && (t < 2 || bk == kind));
        match found {
            Some(i) => {
                bps.remove(i);
                "OK"
            }
            None => "E22",
        }
    }

    fn next_thread(&mut self) -> String {
        let n = lock(&self.shared.machine).vcpus.len();
        if self.thread_cursor >= n {
            return "l".into();
        }
        self.thread_cursor += 1;
        if self.multiprocess {
            format!("mp01.{:02x}", self.thread_cursor)
        } else {
            format!("m{:02x}", self.thread_cursor)
        }
    }
}

/// Does thread-id `id` (`TID`, `pPID.TID`, with `0` = any and `-1` = all) name vCPUs that
/// exist among `n`? Unparsable ids count as existing (gdbstub then decides).
fn thread_id_exists(id: &[u8], n: usize) -> bool {
    fn part_ok(p: &[u8], max: u64) -> bool {
        if p == b"-1" {
            return true;
        }
        match parse_ul(p) {
            Some(v) => v <= max,
            None => true,
        }
    }
    match id.strip_prefix(b"p") {
        Some(rest) => {
            let mut it = rest.splitn(2, |&b| b == b'.');
            let pid = it.next().unwrap_or(b"");
            let pid_ok = part_ok(pid, 1);
            match it.next() {
                Some(tid) => pid_ok && part_ok(tid, n as u64),
                None => pid_ok,
            }
        }
        None => part_ok(id, n as u64),
    }
}

/// QEMU parses these numbers as hex, with or without `0x`.
fn parse_ul(arg: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(arg).ok()?;
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    u64::from_str_radix(s, 16).ok()
}

/// Append `$body#xx` to `out`.
fn write_packet(out: &mut Vec<u8>, body: &[u8]) {
    let sum = body.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    out.push(b'$');
    out.extend_from_slice(body);
    out.extend_from_slice(format!("#{sum:02x}").as_bytes());
}

impl Connection for Conn {
    type Error = io::Error;

    fn write(&mut self, byte: u8) -> Result<(), io::Error> {
        self.wbuf.push(byte);
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8]) -> Result<(), io::Error> {
        self.wbuf.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), io::Error> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        qemu_order_qsupported(&mut self.wbuf);
        if let Some(p) = lock(&self.patch).take() {
            apply_patch(&mut self.wbuf, p);
        }
        let r = Write::write_all(&mut self.stream, &self.wbuf);
        self.wbuf.clear();
        r
    }

    fn on_session_start(&mut self) -> Result<(), io::Error> {
        self.stream.set_nodelay(true)
    }
}

impl ConnectionExt for Conn {
    fn read(&mut self) -> Result<u8, io::Error> {
        loop {
            if let Some(b) = self.ready.pop_front() {
                return Ok(b);
            }
            self.fill(true)?;
            self.process()?;
        }
    }

    fn peek(&mut self) -> Result<Option<u8>, io::Error> {
        loop {
            if let Some(&b) = self.ready.front() {
                return Ok(Some(b));
            }
            if !self.fill(false)? {
                return Ok(None);
            }
            self.process()?;
        }
    }
}

/// gdbstub writes its `qSupported` reply as `PacketSize=..;vContSupported+;multiprocess+;
/// qXfer:features:read+`; QEMU 7.2 sends the same features as `PacketSize=..;
/// qXfer:features:read+;vContSupported+;multiprocess+`. Reorder an outgoing reply of that
/// shape (found in `wbuf`) into QEMU's order and fix its checksum, so the wire text is
/// identical. Features QEMU does not know keep their order after QEMU's.
pub(crate) fn qemu_order_qsupported(wbuf: &mut Vec<u8>) {
    const HEAD: &[u8] = b"$PacketSize=";
    let Some(start) = wbuf.windows(HEAD.len()).position(|w| w == HEAD) else {
        return;
    };
    let Some(hash) = wbuf
        .get(start..)
        .and_then(|w| w.iter().position(|&b| b == b'#'))
    else {
        return;
    };
    let body_end = start + hash;
    if body_end + 3 > wbuf.len() {
        return;
    }
    let Some(body) = wbuf.get(start + 1..body_end) else {
        return;
    };
    if body.contains(&b'*') {
        return; // run-length encoded: leave it alone
    }
    const ORDER: [&[u8]; 3] = [
        b"qXfer:features:read+",
        b"vContSupported+",
        b"multiprocess+",
    ];
    let mut parts = body.split(|&b| b == b';');
    let Some(size) = parts.next() else {
        return;
    };
    let mut parts: Vec<&[u8]> = parts.collect();
    let mut out: Vec<&[u8]> = vec![size];
    for want in ORDER {
        if let Some(i) = parts.iter().position(|p| *p == want) {
            out.push(parts.remove(i));
        }
    }
    out.extend(parts);
    let new_body = out.join(&b';');
    let sum = new_body.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    let mut packet = Vec::with_capacity(new_body.len() + 4);
    packet.push(b'$');
    packet.extend_from_slice(&new_body);
    packet.extend_from_slice(format!("#{sum:02x}").as_bytes());
    wbuf.splice(start..body_end + 3, packet);
}

impl Drop for Conn {
    fn drop(&mut self) {
        // gdbstub does not flush the ack of a `k`; send whatever is pending.
        let _ = Connection::flush(self);
    }
}

#[cfg(test)]
mod tests {
    use super::{apply_patch, qemu_order_qsupported, Patch};

    #[test]
    fn patches() {
        let mut w = b"+$mabc#9a".to_vec();
        apply_patch(&mut w, Patch::FinalChunk);
        assert_eq!(w, b"+$labc#92");
        let mut w = b"+$OK#9a".to_vec();
        apply_patch(&mut w, Patch::Body(b"E22"));
        assert_eq!(w, b"+$E22#a9");
    }

    #[test]
    fn reorders_qsupported_like_qemu() {
        let body = b"PacketSize=1000;vContSupported+;multiprocess+;qXfer:features:read+";
        let sum = body.iter().fold(0u8, |a, &b| a.wrapping_add(b));
        let mut w = format!("+${}#{sum:02x}", std::str::from_utf8(body).unwrap()).into_bytes();
        qemu_order_qsupported(&mut w);
        let want = b"PacketSize=1000;qXfer:features:read+;vContSupported+;multiprocess+";
        assert_eq!(
            String::from_utf8(w).unwrap(),
            format!("+${}#{sum:02x}", std::str::from_utf8(want).unwrap())
        );
        let mut other = b"+$OK#9a".to_vec();
        qemu_order_qsupported(&mut other);
        assert_eq!(other, b"+$OK#9a");
    }
}
