//! [`MockTarget`]: an in-memory [`Target`] for tests — memory regions with holes, an x86_64
//! register layout like QEMU's, two vCPUs, and a canned monitor.

use qmdb_bridge::error::Result;
use qmdb_bridge::regs::{RegDesc, RegLayout, RegValues};
use qmdb_bridge::{
    BreakKind, BridgeError, ChunkError, RunState, StopReason, Target, TargetMemory, TargetStatus,
    VcpuId, VcpuInfo, VirtAddr,
};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// What a test can observe or change while a program owns the target.
#[derive(Debug, Default)]
pub struct MockShared {
    /// Every monitor command received.
    pub monitor_log: Vec<String>,
    /// Memory requests answered (one per chunk).
    pub requests: usize,
    /// When set, every call fails as if the connection dropped.
    pub disconnected: bool,
    /// Sets the flag once this many memory requests have been answered, as a user's Ctrl-C
    /// arriving in the middle of a command would.
    pub interrupt_after: Option<(usize, std::sync::Arc<std::sync::atomic::AtomicBool>)>,
    /// What QEMU would hold: every planted breakpoint and watchpoint (a multiset).
    pub planted: Vec<(BreakKind, u64, u64)>,
    /// Run control as it happened: `Z0 addr`, `z0 addr`, `resume`, `step N`, `interrupt`.
    pub run_log: Vec<String>,
    /// The stops the guest will make, in order: each resume or step ends at the next one
    /// (none queued: it runs until interrupted).
    pub stops: std::collections::VecDeque<MockStop>,
    /// The guest runs (after `resume`/`step`, until a stop is taken or it is interrupted).
    pub running: bool,
    /// The vCPU being single-stepped, while it is.
    pub stepping: Option<usize>,
    /// Sets the flag when the guest is resumed this many times (a Ctrl-C while it runs).
    pub interrupt_on_resume: Option<(usize, std::sync::Arc<std::sync::atomic::AtomicBool>)>,
    /// Every `set_step_interrupts` call's `allow`, in order.
    pub step_interrupts: Vec<bool>,
}

/// A stop of the simulated guest: vCPU `vcpu` (0-based) stops with `rip` (and `rsp`);
/// `info` are the stop reply's extra pairs (`watch`).
#[derive(Debug, Clone, Default)]
pub struct MockStop {
    pub vcpu: usize,
    pub rip: u64,
    pub rsp: Option<u64>,
    pub info: Vec<(String, String)>,
    /// Taken by a single step only (a step with no such stop queued moves `rip` by 1).
    pub on_step: bool,
}

/// An in-memory target.
pub struct MockTarget {
    regions: BTreeMap<u64, Vec<u8>>,
    max_request: usize,
    layout: RegLayout,
    regs: Vec<BTreeMap<String, Vec<u8>>>,
    selected: usize,
    shared: Rc<RefCell<MockShared>>,
}

/// QEMU's x86_64 registers: name, bits, type, group.
const LAYOUT: &[(&str, u32, &str, Option<&str>)] = &[
    ("rax", 64, "int64", None),
    ("rbx", 64, "int64", None),
    ("rcx", 64, "int64", None),
    ("rdx", 64, "int64", None),
    ("rsi", 64, "int64", None),
    ("rdi", 64, "int64", None),
    ("rbp", 64, "data_ptr", None),
    ("rsp", 64, "data_ptr", None),
    ("r8", 64, "int64", None),
    ("r9", 64, "int64", None),
    ("r10", 64, "int64", None),
    ("r11", 64, "int64", None),
    ("r12", 64, "int64", None),
    ("r13", 64, "int64", None),
    ("r14", 64, "int64", None),
    ("r15", 64, "int64", None),
    ("rip", 64, "code_ptr", None),
    ("eflags", 32, "i386_eflags", None),
    ("cs", 32, "int32", None),
    ("ss", 32, "int32", None),
    ("ds", 32, "int32", None),
    ("es", 32, "int32", None),
    ("fs", 32, "int32", None),
    ("gs", 32, "int32", None),
    ("fs_base", 64, "int64", None),
    ("gs_base", 64, "int64", None),
    ("k_gs_base", 64, "int64", None),
    ("cr0", 64, "int64", None),
    ("cr2", 64, "int64", None),
    ("cr3", 64, "int64", None),
    ("cr4", 64, "int64", None),
    ("cr8", 64, "int64", None),
    ("efer", 64, "int64", None),
    ("st0", 80, "i387_ext", Some("float")),
    ("xmm0", 128, "vec128", Some("vector")),
    ("mxcsr", 32, "i386_mxcsr", Some("vector")),
];

