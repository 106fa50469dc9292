//! The real guest fixture itself (`scripts/guest`, `tests/support`): both
//! kernels boot, the workload and the truth are what the tests rely on, and
//! no QEMU outlives its `Guest` or its watched process.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::truth::{parse_kallsyms_line, parse_stack_line, X86_64_TEXT_BASE};
use support::{Guest, GuestOpts, KernelVersion, Truth};

/// One guest at a time in this binary (the machine has two cores).
static ONE_GUEST: Mutex<()> = Mutex::new(());

fn one_guest() -> std::sync::MutexGuard<'static, ()> {
    ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner())
}

fn check_workload(t: &Truth, sleepers: u32) {
    assert_eq!(t.version, 1);
    assert!(t.settled, "the workload did not settle");
    assert_eq!(t.sleepers, sleepers);
    assert_eq!(t.nproc, 2);
    assert!(
        t.banner
            .starts_with(&format!("Linux version {} ", t.release)),
        "banner {:?} vs release {:?}",
        t.banner,
        t.release
    );
    assert!(t.cmdline.contains(&format!("qmdb.sleepers={sleepers}")));

    let init = t.task(1).expect("no pid 1");
    assert_eq!(init.comm, "init");
    assert!(t.task(2).is_some_and(|k| k.comm == "kthreadd"));
    assert!(t.tasks.iter().filter(|k| k.is_kthread()).count() > 10);

    // Processes (thread-group leaders) by comm.
    let procs = |comm: &str| t.processes().filter(|p| p.comm == comm).count();
    assert_eq!(procs("qmdb-extra"), sleepers as usize);
    assert_eq!(procs("qmdb-sleeper"), 3);
    assert_eq!(procs("qmdb-fifo"), 1);
    assert_eq!(procs("qmdb-evdev"), 1);
    assert_eq!(procs("qmdb-busy"), 1);
    assert_eq!(procs("qmdb-ticker"), 1);
    assert_eq!(procs("qmdb-threads"), 1);
    assert_eq!(procs("qmdb-napper"), 1);
    // The truth writer leaves itself out.
    assert_eq!(procs("qmdb-truth"), 0);

    for s in t
        .tasks_named("qmdb-extra")
        .chain(t.tasks_named("qmdb-sleeper"))
    {
        assert_eq!(s.state, 'S', "{s:?}");
        assert!(s.has_frame("hrtimer_nanosleep"), "{s:?}");
        assert!(s
            .frame_names()
            .iter()
            .any(|f| f.starts_with("entry_SYSCALL_64")));
    }
    let fifo = t.tasks_named("qmdb-fifo").next().unwrap();
    assert_eq!(fifo.state, 'S');
    assert!(
        fifo.frame_names().iter().any(|f| f.ends_with("pipe_read")),
        "{fifo:?}"
    );
    // Asleep in module code: /proc names the module of the frame.
    let evdev = t.tasks_named("qmdb-evdev").next().unwrap();
    assert_eq!(evdev.state, 'S');
    let first = evdev.stack.first().expect("a stack for qmdb-evdev");
    assert_eq!(
        (first.func.as_str(), first.module.as_deref()),
        ("evdev_read", Some("evdev")),
        "{evdev:?}"
    );
    assert!(evdev.has_frame("vfs_read"), "{evdev:?}");
    let busy = t.tasks_named("qmdb-busy").next().unwrap();
    assert_eq!(busy.state, 'R', "{busy:?}");
    let ticker = t.tasks_named("qmdb-ticker").next().unwrap();
    assert!(ticker.frame_names().contains(&"do_sys_poll"), "{ticker:?}");

    // Wakes once a second, asleep in nanosleep the rest of the time.
    let napper: Vec<_> = t.tasks_named("qmdb-napper").collect();
    assert_eq!(napper.len(), 1, "one task: {napper:?}");
    assert_eq!(napper[0].state, 'S', "{:?}", napper[0]);
    assert!(napper[0].has_frame("hrtimer_nanosleep"), "{:?}", napper[0]);
    assert_eq!(napper[0].ppid, 1, "{:?}", napper[0]);

    let threads = t.tasks_named("qmdb-threads").next().unwrap();
    let all = t.threads_of(threads.pid);
    let names: Vec<&str> = all.iter().map(|k| k.comm.as_str()).collect();
    assert_eq!(
        names,
        [
            "qmdb-threads",
            "qmdb-thr-sleep",
            "qmdb-thr-futex",
            "qmdb-thr-poll"
        ]
    );
    assert!(all.iter().all(|k| k.state == 'S' && !k.stack.is_empty()));
    assert!(all[1].has_frame("hrtimer_nanosleep"));
    assert!(all[2]
        .frame_names()
        .iter()
        .any(|f| f.contains("futex_wait")));
    assert!(all[3].has_frame("do_sys_poll"));

    // kallsyms sample: the well-known symbols and a real sample.
    assert!(
        t.kallsyms.len() > 500,
        "{} kallsyms lines",
        t.kallsyms.len()
    );
    for name in ["init_task", "linux_banner", "_text", "_stext", "schedule"] {
        let e = t
            .symbol(name)
            .unwrap_or_else(|| panic!("no {name} in sample"));
        assert!(e.addr >= 0xffff_ffff_8000_0000, "{e:?}");
    }
    assert_eq!(t.symbol("_text").unwrap().kind, 'T');
    t.assert_kaslr(!t.cmdline.contains("nokaslr"));
    assert_eq!(
        t.kaslr_slide().unwrap() % 0x20_0000,
        0,
        "slide is 2 MiB aligned"
    );
}

