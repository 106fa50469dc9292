//! The guest's ground truth: what the kernel said about itself right after
//! the workload settled (`truth.txt`, written by `qmdb-truth` in the guest to
//! its second serial port; the format is documented at the top of
//! `scripts/guest`).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// The link-time address of `_text` on x86_64; `_text` minus this is the
/// KASLR slide.
pub const X86_64_TEXT_BASE: u64 = 0xffff_ffff_8100_0000;

/// One parsed truth file.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    /// Format version from `QMDB-TRUTH-BEGIN <v>`.
    pub version: u32,
    /// `uname -r`.
    pub release: String,
    /// `/proc/version`: `linux_banner` without its trailing newline.
    pub banner: String,
    /// The kernel command line.
    pub cmdline: String,
    /// `boot_params.hdr.loadflags`, read from `/sys/kernel/boot_params/data`.
    pub loadflags: Option<u8>,
    /// Number of CPUs the guest sees.
    pub nproc: u32,
    /// The number of extra sleepers (`qmdb-extra` processes) asked for.
    pub sleepers: u32,
    /// Whether every workload task had settled (exec'd, asleep) in time.
    pub settled: bool,
    /// Every thread of every task, in /proc order (by pid, then tid).
    pub tasks: Vec<TruthTask>,
    /// A sample of `/proc/kallsyms`, in file order (names may repeat).
    pub kallsyms: Vec<KallsymsEntry>,
    /// The guest's own `dmesg` output (busybox) at truth time, one entry a line
    /// (`dmesg <line>` records).
    pub dmesg: Vec<String>,
    /// Open files of the detailed processes (pid 1 and every `qmdb-*` process but the
    /// `qmdb-extra` sleepers), in /proc order.
    pub fds: Vec<TruthFd>,
    /// `/proc/PID/maps` lines of the detailed processes: `(pid, line)`, in file order.
    pub maps: Vec<(u32, String)>,
    /// `/proc/mounts`, one entry a line.
    pub mounts: Vec<String>,
    /// `/proc/slabinfo`, one entry a line (its two header lines included).
    pub slabinfo: Vec<String>,
    index: HashMap<u32, usize>,
}

/// One open file of a process, as `/proc/PID/fd` and `/proc/PID/fdinfo` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthFd {
    pub pid: u32,
    pub fd: u32,
    /// The link's target: a path, or `pipe:[INO]`, `socket:[INO]`, `anon_inode:[...]`.
    pub path: String,
    /// `pos:` of fdinfo.
    pub pos: Option<u64>,
    /// `flags:` of fdinfo (the file's `f_flags`, printed octal there).
    pub flags: Option<u32>,
}

/// One thread (Linux task) as /proc reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthTask {
    /// Thread group id (process id).
    pub pid: u32,
    /// Thread id (`task_struct.pid`).
    pub tid: u32,
    pub ppid: u32,
    /// The state letter of /proc/PID/stat: R, S, D, I, T, Z...
    pub state: char,
    /// The CPU it last ran on.
    pub cpu: Option<u32>,
    pub comm: String,
    /// `/proc/PID/task/TID/wchan`, if the kernel named one.
    pub wchan: Option<String>,
    /// `/proc/PID/task/TID/stack`, innermost first. The kernel leaves out
    /// `.sched.text` functions (`__schedule`, `schedule`, `do_nanosleep`...).
    pub stack: Vec<StackFrame>,
}

/// One line of `/proc/PID/stack`: `[<0>] func+0xoff/0xsize [module]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackFrame {
    pub func: String,
    pub offset: u64,
    pub size: u64,
    pub module: Option<String>,
}

/// One line of `/proc/kallsyms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KallsymsEntry {
    pub addr: u64,
    /// The type letter (`T`, `t`, `D`, `d`, `A`, ...).
    pub kind: char,
    pub name: String,
    pub module: Option<String>,
}

impl fmt::Display for StackFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{:#x}/{:#x}", self.func, self.offset, self.size)?;
        if let Some(m) = &self.module {
            write!(f, " [{m}]")?;
        }
        Ok(())
    }
}

impl TruthTask {
    /// Kernel threads: kthreadd (pid 2) and its children.
    pub fn is_kthread(&self) -> bool {
        self.pid == 2 || self.ppid == 2
    }

    /// The thread-group leader (`pid == tid`).
    pub fn is_leader(&self) -> bool {
        self.pid == self.tid
    }

    /// Whether some frame of its stack is the function `func`.
    pub fn has_frame(&self, func: &str) -> bool {
        self.stack.iter().any(|f| f.func == func)
    }

    /// The stack as `func+0xoff` (without the function's size), innermost first: how
    /// qmdb's frames are compared with it.
    pub fn stack_offsets(&self) -> Vec<String> {
        self.stack
            .iter()
            .map(|f| format!("{}+{:#x}", f.func, f.offset))
            .collect()
    }

