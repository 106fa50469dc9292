//! `expr=fmt`: format the value of an expression itself.
//!
//! As in mdb, each format item renders the value's own bytes (little-endian, so `=X` shows the
//! low 32 bits), lines are indented by the label column, and `+`/`-` change the value that
//! later items see.

use super::layout::{LineBuilder, Style};
use super::{render, FormatItem, Kind};
use crate::error::DcmdError;
use crate::records::FormattedValue;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;

/// Most items one `=` shows.
const MAX_ITEMS: u64 = 1 << 16;

/// Formats `value` with `items`, `repeat` times over. Returns the value after `+`/`-`.
pub fn format_value(
    session: &mut Session,
    value: u64,
    repeat: u64,
    items: &[FormatItem],
    sink: &mut Sink<'_>,
) -> Result<u64, DcmdError> {
    let pipe = sink.pipe_out();
    let mut line = LineBuilder::new(Style::Indent);
    let mut v = value;
    let mut shown = 0u64;
    let result = (|| {
        for _ in 0..repeat {
            for item in items {
                let (def, count) = match item {
                    FormatItem::Text(t) => {
                        line.push_text(VirtAddr(v), t, 0);
                        continue;
                    }
                    FormatItem::Fmt { def, count } => (*def, *count),
                };
                match def.kind {
                    Kind::Plus => v = v.wrapping_add(count),
                    Kind::Minus => v = v.wrapping_sub(count),
                    Kind::Newline => line.flush(session, sink),
                    Kind::Tab => line.tab(VirtAddr(v)),
                    Kind::Space => {
                        let n = usize::try_from(count.min(80)).unwrap_or(80);
                        line.push_text(VirtAddr(v), "", n);
                    }
                    Kind::Unsupported(why) => {
                        return Err(DcmdError::UnsupportedFormat { ch: def.ch, why })
                    }
                    Kind::Str | Kind::StrC | Kind::Instr => {
                        return Err(DcmdError::usage(
                            "=",
                            format!("format '{}' reads memory; use '/' instead", def.ch),
                        ))
                    }
                    Kind::Dot => {
                        let label = format!("{}:", session.symbolize(VirtAddr(v)));
                        line.push_text(VirtAddr(v), &label, def.width);
                    }
                    _ => {
                        let bytes = v.to_le_bytes();
                        let own = bytes.get(..def.size).unwrap_or(&bytes);
                        for _ in 0..count {
                            shown += 1;
                            if shown > MAX_ITEMS {
                                return Err(DcmdError::usage(
                                    "=",
                                    format!("stopped after {MAX_ITEMS} items"),
                                ));
                            }
                            if pipe {
                                if def.is_numeric() {
                                    sink.addr(VirtAddr(render::le_value(own)));
                                }
                                continue;
                            }
                            let text = match def.kind {
                                Kind::Symbol => session.symbolize(VirtAddr(render::le_value(own))),
                                Kind::Char | Kind::CharC => {
                                    render::escape(own, def.kind == Kind::CharC)
                                }
                                kind => render::number(kind, def.size, own),
                            };
                            line.push(session, sink, VirtAddr(v), def, text);
                        }
                    }
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        // The lines completed before the error are printed; the one being built is not.
        for l in &line.lines {
            sink.line(l);
        }
        return Err(e);
    }
    line.flush(session, sink);
    // Fed to a pipe, only the text is printed (see [`Sink::record`]).
    sink.record(FormattedValue {
        value,
        values: std::mem::take(&mut line.all_values),
        lines: std::mem::take(&mut line.lines),
    });
    Ok(v)
}