/// QEMU's gdbstub answers `?` with a stop reply (attaching stops the VM).
fn gdbstub_answers(addr: &str) {
    let mut s = TcpStream::connect(addr).expect("gdbstub port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"$?#3f").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.contains(&b'#') {
        let n = s.read(&mut buf).expect("gdbstub reply");
        assert!(n > 0, "gdbstub closed");
        got.extend_from_slice(&buf[..n]);
    }
    // QEMU 7.2 may first send an unsolicited `T02` for the stop that the
    // connection itself caused, then `+` and the answer to `?`.
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("$T") || text.contains("$S"),
        "stop reply: {text:?}"
    );
    // Detach so the VM runs on.
    s.write_all(b"+$D#44").unwrap();
}

fn boot_and_check(kernel: KernelVersion) {
    let _one = one_guest();
    let guest = Guest::boot(GuestOpts::new(kernel));
    let t = guest.truth();
    assert_eq!(t.release, guest.release());
    match kernel {
        KernelVersion::V6_1 => assert!(t.release.starts_with("6.1."), "{}", t.release),
        KernelVersion::V6_12 => assert!(t.release.starts_with("6.12."), "{}", t.release),
        KernelVersion::Newest => {
            // sid's kernel is newer than trixie's.
            let mut v = t.release.split(|c: char| !c.is_ascii_digit());
            let major: u32 = v.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            let minor: u32 = v.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            assert!((major, minor) > (6, 12), "newest kernel is {}", t.release);
        }
    }
    assert!(guest.kernel_path().is_file());
    assert!(guest.kernel_config_path().is_file());
    check_workload(t, 5);

    // The console: boot banner, readiness, and a ticker that keeps ticking.
    let console = guest.console();
    assert!(console.contains("QMDB-READY sleepers=5 settled=yes"));
    assert!(console.contains(&t.banner), "banner not on the console");
    let first = guest.last_tick().expect("no QMDB-TICK yet");
    let deadline = Instant::now() + Duration::from_secs(30);
    while guest.last_tick().unwrap() < first + 2 {
        assert!(Instant::now() < deadline, "the ticker stopped at {first}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The napper says who it is, and counts on.
    let napper = t.tasks_named("qmdb-napper").next().unwrap();
    let hello = format!("QMDB-NAPPER pid={} counter=0x", napper.pid);
    assert!(console.contains(&hello), "no {hello:?} on the console");
    assert_eq!(guest.napper().0, napper.pid);
    let first = guest.last_nap().expect("no QMDB-NAP yet");
    assert!(
        guest.napper_progresses(2, Duration::from_secs(30)),
        "the napper stopped at {first}"
    );

    // QEMU's own monitor, and the gdbstub.
    let version = guest.monitor("info version");
    assert!(
        version
            .trim()
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit()),
        "info version: {version:?}"
    );
    {
        let _gdb = guest.attach_lock();
        gdbstub_answers(&guest.gdb_addr());
    }

    let pid = guest.pid();
    assert!(guest.is_alive());
    drop(guest);
    assert!(
        !support::guest::qemu_alive(pid),
        "QEMU {pid} outlived its Guest"
    );
}

#[test]
fn guest_6_1_boots_with_known_workload_and_truth() {
    boot_and_check(KernelVersion::V6_1);
}

#[test]
fn guest_6_12_boots_with_known_workload_and_truth() {
    boot_and_check(KernelVersion::V6_12);
}

#[test]
fn guest_newest_boots_with_known_workload_and_truth() {
    boot_and_check(KernelVersion::Newest);
}

/// `nokaslr` puts _text at its link address; and the watchdog kills QEMU when
/// the process it watches dies.
#[test]
fn nokaslr_and_watchdog() {
    let _one = one_guest();
    let mut watched = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("spawn sleep");
    let guest = Guest::boot_watching(
        GuestOpts {
            nokaslr: true,
            sleepers: 1,
            ..GuestOpts::default()
        },
        watched.id(),
    );
    let t = guest.truth();
    assert!(t.cmdline.contains("nokaslr"));
    assert_eq!(t.symbol("_text").unwrap().addr, X86_64_TEXT_BASE);
    t.assert_kaslr(false);
    assert_eq!(t.processes().filter(|p| p.comm == "qmdb-extra").count(), 1);

    watched.kill().unwrap();
    watched.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while guest.is_alive() {
        assert!(
            Instant::now() < deadline,
            "the watchdog did not kill QEMU {}",
            guest.pid()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn truth_parser_reads_every_record() {
    let text = "noise\r\nQMDB-TRUTH-BEGIN 1\r\nrelease 6.1.0-56-cloud-amd64\r\n\
        banner Linux version 6.1.0-56-cloud-amd64 (x) #1 SMP\r\ncmdline console=ttyS0 qmdb.sleepers=2\r\n\
        loadflags 0x83\r\nnproc 2\r\nsleepers 2\r\nsettled yes\r\n\
        task 1 1 0 S 1 init\r\nwchan 1 1 do_wait\r\n\
        stack 1 1 [<0>] do_wait+0x5d/0xf0\r\n\
        task 10 10 2 I 0 kworker/0:1-events\r\n\
        task 70 71 1 S 0 qmdb thr\r\nstack 70 71 [<0>] foo_read+0x10/0x40 [foomod]\r\n\
        kallsyms ffffffff81000000 T _text\r\n\
        kallsyms ffffffffc0001000 t foo_read\t[foomod]\r\n\
        QMDB-TRUTH-END\r\ntrailing noise\r\n";
    let t = Truth::parse(text).unwrap();
    assert_eq!(t.release, "6.1.0-56-cloud-amd64");
    assert_eq!(t.tasks.len(), 3);
    assert_eq!(t.task(1).unwrap().wchan.as_deref(), Some("do_wait"));
    assert_eq!(t.task(1).unwrap().stack[0].to_string(), "do_wait+0x5d/0xf0");
    assert!(t.task(10).unwrap().is_kthread());
    let thr = t.task(71).unwrap();
    assert_eq!((thr.pid, thr.comm.as_str()), (70, "qmdb thr"));
    assert!(!thr.is_leader());
    assert_eq!(thr.stack[0].module.as_deref(), Some("foomod"));
    assert_eq!(t.kaslr_slide(), Some(0));
    assert_eq!(t.loadflags, Some(0x83));
    assert!(t.kaslr_randomised());
    assert_eq!(t.kallsyms[1].module.as_deref(), Some("foomod"));

    assert!(Truth::parse("QMDB-TRUTH-BEGIN 1\ntask 1 1 0 S 0 init\n").is_err());
    assert!(
        Truth::parse("QMDB-TRUTH-BEGIN 1\nstack 5 5 [<0>] x+0x1/0x2\nQMDB-TRUTH-END\n").is_err()
    );
    assert_eq!(
        parse_stack_line("[<0>] entry_SYSCALL_64_after_hwframe+0x6e/0xd8")
            .unwrap()
            .offset,
        0x6e
    );
    assert_eq!(
        parse_kallsyms_line("0000000000035000 A pcpu_hot")
            .unwrap()
            .addr,
        0x35000
    );
}
