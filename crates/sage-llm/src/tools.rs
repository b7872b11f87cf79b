//! Tool calling: how a model's template family writes a call, how the calls are read back from
//! its output, how tools are described to a model whose template knows none, and the schema
//! that forces a valid call (decision 0015).
//!
//! Families, recognised from the chat template's text:
//! - **Hermes** (Qwen 2.5/3, Hermes, many fine-tunes): `<tool_call>{"name": …, "arguments": …}</tool_call>`,
//!   one block per call.
//! - **Nemotron** (Llama-3.1-Nemotron-Nano): `<TOOLCALL>[{"name": …, "arguments": …}, …]</TOOLCALL>`.
//! - **Mistral**: `[TOOL_CALLS] [{"name": …, "arguments": …}, …]` (or `[TOOL_CALLS]name[ARGS]{…}`).
//! - **Llama 3.1/3.2/3.3**: a JSON object `{"name": …, "parameters": …}` (or `<|python_tag|>`
//!   before it), several separated by `;`.
//! - **Generic** (any other template, Gemma's included, and templates without tool support):
//!   a JSON object `{"name": …, "arguments": …}`, a JSON array of them, or either inside a
//!   fenced code block.
//!
//! Every family's reader also accepts the generic forms, so a forced call (a JSON array, by the
//! schema of [`forced_schema`]) is read the same way whatever the family.

mod auto;

use serde_json::{json, Value};

pub use auto::{auto_call_grammar, forced_call_grammar};

use crate::types::{ChatMessage, Role, ToolCall};

/// How a model family writes tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolFamily {
    /// `<tool_call>…</tool_call>` blocks.
    Hermes,
    /// `<TOOLCALL>[…]</TOOLCALL>`.
    Nemotron,
    /// `[TOOL_CALLS] […]`.
    Mistral,
    /// A JSON object with `name` and `parameters`, optionally after `<|python_tag|>`.
    Llama3,
    /// A JSON object or array with `name` and `arguments`.
    Generic,
}

impl ToolFamily {
    /// Every family, the generic one last (an answer is read as each family's calls in turn).
    pub const ALL: [ToolFamily; 5] = [
        ToolFamily::Hermes,
        ToolFamily::Nemotron,
        ToolFamily::Mistral,
        ToolFamily::Llama3,
        ToolFamily::Generic,
    ];
}

/// The family a chat template writes tool calls in.
pub fn family_of(template: Option<&str>) -> ToolFamily {
    let Some(t) = template else { return ToolFamily::Generic };
    if t.contains("<tool_call>") {
        ToolFamily::Hermes
    } else if t.contains("<TOOLCALL>") {
        ToolFamily::Nemotron
    } else if t.contains("[TOOL_CALLS]") {
        ToolFamily::Mistral
    } else if t.contains("<|python_tag|>") || t.contains("ipython") {
        ToolFamily::Llama3
    } else {
        ToolFamily::Generic
    }
}

/// Whether a chat template renders tools and tool messages itself (it reads a `tools`
/// variable); otherwise they are described in the system prompt ([`lower`]).
pub fn template_knows_tools(template: &str) -> bool {
    template.contains("tools")
        && (template.contains("tool_calls") || template.contains("'tool'") || template.contains("\"tool\""))
}

/// The tools' names.
pub fn names(tools: &[Value]) -> Vec<String> {
    tools.iter().filter_map(|t| t["function"]["name"].as_str().map(String::from)).collect()
}

/// Describe `tools` for a model whose template knows none: what the system prompt gets.
pub fn instructions(tools: &[Value]) -> String {
    let mut s = String::from(
        "You can call these tools. To call one or more, answer with only a JSON array of calls, \
         [{\"name\": <tool name>, \"arguments\": <JSON object>}], and nothing else; otherwise answer normally.\nTools:\n",
    );
    for t in tools {
        let f = &t["function"];
        s.push_str(&format!(
            "- {}: {} Parameters (JSON schema): {}\n",
            f["name"].as_str().unwrap_or("?"),
            f["description"].as_str().unwrap_or(""),
            f.get("parameters").cloned().unwrap_or(json!({}))
        ));
    }
    s
}

