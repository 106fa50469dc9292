//! Setting the terminal's clipboard with OSC 52 (`ESC ] 52 ; c ; BASE64 BEL`), which
//! xterm, kitty, WezTerm, iTerm2, foot, Windows Terminal and tmux (`set-clipboard on`)
//! understand, also over ssh.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The escape sequence that puts `text` on the clipboard.
pub fn osc52(text: &str) -> String {
    format!("\x1b]52;c;{}\x07", STANDARD.encode(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_carries_base64() {
        assert_eq!(osc52("swapper/0\n"), "\x1b]52;c;c3dhcHBlci8wCg==\x07");
        assert_eq!(osc52(""), "\x1b]52;c;\x07");
    }
}
