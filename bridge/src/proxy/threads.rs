//! gdb's threads: the backend's list after each stop, with ids that stay the same for the
//! life of the proxy.

use super::backend::{ProxyBackend, ProxyThread, ThreadKey};
use super::ThreadsMode;
use crate::error::Result;
use crate::target::VcpuId;
use gdbstub::common::Tid;
use std::collections::HashMap;

/// The threads of the current stop and every id handed out so far.
pub(crate) struct ThreadTable {
    mode: ThreadsMode,
    tids: HashMap<ThreadKey, Tid>,
    keys: HashMap<Tid, ThreadKey>,
    next: usize,
    /// The current threads, in the backend's order.
    list: Vec<(Tid, ProxyThread)>,
    /// Whether `list` describes the current stop.
    fresh: bool,
    /// Listed first: the thread on the vCPU that stopped.
    first: Option<Tid>,
    /// The vCPU that stopped.
    stop_vcpu: Option<VcpuId>,
    /// Whether the backend's failure to list tasks was logged already.
    warned: bool,
}

impl ThreadTable {
    pub(crate) fn new(mode: ThreadsMode) -> ThreadTable {
        ThreadTable {
            mode,
            tids: HashMap::new(),
            keys: HashMap::new(),
            next: 1,
            list: Vec::new(),
            fresh: false,
            first: None,
            stop_vcpu: None,
            warned: false,
        }
    }

    /// The target ran: the list no longer describes it.
    pub(crate) fn invalidate(&mut self) {
        self.fresh = false;
    }

    pub(crate) fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// Lists the threads of the (stopped) target again. Only a failure of the target itself
    /// is an error: if the backend cannot list tasks, gdb gets the vCPUs.
    pub(crate) fn refresh(&mut self, backend: &mut dyn ProxyBackend) -> Result<()> {
        let threads = match self.mode {
            ThreadsMode::Vcpus => vcpu_threads(backend)?,
            ThreadsMode::Tasks => match backend.threads() {
                Ok(t) if !t.is_empty() => t,
                other => {
                    let why = match other {
                        Err(e) => e.to_string(),
                        Ok(_) => "the backend lists no threads".to_string(),
                    };
                    if !std::mem::replace(&mut self.warned, true) {
                        tracing::warn!("gdb's threads are the vCPUs: {why}");
                    } else {
                        tracing::debug!("gdb's threads are the vCPUs: {why}");
                    }
                    vcpu_threads(backend)?
                }
            },
        };
        self.list.clear();
        for t in threads {
            let tid = self.tid_of(t.key);
            if self.list.iter().all(|(other, _)| *other != tid) {
                self.list.push((tid, t));
            }
        }
        self.first = None;
        if let Some(v) = self.stop_vcpu {
            self.on_vcpu(v);
        }
        self.fresh = true;
        tracing::debug!(threads = self.list.len(), "thread list refreshed");
        Ok(())
    }

    /// The gdb id of `key`, handing out a new one the first time. In vCPU mode a vCPU gets
    /// QEMU's own number when it is free.
    fn tid_of(&mut self, key: ThreadKey) -> Tid {
        if let Some(&t) = self.tids.get(&key) {
            return t;
        }
        let preferred = match (self.mode, key) {
            (ThreadsMode::Vcpus, ThreadKey::Vcpu(v)) => {
                Tid::new(v.tid as usize).filter(|t| !self.keys.contains_key(t))
            }
            _ => None,
        };
        let tid = match preferred {
            Some(t) => t,
            None => loop {
                let candidate = Tid::new(self.next).unwrap_or(Tid::MIN);
                self.next = self.next.saturating_add(1);
                if !self.keys.contains_key(&candidate) {
                    break candidate;
                }
            },
        };
        self.tids.insert(key, tid);
        self.keys.insert(tid, key);
        tid
    }

    /// The current thread `tid`, if it is one.
    pub(crate) fn get(&self, tid: Tid) -> Option<&ProxyThread> {
        self.list.iter().find(|(t, _)| *t == tid).map(|(_, p)| p)
    }

    /// What `tid` was handed out for, current or not.
    pub(crate) fn key(&self, tid: Tid) -> Option<ThreadKey> {
        self.keys.get(&tid).copied()
    }

    /// The thread on `vcpu`, listed first from now on. A vCPU the backend did not cover
    /// becomes a thread of its own.
    pub(crate) fn on_vcpu(&mut self, vcpu: VcpuId) -> Tid {
        let found = self
            .list
            .iter()
            .find(|(_, p)| p.vcpu == Some(vcpu))
            .map(|(t, _)| *t);
        let tid = match found {
            Some(t) => t,
            None => {
                let key = ThreadKey::Vcpu(vcpu);
                let tid = self.tid_of(key);
                if self.get(tid).is_none() {
                    self.list.push((
                        tid,
                        ProxyThread {
                            key,
                            extra: format!("CPU#{}", vcpu.cpu_index()),
                            vcpu: Some(vcpu),
                        },
                    ));
                }
                tid
            }
        };
        self.first = Some(tid);
        self.stop_vcpu = Some(vcpu);
        tid
    }

    /// The current threads in the order gdb gets them: the stopping vCPU's first.
    pub(crate) fn order(&self) -> Vec<Tid> {
        let mut out: Vec<Tid> = self.first.into_iter().collect();
        out.extend(
            self.list
                .iter()
                .map(|(t, _)| *t)
                .filter(|t| Some(*t) != self.first),
        );
        out
    }
}

/// QEMU's vCPUs as threads.
fn vcpu_threads(backend: &mut dyn ProxyBackend) -> Result<Vec<ProxyThread>> {
    Ok(backend
        .target()
        .vcpus()?
        .into_iter()
        .map(|v| ProxyThread {
            key: ThreadKey::Vcpu(v.id),
            extra: v.extra,
            vcpu: Some(v.id),
        })
        .collect())
}
