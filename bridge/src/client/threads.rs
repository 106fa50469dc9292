//! Threads (vCPUs): `qfThreadInfo`/`qsThreadInfo`, `qThreadExtraInfo` and `Hg`.

use super::{expect_ok, Client};
use crate::error::{BridgeError, Result};
use crate::rsp::encoding::from_hex;
use crate::rsp::reply::{classify, Reply};
use crate::rsp::threads::{self, parse_thread_list, ThreadListPage};
use crate::target::VcpuId;

/// The most thread-list pages (`qsThreadInfo`) read before giving up.
const MAX_THREAD_PAGES: usize = 4096;

impl Client {
    /// Every vCPU thread, from `qfThreadInfo`/`qsThreadInfo`.
    pub async fn threads(&mut self) -> Result<Vec<VcpuId>> {
        let mut ids = Vec::new();
        let mut req: &[u8] = b"qfThreadInfo";
        for _ in 0..MAX_THREAD_PAGES {
            let reply = self.request(req).await?;
            if classify(&reply) == Reply::Unsupported {
                return Ok(if ids.is_empty() {
                    vec![VcpuId { pid: 1, tid: 1 }]
                } else {
                    ids
                });
            }
            match parse_thread_list(&reply).map_err(BridgeError::from)? {
                ThreadListPage::More(page) => ids.extend(page),
                ThreadListPage::End => return Ok(ids),
            }
            req = b"qsThreadInfo";
        }
        Err(BridgeError::Protocol(format!(
            "thread list did not end after {MAX_THREAD_PAGES} pages"
        )))
    }

    /// `qThreadExtraInfo` for each id, pipelined; empty strings where the stub has none.
    pub async fn thread_extra_info(&mut self, ids: &[VcpuId]) -> Result<Vec<String>> {
        let bodies: Vec<Vec<u8>> = ids
            .iter()
            .map(|&id| threads::extra_info_request(id))
            .collect();
        let replies = self.request_many(&bodies).await?;
        Ok(replies
            .iter()
            .map(|r| match classify(r) {
                Reply::Data(d) => from_hex(d)
                    .map(|t| String::from_utf8_lossy(&t).trim_end().to_string())
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .collect())
    }

    /// `Hg`: selects the vCPU for registers and memory translation.
    pub async fn select_thread(&mut self, id: VcpuId) -> Result<()> {
        let reply = self.request(&threads::select_request(id)).await?;
        expect_ok(&reply, &format!("selecting vCPU {id}"))
    }
}