/// A conversation with tools for a template that knows none: the tools described in the system
/// prompt, each call written as the JSON the model is asked for, each result as a user turn
/// (`Result of <name> (<id>): …`); consecutive turns of one role are merged, so that roles
/// alternate as such templates require.
pub fn lower(messages: &[ChatMessage], tools: &[Value]) -> Vec<ChatMessage> {
    let mut out: Vec<ChatMessage> = vec![];
    let names_by_id: std::collections::HashMap<&str, &str> =
        messages.iter().flat_map(|m| m.tool_calls.iter()).map(|c| (c.id.as_str(), c.name.as_str())).collect();
    let mut push = |role: Role, text: String| match out.last_mut() {
        Some(last) if last.role == role => {
            last.content.push_str("\n\n");
            last.content.push_str(&text);
        }
        _ => out.push(ChatMessage::new(role, text)),
    };
    if !tools.is_empty() {
        let system =
            messages.iter().find(|m| m.role == Role::System).map(|m| m.content.as_str()).unwrap_or("");
        let sep = if system.is_empty() { "" } else { "\n\n" };
        push(Role::System, format!("{system}{sep}{}", instructions(tools)));
    }
    for m in messages {
        match m.role {
            Role::System if !tools.is_empty() => {}
            Role::Tool => {
                let id = m.tool_call_id.as_deref().unwrap_or("");
                let name = names_by_id.get(id).copied().unwrap_or("a tool");
                push(Role::User, format!("Result of {name} ({id}): {}", m.content));
            }
            Role::Assistant if !m.tool_calls.is_empty() => {
                // Written name first, as the instructions show and every family writes calls
                // (a JSON object's keys would come sorted: a model shown `arguments` first
                // imitates it, and a call's grammar expects the name first).
                let calls: Vec<String> = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        let args = serde_json::from_str::<Value>(&c.arguments).unwrap_or(json!({}));
                        format!("{{\"name\":{},\"arguments\":{args}}}", Value::String(c.name.clone()))
                    })
                    .collect();
                let calls = format!("[{}]", calls.join(","));
                let text = if m.content.trim().is_empty() {
                    calls
                } else {
                    format!("{}\n{calls}", m.content.trim())
                };
                push(Role::Assistant, text);
            }
            role => push(role, m.content.clone()),
        }
    }
    out
}

/// What `tool_choice` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No call: the tools are not offered.
    None,
    /// At least one call.
    Required,
    /// A call of this function.
    Function(String),
}

/// Most calls in one forced answer.
pub const MAX_PARALLEL: usize = 4;

/// The JSON schema of a forced answer: an array of one or more calls of the offered tools (one
/// call of `only` when a function is named; `parallel: false` allows one call only).
pub fn forced_schema(tools: &[Value], only: Option<&str>, parallel: bool) -> Value {
    let calls: Vec<Value> = tools
        .iter()
        .filter(|t| only.is_none_or(|n| t["function"]["name"] == n))
        .map(|t| {
            let f = &t["function"];
            json!({
                "type": "object",
                "properties": {
                    "name": {"const": f["name"]},
                    "arguments": f.get("parameters").cloned().filter(|p| p.is_object()).unwrap_or(json!({"type": "object"})),
                },
                "required": ["name", "arguments"],
            })
        })
        .collect();
    let item = if calls.len() == 1 { calls[0].clone() } else { json!({"anyOf": calls}) };
    let max = if only.is_some() || !parallel { 1 } else { MAX_PARALLEL };
    json!({"type": "array", "items": item, "minItems": 1, "maxItems": max})
}

/// Read tool calls from a model's output: the text before the first call, and the calls. `None`
/// when the output holds no call of an offered tool (then it is an ordinary answer).
pub fn parse_calls(
    text: &str,
    family: ToolFamily,
    offered: &[String],
    next_id: &mut dyn FnMut() -> String,
) -> Option<(String, Vec<ToolCall>)> {
    let (before, values) = match family {
        ToolFamily::Hermes => blocks(text, "<tool_call>", "</tool_call>").or_else(|| generic(text)),
        ToolFamily::Nemotron => blocks(text, "<TOOLCALL>", "</TOOLCALL>").or_else(|| generic(text)),
        ToolFamily::Mistral => mistral(text).or_else(|| generic(text)),
        ToolFamily::Llama3 => llama3(text).or_else(|| generic(text)),
        ToolFamily::Generic => generic(text),
    }?;
    let calls: Vec<ToolCall> = values
        .into_iter()
        .filter_map(|v| {
            let name = v["name"].as_str().or_else(|| v["function"]["name"].as_str())?.to_string();
            if !offered.contains(&name) {
                return None;
            }
            let args = v
                .get("arguments")
                .or_else(|| v.get("parameters"))
                .or_else(|| v["function"].get("arguments"))
                .cloned()
                .unwrap_or(json!({}));
            // Some models write the arguments as a JSON string.
            let args = match args {
                Value::String(s) => serde_json::from_str::<Value>(&s).unwrap_or(Value::String(s)),
                a => a,
            };
            Some(ToolCall { id: next_id(), name, arguments: args.to_string() })
        })
        .collect();
    (!calls.is_empty()).then(|| (before.trim().to_string(), calls))
}

