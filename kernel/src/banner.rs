//! `linux_banner`: the "Linux version ..." line that identifies a kernel build, found in the
//! image's `.rodata` without needing symbols.

use super::KernelImage;

/// The banner's prefix; `linux_proc_banner` ("%s version %s") does not match it.
const PREFIX: &[u8] = b"Linux version ";

/// The longest banner accepted.
const MAX_BANNER: usize = 1024;

/// A kernel's banner and where the image puts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    /// Link-time address of `linux_banner`.
    pub addr: u64,
    /// The text, including its final newline.
    pub text: String,
}

impl Banner {
    /// The release (`uname -r`): the third word.
    pub fn release(&self) -> Option<&str> {
        self.text.split_whitespace().nth(2)
    }
}

/// Finds `linux_banner` in the image: the first "Linux version `<digit>`" string in `.rodata`.
pub fn find_banner(image: &KernelImage) -> Option<Banner> {
    let rodata = image.section(".rodata")?;
    let mut from = 0usize;
    while let Some(pos) = find(rodata.data.get(from..)?, PREFIX) {
        let start = from + pos;
        let rest = rodata.data.get(start..)?;
        let end = rest.iter().take(MAX_BANNER).position(|&b| b == 0)?;
        let text = rest.get(..end)?;
        if text.get(PREFIX.len()).is_some_and(u8::is_ascii_digit) && text.ends_with(b"\n") {
            return Some(Banner {
                addr: rodata.addr + start as u64,
                text: String::from_utf8_lossy(text).into_owned(),
            });
        }
        from = start + 1;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
