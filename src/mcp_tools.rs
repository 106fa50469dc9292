//! The MCP tools of `qmdb mcp`: one per dcmd of the registry, plus `command` for any
//! command line; how a tool call becomes a qmdb command line, and how its `--json`
//! objects become the tool's result.

use qmdb_dcmds::registry::{AddressRule, DcmdDef, DCMDS, WALKERS};
use qmdb_dcmds::CommandRecord;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::{json, Value};

/// The tool that runs any command line.
pub const COMMAND_TOOL: &str = "command";

/// Dcmds that are not tools: `::quit` would end the server's session.
const NOT_TOOLS: &[&str] = &["quit"];

/// The dcmds offered as tools.
fn tool_dcmds() -> impl Iterator<Item = &'static DcmdDef> {
    DCMDS
        .iter()
        .copied()
        .filter(|d| !NOT_TOOLS.contains(&d.name))
}

fn schema(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// A dcmd's tool: its name, its `::help` as the description, and `address`/`args`.
fn dcmd_tool(d: &DcmdDef) -> Tool {
    let rule = d.address_rule();
    let mut description = format!("{}\n\n{}.", d.synopsis(), d.description);
    if !d.help.trim().is_empty() {
        description.push_str("\n\n");
        description.push_str(d.help.trim_end());
    }
    if !d.aliases.is_empty() {
        description.push_str(&format!("\n\nAlso known as: {}.", d.aliases.join(", ")));
    }
    let mut props = json!({
        "args": {
            "type": "string",
            "description": format!(
                "The arguments, as typed after `::{}` (usage: `{}`).",
                d.name,
                d.usage_args()
            ),
        },
    });
    let mut required = Vec::new();
    if rule != AddressRule::None {
        props["address"] = json!({
            "type": "string",
            "description": "The address: an mdb expression (hex such as ffff888003a4c000, \
                            a symbol such as init_task, `<rsp`, `sym+0x10`).",
        });
        if rule == AddressRule::Required {
            required.push("address");
        }
    }
    let input = json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    });
    Tool::new(d.name, description, schema(input))
}

/// The `command` tool: any qmdb command line.
fn command_tool() -> Tool {
    let walkers: Vec<&str> = WALKERS.iter().map(|w| w.name).collect();
    let description = format!(
        "Run any qmdb (mdb) command line: `addr/K`, `expr=X`, `addr::dcmd args`, \
         pipelines such as `::walk thread | ::findstack -v`, several commands \
         separated by `;`. Walkers for `::walk`: {}. `::help NAME` explains a \
         dcmd or walker. Returns one JSON object per command.",
        walkers.join(", ")
    );
    let input = json!({
        "type": "object",
        "properties": {
            "line": {"type": "string", "description": "The command line."},
        },
        "required": ["line"],
        "additionalProperties": false,
    });
    Tool::new(COMMAND_TOOL, description, schema(input))
}

/// Every tool, the dcmds' first.
pub fn tools() -> Vec<Tool> {
    tool_dcmds()
        .map(dcmd_tool)
        .chain(std::iter::once(command_tool()))
        .collect()
}

/// Whether `name` is one of [`tools`].
pub fn is_tool(name: &str) -> bool {
    name == COMMAND_TOOL || tool_dcmds().any(|d| d.name == name)
}

/// A string argument of a call; absent and `null` are `None`.
fn string_arg(args: Option<&JsonObject>, key: &str) -> Result<Option<String>, String> {
    match args.and_then(|a| a.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!("`{key}` must be a string, not {other}")),
    }
}

/// The command line a call of tool `name` runs. `Err`: no such tool, or bad arguments.
pub fn command_line(name: &str, args: Option<&JsonObject>) -> Result<String, String> {
    if name == COMMAND_TOOL {
        return match string_arg(args, "line")? {
            Some(line) if !line.trim().is_empty() => Ok(line),
            _ => Err("`line` is required".to_string()),
        };
    }
    let d = tool_dcmds()
        .find(|d| d.name == name)
        .ok_or_else(|| format!("no tool `{name}`"))?;
    let address = string_arg(args, "address")?.filter(|a| !a.trim().is_empty());
    let rest = string_arg(args, "args")?.unwrap_or_default();
    match (d.address_rule(), &address) {
        (AddressRule::Required, None) => return Err(format!("`{name}` needs an `address`")),
        (AddressRule::None, Some(_)) => return Err(format!("`{name}` takes no address")),
        _ => {}
    }
    let mut line = format!("{}::{}", address.unwrap_or_default().trim(), d.name);
    if !rest.trim().is_empty() {
        line.push(' ');
        line.push_str(rest.trim());
    }
    Ok(line)
}

/// The result of a call: the `--json` objects of its commands, one a line, as text; the
/// same as `{"commands": [...]}` structured content. An error when any command failed.
pub fn result(records: &[CommandRecord]) -> CallToolResult {
    let lines: Vec<String> = records
        .iter()
        .filter_map(|r| serde_json::to_string(r).ok())
        .collect();
    let ok = records.iter().all(|r| r.ok);
    let content = vec![ContentBlock::text(lines.join("\n"))];
    let mut res = if ok {
        CallToolResult::success(content)
    } else {
        CallToolResult::error(content)
    };
    res.structured_content = Some(json!({ "commands": records }));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> JsonObject {
        schema(v)
    }

    #[test]
    fn every_dcmd_but_quit_is_a_tool_with_its_help() {
        let tools = tools();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert!(names.contains(&"findstack"));
        assert!(names.contains(&COMMAND_TOOL));
        assert!(!names.contains(&"quit"));
        assert_eq!(tools.len(), DCMDS.len());
        for t in &tools {
            // Names clients accept.
            assert!(t
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        }
        let fs = tools.iter().find(|t| t.name == "findstack").unwrap();
        let desc = fs.description.as_deref().unwrap();
        let def = qmdb_dcmds::registry::find_dcmd("findstack").unwrap();
        assert!(desc.contains(def.help.trim()), "{desc}");
        assert_eq!(fs.input_schema["required"], json!(["address"]));
    }

    #[test]
    fn calls_become_command_lines() {
        let a = args(json!({"address": "ffff888003a4c000", "args": "-v"}));
        assert_eq!(
            command_line("findstack", Some(&a)).unwrap(),
            "ffff888003a4c000::findstack -v"
        );
        assert_eq!(command_line("ps", None).unwrap(), "::ps");
        let a = args(json!({"args": "thread"}));
        assert_eq!(command_line("walk", Some(&a)).unwrap(), "::walk thread");
        let a = args(json!({"line": "::walk thread | ::findstack -v"}));
        assert_eq!(
            command_line("command", Some(&a)).unwrap(),
            "::walk thread | ::findstack -v"
        );
    }

    #[test]
    fn bad_calls_are_refused() {
        assert!(command_line("nosuch", None).is_err());
        assert!(command_line("quit", None).is_err());
        assert!(command_line("findstack", None).is_err());
        assert!(command_line("command", None).is_err());
        let a = args(json!({"args": ["-v"]}));
        assert!(command_line("ps", Some(&a)).is_err());
    }

    #[test]
    fn results_carry_the_json_objects() {
        let rec = CommandRecord {
            command: "::status".into(),
            ok: false,
            error: Some("boom".into()),
            ..CommandRecord::default()
        };
        let r = result(std::slice::from_ref(&rec));
        assert_eq!(r.is_error, Some(true));
        let s = r.structured_content.unwrap();
        assert_eq!(s["commands"][0]["error"], "boom");
    }
}
