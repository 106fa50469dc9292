//! The gdbstub target of one gdb session: registers, memory and threads, forwarded to the
//! [`Target`] and the [`ProxyBackend`]. Run control (resume, breakpoints, stops) is in
//! `run.rs`, `monitor` in `monitor.rs`, the target description in `description.rs`.

use super::backend::{ImagePlacement, ProxyBackend, ThreadKey};
use super::conn::GdbConn;
use super::regs::{self, ProxyArch, RawRegs, RegNum};
use super::threads::ThreadTable;
use crate::error::BridgeError;
use crate::memory::read_partial;
use crate::regs::RegLayout;
use crate::target::{BreakKind, StopReason, Target, VcpuId};
use crate::VirtAddr;
use gdbstub::common::Tid;
use gdbstub::target::ext::base::multithread::{MultiThreadBase, MultiThreadResumeOps};
use gdbstub::target::ext::base::single_register_access::{
    SingleRegisterAccess, SingleRegisterAccessOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::BreakpointsOps;
use gdbstub::target::ext::monitor_cmd::MonitorCmdOps;
use gdbstub::target::ext::section_offsets::{Offsets, SectionOffsets, SectionOffsetsOps};
use gdbstub::target::ext::target_description_xml_override::TargetDescriptionXmlOverrideOps;
use gdbstub::target::ext::thread_extra_info::{ThreadExtraInfo, ThreadExtraInfoOps};
use gdbstub::target::{TargetError, TargetResult};
use std::fmt;

/// gdb's largest packet (`PacketSize`): 16 KiB, so one `m` reads up to 8 KiB.
pub(crate) const PACKET_SIZE: usize = 0x4000;

/// Error numbers in replies to gdb.
pub(crate) const EPERM: u8 = 0x01;
const EIO: u8 = 0x05;
const EFAULT: u8 = 0x0e;
const EINVAL: u8 = 0x16;

/// What ends a gdbstub session from the target's side.
#[derive(Debug)]
pub(crate) enum Fault {
    /// A resume gdb asked for cannot be done: gdb gets the text and an error reply, and a
    /// new gdbstub session goes on.
    Refused(String),
    /// The target is gone.
    Lost(String),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Refused(m) => write!(f, "refused: {m}"),
            Fault::Lost(m) => write!(f, "lost the target: {m}"),
        }
    }
}

/// What gdb asked a resume to do for one thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Continue,
    Step,
}

/// The target of one gdb session.
pub(crate) struct ProxyTarget<'a> {
    pub(super) backend: &'a mut dyn ProxyBackend,
    pub(super) threads: &'a mut ThreadTable,
    pub(super) conn: GdbConn,
    pub(super) layout: RegLayout,
    /// The description files served to gdb: `(annex, text)`.
    pub(super) description: Vec<(String, String)>,
    /// Breakpoints and watchpoints this gdb planted: `(kind, addr, len)`.
    pub(super) planted: Vec<(BreakKind, u64, u64)>,
    pub(super) actions: Vec<(Tid, Action)>,
    /// The vCPU being single-stepped: its stop is a step, not a breakpoint.
    pub(super) stepping: Option<VcpuId>,
    /// The vCPU selected at the last stop, selected again before the backend runs.
    pub(super) home: Option<VcpuId>,
    pub(crate) running: bool,
    /// A stop that happened while the backend prepared a resume: the next one gdb gets.
    pub(super) pending_stop: Option<StopReason>,
    /// The backend's console lines from before gdb's resume was acked, sent once it is.
    pub(super) pending_console: Vec<String>,
    /// Why the target is gone, once it is.
    pub(super) lost: Option<BridgeError>,
    /// Where the kernel image lies, answered to `qOffsets` when known.
    placement: Option<ImagePlacement>,
}

