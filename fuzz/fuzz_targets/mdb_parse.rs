//! The mdb command language: `parse_line` (splitter, lexer, parser) on arbitrary text, then
//! evaluation of every parsed expression against a trivial environment. Nothing may panic,
//! recurse without bound, or hand out token offsets that are not character boundaries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmdb_dcmds::lang::lexer::{Lexer, Tok};
use qmdb_dcmds::lang::number::parse_number;
use qmdb_dcmds::lang::{eval, parse_line, EvalEnv, Expr, Verb};
use qmdb_dcmds::DcmdError;

struct Env;

impl EvalEnv for Env {
    fn dot(&self) -> u64 {
        0xffff_ffff_8100_0000
    }
    fn symbol(&mut self, name: &str) -> Option<u64> {
        (name.len() % 2 == 0).then_some(name.len() as u64)
    }
    fn variable(&mut self, name: &str) -> Result<u64, DcmdError> {
        match name {
            "rip" | "rsp" => Ok(0x1000),
            _ => Err(DcmdError::UnknownVariable(name.to_string())),
        }
    }
    fn read_pointer(&mut self, addr: u64) -> Result<u64, DcmdError> {
        Ok(addr.rotate_left(8))
    }
}

fn depth(e: &Expr) -> usize {
    match e {
        Expr::Unary(_, a) => 1 + depth(a),
        Expr::Binary(_, a, b) => 1 + depth(a).max(depth(b)),
        _ => 1,
    }
}

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    for cmd in parse_line(&line) {
        assert!(!cmd.source.is_empty());
        assert_eq!(cmd.source.trim(), cmd.source);
        assert!(cmd.source.len() <= line.len());
        match &cmd.stages {
            Ok(stages) => {
                assert!(!stages.is_empty());
                for (i, stage) in stages.iter().enumerate() {
                    if i > 0 {
                        assert!(stage.addr.is_none() && stage.count.is_none());
                    }
                    for e in stage.addr.iter().chain(stage.count.iter()) {
                        assert!(depth(e) <= 4096, "expression depth {}", depth(e));
                        let _ = eval(e, &mut Env);
                    }
                    if let Verb::Dcmd { name, .. } = &stage.verb {
                        assert!(!name.is_empty());
                    }
                }
                let _ = format!("{stages:?}");
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.is_empty());
            }
        }
    }

    // The lexer alone: every token offset is a character boundary, offsets only grow, and it
    // reaches the end in at most one token per byte.
    let mut lx = Lexer::new(&line, 0, line.len());
    let mut last = 0;
    for _ in 0..=line.len() {
        match lx.next_token() {
            Ok((tok, at)) => {
                assert!(line.is_char_boundary(at), "token offset {at} inside a character");
                assert!(at >= last, "token offset went back from {last} to {at}");
                last = at;
                if tok == Tok::Eof {
                    assert_eq!(at, line.len());
                    break;
                }
                assert!(lx.pos() > at, "token {tok:?} at {at} consumed nothing");
            }
            Err(_) => break,
        }
    }
    // The raw scanners used after a verb, from the start of the line.
    let _ = Lexer::new(&line, 0, line.len()).args();
    let _ = Lexer::new(&line, 0, line.len()).format();

    let _ = parse_number(&line);
});
