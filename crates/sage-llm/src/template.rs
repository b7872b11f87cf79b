//! Chat prompts: the model's own Jinja chat template (from its metadata) rendered with
//! `minijinja`, or, for base models without one, a plain completion format.

use minijinja::{Environment, Error, ErrorKind};

use crate::error::TemplateError;
use crate::types::{ChatMessage, Role};

/// The plain completion format's turn prefixes. A base model continues the text after
/// `Assistant:`; generation stops at the next `\nUser:`.
pub const PLAIN_USER: &str = "User:";
/// See [`PLAIN_USER`].
pub const PLAIN_ASSISTANT: &str = "Assistant:";

/// A rendered chat prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedChat {
    /// The prompt text.
    pub text: String,
    /// Whether the text already contains the BOS token (templates usually add it), so that
    /// tokenization must not add another.
    pub has_bos: bool,
    /// Stop sequences implied by the format (the plain format stops at the next user turn).
    pub stop: Vec<String>,
}

/// What a template needs besides the messages.
#[derive(Debug, Clone, Default)]
pub struct TemplateContext<'a> {
    /// Model id, for errors.
    pub model: &'a str,
    /// Beginning-of-sequence token text.
    pub bos: Option<&'a str>,
    /// End-of-sequence token text.
    pub eos: Option<&'a str>,
    /// Date shown by templates that print one (Llama 3.x); HF's default when absent.
    pub date: Option<&'a str>,
    /// Tools the model may call (OpenAI's `tools`); empty: none.
    pub tools: &'a [serde_json::Value],
    /// Variables the template reads besides the messages (a request's `chat_template_kwargs`,
    /// e.g. Qwen 3's and Nemotron's `enable_thinking`); they never replace the ones above.
    pub vars: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

/// Check a conversation with tool calls: an optional system message first, then a user
/// message; a tool result only right after an assistant message that called tools or after
/// another result.
pub fn check_tool_conversation(model: &str, messages: &[ChatMessage]) -> Result<(), TemplateError> {
    let err = |message: String| TemplateError::Messages { model: model.to_string(), message };
    let start = usize::from(messages.first().is_some_and(|m| m.role == Role::System));
    match messages.get(start) {
        None => return Err(err("no messages to render".into())),
        Some(m) if m.role != Role::User => {
            return Err(err(format!(
                "message {start} is from {} but the conversation must begin with the user",
                m.role
            )))
        }
        _ => {}
    }
    for (i, w) in messages.windows(2).enumerate() {
        if w[1].role == Role::Tool && w[0].role != Role::Tool && w[0].tool_calls.is_empty() {
            return Err(err(format!("message {} is a tool result that follows no tool call", i + 1)));
        }
        if w[1].role == Role::System {
            return Err(err(format!("message {} is a system message after the first", i + 1)));
        }
    }
    Ok(())
}

/// A message as chat templates read it (HF's form: tool calls with their arguments as objects).
fn template_message(m: &ChatMessage) -> minijinja::Value {
    let mut v = serde_json::json!({"role": m.role.as_str(), "content": m.content});
    if !m.tool_calls.is_empty() {
        v["tool_calls"] = m
            .tool_calls
            .iter()
            .map(|c| {
                let args = serde_json::from_str::<serde_json::Value>(&c.arguments).unwrap_or(serde_json::json!({}));
                serde_json::json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": args}})
            })
            .collect();
    }
    if let Some(id) = &m.tool_call_id {
        v["tool_call_id"] = id.clone().into();
    }
    to_jinja(&v)
}

/// A JSON value as a template value.
fn to_jinja(v: &serde_json::Value) -> minijinja::Value {
    use serde_json::Value as J;
    match v {
        J::Null => minijinja::Value::from(()),
        J::Bool(b) => minijinja::Value::from(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => minijinja::Value::from(i),
            None => minijinja::Value::from(n.as_f64().unwrap_or(0.0)),
        },
        J::String(s) => minijinja::Value::from(s.as_str()),
        J::Array(a) => a.iter().map(to_jinja).collect(),
        J::Object(o) => {
            minijinja::Value::from_pairs(o.iter().map(|(k, v)| (k.as_str(), to_jinja(v))).collect::<Vec<_>>())
        }
    }
}

/// Check that messages make a conversation: not empty, an optional system message first, then
/// user and assistant strictly alternating, starting with the user.
pub fn check_alternation(model: &str, messages: &[ChatMessage]) -> Result<(), TemplateError> {
    let err = |message: String| TemplateError::Messages { model: model.to_string(), message };
    if messages.is_empty() {
        return Err(err("no messages to render".into()));
    }
    let rest = if messages[0].role == Role::System { &messages[1..] } else { messages };
    for (i, m) in rest.iter().enumerate() {
        let expected = if i % 2 == 0 { Role::User } else { Role::Assistant };
        if m.role != expected {
            return Err(err(format!(
                "message {} is from {} but {} was expected (system first, then user and assistant alternating)",
                i + (messages.len() - rest.len()),
                m.role,
                expected
            )));
        }
    }
    Ok(())
}