impl Default for MockTarget {
    fn default() -> Self {
        MockTarget::new()
    }
}

impl MockTarget {
    /// No memory; both vCPUs have every register, zero except a few plausible ones.
    pub fn new() -> MockTarget {
        let layout = RegLayout {
            regs: LAYOUT
                .iter()
                .enumerate()
                .map(|(i, (name, bits, ty, group))| RegDesc {
                    name: name.to_string(),
                    bits: *bits,
                    regnum: i as u32,
                    ty: ty.to_string(),
                    group: group.map(str::to_string),
                })
                .collect(),
        };
        let zero = |bits: u32| vec![0u8; (bits as usize).div_ceil(8)];
        let regs = (0..2)
            .map(|_| {
                LAYOUT
                    .iter()
                    .map(|(n, bits, _, _)| (n.to_string(), zero(*bits)))
                    .collect::<BTreeMap<_, _>>()
            })
            .collect();
        let mut t = MockTarget {
            regions: BTreeMap::new(),
            max_request: 2048,
            layout,
            regs,
            selected: 0,
            shared: Rc::default(),
        };
        for (cpu, rip) in [(0, 0xffffffff81000010u64), (1, 0xffffffff81000200)] {
            t.set_reg(cpu, "rip", rip);
            t.set_reg(cpu, "rsp", 0xffffc90000433f00 + cpu as u64 * 0x10000);
            t.set_reg(cpu, "eflags", 0x246);
            t.set_reg(cpu, "cs", 0x10);
            t.set_reg(cpu, "ss", 0x18);
            t.set_reg(cpu, "cr0", 0x80050033);
            t.set_reg(cpu, "cr3", 0x10a000 + cpu as u64 * 0x1000);
            t.set_reg(cpu, "cr4", 0x3506f0);
            t.set_reg(cpu, "efer", 0xd01);
            t.set_reg(cpu, "gs_base", 0xffff888007a00000 + cpu as u64 * 0x40000);
        }
        t
    }

    /// The handle tests keep to observe the target after the program takes it.
    pub fn shared(&self) -> Rc<RefCell<MockShared>> {
        Rc::clone(&self.shared)
    }

    /// Maps `bytes` at `addr`.
    pub fn with_bytes(mut self, addr: u64, bytes: &[u8]) -> MockTarget {
        self.regions.insert(addr, bytes.to_vec());
        self
    }

    /// Maps little-endian `u64`s at `addr`.
    pub fn with_u64s(self, addr: u64, words: &[u64]) -> MockTarget {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.with_bytes(addr, &bytes)
    }

    /// The largest memory request answered.
    pub fn with_max_request(mut self, n: usize) -> MockTarget {
        self.max_request = n.max(1);
        self
    }

    /// Sets a register of vCPU `cpu` (0 or 1).
    pub fn set_reg(&mut self, cpu: usize, name: &str, value: u64) {
        if let Some(r) = self.regs.get_mut(cpu).and_then(|m| m.get_mut(name)) {
            let n = r.len().min(8);
            if let Some(dst) = r.get_mut(..n) {
                dst.copy_from_slice(value.to_le_bytes().get(..n).unwrap_or(&[]));
            }
        }
    }

    /// Makes the stub not supply a register of vCPU `cpu`.
    pub fn drop_reg(&mut self, cpu: usize, name: &str) {
        if let Some(m) = self.regs.get_mut(cpu) {
            m.remove(name);
        }
    }

    fn byte(&self, addr: u64) -> Option<u8> {
        let (start, bytes) = self.regions.range(..=addr).next_back()?;
        bytes.get(usize::try_from(addr - start).ok()?).copied()
    }

    fn check(&self) -> Result<()> {
        if self.shared.borrow().disconnected {
            Err(BridgeError::Disconnected)
        } else {
            Ok(())
        }
    }

    /// The shared state, for a request a stub takes only while the guest is stopped.
    fn stopped(&self) -> Result<std::cell::RefMut<'_, MockShared>> {
        self.check()?;
        let shared = self.shared.borrow_mut();
        if shared.running {
            return Err(BridgeError::Running);
        }
        Ok(shared)
    }

    fn vcpu_id(index: usize) -> VcpuId {
        VcpuId {
            pid: 1,
            tid: index as u32 + 1,
        }
    }
}

impl TargetMemory for MockTarget {
    fn max_request(&self) -> usize {
        self.max_request
    }

