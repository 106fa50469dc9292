//! Typed results of dcmds: each dcmd hands [`Record`]s to its [`crate::Sink`]; serde makes
//! their JSON (`--json`'s `data`), their one [`Record::render`] makes their text, and
//! [`crate::Session::call`] hands them to programs (the TUI, the gdb proxy) as they are.

use serde::Serialize;
use serde_json::Value;
use std::any::Any;
use std::fmt::Debug;

/// A typed result of a dcmd.
pub trait Record: Serialize + Debug + Any {
    /// Appends the lines text mode prints for this record.
    fn render(&self, lines: &mut Vec<String>);
}

/// A [`Record`] whose type is known only at run time: what [`crate::Output`] receives.
pub trait AnyRecord: Debug {
    /// The record's text lines.
    fn lines(&self) -> Vec<String>;
    /// The record's JSON.
    fn json(&self) -> Value;
    /// The record, to downcast to its type.
    fn as_any(&self) -> &dyn Any;
    /// The record, owned, to downcast to its type.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<R: Record> AnyRecord for R {
    fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        self.render(&mut lines);
        lines
    }

    fn json(&self) -> Value {
        // Records are plain data (strings, numbers, maps with string keys): serializing
        // them cannot fail, and a record that did would show as null rather than stop output.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// 64-bit values as `"0x…"` strings in JSON, so that no JSON reader rounds them.
pub mod hex {
    use serde::Serializer;

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:#x}"))
    }

    /// `Option<u64>` as `"0x…"` or null.
    pub mod option {
        use serde::Serializer;

        pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => s.serialize_str(&format!("{v:#x}")),
                None => s.serialize_none(),
            }
        }
    }

    /// `Vec<u64>` as an array of `"0x…"`.
    pub mod vec {
        use serde::ser::{SerializeSeq, Serializer};

        pub fn serialize<S: Serializer>(v: &[u64], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for x in v {
                seq.serialize_element(&format!("{x:#x}"))?;
            }
            seq.end()
        }
    }
}
