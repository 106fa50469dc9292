//! Evaluation of expressions: wrapping `u64` arithmetic, C operators, mdb operands.

use super::ast::{BinOp, Expr, UnOp};
use crate::error::DcmdError;

/// What an expression can look at: dot, symbols, registers and variables, memory.
pub trait EvalEnv {
    /// The current address, `.`.
    fn dot(&self) -> u64;
    /// The address of a symbol, or `None` if there is none of that name.
    fn symbol(&mut self, name: &str) -> Option<u64>;
    /// A symbol that does not exist: the error to report (it may carry a hint).
    fn unknown_symbol(&mut self, name: &str) -> DcmdError {
        DcmdError::UnknownSymbol {
            name: name.to_string(),
            hint: String::new(),
        }
    }
    /// `<name`: a register of the selected vCPU or a variable.
    fn variable(&mut self, name: &str) -> Result<u64, DcmdError>;
    /// `*addr`: the 8-byte value at `addr`, read fault-aware.
    fn read_pointer(&mut self, addr: u64) -> Result<u64, DcmdError>;
}

/// Evaluates `expr`. Errors name what failed; nothing panics (the parser bounds the depth).
pub fn eval(expr: &Expr, env: &mut dyn EvalEnv) -> Result<u64, DcmdError> {
    Ok(match expr {
        Expr::Num(v) => *v,
        Expr::HexWord { name, value } => env.symbol(name).unwrap_or(*value),
        Expr::Symbol(name) => match env.symbol(name) {
            Some(v) => v,
            None => return Err(env.unknown_symbol(name)),
        },
        Expr::Var(name) => env.variable(name)?,
        Expr::Dot => env.dot(),
        Expr::Unary(op, e) => {
            let v = eval(e, env)?;
            match op {
                UnOp::Neg => v.wrapping_neg(),
                UnOp::Not => !v,
                UnOp::LogicalNot => u64::from(v == 0),
                UnOp::Deref => env.read_pointer(v)?,
            }
        }
        Expr::Binary(op, a, b) => {
            let a = eval(a, env)?;
            let b = eval(b, env)?;
            binary(*op, a, b)?
        }
    })
}

