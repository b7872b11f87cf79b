//! Tool calling in `/v1/chat/completions`: the request's `tools`, `tool_choice` and
//! `parallel_tool_calls` checked, the history's calls and results read, a forced call's schema,
//! the calls read back from the answer (every family's form, `sage_llm::tools`), and a stream
//! that holds back text that may be a call until it knows (decision 0015).

use serde_json::{json, Value};

use sage_llm::tools::{forced_call_grammar, forced_schema, parse_calls, ToolChoice, ToolFamily};
use sage_llm::{ChatMessage, Constraint, Role, ToolCall};

use crate::error::ApiError;

/// Most tools one request may offer.
pub const MAX_TOOLS: usize = 128;

/// The tools of a request and what it asks of them.
#[derive(Debug, Clone)]
pub(crate) struct ToolSpec {
    pub tools: Vec<Value>,
    pub names: Vec<String>,
    pub choice: ToolChoice,
    pub parallel: bool,
}

fn bad(message: impl Into<String>, param: &str) -> ApiError {
    ApiError::invalid(message, Some(param))
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 64 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl ToolSpec {
    /// Check the request's tool fields; `None` when it offers no tools.
    pub fn parse(
        tools: Option<&Vec<Value>>,
        choice: Option<&Value>,
        parallel: Option<bool>,
    ) -> Result<Option<Self>, ApiError> {
        let tools = tools.cloned().unwrap_or_default();
        if tools.len() > MAX_TOOLS {
            return Err(bad(format!("{} tools (at most {MAX_TOOLS})", tools.len()), "tools"));
        }
        let mut names = vec![];
        for (i, t) in tools.iter().enumerate() {
            if t["type"] != "function" {
                return Err(bad(format!("tools[{i}].type must be \"function\""), "tools"));
            }
            let name = t["function"]["name"].as_str().unwrap_or("");
            if !valid_name(name) {
                return Err(bad(
                    format!("tools[{i}].function.name must be 1-64 letters, digits, _ or -"),
                    "tools",
                ));
            }
            if names.iter().any(|n| n == name) {
                return Err(bad(format!("tools[{i}]: two tools are named {name}"), "tools"));
            }
            if let Some(p) = t["function"].get("parameters") {
                if !p.is_object() {
                    return Err(bad(
                        format!("tools[{i}].function.parameters must be a JSON schema object"),
                        "tools",
                    ));
                }
            }
            names.push(name.to_string());
        }
        let choice = match choice {
            None => ToolChoice::Auto,
            Some(Value::String(s)) => match s.as_str() {
                "auto" => ToolChoice::Auto,
                "none" => ToolChoice::None,
                "required" => ToolChoice::Required,
                other => {
                    return Err(bad(
                        format!("tool_choice {other:?} is not auto, none, required or a function"),
                        "tool_choice",
                    ))
                }
            },
            Some(v) if v["type"] == "function" => {
                let name = v["function"]["name"].as_str().unwrap_or("");
                if !names.iter().any(|n| n == name) {
                    return Err(bad(
                        format!("tool_choice names {name:?}, which is not among the tools"),
                        "tool_choice",
                    ));
                }
                ToolChoice::Function(name.to_string())
            }
            Some(_) => {
                return Err(bad(
                    "tool_choice must be auto, none, required or {\"type\": \"function\", ...}",
                    "tool_choice",
                ))
            }
        };
        if tools.is_empty() {
            return match choice {
                ToolChoice::Required => {
                    Err(bad("tool_choice is required but no tools are given", "tool_choice"))
                }
                _ => Ok(None),
            };
        }
        Ok(Some(Self { tools, names, choice, parallel: parallel.unwrap_or(true) }))
    }

    /// Whether the model is shown tools (some, and `tool_choice` is not `none`).
    pub fn is_offered(&self) -> bool {
        self.choice != ToolChoice::None && !self.tools.is_empty()
    }

    /// The tools the model is shown (none when `tool_choice` is `none`).
    pub fn offered(&self) -> Vec<Value> {
        if self.choice == ToolChoice::None {
            vec![]
        } else {
            self.tools.clone()
        }
    }

    /// The constraint that forces a call (`required` or a named function): a grammar that writes
    /// each call's name before its arguments (`sage_llm::tools::forced_call_grammar`); where the
    /// tools' schemas do not convert that way, the schema of the calls (which puts the arguments
    /// first).
    pub fn constraint(&self) -> Option<Constraint> {
        let only = match &self.choice {
            ToolChoice::Required => None,
            ToolChoice::Function(n) => Some(n.as_str()),
            _ => return None,
        };
        Some(match forced_call_grammar(&self.tools, only, self.parallel) {
            Ok(g) => Constraint::Grammar(g),
            Err(_) => Constraint::JsonSchema(forced_schema(&self.tools, only, self.parallel)),
        })
    }

    /// Calls in an answer: the text before them and the calls (ids `call_<n>` unique in the
    /// process); `None`: an ordinary answer. At most one call unless parallel calls are allowed.
    pub fn calls(&self, text: &str) -> Option<(String, Vec<ToolCall>)> {
        if self.choice == ToolChoice::None {
            return None;
        }
        let mut id = || format!("call_{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let (before, mut calls) =
            ToolFamily::ALL.iter().find_map(|f| parse_calls(text, *f, &self.names, &mut id))?;
        if !self.parallel {
            calls.truncate(1);
        }
        Some((before, calls))
    }
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A message of the request's history: `tool` results and assistant `tool_calls` included.
pub(crate) fn history_message(
    i: usize,
    role: Role,
    content: String,
    m: &Value,
) -> Result<ChatMessage, ApiError> {
    let mut out = ChatMessage::new(role, content);
    match role {
        Role::Tool => {
            let id = m["tool_call_id"].as_str().ok_or_else(|| {
                bad(format!("messages[{i}]: a tool message needs tool_call_id"), "messages")
            })?;
            out.tool_call_id = Some(id.to_string());
        }
        Role::Assistant => {
            if let Some(calls) = m.get("tool_calls").filter(|c| !c.is_null()) {
                let calls = calls
                    .as_array()
                    .ok_or_else(|| bad(format!("messages[{i}].tool_calls must be a list"), "messages"))?;
                for (j, c) in calls.iter().enumerate() {
                    let name = c["function"]["name"].as_str().unwrap_or("");
                    let args = c["function"]["arguments"].as_str().unwrap_or("{}");
                    if !valid_name(name) {
                        return Err(bad(
                            format!("messages[{i}].tool_calls[{j}].function.name is not a function name"),
                            "messages",
                        ));
                    }
                    out.tool_calls.push(ToolCall {
                        id: c["id"].as_str().unwrap_or("").to_string(),
                        name: name.to_string(),
                        arguments: args.to_string(),
                    });
                }
            }
        }
        _ => {}
    }
    Ok(out)
}

/// The calls as the API returns them.
pub(crate) fn wire_calls(calls: &[ToolCall], with_index: bool) -> Value {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut v = json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}});
            if with_index {
                v["index"] = i.into();
            }
            v
        })
        .collect()
}