/// Instructions a chat template may run, plus this many per message.
pub const TEMPLATE_FUEL_BASE: u64 = 200_000;
/// See [`TEMPLATE_FUEL_BASE`].
pub const TEMPLATE_FUEL_PER_MESSAGE: u64 = 20_000;

/// Whether `template` parses as a chat template (Jinja): a template given in place of a model
/// file's (`--chat-template-file`) is checked when the model loads, not at its first request.
pub fn check_syntax(model: &str, template: &str) -> Result<(), TemplateError> {
    let mut env = Environment::new();
    env.add_template("chat", template)
        .map(|_| ())
        .map_err(|e| TemplateError::Syntax { model: model.to_string(), message: e.to_string() })
}

/// Render `messages` with `template`, ending with the generation prompt for the assistant.
pub fn render_template(
    template: &str,
    messages: &[ChatMessage],
    ctx: &TemplateContext<'_>,
) -> Result<RenderedChat, TemplateError> {
    // Tools go to a template that renders them itself; for one that knows none they are
    // described in the system prompt and the exchange becomes ordinary turns.
    let tooling = !ctx.tools.is_empty() || messages.iter().any(ChatMessage::is_tool_exchange);
    let native = tooling && crate::tools::template_knows_tools(template);
    let lowered;
    let messages = if tooling && !native {
        lowered = crate::tools::lower(messages, ctx.tools);
        &lowered[..]
    } else {
        messages
    };
    if native {
        check_tool_conversation(ctx.model, messages)?;
    } else {
        check_alternation(ctx.model, messages)?;
    }
    let mut env = Environment::new();
    // A template runs on fuel (minijinja counts instructions): real templates spend a few
    // hundred per message; one that loops without end (or for 10^10 steps) fails instead of
    // holding a thread for good.
    env.set_fuel(Some(TEMPLATE_FUEL_BASE + TEMPLATE_FUEL_PER_MESSAGE * messages.len() as u64));
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    // Jinja2's `iterable`: `none` is not (minijinja's says it is, and Nemotron 3's template then
    // takes the length of `tools` when none are given, which fails).
    env.add_test("iterable", |v: minijinja::Value| !v.is_none() && !v.is_undefined() && v.try_iter().is_ok());
    env.add_function("raise_exception", |msg: String| -> Result<String, Error> {
        Err(Error::new(ErrorKind::InvalidOperation, msg))
    });
    let date = ctx.date.unwrap_or("26 Jul 2024").to_string();
    let date_for_fn = date.clone();
    env.add_function("strftime_now", move |_fmt: String| -> Result<String, Error> {
        Ok(date_for_fn.clone())
    });
    env.add_template("chat", template)
        .map_err(|e| TemplateError::Syntax { model: ctx.model.to_string(), message: e.to_string() })?;
    let tmpl = env
        .get_template("chat")
        .map_err(|e| TemplateError::Syntax { model: ctx.model.to_string(), message: e.to_string() })?;
    // A template that refuses a system message (Gemma 2's) gets it at the top of the first user
    // turn instead, as those models are instructed.
    match render_with(&tmpl, messages, native, ctx) {
        Err(first @ TemplateError::Render { .. })
            if messages.len() > 1 && messages[0].role == Role::System && messages[1].role == Role::User =>
        {
            let mut merged = messages[1..].to_vec();
            merged[0].content = format!("{}\n\n{}", messages[0].content, merged[0].content);
            render_with(&tmpl, &merged, native, ctx).map_err(|_| first)
        }
        r => r,
    }
}

fn render_with(
    tmpl: &minijinja::Template<'_, '_>,
    messages: &[ChatMessage],
    native: bool,
    ctx: &TemplateContext<'_>,
) -> Result<RenderedChat, TemplateError> {
    let date = ctx.date.unwrap_or("26 Jul 2024").to_string();
    let msgs: minijinja::Value = messages.iter().map(template_message).collect();
    let tools = if native && !ctx.tools.is_empty() {
        ctx.tools.iter().map(to_jinja).collect()
    } else {
        minijinja::Value::from(())
    };
    let vars = to_jinja(&serde_json::Value::Object(ctx.vars.cloned().unwrap_or_default()));
    let text = tmpl
        .render(minijinja::context! {
            messages => msgs,
            tools => tools,
            add_generation_prompt => true,
            bos_token => ctx.bos.unwrap_or(""),
            eos_token => ctx.eos.unwrap_or(""),
            date_string => date,
            ..vars
        })
        .map_err(|e| TemplateError::Render { model: ctx.model.to_string(), message: e.to_string() })?;
    let has_bos = ctx.bos.is_some_and(|b| !b.is_empty() && text.starts_with(b));
    Ok(RenderedChat { text, has_bos, stop: vec![] })
}

