//! Dcmd arguments: the words after the name, and a small getopt for them.

use crate::error::DcmdError;
pub use crate::lang::ast::Arg;
use crate::lang::lexer;

/// Options and operands parsed from a dcmd's arguments.
#[derive(Debug, Default)]
pub struct Opts<'a> {
    flags: Vec<char>,
    values: Vec<(char, &'a str)>,
    /// The operands after the options.
    pub rest: Vec<&'a str>,
}

impl<'a> Opts<'a> {
    /// Whether flag `c` was given.
    pub fn flag(&self, c: char) -> bool {
        self.flags.contains(&c)
    }

    /// The value of option `c` (the last one given).
    pub fn value(&self, c: char) -> Option<&'a str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| *k == c)
            .map(|(_, v)| *v)
    }
}

/// Parses `args` with a getopt spec such as `"av"` (flags) or `"o:s"` (`-o` takes a value).
/// Options come first (`-av`, `-o 10`, `-o10`); `--` or the first other word ends them.
/// `cmd` names the dcmd in errors.
pub fn getopts<'a>(cmd: &str, args: &'a [Arg], spec: &str) -> Result<Opts<'a>, DcmdError> {
    let mut opts = Opts::default();
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let text = arg.text.as_str();
        if text == "--" {
            i += 1;
            break;
        }
        let Some(letters) = text.strip_prefix('-').filter(|l| !l.is_empty()) else {
            break;
        };
        i += 1;
        for (pos, c) in letters.char_indices() {
            let Some(at) = spec.find(c).filter(|_| c != ':') else {
                return Err(DcmdError::usage(cmd, format!("unknown option -{c}")));
            };
            if spec
                .get(at + c.len_utf8()..)
                .is_some_and(|s| s.starts_with(':'))
            {
                let rest = letters.get(pos + c.len_utf8()..).unwrap_or("");
                let value = if !rest.is_empty() {
                    rest
                } else {
                    let v = args.get(i).ok_or_else(|| {
                        DcmdError::usage(cmd, format!("option -{c} needs a value"))
                    })?;
                    i += 1;
                    v.text.as_str()
                };
                opts.values.push((c, value));
                break;
            }
            opts.flags.push(c);
        }
    }
    opts.rest = args.iter().skip(i).map(|a| a.text.as_str()).collect();
    Ok(opts)
}

/// A number argument with mdb's radix rules (hex unless `0t`, `0o`, `0i` says otherwise).
pub fn number(cmd: &str, text: &str) -> Result<u64, DcmdError> {
    lexer::parse_number(text).map_err(|m| DcmdError::usage(cmd, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<Arg> {
        s.iter().map(|t| Arg::new(*t)).collect()
    }

    #[test]
    fn flags_values_and_operands() {
        let a = args(&["-av", "-o", "10", "list", "-x"]);
        let o = getopts("::t", &a, "avo:").unwrap();
        assert!(o.flag('a') && o.flag('v') && !o.flag('o'));
        assert_eq!(o.value('o'), Some("10"));
        assert_eq!(o.rest, vec!["list", "-x"]);
        let a = args(&["-o8", "--", "-v"]);
        let o = getopts("::t", &a, "vo:").unwrap();
        assert_eq!(o.value('o'), Some("8"));
        assert_eq!(o.rest, vec!["-v"]);
    }

    #[test]
    fn bad_options_are_usage_errors() {
        let a = args(&["-z"]);
        assert_eq!(
            getopts("::t", &a, "v").unwrap_err().to_string(),
            "::t: unknown option -z"
        );
        let a = args(&["-o"]);
        assert_eq!(
            getopts("::t", &a, "o:").unwrap_err().to_string(),
            "::t: option -o needs a value"
        );
        assert_eq!(number("::t", "0t10").unwrap(), 10);
        assert!(number("::t", "zz").is_err());
    }
}
