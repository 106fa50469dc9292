//! What of a kernel image is x86_64's own: the bzImage boot header ([`boot`]) that wraps the
//! compressed kernel, and the ORC unwind tables ([`orc`]: `.orc_unwind_ip`/`.orc_unwind`,
//! which objtool generates only for x86).
//!
//! An arm64 module would provide the arm64 `Image` header (magic `ARM\x64`, text offset,
//! image size; an `Image.gz` is a plain gzip stream) in place of [`boot`]. arm64 has no ORC:
//! its kernels unwind by frame records (`CONFIG_FRAME_POINTER` is mandatory there), so the
//! unwinder would need no table from the image.

pub mod boot;
pub mod orc;
