#![allow(clippy::unwrap_used)]
//! Tool calling through real models' chat templates (llama.cpp's collection, fetched from the
//! llama-cpp-python source distribution on PyPI by `scripts/setup.sh --for-tests`): a
//! conversation with a tool offered, called and answered renders through each template, the
//! family is recognised from it, and an answer in that family's form is read back as the call.

use std::path::PathBuf;

use sage_llm::template::{render_template, TemplateContext};
use sage_llm::tools::{family_of, parse_calls, template_knows_tools, ToolFamily};
use sage_llm::{ChatMessage, Role, ToolCall};
use serde_json::json;

fn templates() -> PathBuf {
    let cache = std::env::var_os("SAGE_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"))
            .join("sage")
    });
    cache.join("templates/llama-cpp-python-0.3.36")
}

fn exchange() -> Vec<ChatMessage> {
    let mut call = ChatMessage::new(Role::Assistant, "");
    // Nine alphanumerics: Mistral's templates insist on it.
    call.tool_calls = vec![ToolCall {
        id: "c0ffee123".into(),
        name: "get_weather".into(),
        arguments: r#"{"city":"Paris"}"#.into(),
    }];
    let mut result = ChatMessage::new(Role::Tool, "18 C and sunny");
    result.tool_call_id = Some("c0ffee123".into());
    vec![
        ChatMessage::new(Role::System, "You are a robot's assistant."),
        ChatMessage::new(Role::User, "What is the weather in Paris?"),
        call,
        result,
    ]
}

