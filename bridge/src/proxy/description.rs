//! The target description gdb reads (`qXfer:features:read`): the files QEMU served, as is.

use super::regs;
use super::target::ProxyTarget;
use crate::regs::{includes, parse_description, RegLayout, MAX_INCLUDES};
use crate::target::Target;
use gdbstub::target::ext::target_description_xml_override::TargetDescriptionXmlOverride;
use gdbstub::target::{TargetError, TargetResult};

/// The target's description files (`target.xml` and what it includes), or one built from
/// the register layout if it serves none.
pub(super) fn load(target: &mut dyn Target, layout: &RegLayout) -> Vec<(String, String)> {
    let root = match target.target_description("target.xml") {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!("no target description from the target ({e}): built one");
            return vec![("target.xml".into(), regs::fallback_description(layout))];
        }
    };
    let mut files = vec![("target.xml".to_string(), root)];
    let mut i = 0;
    while let Some((_, text)) = files.get(i) {
        let hrefs: Vec<String> = parse_description(text)
            .map(|items| includes(&items).map(str::to_string).collect())
            .unwrap_or_default();
        for href in hrefs {
            if files.len() > MAX_INCLUDES || files.iter().any(|(a, _)| *a == href) {
                continue;
            }
            match target.target_description(&href) {
                Ok(t) => files.push((href, t)),
                Err(e) => tracing::warn!("target description file {href}: {e}"),
            }
        }
        i += 1;
    }
    files
}

impl TargetDescriptionXmlOverride for ProxyTarget<'_> {
    fn target_description_xml(
        &self,
        annex: &[u8],
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let Some((_, text)) = self.description.iter().find(|(a, _)| a.as_bytes() == annex) else {
            return Err(TargetError::Errno(0));
        };
        let text = text.as_bytes();
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(text.len());
        let n = (text.len() - start).min(length).min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), text.get(start..start + n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }
}
