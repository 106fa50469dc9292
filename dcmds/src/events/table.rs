//! The session's event table, and keeping QEMU's planted points in step with it.

use super::event::{Event, EventKind, EventOptions};
use crate::error::DcmdError;
use qmdb_bridge::{RunState, Target, VcpuId, VirtAddr};

/// The most events one session holds (QEMU keeps each one; hardware watchpoints are
/// further limited by what QEMU accepts).
pub const MAX_EVENTS: usize = 256;

/// What a continue dcmd run inside an event callback asked for (mdb: it does not run the
/// target, it notes that a continue is pending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    Continue,
    Step(StepKind),
}

/// What `::step` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// One instruction.
    Into,
    /// One instruction, running a called function to its return.
    Over,
    /// To the caller.
    Out,
}

impl StepKind {
    /// mdb's precedence of pending continues: step, step-over, step-out, continue.
    fn rank(self) -> u8 {
        match self {
            StepKind::Into => 3,
            StepKind::Over => 2,
            StepKind::Out => 1,
        }
    }
}

impl Resume {
    /// mdb's precedence: step, step-over, step-out, continue.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Resume::Continue => 0,
            Resume::Step(k) => k.rank(),
        }
    }
}

/// The events of a session, by id, and the run-control state around them.
#[derive(Debug, Default)]
pub struct EventTable {
    events: Vec<Event>,
    next_id: u32,
    /// Inside an event callback: continue dcmds only note what they want.
    in_callback: bool,
    pending: Option<Resume>,
    /// The vCPU of the last stop qmdb saw (it may sit on a breakpoint it must step off).
    pub(crate) last_stop_vcpu: Option<VcpuId>,
    /// `::step -i`: the running step lets interrupts and timers in.
    pub(crate) step_interrupts: bool,
}

impl EventTable {
    /// Every event, by id.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn get(&self, id: u32) -> Option<&Event> {
        self.events.iter().find(|e| e.id == id)
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut Event> {
        self.events.iter_mut().find(|e| e.id == id)
    }

    /// Adds an enabled event (not planted yet: see [`EventTable::sync`]) and returns its id.
    pub fn add(
        &mut self,
        kind: EventKind,
        addr: VirtAddr,
        what: String,
        opts: EventOptions,
    ) -> Result<u32, DcmdError> {
        if self.events.len() >= MAX_EVENTS {
            return Err(DcmdError::Refused(format!(
                "there are already {MAX_EVENTS} events (see ::delete)"
            )));
        }
        self.next_id += 1;
        let id = self.next_id;
        self.events.push(Event {
            id,
            kind,
            addr,
            what,
            enabled: true,
            hits: 0,
            opts,
            planted: false,
        });
        Ok(id)
    }

    /// Whether a continue dcmd runs inside an event callback.
    pub fn in_callback(&self) -> bool {
        self.in_callback
    }

    pub(crate) fn set_in_callback(&mut self, on: bool) {
        self.in_callback = on;
        if on {
            self.pending = None;
        }
    }

    /// Notes a continue asked for inside a callback; the highest precedence wins.
    pub(crate) fn request(&mut self, r: Resume) {
        if self.pending.is_none_or(|p| r.rank() > p.rank()) {
            self.pending = Some(r);
        }
    }

    pub(crate) fn take_pending(&mut self) -> Option<Resume> {
        self.pending.take()
    }

    /// Removes event `id` from the table and from QEMU. Errors from QEMU are returned
    /// after the event is gone from the table.
    pub fn delete(&mut self, target: &mut dyn Target, id: u32) -> Result<Event, DcmdError> {
        let at = self
            .events
            .iter()
            .position(|e| e.id == id)
            .ok_or_else(|| DcmdError::usage("::delete", format!("no event {id}")))?;
        let mut e = self.events.remove(at);
        unplant(target, &mut e)?;
        Ok(e)
    }

    /// Enables or disables `id`, planting or removing it now when the target is stopped.
    pub fn set_enabled(
        &mut self,
        target: &mut dyn Target,
        id: u32,
        enabled: bool,
    ) -> Result<(), DcmdError> {
        let e = self
            .get_mut(id)
            .ok_or_else(|| DcmdError::usage("::enable", format!("no event {id}")))?;
        e.enabled = enabled;
        self.sync(target)
    }

    /// Makes QEMU hold exactly the enabled events: plants the enabled ones not planted and
    /// removes the disabled ones still planted. Does nothing while the target runs (a
    /// packet would stop it); the next resume does it. The first failure is returned after
    /// trying every event; an event that cannot be planted is disabled.
    pub fn sync(&mut self, target: &mut dyn Target) -> Result<(), DcmdError> {
        if target.status()?.state == RunState::Running {
            return Ok(());
        }
        let mut first_err = None;
        for e in &mut self.events {
            let r = if e.enabled && !e.planted {
                let (kind, len) = e.kind.planted_as();
                match target.insert_breakpoint(kind, e.addr, len) {
                    Ok(()) => {
                        e.planted = true;
                        Ok(())
                    }
                    Err(err) => {
                        e.enabled = false;
                        Err(DcmdError::from(err))
                    }
                }
            } else if !e.enabled && e.planted {
                unplant(target, e)
            } else {
                Ok(())
            };
            if let Err(err) = r {
                if err.is_fatal() {
                    return Err(err);
                }
                first_err.get_or_insert(err);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Whether an enabled, planted breakpoint sits at `addr`.
    pub fn planted_breakpoint_at(&self, addr: u64) -> bool {
        self.events
            .iter()
            .any(|e| e.planted && e.kind == EventKind::Breakpoint && e.addr.0 == addr)
    }

    /// Forgets that anything is planted (the connection that held them is gone).
    pub fn forget_planted(&mut self) {
        for e in &mut self.events {
            e.planted = false;
        }
    }
}

fn unplant(target: &mut dyn Target, e: &mut Event) -> Result<(), DcmdError> {
    if !e.planted {
        return Ok(());
    }
    if target.status()?.state == RunState::Running {
        return Ok(());
    }
    let (kind, len) = e.kind.planted_as();
    e.planted = false;
    target.remove_breakpoint(kind, e.addr, len)?;
    Ok(())
}
