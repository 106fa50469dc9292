//! `qXfer` object reads (the target description).

use super::Client;
use crate::error::{BridgeError, Result};
use crate::rsp::reply::{classify, Reply};
use crate::rsp::xfer;

/// The largest object (`target.xml` and its includes) read over qXfer.
const MAX_XFER_OBJECT: usize = 1 << 20;

impl Client {
    /// Reads a whole qXfer object (for example `features`, `target.xml`).
    pub async fn xfer_read(&mut self, object: &str, annex: &str) -> Result<Vec<u8>> {
        let page = self.packet_size().saturating_sub(8).max(16);
        let mut data = Vec::new();
        loop {
            let reply = self
                .request(&xfer::read_request(object, annex, data.len(), page))
                .await?;
            match classify(&reply) {
                Reply::Error(n) => {
                    return Err(BridgeError::Remote {
                        what: format!("reading {object} {annex}"),
                        errno: n,
                    })
                }
                Reply::Unsupported => {
                    return Err(BridgeError::Unsupported(format!("qXfer:{object}:read")))
                }
                _ => {}
            }
            let p = xfer::parse_page(&reply)
                .map_err(|e| BridgeError::Protocol(format!("{annex}: {e}")))?;
            let progressed = !p.data.is_empty();
            data.extend_from_slice(&p.data);
            if data.len() > MAX_XFER_OBJECT {
                return Err(BridgeError::Protocol(format!(
                    "{annex} is larger than {MAX_XFER_OBJECT} bytes"
                )));
            }
            if p.last {
                return Ok(data);
            }
            if !progressed {
                return Err(BridgeError::Protocol(format!(
                    "{annex}: empty non-final qXfer page at offset {}",
                    data.len()
                )));
            }
        }
    }
}