#[test]
#[ignore = "needs real models' chat templates: scripts/setup.sh --for-tests (scripts/test.sh runs it)"]
fn tool_calls_render_and_parse_through_real_templates() {
    let dir = templates();
    assert!(dir.is_dir(), "{} is missing; run scripts/setup.sh --for-tests", dir.display());
    let tools = vec![
        json!({"type": "function", "function": {"name": "get_weather", "description": "Weather now in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}),
    ];
    // (template, family, renders tools itself, an answer in its form)
    let cases = [
        ("Qwen-Qwen2.5-7B-Instruct", ToolFamily::Hermes, true, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"),
        ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use", ToolFamily::Hermes, true, "<tool_call>\n{\"arguments\": {\"city\": \"Oslo\"}, \"name\": \"get_weather\"}\n</tool_call>"),
        ("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", ToolFamily::Hermes, true, "<tool_call>\n{\"arguments\": {\"city\": \"Oslo\"}, \"name\": \"get_weather\"}\n</tool_call>"),
        ("NVIDIA-Nemotron-Nano-v2", ToolFamily::Nemotron, true, "<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}]</TOOLCALL>"),
        ("meta-llama-Llama-3.1-8B-Instruct", ToolFamily::Llama3, true, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}"),
        ("meta-llama-Llama-3.2-3B-Instruct", ToolFamily::Llama3, true, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}"),
        ("meta-llama-Llama-3.3-70B-Instruct", ToolFamily::Llama3, true, "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}"),
        ("mistralai-Mistral-Nemo-Instruct-2407", ToolFamily::Mistral, true, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}, \"id\": \"abcdef123\"}]"),
        ("Mistral-Small-3.2-24B-Instruct-2506", ToolFamily::Mistral, true, "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Oslo\"}"),
        ("google-gemma-2-2b-it", ToolFamily::Generic, false, "[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}]"),
    ];
    let offered = vec!["get_weather".to_string()];
    for (name, family, native, answer) in cases {
        let template = std::fs::read_to_string(dir.join(format!("{name}.jinja"))).unwrap();
        assert_eq!(family_of(Some(&template)), family, "{name}");
        assert_eq!(template_knows_tools(&template), native, "{name}");
        let ctx = TemplateContext {
            model: name,
            bos: Some("<s>"),
            eos: Some("</s>"),
            date: None,
            tools: &tools,
            vars: None,
        };
        let r = render_template(&template, &exchange(), &ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(r.text.contains("get_weather"), "{name}: the tool is shown:\n{}", r.text);
        assert!(r.text.contains("Paris"), "{name}: the call is shown:\n{}", r.text);
        assert!(r.text.contains("18 C and sunny"), "{name}: the result is shown:\n{}", r.text);
        // The first question alone, with the tool offered, also renders.
        let first = &exchange()[..2];
        render_template(&template, first, &ctx).unwrap_or_else(|e| panic!("{name} (first turn): {e}"));
        let mut n = 0;
        let (_, calls) = parse_calls(answer, family, &offered, &mut || {
            n += 1;
            format!("call_{n}")
        })
        .unwrap_or_else(|| panic!("{name}: {answer:?} not read as a call"));
        assert_eq!((calls.len(), calls[0].arguments.as_str()), (1, r#"{"city":"Oslo"}"#), "{name}");
    }
}

#[test]
#[ignore = "needs real models' chat templates: scripts/setup.sh --for-tests (scripts/test.sh runs it)"]
fn reasoning_models_templates_are_told_apart() {
    let dir = templates();
    assert!(dir.is_dir(), "{} is missing; run scripts/setup.sh --for-tests", dir.display());
    for (name, thinks) in [
        ("deepseek-ai-DeepSeek-R1-Distill-Llama-8B", true),
        ("NVIDIA-Nemotron-Nano-v2", true),
        ("Qwen3.5-4B", true),
        ("meta-llama-Llama-3.1-8B-Instruct", false),
        ("Qwen-Qwen2.5-7B-Instruct", false),
        ("google-gemma-2-2b-it", false),
    ] {
        let template = std::fs::read_to_string(dir.join(format!("{name}.jinja"))).unwrap();
        assert_eq!(sage_llm::reasoning::template_thinks(&template), thinks, "{name}");
    }
}

#[test]
#[ignore = "needs real models' chat templates: scripts/setup.sh --for-tests (scripts/test.sh runs it)"]
fn enable_thinking_reaches_qwen3_s_and_nemotron_s_templates() {
    let dir = templates();
    assert!(dir.is_dir(), "{} is missing; run scripts/setup.sh --for-tests", dir.display());
    let m = exchange();
    let ask = m[..2].to_vec();
    let mut off = serde_json::Map::new();
    off.insert("enable_thinking".into(), json!(false));
    for name in ["Qwen-Qwen3-0.6B", "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"] {
        let template = std::fs::read_to_string(dir.join(format!("{name}.jinja"))).unwrap();
        let ctx = TemplateContext {
            model: name,
            bos: Some("<s>"),
            eos: Some("</s>"),
            date: None,
            tools: &[],
            vars: None,
        };
        let plain = render_template(&template, &ask, &ctx).unwrap().text;
        let quiet = render_template(&template, &ask, &TemplateContext { vars: Some(&off), ..ctx.clone() })
            .unwrap()
            .text;
        assert_ne!(plain, quiet, "{name}: enable_thinking false changes nothing");
        assert!(
            quiet.trim_end().ends_with("</think>"),
            "{name}: thinking not closed before the answer: {quiet:?}"
        );
    }
}

#[test]
#[ignore = "needs real models' chat templates: scripts/setup.sh --for-tests (scripts/test.sh runs it)"]
fn templates_that_open_the_thinking_block_in_the_prompt_are_seen() {
    let dir = templates();
    assert!(dir.is_dir(), "{} is missing; run scripts/setup.sh --for-tests", dir.display());
    let ask = exchange()[..2].to_vec();
    let ctx = TemplateContext {
        model: "m",
        bos: Some("<s>"),
        eos: Some("</s>"),
        date: None,
        tools: &[],
        vars: None,
    };
    for (name, opens) in [
        ("deepseek-ai-DeepSeek-R1-Distill-Llama-8B", true),
        ("NVIDIA-Nemotron-Nano-v2", true),
        ("NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", true),
        ("Qwen3.5-4B", true),
        ("GLM-4.7-Flash", true),
        ("MiniMax-M2", true),
        // The model writes the tag itself, or the template closes the block at once.
        ("Qwen-Qwen3-0.6B", false),
        ("deepseek-ai-DeepSeek-V3.1", false),
        ("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", false),
        ("meta-llama-Llama-3.1-8B-Instruct", false),
    ] {
        let template = std::fs::read_to_string(dir.join(format!("{name}.jinja"))).unwrap();
        let text = render_template(&template, &ask, &ctx).unwrap().text;
        assert_eq!(sage_llm::reasoning::prompt_opens(&text), opens, "{name}: {text:?}");
    }
    // Thinking switched off: the block is closed in the prompt, nothing to restore.
    let mut off = serde_json::Map::new();
    off.insert("enable_thinking".into(), json!(false));
    let template = std::fs::read_to_string(dir.join("NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja")).unwrap();
    let text = render_template(&template, &ask, &TemplateContext { vars: Some(&off), ..ctx }).unwrap().text;
    assert!(!sage_llm::reasoning::prompt_opens(&text), "{text:?}");
}