    /// The stack's function names, innermost first.
    pub fn frame_names(&self) -> Vec<&str> {
        self.stack.iter().map(|f| f.func.as_str()).collect()
    }
}

impl Truth {
    /// Reads and parses a truth file.
    pub fn from_file(path: &Path) -> Result<Truth, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Truth::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses a complete truth file: it must hold `QMDB-TRUTH-BEGIN` and
    /// `QMDB-TRUTH-END`. Unknown record types are ignored.
    pub fn parse(text: &str) -> Result<Truth, String> {
        let mut t = Truth::default();
        let (mut begun, mut ended) = (false, false);
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            let err = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
            let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
            match kind {
                "QMDB-TRUTH-BEGIN" => {
                    begun = true;
                    t.version = rest.trim().parse().map_err(|_| err("bad version"))?;
                }
                "QMDB-TRUTH-END" => {
                    ended = true;
                    break;
                }
                _ if !begun => {} // noise before the header
                "release" => t.release = rest.to_string(),
                "banner" => t.banner = rest.to_string(),
                "cmdline" => t.cmdline = rest.to_string(),
                "loadflags" => {
                    let hex = rest.trim().trim_start_matches("0x");
                    t.loadflags =
                        Some(u8::from_str_radix(hex, 16).map_err(|_| err("bad loadflags"))?);
                }
                "nproc" => t.nproc = rest.trim().parse().map_err(|_| err("bad nproc"))?,
                "sleepers" => t.sleepers = rest.trim().parse().map_err(|_| err("bad sleepers"))?,
                "settled" => t.settled = rest.trim() == "yes",
                "task" => {
                    let task = parse_task(rest).ok_or_else(|| err("bad task"))?;
                    t.index.insert(task.tid, t.tasks.len());
                    t.tasks.push(task);
                }
                "wchan" | "stack" => {
                    let mut it = rest.splitn(3, ' ');
                    let (_pid, tid, body) = match (it.next(), it.next(), it.next()) {
                        (Some(p), Some(t), Some(b)) => (p, t, b),
                        _ => return Err(err("bad record")),
                    };
                    let tid: u32 = tid.parse().map_err(|_| err("bad tid"))?;
                    let i = *t.index.get(&tid).ok_or_else(|| err("no such task"))?;
                    if kind == "wchan" {
                        t.tasks[i].wchan = Some(body.to_string());
                    } else {
                        let f = parse_stack_line(body).ok_or_else(|| err("bad stack line"))?;
                        t.tasks[i].stack.push(f);
                    }
                }
                "kallsyms" => {
                    let e = parse_kallsyms_line(rest).ok_or_else(|| err("bad kallsyms line"))?;
                    t.kallsyms.push(e);
                }
                "dmesg" => t.dmesg.push(rest.to_string()),
                "fd" => {
                    let mut it = rest.splitn(3, ' ');
                    let (pid, fd, path) = match (it.next(), it.next(), it.next()) {
                        (Some(p), Some(f), Some(l)) => (p, f, l),
                        _ => return Err(err("bad fd record")),
                    };
                    t.fds.push(TruthFd {
                        pid: pid.parse().map_err(|_| err("bad pid"))?,
                        fd: fd.parse().map_err(|_| err("bad fd"))?,
                        path: path.to_string(),
                        pos: None,
                        flags: None,
                    });
                }
                "fdinfo" => {
                    let f: Vec<&str> = rest.split(' ').collect();
                    let [pid, fd, pos, flags] = f.as_slice() else {
                        return Err(err("bad fdinfo record"));
                    };
                    let (pid, fd): (u32, u32) = (
                        pid.parse().map_err(|_| err("bad pid"))?,
                        fd.parse().map_err(|_| err("bad fd"))?,
                    );
                    if let Some(e) = t.fds.iter_mut().find(|e| e.pid == pid && e.fd == fd) {
                        e.pos = Some(pos.parse().map_err(|_| err("bad pos"))?);
                        e.flags =
                            Some(u32::from_str_radix(flags, 8).map_err(|_| err("bad flags"))?);
                    }
                }
                "maps" => {
                    let (pid, line) = rest.split_once(' ').ok_or_else(|| err("bad maps record"))?;
                    t.maps
                        .push((pid.parse().map_err(|_| err("bad pid"))?, line.to_string()));
                }
                "mount" => t.mounts.push(rest.to_string()),
                "slabinfo" => t.slabinfo.push(rest.to_string()),
                _ => {}
            }
        }
        if !begun {
            return Err("no QMDB-TRUTH-BEGIN".into());
        }
        if !ended {
            return Err("no QMDB-TRUTH-END (truncated truth)".into());
        }
        Ok(t)
    }

    /// The open files of process `pid`, by fd.
    pub fn fds_of(&self, pid: u32) -> Vec<&TruthFd> {
        self.fds.iter().filter(|f| f.pid == pid).collect()
    }

    /// The `/proc/PID/maps` lines of process `pid`.
    pub fn maps_of(&self, pid: u32) -> Vec<&str> {
        self.maps
            .iter()
            .filter(|(p, _)| *p == pid)
            .map(|(_, l)| l.as_str())
            .collect()
    }

    /// The task whose thread id is `tid`.
    pub fn task(&self, tid: u32) -> Option<&TruthTask> {
        self.index.get(&tid).map(|&i| &self.tasks[i])
    }

    /// All threads whose comm is `comm`.
    pub fn tasks_named<'a>(&'a self, comm: &'a str) -> impl Iterator<Item = &'a TruthTask> + 'a {
        self.tasks.iter().filter(move |t| t.comm == comm)
    }

    /// Thread-group leaders, i.e. one entry per process (kernel threads too).
    pub fn processes(&self) -> impl Iterator<Item = &TruthTask> {
        self.tasks.iter().filter(|t| t.is_leader())
    }

    /// All threads of process `pid`, leader first.
    pub fn threads_of(&self, pid: u32) -> Vec<&TruthTask> {
        self.tasks.iter().filter(|t| t.pid == pid).collect()
    }

    /// The first sampled kallsyms entry named `name`.
    pub fn symbol(&self, name: &str) -> Option<&KallsymsEntry> {
        self.kallsyms.iter().find(|e| e.name == name)
    }

    /// Whether the decompressor randomised the kernel's place (`KASLR_FLAG` in
    /// `boot_params.hdr.loadflags`). Randomised can still mean slide 0: the
    /// link address is one of the ~500 slots KASLR picks from.
    pub fn kaslr_randomised(&self) -> bool {
        self.loadflags.is_some_and(|f| f & 0x02 != 0)
    }

    /// Asserts the guest booted as asked: randomised with KASLR on, at the link
    /// address with `nokaslr`.
    pub fn assert_kaslr(&self, on: bool) {
        let slide = self.kaslr_slide().expect("the truth has _text");
        if on {
            assert!(
                self.kaslr_randomised(),
                "KASLR on, yet not randomised (loadflags {:?})",
                self.loadflags
            );
            if slide == 0 {
                eprintln!("note: KASLR picked the link address this boot (1 slot in ~500)");
            }
        } else {
            assert!(!self.kaslr_randomised(), "nokaslr, yet randomised");
            assert_eq!(slide, 0, "nokaslr, yet _text is not at its link address");
        }
    }

    /// The KASLR slide (`_text` minus its link-time address), if `_text` was
    /// sampled. 0 when booted with `nokaslr`.
    pub fn kaslr_slide(&self) -> Option<u64> {
        self.symbol("_text")
            .map(|e| e.addr.wrapping_sub(X86_64_TEXT_BASE))
    }
}