/// Values in `open … close` blocks (each block a JSON object or array).
fn blocks(text: &str, open: &str, close: &str) -> Option<(String, Vec<Value>)> {
    let first = text.find(open)?;
    let mut values = vec![];
    let mut rest = &text[first..];
    while let Some(i) = rest.find(open) {
        let after = &rest[i + open.len()..];
        let end = after.find(close).unwrap_or(after.len());
        values.extend(json_values(after[..end].trim()));
        rest = after.get(end + close.len()..).unwrap_or("");
    }
    Some((text[..first].to_string(), values))
}

fn mistral(text: &str) -> Option<(String, Vec<Value>)> {
    let i = text.find("[TOOL_CALLS]")?;
    let after = text[i + "[TOOL_CALLS]".len()..].trim();
    // Newer Mistral templates: `[TOOL_CALLS]name[ARGS]{...}`.
    if let Some(a) = after.find("[ARGS]") {
        let name = after[..a].trim();
        let args: Value = serde_json::from_str(after[a + 6..].trim()).ok()?;
        return Some((text[..i].to_string(), vec![json!({"name": name, "arguments": args})]));
    }
    Some((text[..i].to_string(), json_values(after)))
}

fn llama3(text: &str) -> Option<(String, Vec<Value>)> {
    let (before, body) = match text.find("<|python_tag|>") {
        Some(i) => (&text[..i], &text[i + "<|python_tag|>".len()..]),
        None => ("", text.trim_start()),
    };
    if !body.trim_start().starts_with('{') {
        return None;
    }
    let values: Vec<Value> = body.split(';').flat_map(|p| json_values(p.trim())).collect();
    (!values.is_empty()).then(|| (before.to_string(), values))
}

/// A JSON object or array at the start of the output (or in a fenced block at its start).
fn generic(text: &str) -> Option<(String, Vec<Value>)> {
    let t = text.trim_start();
    let t = t.strip_prefix("```json").or_else(|| t.strip_prefix("```")).map_or(t, |r| r.trim_start());
    let t = t.trim_end().strip_suffix("```").unwrap_or(t).trim_end();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    let values = json_values(t);
    (!values.is_empty()).then(|| (String::new(), values))
}

/// One JSON object, or the objects of a JSON array, from the start of `s` (text after the
/// first complete value is ignored). An array cut short (the answer reached its token limit)
/// gives the objects that were complete.
fn json_values(s: &str) -> Vec<Value> {
    let mut stream = serde_json::Deserializer::from_str(s).into_iter::<Value>();
    match stream.next() {
        Some(Ok(Value::Array(items))) => items.into_iter().filter(Value::is_object).collect(),
        Some(Ok(v @ Value::Object(_))) => vec![v],
        Some(Err(_)) if s.starts_with('[') => complete_items(&s[1..]),
        _ => vec![],
    }
}

