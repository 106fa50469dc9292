//! `addr[,count]/fmt`: display guest memory.
//!
//! Reads go through the fault-aware reader; the bytes before a fault are displayed, then the
//! command fails naming the item that could not be read.

use super::layout::{LineBuilder, Style};
use super::{render, FormatItem, Kind};
use crate::error::{bytes_word, DcmdError, ReadCause};
use crate::records::Instruction;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;

/// Most bytes read ahead in one request when the whole display's size is known.
const WINDOW: usize = 64 * 1024;
/// Longest string `s` and `S` show.
pub const MAX_STRING: usize = 4096;
/// Bytes asked for at a time while looking for a string's NUL.
const STRING_CHUNK: usize = 256;
/// Most items one display shows.
pub const MAX_ITEMS: u64 = 1 << 24;

/// Serves fixed-size reads from one read-ahead window.
struct Cursor {
    base: u64,
    data: Vec<u8>,
}

impl Cursor {
    fn get(
        &mut self,
        session: &mut Session,
        addr: VirtAddr,
        n: usize,
        hint: usize,
    ) -> Result<Vec<u8>, DcmdError> {
        if let Some(off) = addr.0.checked_sub(self.base) {
            if let Ok(off) = usize::try_from(off) {
                if let Some(bytes) = off.checked_add(n).and_then(|end| self.data.get(off..end)) {
                    return Ok(bytes.to_vec());
                }
            }
        }
        let want = n.max(hint.min(WINDOW));
        let pr = session.read_partial(addr, want)?;
        self.base = addr.0;
        self.data = pr.data;
        match self.data.get(..n) {
            Some(bytes) => Ok(bytes.to_vec()),
            None => {
                let cause = pr
                    .fault
                    .map_or(ReadCause::Wrap, |(_, c)| ReadCause::Target(c));
                Err(DcmdError::read(bytes_word(n), addr, cause))
            }
        }
    }
}

/// A string read for `s`/`S`.
struct StringRead {
    bytes: Vec<u8>,
    terminated: bool,
    fault: Option<(VirtAddr, ReadCause)>,
}

fn read_string(session: &mut Session, addr: VirtAddr) -> Result<StringRead, DcmdError> {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_STRING {
        let Some(at) = addr.checked_add(bytes.len() as u64) else {
            return Ok(StringRead {
                bytes,
                terminated: false,
                fault: Some((addr, ReadCause::Wrap)),
            });
        };
        let pr = session.read_partial(at, STRING_CHUNK)?;
        if let Some(nul) = pr.data.iter().position(|&b| b == 0) {
            bytes.extend(pr.data.iter().take(nul));
            return Ok(StringRead {
                bytes,
                terminated: true,
                fault: None,
            });
        }
        let short = pr.data.len() < STRING_CHUNK;
        bytes.extend(&pr.data);
        if short {
            let fault = match pr.fault {
                Some((fa, c)) => (fa, ReadCause::Target(c)),
                None => (at.add(pr.data.len() as u64), ReadCause::Wrap),
            };
            return Ok(StringRead {
                bytes,
                terminated: false,
                fault: Some(fault),
            });
        }
    }
    bytes.truncate(MAX_STRING);
    Ok(StringRead {
        bytes,
        terminated: false,
        fault: None,
    })
}

/// Bytes a whole display reads, when every item has a fixed size and none moves dot.
fn planned_bytes(repeat: u64, items: &[FormatItem]) -> Option<u64> {
    let mut per = 0u64;
    for item in items {
        if let FormatItem::Fmt { def, count } = item {
            match def.kind {
                Kind::Str | Kind::StrC | Kind::Plus | Kind::Minus => return None,
                _ => per = per.saturating_add((def.size as u64).saturating_mul(*count)),
            }
        }
    }
    Some(per.saturating_mul(repeat))
}

