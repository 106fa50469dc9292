//! `monitor LINE` (`qRcmd`): the backend's commands, their output streamed to gdb.

use super::target::ProxyTarget;
use crate::target::RunState;
use gdbstub::target::ext::monitor_cmd::{ConsoleOutput, MonitorCmd};

impl MonitorCmd for ProxyTarget<'_> {
    fn handle_monitor_cmd(
        &mut self,
        cmd: &[u8],
        mut out: ConsoleOutput<'_>,
    ) -> Result<(), super::target::Fault> {
        let line = String::from_utf8_lossy(cmd).trim().to_string();
        if self.lost.is_some() {
            out.write_raw(b"qmdb: the connection to the target is lost\n");
            return Ok(());
        }
        if let Err(e) = self.go_home() {
            let msg = self.lose(e);
            out.write_raw(format!("qmdb: {msg}\n").as_bytes());
            return Ok(());
        }
        tracing::info!(command = %line, "monitor");
        let ok = self.backend.monitor(&line, &mut |text: &str| {
            out.write_raw(text.as_bytes());
            if !text.ends_with('\n') {
                out.write_raw(b"\n");
            }
            out.flush();
        });
        if !ok {
            tracing::debug!(command = %line, "monitor command failed");
        }
        // A command may have changed anything, even resumed the VM (`qemu cont`).
        self.threads.invalidate();
        match self.t().status() {
            Err(e) if e.is_fatal() => {
                let msg = self.lose(e);
                out.write_raw(format!("qmdb: {msg}\n").as_bytes());
            }
            Ok(s) if s.state == RunState::Running => {
                out.write_raw(b"qmdb: the command resumed the VM; stopped it again for gdb\n");
                if let Err(e) = self.t().interrupt() {
                    let msg = self.lose(e);
                    out.write_raw(format!("qmdb: {msg}\n").as_bytes());
                }
            }
            _ => {}
        }
        Ok(())
    }
}
