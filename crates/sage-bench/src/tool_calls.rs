//! `sage bench tools`: tool calling with `tool_choice: "auto"` on generated cases, each answered
//! twice on the same model in the same process: free (the baseline: SAGE before the lazy
//! grammar, and llama.cpp's server where the template's family has no grammar) and with the lazy
//! grammar of `sage_llm::tools::auto_call_grammar` (what `sage serve` does). Counted per answer:
//! a call read back (every family's form, as the server reads them), the call's arguments valid
//! against the tool's schema, an answer that began like a call and is none (broken), and
//! whether a prose answer stayed the same (greedy).
//!
//! Cases come from a seed: 1 to 4 tools drawn from a pool of robot tools, a conversation where
//! one of them was called before (its result, the assistant's reply), and a request that asks
//! for one of them in one of several phrasings, or asks for no tool at all.

use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use sage_kernel::rng::Rng;
use sage_llm::tools::{auto_call_grammar, parse_calls, ToolFamily};
use sage_llm::{
    ChatMessage, Constraint, EngineConfig, Flow, GenerateParams, LanguageModel, LlamaEngine, Prompt, Role,
    Sampling, ToolCall,
};

use crate::BenchError;

/// One tool of the pool: its definition and requests that ask for it.
struct PoolTool {
    name: &'static str,
    description: &'static str,
    parameters: Value,
    asks: [&'static str; 3],
    /// Arguments of an earlier call, for the conversation's history.
    example: Value,
}

fn pool() -> Vec<PoolTool> {
    vec![
        PoolTool {
            name: "get_battery",
            description: "Read the battery level.",
            parameters: json!({"type": "object", "properties": {"unit": {"type": "string", "enum": ["percent", "volts"]}}, "required": ["unit"]}),
            asks: [
                "What is the battery level in percent?",
                "Check the battery voltage.",
                "How much charge is left?",
            ],
            example: json!({"unit": "percent"}),
        },
        PoolTool {
            name: "move_to",
            description: "Drive to a point on the map, in metres.",
            parameters: json!({"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"},
                "speed": {"type": "number"}}, "required": ["x", "y"]}),
            asks: ["Move to 3, 4.", "Drive to the dock at x 12.5, y -2.", "Go to position (0, 7) slowly."],
            example: json!({"x": 1.0, "y": 2.0}),
        },
        PoolTool {
            name: "set_led",
            description: "Set the status light.",
            parameters: json!({"type": "object", "properties": {"color": {"type": "string", "enum": ["red", "green", "blue", "off"]},
                "blink": {"type": "boolean"}}, "required": ["color", "blink"]}),
            asks: [
                "Turn the light red and make it blink.",
                "Switch the status LED off.",
                "Show a steady green light.",
            ],
            example: json!({"color": "blue", "blink": false}),
        },
        PoolTool {
            name: "capture_image",
            description: "Take a picture with one of the cameras.",
            parameters: json!({"type": "object", "properties": {"camera": {"type": "string", "enum": ["front", "rear", "arm"]},
                "width": {"type": "integer"}}, "required": ["camera", "width"]}),
            asks: [
                "Take a photo with the front camera, 640 pixels wide.",
                "Snap a picture from the arm camera.",
                "Capture the rear view at width 1280.",
            ],
            example: json!({"camera": "front", "width": 320}),
        },
        PoolTool {
            name: "say",
            description: "Speak a sentence through the speaker.",
            parameters: json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
            asks: [
                "Say hello to the visitors.",
                "Announce that the tour starts now.",
                "Tell everyone out loud to stand back.",
            ],
            example: json!({"text": "Hello."}),
        },
        PoolTool {
            name: "follow_path",
            description: "Follow a list of waypoints.",
            parameters: json!({"type": "object", "properties": {"points": {"type": "array", "items": {"type": "object",
                "properties": {"x": {"type": "number"}, "y": {"type": "number"}}, "required": ["x", "y"]}}},
                "required": ["points"]}),
            asks: [
                "Follow the path (0,0), (1,2), (3,3).",
                "Patrol through the waypoints 5,5 then 6,1.",
                "Drive along points 1,1 and 2,2.",
            ],
            example: json!({"points": [{"x": 0, "y": 0}, {"x": 2, "y": 1}]}),
        },
    ]
}

