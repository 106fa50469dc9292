//! `y` in the output pane: the output block at the current match (or at the bottom of the
//! view) goes to the terminal's clipboard with OSC 52, since mouse capture keeps the
//! terminal from selecting text itself.

use super::App;

/// The most text one copy sends (terminals limit OSC 52; xterm's default is about 100 kB
/// of base64).
pub const COPY_CAP: usize = 64 * 1024;

impl App {
    /// Puts the output block at the match, else at the view's bottom line, on the
    /// clipboard (sent by the terminal loop as OSC 52 at the next frame).
    pub(super) fn copy_output(&mut self) {
        let h = self.regions.output_height().max(1);
        let at = self
            .output
            .current_index()
            .unwrap_or_else(|| self.output.window(h).end.saturating_sub(1));
        let lines = self.output.block_at(at);
        if lines.iter().all(String::is_empty) {
            return self.say("nothing to copy");
        }
        let mut text = lines.join("\n");
        text.push('\n');
        let mut cut = false;
        if text.len() > COPY_CAP {
            let mut end = COPY_CAP;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            cut = true;
        }
        let n = lines.len();
        self.say(format!(
            "copied {n} line{} to the clipboard (OSC 52){}",
            if n == 1 { "" } else { "s" },
            if cut { ", cut to 64 KiB" } else { "" }
        ));
        self.clipboard = Some(text);
    }
}