/// The deltas that end a streamed answer after `held` (text kept back because it might be a
/// call): the degraded responder's reply, or the calls (after any text before them), or the held
/// text as content. `true` when the answer made calls.
pub(crate) fn closing_deltas(
    spec: Option<&ToolSpec>,
    held: String,
    s: &sage_runtime::route::Served,
) -> (Vec<Value>, bool) {
    if s.degraded {
        return (vec![json!({"content": s.reply})], false);
    }
    let calls = if held.is_empty() { None } else { spec.and_then(|t| t.calls(&s.reply)) };
    match calls {
        Some((before, calls)) => {
            let mut out = vec![];
            if !before.is_empty() {
                out.push(json!({"content": before}));
            }
            out.push(json!({"tool_calls": wire_calls(&calls, true)}));
            (out, true)
        }
        None if held.is_empty() => (vec![], false),
        None => (vec![json!({"content": held})], false),
    }
}

/// A whole answer's message: its calls (content null unless text came before them), or its
/// text. `true` when the answer made calls.
pub(crate) fn whole_message(spec: Option<&ToolSpec>, s: &sage_runtime::route::Served) -> (Value, bool) {
    let calls = if s.degraded { None } else { spec.and_then(|t| t.calls(&s.reply)) };
    match calls {
        Some((before, calls)) => (
            json!({"role": "assistant", "content": if before.is_empty() { Value::Null } else { before.into() },
                   "tool_calls": wire_calls(&calls, false)}),
            true,
        ),
        None => (json!({"role": "assistant", "content": s.reply}), false),
    }
}

