//! The client and `BlockingTarget` against the fake QEMU-like gdbstub: negotiation, stop
//! state, vCPUs, registers, monitor, run control, detach, the page cache, `PhyMemMode`, and
//! the refusal to kill QEMU.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use qmdb_bridge::blocking::{BlockingTarget, ConnectOptions};
use qmdb_bridge::client::{Client, ClientOptions};
use qmdb_bridge::{read_exact, BridgeError, RunState, StopReason, Target, VcpuId, VirtAddr};
use qmdb_fakestub::regs::QEMU_X86_64_REGS;
use qmdb_fakestub::{FakeConfig, FakeStub, Region};

const KERNEL: u64 = 0xffff_8880_0100_0000;

fn opts(cache: bool) -> ConnectOptions {
    ConnectOptions {
        client: ClientOptions {
            timeout: Duration::from_secs(5),
        },
        cache,
        writable: false,
    }
}

fn connect(stub: &FakeStub, cache: bool) -> BlockingTarget {
    BlockingTarget::connect(&stub.addr().to_string(), opts(cache)).expect("connect to the fake")
}

fn vcpu(tid: u32) -> VcpuId {
    VcpuId { pid: 1, tid }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Polls `cond` for up to two seconds (the fake acts on its own thread).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Checks for `ms` milliseconds that `cond` stays true.
fn stays(what: &str, ms: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < deadline {
        assert!(cond(), "no longer true: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn assert_no_kill_no_write(stub: &FakeStub) {
    let s = stub.stats();
    assert_eq!((s.kills, s.mem_writes, s.reg_writes), (0, 0, 0), "{s:?}");
}

#[test]
fn connect_learns_packet_size_and_never_exceeds_it() {
    let len = 20_000;
    let cfg = FakeConfig::default()
        .with_packet_size(0x190)
        .with_region(Region::with_pattern(KERNEL + 3, len));
    let stub = FakeStub::start(cfg).unwrap();

    rt().block_on(async {
        let c = Client::connect(&stub.addr().to_string(), opts(false).client)
            .await
            .unwrap();
        assert_eq!(c.features().packet_size, Some(0x190));
        assert_eq!(c.packet_size(), 400);
        assert_eq!(c.max_read(), 200);
        c.close(false).await.unwrap();
    });

    for cache in [false, true] {
        stub.reset_stats();
        let mut t = connect(&stub, cache);
        assert_eq!(t.status().unwrap().packet_size, 0x190);
        let got = read_exact(&mut t, VirtAddr(KERNEL + 3), len).unwrap();
        assert_eq!(got, stub.peek_memory(KERNEL + 3, len).unwrap());
        let s = stub.stats();
        assert_eq!(
            s.mem_reads_e22, 0,
            "a read exceeded PacketSize/2 (cache {cache})"
        );
        if !cache {
            // (The cache fetches whole pages, which reach past the region.)
            assert_eq!(s.mem_reads_e14, 0);
        }
        assert!(s.mem_reads as usize >= len / 200, "cache {cache}: {s:?}");
        drop(t);
        assert_no_kill_no_write(&stub);
    }
}

#[test]
fn stop_state_comes_from_the_question_mark_query() {
    let stub = FakeStub::start(FakeConfig::default()).unwrap();
    rt().block_on(async {
        let c = Client::connect(&stub.addr().to_string(), opts(false).client)
            .await
            .unwrap();
        assert_eq!(
            c.state(),
            &RunState::Stopped(StopReason::Signal {
                signal: 5,
                thread: Some(vcpu(1)),
                info: vec![]
            })
        );
        c.close(false).await.unwrap();
    });
    let mut t = connect(&stub, true);
    let st = t.status().unwrap();
    assert!(matches!(
        st.state,
        RunState::Stopped(StopReason::Signal { signal: 5, .. })
    ));
    assert_eq!(st.selected, vcpu(1));
    assert_eq!(st.vcpus, 2);
}

#[test]
fn vcpu_lists_and_extra_info_with_two_and_four_vcpus() {
    for n in [2usize, 4] {
        let mut cfg = FakeConfig::default().with_vcpus(n);
        // vCPU 2 of 4 runs; the others follow the fake's default (only CPU 0 runs).
        if n == 4 {
            cfg.vcpu_mut(2).halted = false;
        }
        let stub = FakeStub::start(cfg).unwrap();
        let want_ids: Vec<VcpuId> = (1..=n as u32).map(vcpu).collect();
        let want_extra: Vec<String> = (0..n)
            .map(|i| {
                let running = i == 0 || (n == 4 && i == 2);
                format!("CPU#{i} [{}]", if running { "running" } else { "halted " })
            })
            .collect();

        rt().block_on(async {
            let mut c = Client::connect(&stub.addr().to_string(), opts(false).client)
                .await
                .unwrap();
            let ids = c.threads().await.unwrap();
            assert_eq!(ids, want_ids);
            assert_eq!(c.thread_extra_info(&ids).await.unwrap(), want_extra);
            c.close(false).await.unwrap();
        });

        let mut t = connect(&stub, false);
        let infos = t.vcpus().unwrap();
        assert_eq!(infos.iter().map(|v| v.id).collect::<Vec<_>>(), want_ids);
        assert_eq!(
            infos.iter().map(|v| v.extra.clone()).collect::<Vec<_>>(),
            want_extra
        );
        assert_eq!(t.status().unwrap().vcpus, n);
        // A vCPU that does not exist is refused before anything is sent.
        assert!(matches!(
            t.select_vcpu(vcpu(n as u32 + 1)),
            Err(BridgeError::Invalid(_))
        ));
    }
}

#[test]
fn registers_of_the_selected_vcpu_by_name_through_target_xml() {
    let mut cfg = FakeConfig::default().with_vcpus(4);
    {
        let r = &mut cfg.vcpu_mut(2).regs;
        r.rip = 0xffff_ffff_8123_4567;
        r.set_rsp(0xffff_c900_0042_7e58);
        r.cr3 = 0x0000_0001_0a3b_c000;
        r.eflags = 0x0000_0282;
        r.gs_base = 0xffff_8881_3bd0_0000;
        r.xmm[7] = 0x0011_2233_4455_6677_8899_aabb_ccdd_eeff;
        r.mxcsr = 0x1fa0;
    }
    let stub = FakeStub::start(cfg).unwrap();
    let mut t = connect(&stub, false);

    // The layout is QEMU's, as parsed from target.xml + i386-64bit.xml.
    let layout = t.register_layout().clone();
    assert_eq!(layout.regs.len(), QEMU_X86_64_REGS.len());
    for (i, (desc, (name, bytes))) in layout.regs.iter().zip(QEMU_X86_64_REGS).enumerate() {
        assert_eq!(
            (desc.name.as_str(), desc.bits, desc.regnum as usize),
            (name, bytes as u32 * 8, i)
        );
    }

    for id in [vcpu(3), vcpu(1), vcpu(4)] {
        t.select_vcpu(id).unwrap();
        assert_eq!(t.selected_vcpu(), id);
        let v = t.read_registers().unwrap();
        let want = stub.vcpu(id.cpu_index() as usize).unwrap().regs;
        assert_eq!(v.get_u64("rip"), Some(want.rip), "vCPU {id}");
        assert_eq!(v.get_u64("rsp"), Some(want.rsp()), "vCPU {id}");
        assert_eq!(v.get_u64("cr3"), Some(want.cr3), "vCPU {id}");
        assert_eq!(
            v.get_u64("eflags"),
            Some(u64::from(want.eflags)),
            "vCPU {id}"
        );
        assert_eq!(v.get_u64("gs_base"), Some(want.gs_base), "vCPU {id}");
        assert_eq!(v.get_u64("mxcsr"), Some(u64::from(want.mxcsr)), "vCPU {id}");
        assert_eq!(
            v.get_bytes("xmm7"),
            Some(&want.xmm[7].to_le_bytes()[..]),
            "vCPU {id}"
        );
        // Every register the layout names came back, with its width.
        assert_eq!(v.values.len(), layout.regs.len());
        for (desc, bytes) in &v.values {
            assert_eq!(bytes.len() * 8, desc.bits as usize, "{}", desc.name);
        }
    }
    // The configured values, not the defaults.
    t.select_vcpu(vcpu(3)).unwrap();
    let v = t.read_registers().unwrap();
    assert_eq!(v.get_u64("rip"), Some(0xffff_ffff_8123_4567));
    assert_eq!(v.get_u64("RSP"), Some(0xffff_c900_0042_7e58));
    assert_eq!(v.get_u64("cr3"), Some(0x0000_0001_0a3b_c000));
    assert_eq!(v.get_u64("eflags"), Some(0x282));
    assert_eq!(v.get_u64("gs_base"), Some(0xffff_8881_3bd0_0000));
    assert_eq!(
        v.get_bytes("xmm7").unwrap(),
        0x0011_2233_4455_6677_8899_aabb_ccdd_eeffu128.to_le_bytes()
    );
    drop(t);
    assert_no_kill_no_write(&stub);
}

#[test]
fn monitor_commands_pass_through() {
    let cfg = FakeConfig {
        version: "7.2.22Debian 1:7.2+dfsg-7+deb12u18+b3".into(),
        ..FakeConfig::default()
    };
    let stub = FakeStub::start(cfg).unwrap();
    let mut t = connect(&stub, true);
    assert_eq!(
        t.monitor("info version").unwrap(),
        "7.2.22Debian 1:7.2+dfsg-7+deb12u18+b3\r\n"
    );
    assert_eq!(
        t.status().unwrap().qemu_version.as_deref(),
        Some("7.2.22Debian 1:7.2+dfsg-7+deb12u18+b3")
    );
    // Several `O` lines are joined in order.
    let help = t.monitor("info").unwrap();
    assert!(help.starts_with("info status"), "{help:?}");
    assert!(help.contains("\r\ninfo version"), "{help:?}");
    assert_eq!(
        t.monitor("frobnicate now").unwrap(),
        "unknown command: 'frobnicate'\r\n"
    );
    assert!(stub.monitor_log().iter().any(|l| l == "frobnicate now"));
}

#[test]
fn interrupt_while_stopped_returns_the_stop_reason_at_once() {
    let stub = FakeStub::start(FakeConfig::default()).unwrap();
    let mut t = connect(&stub, false);
    let t0 = Instant::now();
    let r = t.interrupt().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert_eq!(
        r,
        StopReason::Signal {
            signal: 5,
            thread: Some(vcpu(1)),
            info: vec![]
        }
    );
    // QEMU does not answer `\x03` while stopped: none was sent.
    assert_eq!(stub.stats().interrupts, 0);
}

#[test]
fn resume_then_interrupt_stops_with_sigint() {
    let stub = FakeStub::start(FakeConfig::default()).unwrap();
    let mut t = connect(&stub, false);
    t.resume().unwrap();
    eventually("the fake VM runs", || stub.vm_running());
    assert_eq!(t.status().unwrap().state, RunState::Running);
    let r = t.interrupt().unwrap();
    assert!(
        matches!(
            r,
            StopReason::Signal {
                signal: 2,
                thread: Some(VcpuId { pid: 1, tid: 1 }),
                ..
            }
        ),
        "{r:?}"
    );
    assert!(!stub.vm_running());
    assert_eq!(stub.stats().interrupts, 1);
    assert_eq!(t.status().unwrap().state, RunState::Stopped(r.clone()));
    // Stopped again: a second interrupt sends nothing and returns the same reason.
    assert_eq!(t.interrupt().unwrap(), r);
    assert_eq!(stub.stats().interrupts, 1);
    // And the session still works.
    assert!(t.vcpus().is_ok());
}

#[test]
fn close_with_resume_detaches_and_the_vm_runs() {
    let stub = FakeStub::start(FakeConfig::default()).unwrap();
    let mut t = connect(&stub, false);
    assert!(!stub.vm_running());
    t.close(true).unwrap();
    eventually("the detached VM runs", || stub.vm_running());
    assert_eq!(stub.stats().detaches, 1);
    // Closing again is harmless and sends nothing.
    t.close(true).unwrap();
    drop(t);
    assert_eq!(stub.stats().detaches, 1);
    assert_no_kill_no_write(&stub);
}

#[test]
fn close_without_resume_leaves_the_vm_stopped() {
    let stub = FakeStub::start(FakeConfig::default()).unwrap();
    let mut t = connect(&stub, false);
    t.close(false).unwrap();
    drop(t);
    stays("the VM stays stopped", 150, || !stub.vm_running());
    assert_eq!(stub.stats().detaches, 0);
    assert_no_kill_no_write(&stub);
}

#[test]
fn was_running_at_attach_follows_the_stop_reported_on_connect() {
    // A running VM: connecting stops it and the stub says so at once (`T02`), as QEMU does.
    // Dropping the target then resumes it.
    let stub = FakeStub::start(FakeConfig::default()).unwrap();
    let mut t = connect(&stub, false);
    assert!(t.status().unwrap().was_running_at_attach);
    drop(t);
    eventually("the VM runs again", || stub.vm_running());
    assert_eq!(stub.stats().detaches, 1);

    // A VM that was already stopped (`-S`, a breakpoint, a previous debugger) gets no stop
    // reply on connect, whatever its monitor says, and stays stopped.
    for status in ["VM status: paused\r\n", "VM status: paused (debug)\r\n"] {
        let mut cfg = FakeConfig {
            running: false,
            ..FakeConfig::default()
        };
        cfg.monitor_extra
            .insert("info status".into(), status.to_string());
        let stub = FakeStub::start(cfg).unwrap();
        let mut t = connect(&stub, false);
        assert!(!t.status().unwrap().was_running_at_attach, "{status:?}");
        t.detach().unwrap();
        drop(t);
        stays("the VM stays stopped", 100, || !stub.vm_running());
        assert_eq!(stub.stats().detaches, 0, "{status:?}");
    }
}

#[test]
fn page_cache_serves_repeats_and_resume_drops_it() {
    let cfg = FakeConfig::default().with_region(Region::with_pattern(KERNEL, 3 * 4096));
    let stub = FakeStub::start(cfg).unwrap();
    let mut t = connect(&stub, true);
    let at = VirtAddr(KERNEL + 0x123);
    let first = read_exact(&mut t, at, 100).unwrap();
    assert_eq!(first, stub.peek_memory(KERNEL + 0x123, 100).unwrap());
    let m = stub.stats().mem_reads;
    assert!(m > 0);

    // Repeats and other reads inside the cached page: no packet.
    assert_eq!(read_exact(&mut t, at, 100).unwrap(), first);
    assert_eq!(
        read_exact(&mut t, VirtAddr(KERNEL + 0xff8), 8).unwrap(),
        stub.peek_memory(KERNEL + 0xff8, 8).unwrap()
    );
    assert_eq!(stub.stats().mem_reads, m, "cached reads went to the stub");
    let (hits, _) = t.cache_counters();
    assert!(hits >= 2, "{:?}", t.cache_counters());

    // The guest runs: what it changed must be read again.
    t.resume().unwrap();
    eventually("the fake VM runs", || stub.vm_running());
    t.interrupt().unwrap();
    stub.unmap_region(KERNEL);
    stub.map_region(Region::new(KERNEL, vec![0xab; 3 * 4096]))
        .unwrap();
    assert_eq!(read_exact(&mut t, at, 100).unwrap(), vec![0xab; 100]);
    assert!(
        stub.stats().mem_reads > m,
        "the read after resume was served from the cache"
    );

    // Selecting another vCPU (other page tables) drops it too.
    let m = stub.stats().mem_reads;
    t.select_vcpu(vcpu(2)).unwrap();
    read_exact(&mut t, at, 100).unwrap();
    assert!(
        stub.stats().mem_reads > m,
        "the read after Hg was served from the cache"
    );
    drop(t);
    assert_no_kill_no_write(&stub);
}

#[test]
fn phymem_mode_left_on_is_turned_off_for_the_session_and_restored() {
    let virt = Region::new(0x10_0000, vec![0x11; 64]);
    let phys = Region::new(0x10_0000, vec![0x22; 64]);
    let mut cfg = FakeConfig::default().with_region(virt);
    cfg.phys_regions.push(phys);
    let stub = FakeStub::start(cfg).unwrap();

    // A previous session (another debugger) switched to physical mode and left it on.
    rt().block_on(async {
        let mut c = Client::connect(&stub.addr().to_string(), opts(false).client)
            .await
            .unwrap();
        assert_eq!(c.request(b"Qqemu.PhyMemMode:1").await.unwrap(), b"OK");
        c.close(false).await.unwrap();
    });
    eventually("the mode is on", || stub.phys_mem_mode());

    for resume in [false, true] {
        let mut t = connect(&stub, false);
        assert!(!stub.phys_mem_mode(), "not turned off at connect");
        // Reads are virtual, as the caller expects.
        assert_eq!(
            read_exact(&mut t, VirtAddr(0x10_0000), 8).unwrap(),
            vec![0x11; 8]
        );
        t.close(resume).unwrap();
        assert!(stub.phys_mem_mode(), "not restored at close({resume})");
    }

    // Dropping the target (detach) restores it too.
    let t = connect(&stub, false);
    assert!(!stub.phys_mem_mode());
    drop(t);
    assert!(stub.phys_mem_mode(), "not restored on drop");

    // A session that found it off leaves it off.
    raw_request(&stub, "Qqemu.PhyMemMode:0");
    assert!(!stub.phys_mem_mode());
    let t = connect(&stub, false);
    drop(t);
    assert!(!stub.phys_mem_mode());
    assert_no_kill_no_write(&stub);
}

/// Sends one packet over a plain socket (no qmdb client, which would restore the mode) and
/// waits for its reply.
fn raw_request(stub: &FakeStub, body: &str) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(stub.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let sum = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    s.write_all(format!("${body}#{sum:02x}").as_bytes())
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    // Until a whole `$OK#xx` has arrived (a running VM first reports its stop: `$T02...`).
    while got
        .windows(4)
        .position(|w| w == b"$OK#")
        .is_none_or(|i| got.len() < i + 6)
    {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before replying to {body}");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("$OK#"), "{body}: {text}");
    s.write_all(b"+").unwrap();
}

#[test]
fn kill_requests_are_refused_without_being_sent() {
    let stub = FakeStub::start(FakeConfig::default()).unwrap();
    rt().block_on(async {
        let mut c = Client::connect(&stub.addr().to_string(), opts(false).client)
            .await
            .unwrap();
        let sent = c.stats().packets_sent;
        let packets = stub.stats().packets;
        for body in [&b"k"[..], b"vKill;1", b"vKill"] {
            match c.request(body).await {
                Err(BridgeError::Refused(_)) => {}
                other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(body)),
            }
        }
        // In a pipeline too: nothing of it is sent.
        let batch = vec![b"qC".to_vec(), b"k".to_vec()];
        assert!(matches!(
            c.request_many(&batch).await,
            Err(BridgeError::Refused(_))
        ));
        assert_eq!(c.stats().packets_sent, sent);
        // The connection is still in step.
        assert_eq!(c.request(b"qC").await.unwrap(), b"QCp01.01");
        assert_eq!(stub.stats().packets, packets + 1);
        c.close(false).await.unwrap();
    });
    assert_eq!(stub.stats().kills, 0);
    assert!(stub.last_error().is_none(), "{:?}", stub.last_error());
}

#[test]
fn run_length_encoded_replies_from_the_fake_are_expanded() {
    let mut cfg = FakeConfig::default()
        .with_region(Region::new(KERNEL, vec![0; 4096]))
        .with_region(Region::new(KERNEL + 4096, vec![0x77; 300]));
    cfg.rle = true;
    let stub = FakeStub::start(cfg).unwrap();
    let mut t = connect(&stub, false);
    assert_eq!(
        read_exact(&mut t, VirtAddr(KERNEL), 4096).unwrap(),
        vec![0; 4096]
    );
    let mixed = read_exact(&mut t, VirtAddr(KERNEL + 4000), 396).unwrap();
    assert_eq!(mixed, stub.peek_memory(KERNEL + 4000, 396).unwrap());
    // Registers (zero runs in the selectors and x87 state) too.
    let v = t.read_registers().unwrap();
    assert_eq!(v.get_u64("rip"), Some(stub.vcpu(0).unwrap().regs.rip));
    assert_eq!(v.get_u64("fs"), Some(0));
}

/// While the guest runs, QEMU would take a request's first byte as "stop" and drop the
/// packet: requests are refused (not sent, the connection stays usable) until it stops.
#[test]
fn requests_are_refused_while_the_guest_runs() {
    let cfg = FakeConfig::default().with_region(Region::with_pattern(KERNEL, 4096));
    let stub = FakeStub::start(cfg).unwrap();
    let mut t = connect(&stub, true);
    t.resume().unwrap();
    eventually("the fake VM runs", || stub.vm_running());
    let packets = stub.stats().packets;
    let err = read_exact(&mut t, VirtAddr(KERNEL), 8).unwrap_err();
    assert!(err.to_string().contains("the guest is running"), "{err}");
    assert!(t.vcpus().is_err());
    assert_eq!(
        stub.stats().packets,
        packets,
        "a request was sent to a running VM"
    );
    assert!(stub.vm_running());
    t.interrupt().unwrap();
    assert_eq!(
        read_exact(&mut t, VirtAddr(KERNEL), 8).unwrap(),
        stub.peek_memory(KERNEL, 8).unwrap()
    );
    drop(t);
    assert_no_kill_no_write(&stub);
}

/// Ending the session while the guest runs: leaving it running needs no packet (a `D` would
/// stop it first); leaving it stopped stops it.
#[test]
fn closing_while_the_guest_runs() {
    let stub = FakeStub::start(FakeConfig::default()).unwrap();
    let mut t = connect(&stub, false);
    t.resume().unwrap();
    eventually("the fake VM runs", || stub.vm_running());
    let packets = stub.stats().packets;
    t.close(true).unwrap();
    assert_eq!(stub.stats().packets, packets);
    stays("the fake VM keeps running", 100, || stub.vm_running());

    let mut t = connect(&stub, false);
    t.resume().unwrap();
    eventually("the fake VM runs", || stub.vm_running());
    t.close(false).unwrap();
    eventually("the fake VM stops", || !stub.vm_running());
    assert_no_kill_no_write(&stub);
}