impl<'a> ProxyTarget<'a> {
    /// A target over `backend`, serving gdb the `description` files (`(annex, text)`,
    /// from [`super::description::load`]).
    pub(crate) fn new(
        backend: &'a mut dyn ProxyBackend,
        threads: &'a mut ThreadTable,
        conn: GdbConn,
        description: Vec<(String, String)>,
    ) -> ProxyTarget<'a> {
        let layout = backend.target().register_layout().clone();
        let placement = backend.image_placement();
        ProxyTarget {
            backend,
            threads,
            conn,
            layout,
            description,
            planted: Vec::new(),
            actions: Vec::new(),
            stepping: None,
            home: None,
            running: false,
            pending_stop: None,
            pending_console: Vec::new(),
            lost: None,
            placement,
        }
    }

    pub(super) fn t(&mut self) -> &mut dyn Target {
        self.backend.target()
    }

    /// Takes why the target was lost, if it was.
    pub(crate) fn take_lost(&mut self) -> Option<BridgeError> {
        self.lost.take()
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.lost.is_some()
    }

    /// Records that the target is gone: the gdb session ends after the current reply.
    pub(super) fn lose(&mut self, e: BridgeError) -> String {
        let msg = format!("lost the connection to the target: {e}");
        tracing::error!("{msg}");
        self.conn.close_after_reply(&msg);
        if self.lost.is_none() {
            self.lost = Some(e);
        }
        msg
    }

    /// The reply for a failed request; a fatal error also ends the session.
    pub(super) fn fail(&mut self, what: &str, e: BridgeError) -> TargetError<Fault> {
        tracing::debug!("{what}: {e}");
        if e.is_fatal() {
            self.lose(e);
            return TargetError::Errno(EIO);
        }
        TargetError::Errno(match e {
            BridgeError::Remote { errno, .. } => errno,
            BridgeError::Refused(m) => {
                tracing::warn!("{what}: refused: {m}");
                EPERM
            }
            BridgeError::Fault { .. } => EFAULT,
            _ => EINVAL,
        })
    }

    /// Selects `vcpu` unless it already is.
    pub(super) fn select(&mut self, vcpu: VcpuId) -> Result<(), BridgeError> {
        if self.t().selected_vcpu() != vcpu {
            self.t().select_vcpu(vcpu)?;
        }
        Ok(())
    }

    /// Selects the vCPU of the last stop again, before the backend reads anything.
    pub(super) fn go_home(&mut self) -> Result<(), BridgeError> {
        match self.home {
            Some(v) => self.select(v),
            None => Ok(()),
        }
    }

    /// Lists the threads again if the target stopped since the last time.
    pub(super) fn ensure_threads(&mut self) -> Result<(), BridgeError> {
        if self.threads.is_fresh() || self.running || self.lost.is_some() {
            return Ok(());
        }
        self.go_home()?;
        self.threads.refresh(&mut *self.backend)
    }

    /// The vCPU `tid` runs on, if any (after refreshing the list if needed).
    fn vcpu_of(&mut self, tid: Tid) -> TargetResult<Option<VcpuId>, Self> {
        if let Err(e) = self.ensure_threads() {
            return Err(self.fail("listing threads", e));
        }
        Ok(self.threads.get(tid).and_then(|t| t.vcpu))
    }

    /// Per-register values of thread `tid`, in layout order.
    fn thread_regs(&mut self, tid: Tid) -> TargetResult<Vec<Option<Vec<u8>>>, Self> {
        if let Some(vcpu) = self.vcpu_of(tid)? {
            let r = self.select(vcpu).and_then(|()| self.t().read_registers());
            return match r {
                Ok(values) => Ok(regs::from_values(&self.layout, &values)),
                Err(e) => Err(self.fail(&format!("reading the registers of vCPU {vcpu}"), e)),
            };
        }
        let Some(key) = self.threads.key(tid) else {
            tracing::debug!("registers of unknown thread {tid}");
            return Err(TargetError::Errno(EINVAL));
        };
        if let Err(e) = self.go_home() {
            return Err(self.fail("selecting a vCPU", e));
        }
        match self.backend.saved_registers(key) {
            Ok(saved) => Ok(regs::from_saved(&self.layout, &saved)),
            Err(e) => {
                tracing::debug!("saved registers of {key:?}: {e}");
                Err(TargetError::Errno(EFAULT))
            }
        }
    }

    /// The vCPU `tid` runs on, for a write; a thread that is not on one cannot be written.
    fn writable_vcpu(&mut self, tid: Tid) -> TargetResult<VcpuId, Self> {
        match self.vcpu_of(tid)? {
            Some(v) => match self.select(v) {
                Ok(()) => Ok(v),
                Err(e) => Err(self.fail("selecting a vCPU", e)),
            },
            None => {
                tracing::warn!("refused a register write to thread {tid}: it is not on a vCPU");
                Err(TargetError::Errno(EPERM))
            }
        }
    }
}