/// The complete objects at the start of an unterminated array's items.
fn complete_items(mut rest: &str) -> Vec<Value> {
    let mut out = vec![];
    loop {
        rest = rest.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        let mut one = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        match one.next() {
            Some(Ok(v @ Value::Object(_))) => {
                out.push(v);
                rest = &rest[one.byte_offset()..];
            }
            _ => return out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered() -> Vec<String> {
        vec!["get_weather".into(), "get_time".into()]
    }

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("call_{n}")
        }
    }

    fn parse(text: &str, f: ToolFamily) -> Option<(String, Vec<ToolCall>)> {
        parse_calls(text, f, &offered(), &mut ids())
    }

    #[test]
    fn every_family_is_read_back_with_parallel_calls() {
        let hermes = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\"}}\n</tool_call>";
        let (before, calls) = parse(hermes, ToolFamily::Hermes).expect("hermes");
        assert_eq!(before, "Let me check.");
        assert_eq!(calls.len(), 2);
        assert_eq!(
            calls[0],
            ToolCall {
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into()
            }
        );
        assert_eq!(calls[1].name, "get_time");
        let nemotron = "<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}, {\"name\": \"get_time\", \"arguments\": {}}]</TOOLCALL>";
        assert_eq!(parse(nemotron, ToolFamily::Nemotron).expect("nemotron").1.len(), 2);
        let mistral = "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}]";
        assert_eq!(
            parse(mistral, ToolFamily::Mistral).expect("mistral").1[0].arguments,
            r#"{"city":"Rome"}"#
        );
        let mistral_v11 = "[TOOL_CALLS]get_time[ARGS]{\"tz\": \"UTC\"}";
        assert_eq!(parse(mistral_v11, ToolFamily::Mistral).expect("mistral v11").1[0].name, "get_time");
        let llama = "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Lima\"}}; {\"name\": \"get_time\", \"parameters\": {}}";
        let (_, calls) = parse(llama, ToolFamily::Llama3).expect("llama");
        assert_eq!((calls.len(), calls[0].arguments.as_str()), (2, r#"{"city":"Lima"}"#));
        let plain_llama = "{\"name\": \"get_time\", \"parameters\": {\"tz\": \"PST\"}}";
        assert_eq!(parse(plain_llama, ToolFamily::Llama3).expect("llama plain").1[0].name, "get_time");
        let cut = "[{\"name\": \"get_time\", \"arguments\": {}}, {\"name\": \"get_weather\", \"argu";
        assert_eq!(
            parse(cut, ToolFamily::Generic).expect("cut short").1.len(),
            1,
            "the complete call of a cut array"
        );
        let fenced =
            "```json\n[{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Kyiv\\\"}\"}]\n```";
        assert_eq!(parse(fenced, ToolFamily::Generic).expect("generic").1[0].arguments, r#"{"city":"Kyiv"}"#);
    }

    #[test]
    fn ordinary_answers_and_unknown_tools_are_not_calls() {
        for f in ToolFamily::ALL {
            assert_eq!(parse("It is sunny in Paris.", f), None, "{f:?}");
            assert_eq!(parse("{\"name\": \"rm_rf\", \"arguments\": {}}", f), None, "{f:?}");
            assert_eq!(parse("<tool_call>{not json</tool_call>", f), None, "{f:?}");
        }
    }

    #[test]
    fn families_are_recognised_from_templates() {
        assert_eq!(
            family_of(Some("{% for tool in tools %}<tool_call>{{ tool }}</tool_call>")),
            ToolFamily::Hermes
        );
        assert_eq!(
            family_of(Some("<AVAILABLE_TOOLS>{{ tools }}</AVAILABLE_TOOLS><TOOLCALL>")),
            ToolFamily::Nemotron
        );
        assert_eq!(family_of(Some("[AVAILABLE_TOOLS] [TOOL_CALLS]")), ToolFamily::Mistral);
        assert_eq!(family_of(Some("<|python_tag|> ipython")), ToolFamily::Llama3);
        assert_eq!(family_of(Some("<start_of_turn>user")), ToolFamily::Generic);
        assert_eq!(family_of(None), ToolFamily::Generic);
    }

    #[test]
    fn a_conversation_with_tools_is_lowered_to_alternating_turns() {
        let tools = vec![
            json!({"type": "function", "function": {"name": "get_weather", "description": "Weather now.", "parameters": {"type": "object"}}}),
        ];
        let mut call = ChatMessage::new(Role::Assistant, "");
        call.tool_calls = vec![ToolCall {
            id: "c1".into(),
            name: "get_weather".into(),
            arguments: "{\"city\":\"Paris\"}".into(),
        }];
        let mut result = ChatMessage::new(Role::Tool, "18 C, sunny");
        result.tool_call_id = Some("c1".into());
        let messages = vec![
            ChatMessage::new(Role::System, "Be brief."),
            ChatMessage::new(Role::User, "Weather in Paris?"),
            call,
            result,
        ];
        let low = lower(&messages, &tools);
        let roles: Vec<Role> = low.iter().map(|m| m.role).collect();
        assert_eq!(roles, vec![Role::System, Role::User, Role::Assistant, Role::User]);
        assert!(
            low[0].content.starts_with("Be brief.") && low[0].content.contains("get_weather: Weather now.")
        );
        assert_eq!(low[2].content, r#"[{"name":"get_weather","arguments":{"city":"Paris"}}]"#);
        assert_eq!(low[3].content, "Result of get_weather (c1): 18 C, sunny");
    }

    #[test]
    fn a_forced_call_is_an_array_of_offered_calls() {
        let tools = vec![
            json!({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}),
            json!({"type": "function", "function": {"name": "get_time"}}),
        ];
        let s = forced_schema(&tools, None, true);
        assert_eq!(s["items"]["anyOf"].as_array().map(Vec::len), Some(2));
        assert_eq!(s["maxItems"], MAX_PARALLEL);
        let s = forced_schema(&tools, Some("get_time"), true);
        assert_eq!(s["items"]["properties"]["name"]["const"], "get_time");
        assert_eq!(s["items"]["properties"]["arguments"], json!({"type": "object"}));
        assert_eq!(s["maxItems"], 1);
    }
}