/// Requests that ask for no tool.
const PROSE: [&str; 4] = [
    "Tell me a short joke about robots.",
    "What is the capital of Italy?",
    "Write one sentence about the sea.",
    "What is 7 times 6?",
];

/// One generated case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Offered tools (OpenAI's form).
    pub tools: Vec<Value>,
    /// The conversation before the request: an earlier call of one of the tools, its result,
    /// the assistant's reply (a small model calls tools only once it has seen one called).
    pub history: Vec<ChatMessage>,
    /// The user's request.
    pub ask: String,
    /// The tool the request asks for (None: prose).
    pub wants: Option<String>,
}

/// The case of `seed`: a quarter ask for no tool.
pub fn case(seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    let pool = pool();
    let n = 1 + rng.below(4);
    let mut picked: Vec<usize> = vec![];
    while picked.len() < n {
        let i = rng.below(pool.len());
        if !picked.contains(&i) {
            picked.push(i);
        }
    }
    let tools = picked
        .iter()
        .map(|&i| {
            let t = &pool[i];
            json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}})
        })
        .collect();
    // Two earlier exchanges: a request, its call (each tool's example), the result, a reply.
    let mut history = vec![];
    for n in 0..2 {
        let shown = &pool[picked[rng.below(picked.len())]];
        let id = format!("call_{n}");
        let mut call = ChatMessage::new(Role::Assistant, "");
        call.tool_calls =
            vec![ToolCall { id: id.clone(), name: shown.name.into(), arguments: shown.example.to_string() }];
        let mut result = ChatMessage::new(Role::Tool, "{\"ok\": true}");
        result.tool_call_id = Some(id);
        history.extend([
            ChatMessage::new(Role::User, shown.asks[2]),
            call,
            result,
            ChatMessage::new(Role::Assistant, "Done."),
        ]);
    }
    let (ask, wants) = match rng.below(4) {
        0 => (PROSE[rng.below(PROSE.len())].to_string(), None),
        _ => {
            let t = &pool[picked[rng.below(picked.len())]];
            (t.asks[rng.below(3)].to_string(), Some(t.name.to_string()))
        }
    };
    Case { tools, history, ask, wants }
}

/// How one answer came out.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Outcome {
    /// A call of an offered tool was read back.
    pub called: bool,
    /// ...and every call's arguments are valid against its tool's schema.
    pub valid: bool,
    /// The answer began like a call (a family's marker, or JSON) and is no valid call.
    pub broken: bool,
    /// The call read is of the tool the request asked for.
    pub right_tool: bool,
    /// Began like a call, no valid call, and the token limit cut it.
    pub cut: bool,
}

/// What an answer is, for `case`.
pub fn judge(case: &Case, text: &str) -> Outcome {
    let names: Vec<String> =
        case.tools.iter().filter_map(|t| t["function"]["name"].as_str().map(str::to_string)).collect();
    let mut n = 0;
    let mut id = || {
        n += 1;
        format!("call_{n}")
    };
    let calls = ToolFamily::ALL.iter().find_map(|f| parse_calls(text, *f, &names, &mut id)).map(|(_, c)| c);
    let t = text.trim_start();
    let looks = ["[", "{", "```", "<tool_call>", "<TOOLCALL>", "[TOOL_CALLS]", "<|python_tag|>"]
        .iter()
        .any(|m| t.starts_with(m));
    let Some(calls) = calls else {
        return Outcome { broken: looks, ..Outcome::default() };
    };
    let valid = calls.iter().all(|c| {
        let schema = case
            .tools
            .iter()
            .find(|t| t["function"]["name"] == c.name.as_str())
            .map(|t| &t["function"]["parameters"]);
        let args: Value = serde_json::from_str(&c.arguments).unwrap_or(Value::Null);
        schema.is_some_and(|s| valid_against(&args, s))
    });
    let right_tool = case.wants.as_deref().is_some_and(|w| calls.iter().any(|c| c.name == w));
    Outcome { called: true, valid, broken: looks && !valid, right_tool, cut: false }
}