/// One binary operation. Shifts by 64 or more give 0, as if shifting bit by bit.
pub fn binary(op: BinOp, a: u64, b: u64) -> Result<u64, DcmdError> {
    Ok(match op {
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::Div => a.checked_div(b).ok_or(DcmdError::DivisionByZero)?,
        BinOp::Rem => a.checked_rem(b).ok_or(DcmdError::DivisionByZero)?,
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Shl => u32::try_from(b)
            .ok()
            .and_then(|s| a.checked_shl(s))
            .unwrap_or(0),
        BinOp::Shr => u32::try_from(b)
            .ok()
            .and_then(|s| a.checked_shr(s))
            .unwrap_or(0),
        BinOp::Eq => u64::from(a == b),
        BinOp::Ne => u64::from(a != b),
        BinOp::And => a & b,
        BinOp::Xor => a ^ b,
        BinOp::Or => a | b,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::ast::Verb;
    use crate::lang::parser::parse_line;
    use proptest::prelude::*;
    use std::collections::HashMap;

    struct Env {
        dot: u64,
        syms: HashMap<&'static str, u64>,
        vars: HashMap<&'static str, u64>,
        mem: HashMap<u64, u64>,
    }

    impl Env {
        fn new() -> Env {
            Env {
                dot: 0x1000,
                syms: HashMap::from([("_text", 0xffffffff81000000), ("face", 0x42)]),
                vars: HashMap::from([("rip", 0xffffffff81000010)]),
                mem: HashMap::from([(0x2000, 0xdeadbeef)]),
            }
        }
    }

    impl EvalEnv for Env {
        fn dot(&self) -> u64 {
            self.dot
        }
        fn symbol(&mut self, name: &str) -> Option<u64> {
            self.syms.get(name).copied()
        }
        fn variable(&mut self, name: &str) -> Result<u64, DcmdError> {
            self.vars
                .get(name)
                .copied()
                .ok_or_else(|| DcmdError::UnknownVariable(name.to_string()))
        }
        fn read_pointer(&mut self, addr: u64) -> Result<u64, DcmdError> {
            self.mem.get(&addr).copied().ok_or(DcmdError::read(
                "8 bytes",
                qmdb_bridge::VirtAddr(addr),
                crate::error::ReadCause::Target(qmdb_bridge::ChunkError::NoMapping),
            ))
        }
    }

    fn value(s: &str) -> Result<u64, String> {
        let cmd = parse_line(s).into_iter().next().ok_or("empty")?;
        let stages = cmd.stages.map_err(|e| e.to_string())?;
        let stage = stages.first().ok_or("no stage")?;
        assert!(matches!(stage.verb, Verb::None | Verb::Value(_)));
        let e = stage.addr.as_ref().ok_or("no expression")?;
        eval(e, &mut Env::new()).map_err(|e| e.to_string())
    }

    #[test]
    fn arithmetic_wraps_and_follows_c() {
        assert_eq!(value("1+2*3"), Ok(7));
        assert_eq!(value("(1+2)*3"), Ok(9));
        assert_eq!(value("0t10"), Ok(10));
        assert_eq!(value("10"), Ok(16));
        assert_eq!(value("(0t10/0t3)"), Ok(3));
        assert_eq!(value("0t10%0t3"), Ok(1));
        assert_eq!(value("-1"), Ok(u64::MAX));
        assert_eq!(value("~0"), Ok(u64::MAX));
        assert_eq!(value("!0"), Ok(1));
        assert_eq!(value("!5"), Ok(0));
        assert_eq!(value("ffffffffffffffff+2"), Ok(1));
        assert_eq!(value("1<<0t63"), Ok(1 << 63));
        assert_eq!(value("1<<0t64"), Ok(0));
        assert_eq!(value("8>>1"), Ok(4));
        assert_eq!(value("6&3"), Ok(2));
        assert_eq!(value("6^3"), Ok(5));
        assert_eq!(value("6|3"), Ok(7));
        assert_eq!(value("2*-3"), Ok(6u64.wrapping_neg()));
        assert_eq!(value("0i1010+0o10"), Ok(18));
    }

    #[test]
    fn operands_resolve_through_the_environment() {
        assert_eq!(value("_text+10"), Ok(0xffffffff81000010));
        assert_eq!(value("face"), Ok(0x42), "a symbol wins over hex");
        assert_eq!(value("fade"), Ok(0xfade), "hex when no such symbol");
        assert_eq!(value("<rip"), Ok(0xffffffff81000010));
        assert_eq!(value(".+8"), Ok(0x1008));
        assert_eq!(value("*2000"), Ok(0xdeadbeef));
        assert_eq!(value("*(1000+1000)"), Ok(0xdeadbeef));
    }

    #[test]
    fn evaluation_errors_name_what_failed() {
        assert_eq!(value("(1/0)"), Err("division by zero".into()));
        assert_eq!(value("1%0"), Err("division by zero".into()));
        assert_eq!(value("nosuch+1"), Err("unknown symbol 'nosuch'".into()));
        assert_eq!(
            value("<nosuch"),
            Err("unknown register or variable 'nosuch'".into())
        );
        assert_eq!(
            value("*3000"),
            Err("failed to read 8 bytes at 3000: no mapping".into())
        );
    }

    /// Parses `s` and evaluates every address and count expression in it.
    fn parse_and_eval_all(s: &str) {
        for cmd in parse_line(s) {
            for st in cmd.stages.into_iter().flatten() {
                for e in st.addr.iter().chain(st.count.iter()) {
                    let _ = eval(e, &mut Env::new());
                }
            }
        }
    }

    proptest! {
        #[test]
        fn parsing_and_evaluating_never_panic(s in "\\PC{0,64}") {
            parse_and_eval_all(&s);
        }

        #[test]
        fn mdb_like_input_never_panics(
            s in "[0-9a-fA-Fxtoi<>()*/%+~!|&^,.=;:$'\" KXBsp-]{0,48}"
        ) {
            parse_and_eval_all(&s);
        }

        #[test]
        fn random_expressions_evaluate(a in any::<u64>(), b in any::<u64>(), op in 0usize..10) {
            let ops = ["+", "-", "*", "/", "%", "<<", ">>", "&", "^", "|"];
            let text = format!("(0x{a:x}{}0x{b:x})", ops[op]);
            let got = value(&text);
            let want = match op {
                0 => Ok(a.wrapping_add(b)),
                1 => Ok(a.wrapping_sub(b)),
                2 => Ok(a.wrapping_mul(b)),
                3 => a.checked_div(b).ok_or_else(|| "division by zero".to_string()),
                4 => a.checked_rem(b).ok_or_else(|| "division by zero".to_string()),
                5 => Ok(if b < 64 { a << b } else { 0 }),
                6 => Ok(if b < 64 { a >> b } else { 0 }),
                7 => Ok(a & b),
                8 => Ok(a ^ b),
                _ => Ok(a | b),
            };
            prop_assert_eq!(got, want);
        }
    }
}