impl gdbstub::target::Target for ProxyTarget<'_> {
    type Arch = ProxyArch;
    type Error = Fault;

    fn base_ops(&mut self) -> BaseOps<'_, ProxyArch, Fault> {
        BaseOps::MultiThread(self)
    }

    // Our conn layer answers bad checksums with `-`: keep acks on.
    fn use_no_ack_mode(&self) -> bool {
        false
    }

    fn use_fork_stop_reason(&self) -> bool {
        false
    }

    fn use_vfork_stop_reason(&self) -> bool {
        false
    }

    fn use_vforkdone_stop_reason(&self) -> bool {
        false
    }

    fn use_lldb_register_info(&self) -> bool {
        false
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }

    fn support_section_offsets(&mut self) -> Option<SectionOffsetsOps<'_, Self>> {
        self.placement.is_some().then_some(self)
    }

    fn support_target_description_xml_override(
        &mut self,
    ) -> Option<TargetDescriptionXmlOverrideOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadBase for ProxyTarget<'_> {
    fn read_registers(&mut self, out: &mut RawRegs, tid: Tid) -> TargetResult<(), Self> {
        let values = self.thread_regs(tid)?;
        *out = regs::to_raw(&self.layout, &values);
        Ok(())
    }

    fn write_registers(&mut self, new: &RawRegs, tid: Tid) -> TargetResult<(), Self> {
        self.writable_vcpu(tid)?;
        let bytes: Vec<u8> = new.bytes.iter().map(|b| b.unwrap_or(0)).collect();
        let old = self.thread_regs(tid)?;
        for ((regnum, value), old) in regs::split_raw(&self.layout, &bytes).into_iter().zip(old) {
            if old.as_deref() == Some(value.as_slice()) {
                continue;
            }
            if let Err(e) = self.t().write_register(regnum, &value) {
                return Err(self.fail(&format!("writing register {regnum:#x}"), e));
            }
        }
        Ok(())
    }

    fn support_single_register_access(&mut self) -> Option<SingleRegisterAccessOps<'_, Tid, Self>> {
        Some(self)
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8], tid: Tid) -> TargetResult<usize, Self> {
        // gdb asks for at most what fits a reply; a longer request is refused whole, so
        // gdbstub never splices a short read into a longer reply.
        if data.len() > PACKET_SIZE / 2 {
            return Err(TargetError::Errno(EINVAL));
        }
        let r = match self.vcpu_of(tid)? {
            Some(v) => self.select(v),
            None => self.go_home(),
        };
        if let Err(e) = r {
            return Err(self.fail("selecting a vCPU", e));
        }
        match read_partial(self.t(), VirtAddr(start), data.len()) {
            Ok(read) if read.data.is_empty() => Err(TargetError::Errno(EFAULT)),
            Ok(read) => {
                let n = read.data.len().min(data.len());
                if let (Some(dst), Some(src)) = (data.get_mut(..n), read.data.get(..n)) {
                    dst.copy_from_slice(src);
                }
                Ok(n)
            }
            Err(e) => Err(self.fail(&format!("reading memory at {start:#x}"), e)),
        }
    }

    fn write_addrs(&mut self, start: u64, data: &[u8], tid: Tid) -> TargetResult<(), Self> {
        let r = match self.vcpu_of(tid)? {
            Some(v) => self.select(v),
            None => self.go_home(),
        };
        let r = r.and_then(|()| self.t().write_memory(VirtAddr(start), data));
        r.map_err(|e| self.fail(&format!("writing memory at {start:#x}"), e))
    }

    fn list_active_threads(&mut self, each: &mut dyn FnMut(Tid)) -> Result<(), Fault> {
        if let Err(e) = self.ensure_threads() {
            // The reply lists what is known; the session ends after it.
            self.fail("listing threads", e);
        }
        for tid in self.threads.order() {
            each(tid);
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }

    fn support_thread_extra_info(&mut self) -> Option<ThreadExtraInfoOps<'_, Self>> {
        Some(self)
    }
}