/// Whether `v` is valid against `schema`, in the subset of JSON schema the pool uses (type,
/// enum, properties, required, items; no additional properties).
pub fn valid_against(v: &Value, schema: &Value) -> bool {
    if let Some(options) = schema["enum"].as_array() {
        return options.contains(v);
    }
    match schema["type"].as_str() {
        Some("object") => {
            let Some(o) = v.as_object() else { return false };
            let props = schema["properties"].as_object();
            let required = schema["required"].as_array().map(Vec::as_slice).unwrap_or_default();
            required.iter().all(|r| r.as_str().is_some_and(|r| o.contains_key(r)))
                && o.iter().all(|(k, x)| props.and_then(|p| p.get(k)).is_some_and(|s| valid_against(x, s)))
        }
        Some("array") => v.as_array().is_some_and(|a| a.iter().all(|x| valid_against(x, &schema["items"]))),
        Some("string") => v.is_string(),
        Some("number") => v.is_number(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("boolean") => v.is_boolean(),
        _ => true,
    }
}

/// One way's totals over the cases.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Answers.
    pub answers: usize,
    /// Of the cases that ask for a tool: answers with a call read back.
    pub called: usize,
    /// ...of those, valid against the schema.
    pub valid: usize,
    /// ...of the tool asked for.
    pub right_tool: usize,
    /// Answers that began like a call and are no valid call.
    pub broken: usize,
    /// ...of those, cut by the token limit.
    pub cut: usize,
    /// Of the prose cases: answers with a call (a tool nobody asked for).
    pub uncalled_for: usize,
    /// Decode rate of each answer, tokens per second.
    pub tok_s: Vec<f64>,
}

impl Totals {
    fn add(&mut self, case: &Case, o: Outcome, tok_s: f64) {
        self.answers += 1;
        self.tok_s.push(tok_s);
        match case.wants {
            Some(_) => {
                self.called += o.called as usize;
                self.valid += (o.called && o.valid) as usize;
                self.right_tool += (o.called && o.valid && o.right_tool) as usize;
            }
            None => self.uncalled_for += o.called as usize,
        }
        self.broken += o.broken as usize;
        self.cut += o.cut as usize;
    }
}

/// The report: both ways, on the same cases, and how many cases ask for a tool.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Seeds of the cases, first and last.
    pub seeds: (u64, u64),
    /// Answers per case and way (greedy, then sampled with other seeds).
    pub per_case: usize,
    /// Cases that ask for a tool, answers counted once per answer.
    pub asking: usize,
    /// Free answers (the baseline).
    pub free: Totals,
    /// Answers with the lazy grammar.
    pub held: Totals,
    /// Greedy prose answers (no call begun in the free answer) that stayed the same with the
    /// lazy grammar, of how many.
    pub prose_same: (usize, usize),
}

fn fail(step: &'static str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Engine { engine: "sage", step, message: e.to_string() }
}

/// Generate once; the text, the decode rate and whether the token limit ended it.
fn once(e: &LlamaEngine, case: &Case, params: &GenerateParams) -> Result<(String, f64, bool), BenchError> {
    let (s, _) = e.open_session(None).map_err(|e| fail("opening a session", e))?;
    let mut messages = case.history.clone();
    messages.push(ChatMessage::new(Role::User, case.ask.clone()));
    let prompt = Prompt::ChatTools(messages, case.tools.clone());
    let g = e.generate(s, &prompt, params, &mut |_| Flow::Continue).map_err(|e| fail("generating", e));
    e.close_session(s);
    let g = g?;
    Ok((g.text, g.timings.decode_tok_s, g.finish == sage_llm::FinishReason::Length))
}

