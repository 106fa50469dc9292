//! The `--json` record shape, end to end.

use super::*;
use crate::output::JsonOutput;
use serde_json::{json, Value};

fn json_lines(line: &str) -> Vec<Value> {
    let t = MockTarget::new()
        .with_u64s(0x1000, &[0x1122334455667788, 0xffffffff81000010])
        .with_u64s(0x5000, &[0x5100])
        .with_u64s(0x5100, &[0x5000]);
    let (mut s, _) = session_on(t);
    let mut out = JsonOutput::new(Vec::new());
    s.execute(line, &mut out);
    let bytes = out.into_inner();
    String::from_utf8(bytes)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect()
}

#[test]
fn one_record_per_command() {
    let v = json_lines("1000,2/K; ::nope; 0t10=X; 5000::walk list");
    assert_eq!(v.len(), 4);
    assert_eq!(
        v[0],
        json!({
            "schema": 2,
            "command": "1000,2/K",
            "ok": true,
            "output": ["1000:           1122334455667788 ffffffff81000010"],
            "error": null,
            "warnings": [],
            "data": [{"addr": "0x1000", "values": ["1122334455667788", "ffffffff81000010"]}],
        })
    );
    assert_eq!(
        v[1],
        json!({
            "schema": 2,
            "command": "::nope",
            "ok": false,
            "output": [],
            "error": "unknown dcmd 'nope' (see ::dcmds)",
            "warnings": [],
            "data": [],
        })
    );
    assert_eq!(v[2]["data"], json!([{"value": "0xa", "values": ["a"]}]));
    assert_eq!(v[3]["data"], json!(["0x5100"]));
    assert_eq!(v[3]["output"], json!(["5100"]));
}

#[test]
fn dcmds_attach_structured_data() {
    let v = json_lines("$r; ::cpus; ::status; 1000,3/K");
    assert_eq!(v[0]["data"][0]["rip"], json!("0xffffffff81000010"));
    assert_eq!(v[0]["data"][0]["eflags"], json!("0x246"));
    assert_eq!(
        v[1]["data"],
        json!([
            {"cpu": 0, "thread": "p1.1", "info": "CPU#0 [halted ]", "selected": true},
            {"cpu": 1, "thread": "p1.2", "info": "CPU#1 [running]", "selected": false},
        ])
    );
    assert_eq!(v[2]["data"][0]["detach"], json!("resume"));
    assert_eq!(v[2]["data"][0]["writable"], json!(false));
    assert_eq!(v[3]["ok"], json!(false));
    assert_eq!(
        v[3]["error"],
        json!("failed to read 8 bytes at 1010: no mapping")
    );
    assert_eq!(v[3]["data"].as_array().map(Vec::len), Some(1));
}
