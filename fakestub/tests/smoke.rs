//! The fake spoken to by hand over a raw TcpStream, checking the QEMU 7.2 replies it copies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use qmdb_fakestub::regs::{regnum, QEMU_X86_64_REGS};
use qmdb_fakestub::{pattern_byte, FakeConfig, FakeStub, QemuX86_64Regs, Region};

/// A minimal RSP client: acks everything, no pipelining unless asked.
struct Rsp {
    s: TcpStream,
    buf: Vec<u8>,
}

fn frame(body: &str) -> Vec<u8> {
    let sum = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    format!("${body}#{sum:02x}").into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

impl Rsp {
    /// Connects; a VM that was running is stopped, and reported stopped at once, as QEMU
    /// does (before anything is negotiated, so the thread id has no `p`).
    fn connect(stub: &FakeStub) -> Rsp {
        let was_running = stub.vm_running();
        let s = TcpStream::connect(stub.addr()).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut c = Rsp { s, buf: Vec::new() };
        if was_running {
            assert_eq!(c.recv().as_deref(), Some("T02thread:01;"));
        }
        c
    }

    /// Connect and negotiate like qmdb does.
    fn attach(stub: &FakeStub) -> Rsp {
        let mut c = Rsp::connect(stub);
        c.s.write_all(b"+").unwrap();
        let r = c.cmd("qSupported:multiprocess+;xmlRegisters=i386");
        assert!(r.starts_with("PacketSize="), "{r}");
        c
    }

    fn send(&mut self, body: &str) {
        self.s.write_all(&frame(body)).unwrap();
    }

    /// The next packet body (acks skipped), or None on EOF.
    fn recv(&mut self) -> Option<String> {
        loop {
            while matches!(self.buf.first(), Some(b'+' | b'-')) {
                self.buf.remove(0);
            }
            if let Some(start) = self.buf.iter().position(|&b| b == b'$') {
                if let Some(h) = self.buf[start..].iter().position(|&b| b == b'#') {
                    let end = start + h;
                    if self.buf.len() >= end + 3 {
                        let body = &self.buf[start + 1..end];
                        let sum = body.iter().fold(0u8, |a, &b| a.wrapping_add(b));
                        let want = std::str::from_utf8(&self.buf[end + 1..end + 3]).unwrap();
                        assert_eq!(format!("{sum:02x}"), want, "bad checksum");
                        let body = String::from_utf8(body.to_vec()).unwrap();
                        self.buf.drain(..end + 3);
                        self.s.write_all(b"+").unwrap();
                        return Some(body);
                    }
                }
            }
            let mut tmp = [0u8; 65536];
            match self.s.read(&mut tmp) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    fn cmd(&mut self, body: &str) -> String {
        self.send(body);
        self.recv().expect("connection closed")
    }

    /// A `qRcmd`: the decoded console output and the final reply.
    fn monitor(&mut self, line: &str) -> (String, String) {
        self.send(&format!("qRcmd,{}", hex(line.as_bytes())));
        let mut out = String::new();
        loop {
            let r = self.recv().unwrap();
            match r.strip_prefix('O') {
                Some(h) if r != "OK" => out.push_str(&String::from_utf8(unhex(h)).unwrap()),
                _ => return (out, r),
            }
        }
    }

    /// Whether anything arrives within `d`.
    fn quiet_for(&mut self, d: Duration) -> bool {
        self.s.set_read_timeout(Some(d)).unwrap();
        let mut tmp = [0u8; 64];
        let r = self.s.read(&mut tmp);
        self.s
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        match r {
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                n == 0
            }
            Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        }
    }
}

const KBASE: u64 = 0xffff_8880_0000_0000;

/// 3 pages + 5 bytes mapped at KBASE (ends at an odd address), a 1-byte island after a
/// 3-byte hole, and zeros at 0.
fn stub() -> FakeStub {
    let cfg = FakeConfig::default()
        .with_region(Region::with_pattern(KBASE, 3 * 4096 + 5))
        .with_region(Region::new(KBASE + 3 * 4096 + 8, vec![0xaa]))
        .with_region(Region::new(0, vec![0; 0x1000]));
    FakeStub::start(cfg).unwrap()
}

#[test]
fn qsupported_like_qemu() {
    let stub = stub();
    let mut c = Rsp::connect(&stub);
    c.s.write_all(b"+").unwrap();
    assert_eq!(
        c.cmd("qSupported:multiprocess+;xmlRegisters=i386"),
        "PacketSize=1000;qXfer:features:read+;vContSupported+;multiprocess+"
    );
    assert_eq!(c.cmd("QStartNoAckMode"), "");
    assert_eq!(c.cmd("?"), "T05thread:p01.01;");
    assert_eq!(c.cmd("qC"), "QCp01.01");
    assert_eq!(c.cmd("qAttached"), "1");
    assert_eq!(c.cmd("vCont?"), "vCont;c;C;s;S");
}

#[test]
fn packet_size_is_configurable() {
    let stub = FakeStub::start(FakeConfig::default().with_packet_size(0x4000)).unwrap();
    let mut c = Rsp::connect(&stub);
    c.s.write_all(b"+").unwrap();
    let r = c.cmd("qSupported:multiprocess+");
    assert!(r.starts_with("PacketSize=4000;"), "{r}");
}

#[test]
fn memory_reads_all_or_nothing() {
    let stub = stub();
    let mut c = Rsp::attach(&stub);
    stub.reset_stats();

    let want: Vec<u8> = (0..16).map(|i| pattern_byte(KBASE + 0x100 + i)).collect();
    assert_eq!(c.cmd(&format!("m{:x},10", KBASE + 0x100)), hex(&want));
    // Up to the last mapped byte (odd end) is fine; one more is a hole.
    let last = KBASE + 3 * 4096 + 4;
    assert_eq!(c.cmd(&format!("m{:x},1", last)), hex(&[pattern_byte(last)]));
    assert_eq!(c.cmd(&format!("m{:x},2", last)), "E14");
    assert_eq!(c.cmd(&format!("m{:x},10", KBASE - 8)), "E14");
    assert_eq!(c.cmd(&format!("m{:x},1", KBASE + 3 * 4096 + 8)), "aa");
    assert_eq!(c.cmd("mffffffffffff0000,8"), "E14");
    // Oversized: more than PacketSize/2 = 2048 bytes, even where nothing is mapped.
    assert_eq!(c.cmd(&format!("m{:x},801", KBASE)), "E22");
    assert_eq!(c.cmd("m0,1000"), "E22");
    assert_eq!(c.cmd("mffffffffffff0000,1000"), "E22");
    assert_eq!(c.cmd(&format!("m{:x},1000000", KBASE)), "E22");
    // Exactly 2048 is fine.
    let r = c.cmd(&format!("m{:x},800", KBASE + 4096));
    assert_eq!(unhex(&r), stub.peek_memory(KBASE + 4096, 2048).unwrap());
    assert_eq!(c.cmd("m0,0"), "");

    let st = stub.stats();
    assert_eq!(st.mem_reads, 12);
    assert_eq!(st.mem_reads_ok, 4);
    assert_eq!(st.mem_reads_e14, 3);
    assert_eq!(st.mem_reads_e22, 4);
    assert_eq!(st.mem_read_bytes, 16 + 1 + 1 + 2048);
    assert_eq!(st.mem_writes, 0);
}

#[test]
fn pipelined_reads_answered_in_order() {
    let stub = stub();
    let mut c = Rsp::attach(&stub);
    stub.reset_stats();
    let mut batch = Vec::new();
    for i in 0..64u64 {
        batch.extend(frame(&format!("m{:x},8", KBASE + i * 0x30)));
    }
    c.s.write_all(&batch).unwrap();
    for i in 0..64u64 {
        let a = KBASE + i * 0x30;
        let want: Vec<u8> = (0..8).map(|k| pattern_byte(a + k)).collect();
        assert_eq!(c.recv().unwrap(), hex(&want));
    }
    assert_eq!(stub.stats().mem_reads, 64);
    assert_eq!(stub.stats().packets, 64);
}

#[test]
fn threads_like_qemu() {
    let stub = stub();
    let mut c = Rsp::attach(&stub);
    assert_eq!(c.cmd("qfThreadInfo"), "mp01.01");
    assert_eq!(c.cmd("qsThreadInfo"), "mp01.02");
    assert_eq!(c.cmd("qsThreadInfo"), "l");
    let info = |c: &mut Rsp, t: &str| {
        String::from_utf8(unhex(&c.cmd(&format!("qThreadExtraInfo,{t}")))).unwrap()
    };
    assert_eq!(info(&mut c, "p1.1"), "CPU#0 [running]");
    assert_eq!(info(&mut c, "p1.2"), "CPU#1 [halted ]");
    assert_eq!(c.cmd("Tp1.2"), "OK");
    assert_eq!(c.cmd("Tp1.3"), "E22");
    assert_eq!(c.cmd("Hgp1.3"), "E22");
    assert_eq!(c.cmd("Hgp1.2"), "OK");
}

#[test]
fn target_description_like_qemu() {
    let stub = stub();
    let mut c = Rsp::attach(&stub);
    let t = c.cmd("qXfer:features:read:target.xml:0,ffb");
    assert_eq!(
        t,
        "l<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\"><target>\
         <architecture>i386:x86-64</architecture><xi:include href=\"i386-64bit.xml\"/></target>"
    );
    assert_eq!(c.cmd("qXfer:features:read:foo.xml:0,ffb"), "E00");

    // Page through i386-64bit.xml as gdb does.
    let mut xml = String::new();
    loop {
        let r = c.cmd(&format!(
            "qXfer:features:read:i386-64bit.xml:{:x},ffb",
            xml.len()
        ));
        assert!(r.len() <= 1 + 2045, "chunk too long: {}", r.len());
        xml.push_str(&r[1..]);
        if r.starts_with('l') {
            break;
        }
        assert!(r.starts_with('m'));
    }
    assert_eq!(xml.len(), 8175);

    // Its registers (outside comments) are exactly the layout the fake serves.
    let mut text = xml.clone();
    while let Some(a) = text.find("<!--") {
        let b = a + text[a..].find("-->").unwrap() + 3;
        text.replace_range(a..b, "");
    }
    let regs: Vec<(String, usize)> = text
        .split("<reg ")
        .skip(1)
        .map(|r| {
            let attr = |n: &str| {
                let i = r.find(&format!("{n}=\"")).unwrap() + n.len() + 2;
                r[i..i + r[i..].find('"').unwrap()].to_string()
            };
            (attr("name"), attr("bitsize").parse::<usize>().unwrap() / 8)
        })
        .collect();
    let want: Vec<(String, usize)> = QEMU_X86_64_REGS
        .iter()
        .map(|&(n, s)| (n.to_string(), s))
        .collect();
    assert_eq!(regs, want);
}

#[test]
fn registers_per_vcpu() {
    let mut cfg = FakeConfig::default();
    cfg.vcpu_mut(1).regs.rip = 0xffff_ffff_8123_4567;
    cfg.vcpu_mut(1).regs.cr3 = 0x1234_5000;
    let stub = FakeStub::start(cfg).unwrap();
    let mut c = Rsp::attach(&stub);
    let g = c.cmd("g");
    assert_eq!(g.len(), 1216);
    assert_eq!(unhex(&g), QemuX86_64Regs::pattern(0).to_bytes());
    assert_eq!(c.cmd("Hgp1.2"), "OK");
    let g = QemuX86_64Regs::from_bytes(&unhex(&c.cmd("g"))).unwrap();
    assert_eq!(g.rip, 0xffff_ffff_8123_4567);
    assert_eq!(g.cr3, 0x1234_5000);
    assert_eq!(g.rsp(), QemuX86_64Regs::pattern(1).rsp());
    // Like QEMU, `p` answers nothing until the target description has been read.
    assert_eq!(c.cmd("p10"), "");
    c.cmd("qXfer:features:read:target.xml:0,ffb");
    assert_eq!(c.cmd("p10"), hex(&0xffff_ffff_8123_4567u64.to_le_bytes()));
    assert_eq!(
        c.cmd(&format!("p{:x}", regnum::CR3)),
        hex(&0x1234_5000u64.to_le_bytes())
    );
    assert_eq!(c.cmd("p41"), "801f0000");
    assert_eq!(c.cmd("p42"), "E14");
}

#[test]
fn continue_and_interrupt_like_qemu() {
    let stub = stub();
    let mut c = Rsp::attach(&stub);
    // Interrupting a stopped VM: no reply at all.
    c.s.write_all(b"\x03").unwrap();
    assert!(c.quiet_for(Duration::from_millis(100)));
    assert_eq!(c.cmd("?"), "T05thread:p01.01;");
    c.send("vCont;c");
    assert!(c.quiet_for(Duration::from_millis(50)));
    assert!(stub.vm_running());
    assert_eq!(c.monitor("info status").0, "VM status: running\r\n");
    c.s.write_all(b"\x03").unwrap();
    assert_eq!(c.recv().unwrap(), "T02thread:p01.01;");
    assert!(!stub.vm_running());
    assert_eq!(c.cmd("vCont;s:p1.2"), "T05thread:p01.02;");
    assert_eq!(c.cmd("?"), "T05thread:p01.01;");
    let st = stub.stats();
    assert_eq!(st.interrupts, 2);
    assert_eq!(st.resumes, 2);
}

#[test]
fn monitor_like_qemu() {
    let stub = stub();
    let mut c = Rsp::attach(&stub);
    assert_eq!(
        c.monitor("info version"),
        ("7.2.0-fake\r\n".into(), "OK".into())
    );
    assert_eq!(
        c.monitor("info status"),
        ("VM status: paused\r\n".into(), "OK".into())
    );
    assert_eq!(
        c.monitor("foo bar"),
        ("unknown command: 'foo'\r\n".into(), "OK".into())
    );
    assert_eq!(c.monitor(""), (String::new(), "E22".into()));
    assert_eq!(
        stub.monitor_log(),
        ["info version", "info status", "foo bar"]
    );
}

#[test]
fn writes_are_recorded() {
    let stub = stub();
    let mut c = Rsp::attach(&stub);
    assert_eq!(c.cmd(&format!("M{:x},2:beef", KBASE)), "OK");
    assert_eq!(
        c.cmd(&format!("M{:x},4:00000000", KBASE + 3 * 4096 + 3)),
        "E14"
    );
    assert_eq!(c.cmd(&format!("m{:x},2", KBASE)), "beef");
    assert_eq!(c.cmd("X0,0:"), "");
    let st = stub.stats();
    assert_eq!(st.mem_writes, 3);
    let w = stub.writes();
    assert_eq!(w.len(), 2);
    assert_eq!(
        (w[0].addr, w[0].data.clone(), w[0].ok),
        (KBASE, vec![0xbe, 0xef], true)
    );
    assert!(!w[1].ok);
    stub.reset_stats();
    assert_eq!(stub.stats().mem_writes, 0);
    assert!(stub.writes().is_empty());
}

#[test]
fn kill_is_recorded_and_server_keeps_serving() {
    let stub = stub();
    let mut c = Rsp::attach(&stub);
    assert_eq!(stub.stats().kills, 0);
    c.send("k");
    assert_eq!(c.recv(), None, "k must end the session");
    assert_eq!(stub.stats().kills, 1);
    let mut c = Rsp::attach(&stub);
    c.send("vKill;1");
    assert_eq!(c.recv(), None);
    assert_eq!(stub.stats().kills, 2);
    let mut c = Rsp::attach(&stub);
    assert_eq!(c.cmd("?"), "T05thread:p01.01;");
    assert_eq!(stub.stats().sessions, 3);
    assert_eq!(stub.stats().session_errors, 0, "{:?}", stub.last_error());
}

#[test]
fn detach_and_phys_mode() {
    let cfg = FakeConfig {
        phys_regions: vec![Region::new(0x1000, vec![0x11; 16])],
        ..FakeConfig::default()
    };
    let stub = FakeStub::start(cfg).unwrap();
    let mut c = Rsp::attach(&stub);
    assert_eq!(c.cmd("m1000,4"), "E14");
    assert_eq!(c.cmd("qqemu.PhyMemMode"), "0");
    assert_eq!(c.cmd("Qqemu.PhyMemMode:1"), "OK");
    assert_eq!(c.cmd("m1000,4"), "11111111");
    // A bare `D` in multiprocess mode is refused by QEMU 7.2; `D;1` detaches.
    assert_eq!(c.cmd("D"), "E22");
    assert_eq!(c.cmd("D;1"), "OK");
    assert_eq!(c.recv(), None);
    assert!(stub.vm_running());
    assert!(stub.phys_mem_mode(), "the mode survives the session");
    let mut c = Rsp::attach(&stub);
    assert!(!stub.vm_running(), "connecting stops the VM");
    assert_eq!(c.cmd("qqemu.PhyMemMode"), "1");
    assert_eq!(c.cmd("Qqemu.PhyMemMode:0"), "OK");
    assert!(!stub.phys_mem_mode());
    assert_eq!(stub.stats().detaches, 2);
}

#[test]
fn breakpoints_like_qemu() {
    let stub = stub();
    let mut c = Rsp::attach(&stub);
    assert_eq!(c.cmd("Z0,1000,1"), "OK");
    assert_eq!(c.cmd("z0,1000,1"), "OK");
    assert_eq!(c.cmd("z0,1000,1"), "E22");
    assert_eq!(c.cmd("Z5,0,1"), "");
    assert_eq!(stub.stats().mem_writes, 0);
}

#[test]
fn drop_is_prompt_with_a_client_connected() {
    let stub = stub();
    let mut c = Rsp::attach(&stub);
    c.send("c");
    assert!(c.quiet_for(Duration::from_millis(20)));
    let t = Instant::now();
    drop(stub);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(c.recv(), None);
}

#[test]
fn drop_is_prompt_when_idle() {
    let stub = stub();
    let addr = stub.addr();
    let t = Instant::now();
    stub.stop();
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn rle_is_optional() {
    let cfg = FakeConfig {
        rle: true,
        ..FakeConfig::default()
    }
    .with_region(Region::new(0, vec![0; 64]));
    let stub = FakeStub::start(cfg).unwrap();
    let mut c = Rsp::attach(&stub);
    let r = c.cmd("m0,40");
    assert!(r.contains('*'), "{r}");
    // Expand `X*n`: repeat X (n - 29) more times.
    let mut out = String::new();
    let mut chars = r.chars();
    while let Some(ch) = chars.next() {
        if ch == '*' {
            let n = chars.next().unwrap() as usize - 29;
            let last = out.chars().last().unwrap();
            out.extend(std::iter::repeat_n(last, n));
        } else {
            out.push(ch);
        }
    }
    assert_eq!(out, "0".repeat(128));
}
