//! The KASLR slide of the running kernel, and the check that the kernel file matches it.
//!
//! x86_64 places the kernel text at a random 2 MiB-aligned offset below 1 GiB from its link
//! address. qmdb tries candidate slides and accepts the one at which the guest's memory holds
//! the image's `linux_banner`, byte for byte. Candidates near a vCPU's kernel-mode `rip` are
//! tried first; then every aligned slide, pipelined.

use crate::Error;
use qmdb_bridge::{Target, VirtAddr};
use qmdb_kernel::banner::Banner;

pub use crate::arch::{MAX_SLIDE, SLIDE_ALIGN};

/// Requests per pipelined batch when scanning candidates.
const BATCH: usize = 64;

/// Why no slide was found.
#[derive(Debug, thiserror::Error)]
pub enum KaslrError {
    /// The banner was found where the file puts it, but it is another kernel's.
    #[error(
        "the kernel file does not match the guest: at {addr:x} the guest has {guest:?}, \
         the file has {file:?}"
    )]
    Mismatch {
        addr: VirtAddr,
        guest: String,
        file: String,
    },
    /// Nothing that looks like a banner was found at any candidate slide.
    #[error(
        "the guest does not hold this file's linux_banner ({file:?}) at any KASLR slide: \
         it runs another kernel, or has not booted far enough"
    )]
    NotFound { file: String },
    /// The guest could not be read.
    #[error(transparent)]
    Target(#[from] Error),
}

/// Finds the slide at which the guest holds `banner`. `rips` are vCPU program counters
/// (any; those outside the kernel's possible text range are ignored), used to try likely
/// slides first; `text` is the link-time range of the kernel text.
pub fn find_slide(
    target: &mut dyn Target,
    banner: &Banner,
    text: std::ops::Range<u64>,
    rips: &[u64],
) -> Result<u64, KaslrError> {
    let mut candidates: Vec<u64> = Vec::new();
    for &rip in rips {
        if rip < text.start {
            continue;
        }
        // rip lies in [text.start + slide, text.end + slide).
        let hi = (rip - text.start).min(MAX_SLIDE - SLIDE_ALIGN);
        let lo = rip
            .saturating_sub(text.end)
            .saturating_sub(text.start.min(rip));
        let mut s = hi - hi % SLIDE_ALIGN;
        loop {
            if s + SLIDE_ALIGN <= lo {
                break;
            }
            if !candidates.contains(&s) {
                candidates.push(s);
            }
            if s < SLIDE_ALIGN {
                break;
            }
            s -= SLIDE_ALIGN;
        }
    }
    let first = candidates.len();
    for k in 0..MAX_SLIDE / SLIDE_ALIGN {
        let s = k * SLIDE_ALIGN;
        if !candidates.iter().take(first).any(|&c| c == s) {
            candidates.push(s);
        }
    }

    let want = banner.text.as_bytes();
    let prefix_len = want.len().min(14);
    let mut near_miss: Option<(VirtAddr, Vec<u8>)> = None;
    for batch in candidates.chunks(BATCH) {
        let reqs: Vec<(VirtAddr, usize)> = batch
            .iter()
            .map(|&s| (VirtAddr(banner.addr.wrapping_add(s)), want.len()))
            .collect();
        let replies = read_candidates(target, &reqs)?;
        for (&(addr, _), r) in reqs.iter().zip(replies) {
            let Some(bytes) = r else { continue };
            if bytes == want {
                return Ok(addr.0.wrapping_sub(banner.addr));
            }
            if near_miss.is_none() && bytes.get(..prefix_len) == want.get(..prefix_len) {
                near_miss = Some((addr, bytes));
            }
        }
    }
    match near_miss {
        Some((addr, bytes)) => {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            Err(KaslrError::Mismatch {
                addr,
                guest: String::from_utf8_lossy(bytes.get(..end).unwrap_or_default())
                    .trim_end()
                    .to_string(),
                file: banner.text.trim_end().to_string(),
            })
        }
        None => Err(KaslrError::NotFound {
            file: banner.text.trim_end().to_string(),
        }),
    }
}

/// One all-or-nothing read per candidate; `None` where the guest has no mapping.
fn read_candidates(
    target: &mut dyn Target,
    reqs: &[(VirtAddr, usize)],
) -> Result<Vec<Option<Vec<u8>>>, KaslrError> {
    let max = target.max_request();
    if reqs.iter().any(|&(_, n)| n > max) {
        // A banner longer than one request: read each candidate fault-aware.
        return reqs
            .iter()
            .map(|&(a, n)| {
                let r = qmdb_bridge::read_partial(target, a, n).map_err(Error::from)?;
                Ok((r.data.len() == n).then_some(r.data))
            })
            .collect();
    }
    let replies = target.read_chunks(reqs).map_err(Error::from)?;
    Ok(replies.into_iter().map(Result::ok).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockTarget;

    const LINK: u64 = 0xffff_ffff_8200_0100;
    const TEXT: std::ops::Range<u64> = 0xffff_ffff_8100_0000..0xffff_ffff_8200_0000;

    fn banner(text: &str) -> Banner {
        Banner {
            addr: LINK,
            text: text.to_string(),
        }
    }

    #[test]
    fn finds_the_slide_with_and_without_a_hint() {
        let text = "Linux version 6.1.0-test (x) #1 SMP\n";
        let slide = 0x1e00_0000;
        let mut t = MockTarget::new().with_bytes(LINK + slide, text.as_bytes());
        assert_eq!(find_slide(&mut t, &banner(text), TEXT, &[]).unwrap(), slide);
        let rip = TEXT.start + slide + 0x12345;
        assert_eq!(
            find_slide(&mut t, &banner(text), TEXT, &[rip]).unwrap(),
            slide
        );
        let mut t = MockTarget::new().with_bytes(LINK, text.as_bytes());
        assert_eq!(
            find_slide(&mut t, &banner(text), TEXT, &[0x401000]).unwrap(),
            0
        );
    }

    #[test]
    fn a_hint_saves_the_scan() {
        let text = "Linux version 6.1.0-test (x) #1 SMP\n";
        let slide = 0x3000_0000;
        let t = MockTarget::new().with_bytes(LINK + slide, text.as_bytes());
        let shared = t.shared();
        let mut t = t;
        find_slide(&mut t, &banner(text), TEXT, &[TEXT.start + slide + 0x100]).unwrap();
        assert!(
            shared.borrow().requests <= BATCH,
            "{}",
            shared.borrow().requests
        );
    }

    #[test]
    fn another_kernel_is_a_mismatch() {
        let file = "Linux version 6.1.0-test (x) #1 SMP\n";
        let guest = "Linux version 6.12.0-other (y) #2 SMP\n";
        let mut t = MockTarget::new().with_bytes(LINK + 0x20_0000, guest.as_bytes());
        match find_slide(&mut t, &banner(file), TEXT, &[]) {
            Err(KaslrError::Mismatch { guest, file, .. }) => {
                assert!(guest.starts_with("Linux version 6.12"), "{guest}");
                assert!(file.starts_with("Linux version 6.1.0"), "{file}");
            }
            other => panic!("{other:?}"),
        }
        let mut t = MockTarget::new();
        assert!(matches!(
            find_slide(&mut t, &banner(file), TEXT, &[]),
            Err(KaslrError::NotFound { .. })
        ));
    }
}
