//! Registers: `g` (with `p` for those it leaves out) and `P`.

use super::{expect_ok, Client};
use crate::error::{BridgeError, Result};
use crate::regs::{RegLayout, RegValues};
use crate::rsp::encoding::from_hex_maybe;
use crate::rsp::registers;
use crate::rsp::reply::{classify, Reply};

impl Client {
    /// Reads the selected vCPU's registers: `g`, then `p` for those the `g` reply left out.
    pub async fn read_registers(&mut self, layout: &RegLayout) -> Result<RegValues> {
        let reply = self.request(b"g").await?;
        if let Reply::Error(n) = classify(&reply) {
            return Err(BridgeError::Remote {
                what: "reading registers".into(),
                errno: n,
            });
        }
        let mut values = RegValues::default();
        let mut off = 0usize;
        let mut rest = Vec::new();
        for desc in &layout.regs {
            let hex_len = (desc.bits as usize).div_ceil(8) * 2;
            match reply.get(off..off + hex_len) {
                Some(h) => {
                    if let Ok(Some(bytes)) = from_hex_maybe(h) {
                        values.values.push((desc.clone(), bytes));
                    }
                    off += hex_len;
                }
                None => {
                    off = reply.len();
                    rest.push(desc.clone());
                }
            }
        }
        if !rest.is_empty() {
            let bodies: Vec<Vec<u8>> = rest
                .iter()
                .map(|d| format!("p{:x}", d.regnum).into_bytes())
                .collect();
            let replies = self.request_many(&bodies).await?;
            for (desc, r) in rest.into_iter().zip(replies) {
                if let Reply::Data(d) = classify(&r) {
                    if let Ok(Some(bytes)) = from_hex_maybe(d) {
                        values.values.push((desc, bytes));
                    }
                }
            }
            values.values.sort_by_key(|(d, _)| d.regnum);
        }
        Ok(values)
    }

    /// Sets register `regnum` of the selected vCPU (`P`).
    pub async fn write_register(&mut self, regnum: u32, value: &[u8]) -> Result<()> {
        let reply = self
            .request(&registers::write_request(regnum, value))
            .await?;
        expect_ok(&reply, &format!("writing register {regnum:#x}"))
    }
}
