//! The lazy grammar of `tool_choice: "auto"`: the model answers freely, and once it has begun a
//! call in any family's form (a family's marker, or `{"name": "` at the answer's start, where
//! llama.cpp triggers its JSON calls too) the rest of the call is held to the offered tools'
//! schemas, so a call that is begun is a call that parses, of a tool that exists, with arguments
//! of the right shape (llama-server does the same for the template's one family; SAGE reads
//! every family's form back, decision 0015, and holds every one). Where the token that completes
//! a trigger runs on past what the grammar allows, the grammar gives way and the answer stays
//! free, as it was before (`GenerateParams::constraint_gives_way`).

use serde_json::{json, Map, Value};

use super::MAX_PARALLEL;
use crate::types::Trigger;

/// Markers that begin a call in a family's form, each a trigger.
const MARKERS: [&str; 4] = ["<tool_call>", "<TOOLCALL>", "[TOOL_CALLS]", "<|python_tag|>"];

/// The grammar (GBNF, start rule `root`) and its triggers for calls of `tools` (OpenAI's
/// `{"type": "function", "function": {"name", "parameters"}}`, names already checked to be
/// letters, digits, `_` and `-`); the reason when their schemas cannot be converted.
pub fn auto_call_grammar(tools: &[Value]) -> Result<(String, Vec<Trigger>), String> {
    let (names, arguments) = arguments_rules(tools)?;
    let named: Vec<String> =
        names.iter().enumerate().map(|(i, n)| format!("\"{n}\" \"[ARGS]\" sage-args-{i}")).collect();
    let more = MAX_PARALLEL - 1;
    let wrapper = format!(
        r#"root ::= sage-tc-hermes | sage-tc-nemotron | sage-tc-mistral | sage-tc-python | sage-tc-json
sage-tc-ws ::= [ \t\r\n]{{0,4}}
sage-call ::= {calls}
sage-l3call ::= {l3calls}
sage-calls ::= "[" space sage-call ("," space sage-call){{0,{more}}} "]" space
sage-tc-block ::= "<tool_call>" sage-tc-ws sage-call sage-tc-ws "</tool_call>"
sage-tc-hermes ::= sage-tc-block (sage-tc-ws sage-tc-block){{0,{more}}}
sage-tc-nemotron ::= "<TOOLCALL>" sage-tc-ws sage-calls sage-tc-ws "</TOOLCALL>"
sage-tc-mistral ::= "[TOOL_CALLS]" sage-tc-ws (sage-calls | sage-tc-named)
sage-tc-named ::= {named}
sage-tc-llama3 ::= sage-l3call (sage-tc-ws ";" sage-tc-ws sage-l3call){{0,{more}}}
sage-tc-python ::= "<|python_tag|>" sage-tc-ws sage-tc-llama3
sage-tc-json ::= sage-tc-bare | "```" "json"? sage-tc-ws sage-tc-bare sage-tc-ws "```"
sage-tc-bare ::= sage-call | sage-calls | sage-tc-llama3
"#,
        calls = calls(&names, None, "arguments"),
        l3calls = calls(&names, None, "parameters"),
        named = named.join(" | "),
    );
    let mut triggers: Vec<Trigger> = MARKERS.iter().map(|m| Trigger::Word((*m).to_string())).collect();
    triggers.push(Trigger::Pattern(r#"^\s*((?:```(?:json)?\s*)?(?:\[\s*)?\{\s*"name"\s*:\s*")"#.to_string()));
    Ok((format!("{wrapper}{arguments}"), triggers))
}

/// The grammar of a forced answer: a JSON array of one or more calls of the offered tools (one
/// call of `only` when a function is named; `parallel: false` allows one call only), each
/// `{"name": …, "arguments": …}` with the name first, as models write calls (the same array as
/// [`super::forced_schema`] describes, whose conversion puts `arguments` first: JSON objects'
/// keys come sorted, so the model had to write the arguments before choosing the tool).
pub fn forced_call_grammar(tools: &[Value], only: Option<&str>, parallel: bool) -> Result<String, String> {
    let (names, arguments) = arguments_rules(tools)?;
    if let Some(n) = only.filter(|n| !names.contains(n)) {
        return Err(format!("{n:?} is not among the tools"));
    }
    let more = if only.is_some() || !parallel { 0 } else { MAX_PARALLEL - 1 };
    Ok(format!(
        "root ::= \"[\" space sage-call (\",\" space sage-call){{0,{more}}} \"]\" space\nsage-call ::= {}\n{arguments}",
        calls(&names, only, "arguments")
    ))
}

/// A call of each tool (of `only`, when given), `{"name": …, "<key>": …}`: the alternatives.
fn calls(names: &[&str], only: Option<&str>, key: &str) -> String {
    let alts: Vec<String> = names
        .iter()
        .enumerate()
        .filter(|(_, n)| only.is_none_or(|o| o == **n))
        .map(|(i, n)| {
            format!(
                r#""{{" space "\"name\"" space ":" space "\"{n}\"" space "," space "\"{key}\"" space ":" space sage-args-{i} "}}" space"#
            )
        })
        .collect();
    alts.join(" | ")
}

/// The tools' names, and rules `sage-args-<i>` for each tool's arguments (with the converter's
/// rules they use, `space` among them).
fn arguments_rules(tools: &[Value]) -> Result<(Vec<&str>, String), String> {
    let names: Vec<&str> = tools.iter().filter_map(|t| t["function"]["name"].as_str()).collect();
    if names.is_empty() || names.len() != tools.len() {
        return Err("every tool needs a name".into());
    }
    if let Some(bad) =
        names.iter().find(|n| !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    {
        return Err(format!("tool name {bad:?} is not letters, digits, _ and -"));
    }
    let converted = crate::llama::schema_to_grammar(&arguments_schema(tools))?;
    // The converter's root is the alternatives, one rule per tool in order: each becomes
    // `sage-args-<i>`, and the root is the caller's.
    let root = converted.lines().find_map(|l| l.strip_prefix("root ::= ")).unwrap_or_default();
    let per_tool: Vec<&str> = root.split(" | ").map(str::trim).collect();
    let identifier = |r: &&str| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if per_tool.len() != tools.len() || !per_tool.iter().all(identifier) {
        return Err(format!("the converter's root is not one rule per tool: {root:?}"));
    }
    let mut body: String =
        converted.lines().filter(|l| !l.starts_with("root ::=")).map(|l| format!("{l}\n")).collect();
    for (i, rule) in per_tool.iter().enumerate() {
        body.push_str(&format!("sage-args-{i} ::= {rule}\n"));
    }
    if !body.lines().any(|l| l.starts_with("space ::=")) {
        body.push_str("space ::= | \" \" | \"\\n\"{1,2} [ \\t]{0,20}\n");
    }
    Ok((names, body))
}

/// One JSON schema, any of each tool's arguments (the calls around them are written here,
/// `name` first, as every family writes them).
fn arguments_schema(tools: &[Value]) -> Value {
    let mut defs = Map::new();
    let mut refs = vec![];
    for (i, t) in tools.iter().enumerate() {
        let params = t["function"]
            .get("parameters")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({"type": "object"}));
        defs.insert(format!("sage-args-{i}"), params);
        refs.push(json!({"$ref": format!("#/$defs/sage-args-{i}")}));
    }
    json!({"$defs": defs, "anyOf": refs})
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::grammar::{Grammar, Vocab};

    fn tools() -> Vec<Value> {
        vec![
            json!({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}, "required": ["city"]}}}),
            json!({"type": "function", "function": {"name": "battery"}}),
            json!({"type": "function", "function": {"name": "move-to", "parameters": {"type": "object",
                "properties": {"x": {"type": "number"}, "y": {"type": "number"}}, "required": ["x", "y"]}}}),
        ]
    }

    /// Every byte a token, and an end token.
    fn bytes() -> Arc<Vocab> {
        let mut v: Vec<(Vec<u8>, bool)> = (0..=255u8).map(|b| (vec![b], false)).collect();
        v.push((b"</s>".to_vec(), true));
        Arc::new(Vocab::new(v))
    }

    /// Whether `text` is a whole match of the grammar.
    fn matches(grammar: &str, text: &str) -> bool {
        let mut g = Grammar::new(grammar, "root", bytes(), &|_| None).expect("grammar");
        text.bytes().all(|b| g.accept(b as u32).is_ok()) && g.complete()
    }

    #[test]
    fn every_familys_call_of_an_offered_tool_matches() {
        let (g, _) = auto_call_grammar(&tools()).expect("grammar");
        for call in [
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>",
            "<tool_call>{\"name\": \"battery\", \"arguments\": {}}</tool_call>\n<tool_call>{\"name\": \"move-to\", \"arguments\": {\"x\": 1, \"y\": 2.5}}</tool_call>",
            "<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"unit\": \"c\"}}]</TOOLCALL>",
            "[TOOL_CALLS] [{\"name\": \"battery\", \"arguments\": {}}]",
            "[TOOL_CALLS]move-to[ARGS]{\"x\": 0, \"y\": 0}",
            "<|python_tag|>{\"name\": \"battery\", \"parameters\": {}}",
            "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}; {\"name\": \"battery\", \"parameters\": {}}",
            "[{\"name\": \"battery\", \"arguments\": {}}, {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}]",
            "```json\n{\"name\": \"battery\", \"arguments\": {}}\n```",
        ] {
            assert!(matches(&g, call), "{call}\n{g}");
        }
        // One tool, and one without parameters.
        for one in [&tools()[..1], &tools()[1..2]] {
            let (g, _) = auto_call_grammar(one).expect("grammar");
            let name = one[0]["function"]["name"].as_str().expect("name");
            let args = if name == "battery" { "{}" } else { "{\"city\": \"Oslo\"}" };
            let call = format!("<tool_call>{{\"name\": \"{name}\", \"arguments\": {args}}}</tool_call>");
            assert!(matches(&g, &call), "{call}\n{g}");
        }
    }

    #[test]
    fn calls_of_other_tools_or_of_the_wrong_shape_do_not() {
        let (g, _) = auto_call_grammar(&tools()).expect("grammar");
        for call in [
            "<tool_call>{\"name\": \"launch\", \"arguments\": {}}</tool_call>",
            "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"unit\": \"c\"}}</tool_call>",
            "<tool_call>{\"name\": \"move-to\", \"arguments\": {\"x\": \"far\", \"y\": 1}}</tool_call>",
            "<TOOLCALL>[]</TOOLCALL>",
            "{\"arguments\": {}, \"name\": \"battery\"}",
            "{\"name\": \"battery\", \"arguments\": {}}\n```",
        ] {
            assert!(!matches(&g, call), "{call}");
        }
    }

    #[test]
    fn the_triggers_are_the_markers_and_a_json_call_of_an_offered_tool() {
        let (_, triggers) = auto_call_grammar(&tools()).expect("grammar");
        assert_eq!(triggers.len(), MARKERS.len() + 1);
        let Some(Trigger::Pattern(p)) = triggers.last() else { panic!("{triggers:?}") };
        let re = regex::Regex::new(p).expect("pattern");
        for (text, from) in [
            ("[{\"name\": \"battery\"", Some(0)),
            ("  ```json\n{ \"name\":\"move-to\"", Some(2)),
            // A name being written: the grammar holds it to the offered ones.
            ("{\"name\": \"Bo", Some(0)),
            ("{\"title\": \"battery\"", None),
            ("Sure: {\"name\": \"battery\"", None),
        ] {
            assert_eq!(re.captures(text).and_then(|c| c.get(1)).map(|m| m.start()), from, "{text}");
        }
    }

    #[test]
    fn a_forced_call_writes_the_name_first() {
        let g = forced_call_grammar(&tools(), None, true).expect("grammar");
        assert!(matches(&g, "[{\"name\": \"battery\", \"arguments\": {}}, {\"name\": \"move-to\", \"arguments\": {\"x\": 1, \"y\": 2}}]"), "{g}");
        assert!(!matches(&g, "[{\"arguments\": {}, \"name\": \"battery\"}]"));
        assert!(!matches(&g, "[]"));
        let one = forced_call_grammar(&tools(), Some("battery"), true).expect("grammar");
        assert!(matches(&one, "[{\"name\": \"battery\", \"arguments\": {}}]"));
        assert!(!matches(
            &one,
            "[{\"name\": \"battery\", \"arguments\": {}}, {\"name\": \"battery\", \"arguments\": {}}]"
        ));
        assert!(!matches(&one, "[{\"name\": \"move-to\", \"arguments\": {\"x\": 1, \"y\": 2}}]"));
        let serial = forced_call_grammar(&tools(), None, false).expect("grammar");
        assert!(!matches(
            &serial,
            "[{\"name\": \"battery\", \"arguments\": {}}, {\"name\": \"battery\", \"arguments\": {}}]"
        ));
        assert!(forced_call_grammar(&tools(), Some("launch"), true).is_err());
    }

    #[test]
    fn names_that_are_not_identifiers_are_refused() {
        let bad = vec![json!({"type": "function", "function": {"name": "a\" | root"}})];
        assert!(auto_call_grammar(&bad).is_err());
        assert!(auto_call_grammar(&[]).is_err());
    }
}