/// `<pid> <tid> <ppid> <state> <cpu> <comm...>`
fn parse_task(rest: &str) -> Option<TruthTask> {
    let mut it = rest.splitn(6, ' ');
    let pid = it.next()?.parse().ok()?;
    let tid = it.next()?.parse().ok()?;
    let ppid = it.next()?.parse().ok()?;
    let state = it.next()?.chars().next()?;
    let cpu = it.next()?.parse().ok();
    let comm = it.next().unwrap_or("").to_string();
    Some(TruthTask {
        pid,
        tid,
        ppid,
        state,
        cpu,
        comm,
        wchan: None,
        stack: Vec::new(),
    })
}

/// `[<0>] func+0xoff/0xsize [module]` (the `[<...>]` part is optional).
pub fn parse_stack_line(line: &str) -> Option<StackFrame> {
    let mut s = line.trim();
    if s.starts_with("[<") {
        s = s[s.find("] ")? + 2..].trim_start();
    }
    let (sym, module) = match s.split_once(' ') {
        Some((sym, m)) => (
            sym,
            Some(
                m.trim()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
            ),
        ),
        None => (s, None),
    };
    let (func, offs) = sym.rsplit_once('+')?;
    let (off, size) = offs.split_once('/')?;
    Some(StackFrame {
        func: func.to_string(),
        offset: parse_hex(off)?,
        size: parse_hex(size)?,
        module,
    })
}

/// `addr type name[\t[module]]`
pub fn parse_kallsyms_line(line: &str) -> Option<KallsymsEntry> {
    let (main, module) = match line.split_once('\t') {
        Some((m, md)) => (
            m,
            Some(
                md.trim()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
            ),
        ),
        None => (line, None),
    };
    let mut it = main.split_whitespace();
    let addr = u64::from_str_radix(it.next()?, 16).ok()?;
    let kind = it.next()?.chars().next()?;
    let name = it.next()?.to_string();
    Some(KallsymsEntry {
        addr,
        kind,
        name,
        module,
    })
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).ok()
}
