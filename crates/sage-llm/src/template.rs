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

/// Render `messages` with `template`, ending with the generation prompt for the assistant.
pub fn render_template(
    template: &str,
    messages: &[ChatMessage],
    ctx: &TemplateContext<'_>,
) -> Result<RenderedChat, TemplateError> {
    check_alternation(ctx.model, messages)?;
    let mut env = Environment::new();
    // A template runs on fuel (minijinja counts instructions): real templates spend a few
    // hundred per message; one that loops without end (or for 10^10 steps) fails instead of
    // holding a thread for good.
    env.set_fuel(Some(TEMPLATE_FUEL_BASE + TEMPLATE_FUEL_PER_MESSAGE * messages.len() as u64));
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
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
    let msgs: minijinja::Value = messages
        .iter()
        .map(|m| minijinja::Value::from_pairs([("role", m.role.as_str()), ("content", m.content.as_str())]))
        .collect();
    let text = tmpl
        .render(minijinja::context! {
            messages => msgs,
            add_generation_prompt => true,
            bos_token => ctx.bos.unwrap_or(""),
            eos_token => ctx.eos.unwrap_or(""),
            date_string => date,
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
        TemplateContext { model: "m", bos: Some("<|begin_of_text|>"), eos: Some("<|eot_id|>"), date: None }
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
}