impl SingleRegisterAccess<Tid> for ProxyTarget<'_> {
    fn read_register(
        &mut self,
        tid: Tid,
        reg: RegNum,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let Some(i) = self.layout.regs.iter().position(|d| d.regnum == reg.0) else {
            return Err(TargetError::Errno(EINVAL));
        };
        let values = self.thread_regs(tid)?;
        match values.into_iter().nth(i).flatten() {
            Some(v) => {
                let dst = buf.get_mut(..v.len()).ok_or(TargetError::Errno(EINVAL))?;
                dst.copy_from_slice(&v);
                Ok(v.len())
            }
            None => Err(TargetError::Errno(EFAULT)),
        }
    }

    fn write_register(&mut self, tid: Tid, reg: RegNum, val: &[u8]) -> TargetResult<(), Self> {
        self.writable_vcpu(tid)?;
        let r = self.t().write_register(reg.0, val);
        r.map_err(|e| self.fail(&format!("writing register {:#x}", reg.0), e))
    }
}

/// `qOffsets`: the KASLR slide moves the whole kernel image by as much.
impl SectionOffsets for ProxyTarget<'_> {
    fn get_section_offsets(&mut self) -> Result<Offsets<u64>, Fault> {
        Ok(offsets(self.placement.unwrap_or(ImagePlacement {
            slide: 0,
            first_segment: None,
        })))
    }
}

/// The `qOffsets` reply for an image placed at `p`. gdb relocates a symbol file by
/// `Text=;Data=;Bss=` only in those three sections (a vmlinux has four loadable segments,
/// too many for gdb to map the offsets onto them), so `.rodata`, `.init.text` and the other
/// sections would stay at their link-time addresses. `TextSeg=` alone names where the
/// first segment now is, and gdb moves every segment by as much as that one: the whole
/// image by the slide, as KASLR moved it.
pub(crate) fn offsets(p: ImagePlacement) -> Offsets<u64> {
    match p.first_segment.and_then(|s| s.checked_add(p.slide)) {
        Some(text_seg) => Offsets::Segments {
            text_seg,
            data_seg: None,
        },
        None => Offsets::Sections {
            text: p.slide,
            data: p.slide,
            bss: Some(p.slide),
        },
    }
}

impl ThreadExtraInfo for ProxyTarget<'_> {
    fn thread_extra_info(&self, tid: Tid, buf: &mut [u8]) -> Result<usize, Fault> {
        let text = self
            .threads
            .get(tid)
            .map(|t| t.extra.as_bytes())
            .unwrap_or_default();
        let n = text.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), text.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }
}

impl ProxyTarget<'_> {
    /// The key of thread `tid`, for messages.
    pub(super) fn describe(&self, tid: Tid) -> String {
        match (self.threads.key(tid), self.threads.get(tid)) {
            (_, Some(t)) if !t.extra.is_empty() => format!("thread {tid} ({})", t.extra),
            (Some(ThreadKey::Task(a)), _) => format!("thread {tid} (task {a:#x})"),
            _ => format!("thread {tid}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qoffsets_names_where_the_first_segment_went() {
        let p = ImagePlacement {
            slide: 0x3860_0000,
            first_segment: Some(0xffff_ffff_8100_0000),
        };
        match offsets(p) {
            Offsets::Segments { text_seg, data_seg } => {
                assert_eq!(text_seg, 0xffff_ffff_b960_0000);
                assert_eq!(data_seg, None);
            }
            Offsets::Sections { .. } => panic!("sections"),
        }
    }

    #[test]
    fn qoffsets_without_the_first_segment_moves_text_data_and_bss() {
        let p = ImagePlacement {
            slide: 0x200_0000,
            first_segment: None,
        };
        match offsets(p) {
            Offsets::Sections { text, data, bss } => {
                assert_eq!(
                    (text, data, bss),
                    (0x200_0000, 0x200_0000, Some(0x200_0000))
                );
            }
            Offsets::Segments { .. } => panic!("segments"),
        }
        // A first segment the slide would carry past the top: the sections, not a wrap.
        let p = ImagePlacement {
            slide: 0x4000_0000,
            first_segment: Some(u64::MAX - 0x10),
        };
        assert!(matches!(offsets(p), Offsets::Sections { .. }));
    }
}