/// Render `messages` in the plain completion format for base models:
///
/// ```text
/// <system text>
///
/// User: <text>
/// Assistant: <text>
/// User: <text>
/// Assistant:
/// ```
pub fn render_plain(model: &str, messages: &[ChatMessage]) -> Result<RenderedChat, TemplateError> {
    render_plain_tools(model, messages, &[])
}

/// [`render_plain`] with tools (described in the system prompt, as for templates that know
/// none).
pub fn render_plain_tools(
    model: &str,
    messages: &[ChatMessage],
    tools: &[serde_json::Value],
) -> Result<RenderedChat, TemplateError> {
    let lowered;
    let messages = if !tools.is_empty() || messages.iter().any(ChatMessage::is_tool_exchange) {
        lowered = crate::tools::lower(messages, tools);
        &lowered[..]
    } else {
        messages
    };
    check_alternation(model, messages)?;
    let mut text = String::new();
    for m in messages {
        match m.role {
            Role::System => {
                text.push_str(m.content.trim());
                text.push_str("\n\n");
            }
            Role::User => {
                text.push_str(PLAIN_USER);
                text.push(' ');
                text.push_str(m.content.trim());
                text.push('\n');
            }
            // Lowered away above.
            Role::Tool => {}
            Role::Assistant => {
                text.push_str(PLAIN_ASSISTANT);
                text.push(' ');
                text.push_str(m.content.trim());
                text.push('\n');
            }
        }
    }
    text.push_str(PLAIN_ASSISTANT);
    Ok(RenderedChat {
        text,
        has_bos: false,
        stop: vec![format!("\n{PLAIN_USER}"), format!("\n{PLAIN_ASSISTANT}")],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Llama 3.x template's core, as published in its tokenizer_config.json.
    const LLAMA3: &str = "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

    fn ctx() -> TemplateContext<'static> {
        TemplateContext {
            model: "m",
            bos: Some("<|begin_of_text|>"),
            eos: Some("<|eot_id|>"),
            date: None,
            tools: &[],
            vars: None,
        }
    }

    #[test]
    fn none_is_not_iterable_as_in_jinja2() {
        let t = "{%- if tools is iterable and tools | length > 0 %}tools{% else %}none{% endif %}";
        let m = [ChatMessage::new(Role::User, "hi")];
        assert_eq!(render_template(t, &m, &ctx()).unwrap().text, "none");
    }

    #[test]
    fn variables_reach_the_template_and_never_replace_its_own() {
        let t = "{%- if enable_thinking is defined and enable_thinking is false %}[no think]{% endif %}{{ bos_token }}{{ messages[-1]['content'] }}";
        let m = [ChatMessage::new(Role::User, "hi")];
        let mut vars = serde_json::Map::new();
        vars.insert("enable_thinking".into(), serde_json::json!(false));
        vars.insert("bos_token".into(), serde_json::json!("EVIL"));
        let with = render_template(t, &m, &TemplateContext { vars: Some(&vars), ..ctx() }).unwrap();
        assert_eq!(with.text, "[no think]<|begin_of_text|>hi");
        assert_eq!(render_template(t, &m, &ctx()).unwrap().text, "<|begin_of_text|>hi");
    }

    #[test]
    fn renders_a_llama3_template() {
        let msgs = [ChatMessage::new(Role::System, "Be brief."), ChatMessage::new(Role::User, " Hi ")];
        let r = render_template(LLAMA3, &msgs, &ctx()).unwrap();
        assert_eq!(
            r.text,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        assert!(r.has_bos);
    }

    #[test]
    fn template_errors_are_typed() {
        let msgs = [ChatMessage::new(Role::User, "x")];
        assert!(matches!(render_template("{% for %}", &msgs, &ctx()), Err(TemplateError::Syntax { .. })));
        let raising = "{{ raise_exception('Only user and assistant roles are supported!') }}";
        match render_template(raising, &msgs, &ctx()) {
            Err(TemplateError::Render { message, .. }) => assert!(message.contains("Only user"), "{message}"),
            other => panic!("{other:?}"),
        }
        let python = "{{ messages[0]['content'].strip().upper() }}";
        assert_eq!(
            render_template(python, &[ChatMessage::new(Role::User, " ab ")], &ctx()).unwrap().text,
            "AB"
        );
    }

    #[test]
    fn alternation_is_checked() {
        let bad = [ChatMessage::new(Role::User, "a"), ChatMessage::new(Role::User, "b")];
        assert!(matches!(render_plain("m", &bad), Err(TemplateError::Messages { .. })));
        assert!(render_plain("m", &[]).is_err());
        let starts_with_assistant = [ChatMessage::new(Role::Assistant, "a")];
        assert!(render_plain("m", &starts_with_assistant).is_err());
    }

    #[test]
    fn plain_format() {
        let msgs = [
            ChatMessage::new(Role::System, "You are a robot."),
            ChatMessage::new(Role::User, "Hello"),
            ChatMessage::new(Role::Assistant, "Hi."),
            ChatMessage::new(Role::User, "Status?"),
        ];
        let r = render_plain("m", &msgs).unwrap();
        assert_eq!(r.text, "You are a robot.\n\nUser: Hello\nAssistant: Hi.\nUser: Status?\nAssistant:");
        assert_eq!(r.stop, vec!["\nUser:".to_string(), "\nAssistant:".to_string()]);
    }

    #[test]
    fn a_template_that_never_ends_runs_out_of_fuel() {
        let endless = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}x";
        let msgs = [ChatMessage::new(Role::User, "hi")];
        let e = render_template(endless, &msgs, &ctx()).unwrap_err();
        assert!(matches!(e, TemplateError::Render { .. }), "{e}");
        assert!(e.to_string().contains("fuel"), "{e}");
    }

    /// A Hermes-style template with tools, shaped like Qwen 2.5's (abridged).
    const HERMES: &str = "{%- if tools %}<|im_start|>system\n{{ messages[0].content if messages[0].role == 'system' else 'You are helpful.' }}\n<tools>{%- for tool in tools %}\n{{ tool | tojson }}{%- endfor %}\n</tools>\nCall functions within <tool_call></tool_call> tags.<|im_end|>\n{% endif %}{%- for message in messages %}{%- if message.role == 'system' and tools %}{%- elif message.role == 'assistant' and message.tool_calls %}<|im_start|>assistant{%- for tc in message.tool_calls %}\n<tool_call>\n{\"name\": \"{{ tc.function.name }}\", \"arguments\": {{ tc.function.arguments | tojson }}}\n</tool_call>{%- endfor %}<|im_end|>\n{% elif message.role == 'tool' %}<|im_start|>user\n<tool_response>\n{{ message.content }}\n</tool_response><|im_end|>\n{% else %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endif %}{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

    fn exchange() -> Vec<ChatMessage> {
        let mut call = ChatMessage::new(Role::Assistant, "");
        call.tool_calls = vec![crate::types::ToolCall {
            id: "c1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        }];
        let mut result = ChatMessage::new(Role::Tool, "18 C");
        result.tool_call_id = Some("c1".into());
        vec![
            ChatMessage::new(Role::System, "Be brief."),
            ChatMessage::new(Role::User, "Weather in Paris?"),
            call,
            result,
        ]
    }

    #[test]
    fn a_template_that_knows_tools_renders_them_and_the_exchange_itself() {
        let tools = vec![
            serde_json::json!({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}),
        ];
        let c = TemplateContext { model: "qwen", tools: &tools, ..Default::default() };
        let r = render_template(HERMES, &exchange(), &c).expect("render");
        assert!(r.text.starts_with("<|im_start|>system\nBe brief.\n<tools>\n{"), "{}", r.text);
        assert!(r.text.contains("{\"function\": {\"name\": \"get_weather\""), "{}", r.text);
        assert!(r.text.contains("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"), "{}", r.text);
        assert!(r.text.contains("<tool_response>\n18 C\n</tool_response>"), "{}", r.text);
        assert!(r.text.ends_with("<|im_start|>assistant\n"));
        // Without tools the template's tool section is not rendered (`tools` is none).
        let r = render_template(
            HERMES,
            &[ChatMessage::new(Role::User, "hi")],
            &TemplateContext { model: "qwen", ..Default::default() },
        )
        .expect("render");
        assert_eq!(r.text, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
        // A tool result that follows no call is refused.
        let mut bad = exchange();
        bad.remove(2);
        assert!(matches!(render_template(HERMES, &bad, &c), Err(TemplateError::Messages { .. })));
    }

    #[test]
    fn a_template_that_knows_no_tools_gets_them_in_the_system_prompt() {
        let tools = vec![
            serde_json::json!({"type": "function", "function": {"name": "get_weather", "description": "Weather now."}}),
        ];
        let c = TemplateContext { tools: &tools, ..ctx() };
        let r = render_template(LLAMA3, &exchange(), &c).expect("render");
        assert!(
            r.text.contains(
                "<|start_header_id|>system<|end_header_id|>\n\nBe brief.\n\nYou can call these tools."
            ),
            "{}",
            r.text
        );
        assert!(r.text.contains("Result of get_weather (c1): 18 C"), "{}", r.text);
        let plain = render_plain_tools("m", &exchange(), &tools).expect("plain");
        assert!(plain.text.contains("User: Result of get_weather (c1): 18 C\nAssistant:"), "{}", plain.text);
    }
}