/// Answer the cases of `seeds` each way, `samples` sampled answers (t 0.8) besides the greedy
/// one, `max_tokens` at most per answer; `show`: every answer on stderr.
pub fn run(
    model: &Path,
    threads: u32,
    seeds: std::ops::Range<u64>,
    samples: usize,
    max_tokens: u32,
    show: bool,
) -> Result<Report, BenchError> {
    let cfg =
        EngineConfig { threads: Some(threads), context: Some(4096), parallel: 1, ..EngineConfig::default() };
    let e = LlamaEngine::load(model, Some("bench"), cfg).map_err(|e| fail("loading", e))?;
    let mut r = Report {
        seeds: (seeds.start, seeds.end.saturating_sub(1)),
        per_case: 1 + samples,
        asking: 0,
        free: Totals::default(),
        held: Totals::default(),
        prose_same: (0, 0),
    };
    for seed in seeds {
        let case = case(seed);
        let (grammar, triggers) =
            auto_call_grammar(&case.tools).map_err(|e| fail("building the grammar", e))?;
        for k in 0..=samples {
            let sampling = match k {
                0 => Sampling::greedy(),
                _ => Sampling {
                    temperature: 0.8,
                    seed: (seed as u32).wrapping_mul(31).wrapping_add(k as u32),
                    ..Sampling::default()
                },
            };
            let free = GenerateParams { max_tokens, sampling, ..GenerateParams::default() };
            let held = GenerateParams {
                constraint: Some(Constraint::Grammar(grammar.clone())),
                constraint_triggers: triggers.clone(),
                constraint_gives_way: true,
                ..free.clone()
            };
            let (tf, rf, lf) = once(&e, &case, &free)?;
            let (th, rh, lh) = once(&e, &case, &held)?;
            let (mut of, mut oh) = (judge(&case, &tf), judge(&case, &th));
            of.cut = of.broken && lf;
            oh.cut = oh.broken && lh;
            if show {
                eprintln!(
                    "case {seed}.{k}: {:?} (wants {:?})\n  free: {tf:?} {of:?}\n  held: {th:?} {oh:?}",
                    case.ask, case.wants
                );
            }
            r.asking += case.wants.is_some() as usize;
            r.free.add(&case, of, rf);
            r.held.add(&case, oh, rh);
            if k == 0 && !of.called && !of.broken {
                r.prose_same.1 += 1;
                r.prose_same.0 += (tf == th) as usize;
            }
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged_in_every_form() {
        let c = Case {
            tools: vec![
                json!({"type": "function", "function": {"name": "move_to", "parameters": pool()[1].parameters}}),
            ],
            history: vec![],
            ask: "Move to 3, 4.".into(),
            wants: Some("move_to".into()),
        };
        let good = judge(&c, r#"[{"name": "move_to", "arguments": {"x": 3, "y": 4}}]"#);
        assert_eq!(good, Outcome { called: true, valid: true, right_tool: true, ..Outcome::default() });
        let wrong_shape = judge(&c, r#"<tool_call>{"name": "move_to", "arguments": {"x": "3"}}</tool_call>"#);
        assert_eq!(
            wrong_shape,
            Outcome { called: true, broken: true, right_tool: true, ..Outcome::default() }
        );
        let cut = judge(&c, r#"[{"name": "move_to", "arguments": {"x": 3,"#);
        assert_eq!(cut, Outcome { broken: true, ..Outcome::default() });
        assert_eq!(judge(&c, "Sure, moving now."), Outcome::default());
    }

    #[test]
    fn cases_are_reproducible_and_varied() {
        assert_eq!(case(5).ask, case(5).ask);
        let asks: std::collections::BTreeSet<String> = (0..40).map(|s| case(s).ask).collect();
        assert!(asks.len() > 10, "{asks:?}");
        assert!((0..40).any(|s| case(s).wants.is_none()) && (0..40).any(|s| case(s).wants.is_some()));
        // Every case's tools make a grammar.
        assert!((0..40).all(|s| auto_call_grammar(&case(s).tools).is_ok()));
    }
}