/// A stream's text held back while it may still be the start of a call.
#[derive(Debug, Default)]
pub(crate) struct Holder {
    held: String,
    /// Known to be an ordinary answer: pieces pass through.
    open: bool,
}

/// Beginnings of a call in any family.
const STARTS: [&str; 7] = ["{", "[", "<tool_call>", "<TOOLCALL>", "[TOOL_CALLS]", "<|python_tag|>", "```"];

impl Holder {
    /// A piece of the answer: what may be streamed as content now.
    pub fn push(&mut self, piece: &str) -> Option<String> {
        if self.open {
            return Some(piece.to_string());
        }
        self.held.push_str(piece);
        let t = self.held.trim_start();
        if t.is_empty() {
            return None;
        }
        let may_be_call = STARTS.iter().any(|s| s.starts_with(t) || t.starts_with(s));
        if may_be_call {
            None
        } else {
            self.open = true;
            Some(std::mem::take(&mut self.held))
        }
    }

    /// The text still held at the end.
    pub fn rest(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(choice: Value) -> Result<Option<ToolSpec>, ApiError> {
        let tools = vec![
            json!({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}),
        ];
        ToolSpec::parse(Some(&tools), Some(&choice), None)
    }

    #[test]
    fn tool_fields_are_checked() {
        assert!(spec(json!("auto")).is_ok_and(|s| s.is_some_and(|s| s.constraint().is_none())));
        assert!(spec(json!("required")).is_ok_and(|s| s.is_some_and(|s| s.constraint().is_some())));
        assert!(spec(json!({"type": "function", "function": {"name": "get_weather"}})).is_ok());
        assert!(spec(json!({"type": "function", "function": {"name": "nope"}})).is_err());
        assert!(spec(json!("sometimes")).is_err());
        assert!(ToolSpec::parse(None, Some(&json!("required")), None).is_err());
        let bad = vec![json!({"type": "function", "function": {"name": "has space"}})];
        assert!(ToolSpec::parse(Some(&bad), None, None).is_err());
        let twice = vec![
            json!({"type": "function", "function": {"name": "a"}}),
            json!({"type": "function", "function": {"name": "a"}}),
        ];
        assert!(ToolSpec::parse(Some(&twice), None, None).is_err());
        let none = spec(json!("none")).ok().flatten().expect("spec");
        assert!(
            none.offered().is_empty()
                && none.calls("{\"name\": \"get_weather\", \"arguments\": {}}").is_none()
        );
    }

    #[test]
    fn the_stream_holds_only_what_may_be_a_call() {
        let mut h = Holder::default();
        assert_eq!(h.push("It"), Some("It".into()));
        assert_eq!(h.push(" is"), Some(" is".into()));
        let mut h = Holder::default();
        assert_eq!(h.push(" <tool"), None);
        assert_eq!(h.push("_call>{\"name\""), None);
        assert_eq!(h.rest(), " <tool_call>{\"name\"");
        let mut h = Holder::default();
        assert_eq!(h.push("<b>"), Some("<b>".into()), "not a call's beginning");
    }
}