    fn read_chunks(
        &mut self,
        reqs: &[(VirtAddr, usize)],
    ) -> Result<Vec<std::result::Result<Vec<u8>, ChunkError>>> {
        self.check()?;
        {
            let mut shared = self.shared.borrow_mut();
            shared.requests += reqs.len();
            if let Some((n, flag)) = &shared.interrupt_after {
                if shared.requests >= *n {
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        Ok(reqs
            .iter()
            .map(|&(addr, len)| {
                if len > self.max_request {
                    return Err(ChunkError::TooLarge);
                }
                (0..len as u64)
                    .map(|i| {
                        addr.0
                            .checked_add(i)
                            .and_then(|a| self.byte(a))
                            .ok_or(ChunkError::NoMapping)
                    })
                    .collect()
            })
            .collect())
    }
}

impl Target for MockTarget {
    fn status(&mut self) -> Result<TargetStatus> {
        self.check()?;
        Ok(TargetStatus {
            target: "127.0.0.1:1234".to_string(),
            state: if self.shared.borrow().running {
                RunState::Running
            } else {
                RunState::Stopped(StopReason::Signal {
                    signal: 5,
                    thread: Some(MockTarget::vcpu_id(self.selected)),
                    info: Vec::new(),
                })
            },
            was_running_at_attach: true,
            vcpus: self.regs.len(),
            selected: MockTarget::vcpu_id(self.selected),
            packet_size: 4096,
            qemu_version: Some("7.2.0\r\n".to_string()),
            writable: false,
        })
    }

    fn vcpus(&mut self) -> Result<Vec<VcpuInfo>> {
        self.check()?;
        Ok((0..self.regs.len())
            .map(|i| VcpuInfo {
                id: MockTarget::vcpu_id(i),
                extra: format!("CPU#{i} [{}]", if i == 0 { "halted " } else { "running" }),
            })
            .collect())
    }

    fn selected_vcpu(&self) -> VcpuId {
        MockTarget::vcpu_id(self.selected)
    }

    fn select_vcpu(&mut self, id: VcpuId) -> Result<()> {
        self.check()?;
        let index = (0..self.regs.len())
            .find(|&i| MockTarget::vcpu_id(i) == id)
            .ok_or_else(|| BridgeError::Invalid(format!("no vCPU {}", id.to_rsp())))?;
        self.selected = index;
        Ok(())
    }

    fn register_layout(&self) -> &RegLayout {
        &self.layout
    }

    fn read_registers(&mut self) -> Result<RegValues> {
        self.check()?;
        let regs = self
            .regs
            .get(self.selected)
            .ok_or_else(|| BridgeError::Invalid("no vCPU selected".into()))?;
        Ok(RegValues {
            values: self
                .layout
                .regs
                .iter()
                .filter_map(|d| regs.get(&d.name).map(|b| (d.clone(), b.clone())))
                .collect(),
        })
    }

    fn monitor(&mut self, cmd: &str) -> Result<String> {
        self.check()?;
        self.shared.borrow_mut().monitor_log.push(cmd.to_string());
        Ok(match cmd {
            "info version" => "7.2.0\r\n".to_string(),
            "info status" => "VM status: paused\r\n".to_string(),
            other => format!("unknown command: '{other}'\r\n"),
        })
    }

    fn interrupt(&mut self) -> Result<StopReason> {
        self.check()?;
        let mut shared = self.shared.borrow_mut();
        shared.run_log.push("interrupt".into());
        shared.running = false;
        Ok(StopReason::Signal {
            signal: 2,
            thread: Some(MockTarget::vcpu_id(self.selected)),
            info: Vec::new(),
        })
    }

    fn resume(&mut self) -> Result<()> {
        self.check()?;
        let mut shared = self.shared.borrow_mut();
        shared.run_log.push("resume".into());
        shared.running = true;
        let resumes = shared.run_log.iter().filter(|l| *l == "resume").count();
        if let Some((n, flag)) = &shared.interrupt_on_resume {
            if resumes >= *n {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn wait_for_stop(&mut self, timeout: std::time::Duration) -> Result<Option<StopReason>> {
        self.check()?;
        if !self.shared.borrow().running {
            return Ok(Some(StopReason::Signal {
                signal: 5,
                thread: Some(MockTarget::vcpu_id(self.selected)),
                info: Vec::new(),
            }));
        }
        let stepping = self.shared.borrow_mut().stepping.take();
        let next = match stepping {
            Some(v) => {
                let mut shared = self.shared.borrow_mut();
                if shared.stops.front().is_some_and(|s| s.on_step) {
                    shared.stops.pop_front()
                } else {
                    drop(shared);
                    let rip = self.regs.get(v).and_then(|m| m.get("rip")).map_or(0, |b| {
                        u64::from_le_bytes(
                            b.get(..8)
                                .and_then(|b| b.try_into().ok())
                                .unwrap_or_default(),
                        )
                    });
                    Some(MockStop {
                        vcpu: v,
                        rip: rip + 1,
                        ..MockStop::default()
                    })
                }
            }
            None => self.shared.borrow_mut().stops.pop_front(),
        };
        let Some(stop) = next else {
            std::thread::sleep(timeout.min(std::time::Duration::from_millis(5)));
            return Ok(None);
        };
        self.shared.borrow_mut().running = false;
        self.set_reg(stop.vcpu, "rip", stop.rip);
        if let Some(sp) = stop.rsp {
            self.set_reg(stop.vcpu, "rsp", sp);
        }
        Ok(Some(StopReason::Signal {
            signal: 5,
            thread: Some(MockTarget::vcpu_id(stop.vcpu)),
            info: stop.info,
        }))
    }

    fn insert_breakpoint(&mut self, kind: BreakKind, addr: VirtAddr, len: u64) -> Result<()> {
        let mut shared = self.stopped()?;
        shared
            .run_log
            .push(format!("Z{} {:x}", kind.z_type(), addr.0));
        shared.planted.push((kind, addr.0, len));
        Ok(())
    }

    fn remove_breakpoint(&mut self, kind: BreakKind, addr: VirtAddr, len: u64) -> Result<()> {
        let mut shared = self.stopped()?;
        shared
            .run_log
            .push(format!("z{} {:x}", kind.z_type(), addr.0));
        let at = shared
            .planted
            .iter()
            .position(|p| *p == (kind, addr.0, len))
            .ok_or_else(|| BridgeError::Invalid(format!("nothing planted at {addr}")))?;
        shared.planted.remove(at);
        Ok(())
    }

    fn set_step_interrupts(&mut self, allow: bool) -> Result<()> {
        self.check()?;
        self.shared.borrow_mut().step_interrupts.push(allow);
        Ok(())
    }

    fn step(&mut self, vcpu: VcpuId) -> Result<()> {
        let mut shared = self.stopped()?;
        shared.run_log.push(format!("step {}", vcpu.cpu_index()));
        shared.running = true;
        shared.stepping = Some(vcpu.cpu_index() as usize);
        Ok(())
    }
}

/// Symbols from a table of `(name, address, size)`, for tests.
pub struct TableSymbols(pub &'static [(&'static str, u64, u64)]);

impl qmdb_kernel::symbols::SymbolLookup for TableSymbols {
    fn lookup_name(&self, name: &str) -> Option<VirtAddr> {
        self.0
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, a, _)| VirtAddr(*a))
    }
    fn lookup_addr(&self, addr: VirtAddr) -> Option<qmdb_kernel::symbols::SymbolHit> {
        self.0
            .iter()
            .find(|(_, a, size)| addr.0 >= *a && addr.0 - a < *size)
            .map(|(n, a, _)| qmdb_kernel::symbols::SymbolHit {
                name: n.to_string(),
                offset: addr.0 - a,
            })
    }
}

/// Sparse guest memory for walker tests: the bytes written with [`SparseMemory::put`]; a
/// read of anything else fails as unmapped, naming what was read.
#[derive(Debug, Default, Clone)]
pub struct SparseMemory(BTreeMap<u64, u8>);

impl SparseMemory {
    /// Writes `b` at `addr`.
    pub fn put(&mut self, addr: u64, b: &[u8]) {
        for (a, &c) in (addr..).zip(b) {
            self.0.insert(a, c);
        }
    }

    /// Writes the little-endian `v` at `addr`.
    pub fn put_u64(&mut self, addr: u64, v: u64) {
        self.put(addr, &v.to_le_bytes());
    }

    /// Unmaps `[addr, addr + len)`.
    pub fn remove(&mut self, addr: u64, len: u64) {
        for a in addr..addr.saturating_add(len) {
            self.0.remove(&a);
        }
    }
}

impl crate::memory::GuestMemory for SparseMemory {
    fn read_bytes(
        &mut self,
        addr: VirtAddr,
        len: usize,
        what: Option<&str>,
    ) -> std::result::Result<Vec<u8>, crate::Error> {
        let b = self.read_some(addr, len)?;
        if b.len() < len {
            let what = what.map_or_else(|| crate::error::bytes_word(len), str::to_string);
            let cause = crate::ReadCause::Target(qmdb_bridge::ChunkError::NoMapping);
            return Err(crate::Error::read(what, addr, cause));
        }
        Ok(b)
    }

    fn read_some(
        &mut self,
        addr: VirtAddr,
        len: usize,
    ) -> std::result::Result<Vec<u8>, crate::Error> {
        Ok((addr.0..)
            .take(len)
            .map_while(|a| self.0.get(&a).copied())
            .collect())
    }
}
