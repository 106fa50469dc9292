//! Monitor commands (`qRcmd`) and their console output.

use super::Client;
use crate::error::{BridgeError, Result};
use crate::rsp::encoding::from_hex;
use crate::rsp::frame::encode;
use crate::rsp::monitor;
use crate::rsp::reply::{classify, Reply};
use tokio::time::Instant;

/// The most console (`O`) packets accepted for one monitor command.
const MAX_CONSOLE_PACKETS: usize = 100_000;

impl Client {
    /// Runs `cmd` in the stub's monitor and returns its console output.
    pub async fn monitor(&mut self, cmd: &str) -> Result<String> {
        self.check_usable()?;
        self.write_packets(vec![encode(&monitor::request(cmd))])
            .await?;
        let deadline = Instant::now() + self.opts.timeout;
        let mut text = Vec::new();
        for _ in 0..MAX_CONSOLE_PACKETS {
            let body = self.recv_packet("qRcmd", true, false, deadline).await?;
            if let Some(out) = monitor::console_output(&body) {
                text.extend_from_slice(&out);
                continue;
            }
            return match classify(&body) {
                Reply::Ok => Ok(String::from_utf8_lossy(&text).into_owned()),
                Reply::Unsupported => Err(BridgeError::Unsupported("monitor commands".into())),
                Reply::Error(n) => Err(BridgeError::Remote {
                    what: format!("monitor command {cmd:?}"),
                    errno: n,
                }),
                // Some stubs answer with the hex text directly instead of `O` packets.
                Reply::Data(d) => Ok(from_hex(d)
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_else(|_| String::from_utf8_lossy(d).into_owned())),
            };
        }
        Err(BridgeError::Protocol(format!(
            "monitor command {cmd:?} produced more than {MAX_CONSOLE_PACKETS} packets"
        )))
    }
}