/// Displays `items`, `repeat` times over, from `addr`. Returns the address after the last
/// item. When the sink feeds a pipe, numeric values go down it as addresses instead.
pub fn display(
    session: &mut Session,
    addr: VirtAddr,
    repeat: u64,
    items: &[FormatItem],
    sink: &mut Sink<'_>,
) -> Result<VirtAddr, DcmdError> {
    let pipe = sink.pipe_out();
    if !pipe {
        if let Some(hit) = session.symbols().lookup_addr(addr) {
            if hit.offset == 0 {
                sink.line(&format!("{}:", hit.name));
            }
        }
    }
    let mut remaining = planned_bytes(repeat, items).unwrap_or(0);
    let mut cursor = Cursor {
        base: 0,
        data: Vec::new(),
    };
    let mut line = LineBuilder::new(Style::Address);
    let mut cur = addr;
    let mut shown = 0u64;
    let result = (|| {
        for _ in 0..repeat {
            for item in items {
                let (def, count) = match item {
                    FormatItem::Text(t) => {
                        line.push_text(cur, t, 0);
                        continue;
                    }
                    FormatItem::Fmt { def, count } => (*def, *count),
                };
                match def.kind {
                    Kind::Plus => cur = cur.add(count),
                    Kind::Minus => cur = VirtAddr(cur.0.wrapping_sub(count)),
                    Kind::Newline => line.flush(session, sink),
                    Kind::Tab => line.tab(cur),
                    Kind::Space => {
                        let n = usize::try_from(count.min(80)).unwrap_or(80);
                        line.push_text(cur, "", n);
                    }
                    Kind::Unsupported(why) => {
                        return Err(DcmdError::UnsupportedFormat { ch: def.ch, why })
                    }
                    Kind::Instr => {
                        line.flush(session, sink);
                        for _ in 0..count.min(crate::dis::MAX_COUNT as u64) {
                            sink.check_open()?;
                            let insn = crate::dis::disassemble(session, cur, 1, |_, _| false)?;
                            let Some(insn) = insn.first() else { break };
                            if pipe {
                                sink.addr(cur);
                            } else {
                                sink.record(Instruction::new(session, insn, false));
                            }
                            cur = insn.next();
                        }
                    }
                    Kind::Dot => {
                        for _ in 0..count.min(16) {
                            let label = format!("{}:", session.symbolize(cur));
                            line.push_text(cur, &label, def.width);
                        }
                    }
                    Kind::Str | Kind::StrC => {
                        for _ in 0..count {
                            shown += 1;
                            if shown > MAX_ITEMS {
                                return Err(too_many());
                            }
                            sink.check_open()?;
                            line.flush(session, sink);
                            let s = read_string(session, cur)?;
                            if s.bytes.is_empty() && s.fault.is_some() {
                                let (_, cause) = s.fault.unwrap_or((cur, ReadCause::Wrap));
                                return Err(DcmdError::read("string", cur, cause));
                            }
                            if !pipe {
                                let text = render::escape(&s.bytes, def.kind == Kind::StrC);
                                line.push_text(cur, &text, 0);
                                line.flush(session, sink);
                            }
                            if let Some((fa, cause)) = s.fault {
                                return Err(DcmdError::read("string", fa, cause));
                            }
                            let len = s.bytes.len() as u64 + u64::from(s.terminated);
                            cur = cur.add(len);
                        }
                    }
                    _ => {
                        for _ in 0..count {
                            shown += 1;
                            if shown > MAX_ITEMS {
                                return Err(too_many());
                            }
                            if shown.is_multiple_of(4096) {
                                sink.check_open()?;
                            }
                            let hint = usize::try_from(remaining).unwrap_or(WINDOW);
                            let bytes = cursor.get(session, cur, def.size, hint)?;
                            remaining = remaining.saturating_sub(def.size as u64);
                            if pipe {
                                if def.is_numeric() {
                                    sink.addr(VirtAddr(render::le_value(&bytes)));
                                }
                            } else {
                                let text = match def.kind {
                                    Kind::Symbol => {
                                        session.symbolize(VirtAddr(render::le_value(&bytes)))
                                    }
                                    Kind::Char | Kind::CharC => {
                                        render::escape(&bytes, def.kind == Kind::CharC)
                                    }
                                    kind => render::number(kind, def.size, &bytes),
                                };
                                line.push(session, sink, cur, def, text);
                            }
                            cur = cur.add(def.size as u64);
                        }
                    }
                }
            }
        }
        Ok(())
    })();
    line.flush(session, sink);
    result.map(|()| cur)
}

fn too_many() -> DcmdError {
    DcmdError::usage("/", format!("display stopped after {MAX_ITEMS} items"))
}
