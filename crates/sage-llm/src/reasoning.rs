//! A reasoning model's thinking apart from its answer: Llama-3.1-Nemotron-Nano-4B-v1.1 (with
//! "detailed thinking on"), Qwen 3 and DeepSeek-R1's distillations write
//! `<think>…</think>` before the answer; some templates open the block in the prompt, so the
//! output holds only its end. The APIs give the thinking apart (OpenAI's `reasoning_content`,
//! Ollama's `thinking`, a Responses `reasoning` item, an Anthropic `thinking` block) and the
//! kernel acts on the answer alone.

use crate::{ChatMessage, Role};

/// The tag that opens the thinking.
pub const OPEN: &str = "<think>";
/// The tag that closes it.
pub const CLOSE: &str = "</think>";

/// The thinking (if the text has any) and the answer of a whole output. A block the model left
/// open (cut by the token limit) is all thinking; text before a lone `</think>` (the template
/// opened the block) is thinking too.
pub fn split(text: &str) -> (Option<String>, String) {
    let body = text.trim_start();
    if let Some(rest) = body.strip_prefix(OPEN) {
        return match rest.find(CLOSE) {
            Some(end) => {
                (Some(rest[..end].trim().to_string()), rest[end + CLOSE.len()..].trim_start().to_string())
            }
            None => (Some(rest.trim().to_string()), String::new()),
        };
    }
    match text.find(CLOSE) {
        Some(end) if !text[..end].contains(OPEN) => {
            (Some(text[..end].trim().to_string()), text[end + CLOSE.len()..].trim_start().to_string())
        }
        _ => (None, text.to_string()),
    }
}

/// Whether a rendered prompt opens a thinking block for the answer (DeepSeek-R1's
/// distillations and Qwen 3's thinking-only releases end the generation prompt with `<think>`):
/// the output then holds only the block's end. The caller restores the tag at the output's start
/// (`<think>` and a line break, as llama-server does for a block the template opened), so the
/// output reads as a model's that writes the tag itself, whole and streamed.
pub fn prompt_opens(prompt: &str) -> bool {
    prompt.trim_end().ends_with(OPEN)
}

/// What the caller writes before an output whose prompt opened the block.
pub const OPENED: &str = "<think>\n";

/// What closes a block for a model whose thinking reached its budget (as MLX closes it): a
/// line break and the tag. Nothing after it: a constrained answer's grammar starts right there
/// (a blank line would not follow a JSON schema's grammar), and a free one begins as the model
/// likes.
pub const FORCED_CLOSE: &str = "\n</think>";

/// Where the answer begins in an output `text`: after the thinking block that began it (the
/// prompt `opened` it, or the output begins with `<think>`), at the start without one; `None`
/// while that block is still open.
pub fn answer_start(text: &str, opened: bool) -> Option<usize> {
    if !opened && !text.trim_start().starts_with(OPEN) {
        return Some(0);
    }
    text.find(CLOSE).map(|i| i + CLOSE.len())
}

/// Whether a chat template is a reasoning model's: it writes or strips `<think>` blocks (Qwen 3,
/// DeepSeek-R1's distillations) or switches "detailed thinking" (Llama-Nemotron's).
pub fn template_thinks(template: &str) -> bool {
    template.contains(OPEN) || template.contains(CLOSE) || template.contains("detailed thinking")
}

/// Whether a model switches thinking by its system prompt, "detailed thinking on|off", as the
/// Llama-Nemotron reasoning models do (the seed's Llama-3.1-Nemotron-Nano-4B-v1.1, Nano 8B,
/// Super, Ultra): their template says so, or their name does (their published templates leave
/// the switch to the caller).
pub fn switched_by_system_prompt(template: Option<&str>, name: Option<&str>) -> bool {
    let named = name.is_some_and(|n| {
        let n = n.to_lowercase();
        n.contains("llama")
            && n.contains("nemotron")
            && ["nano", "super", "ultra"].iter().any(|s| n.contains(s))
    });
    named || template.is_some_and(|t| t.contains(SWITCH))
}

/// The phrase that switches Llama-Nemotron's thinking.
const SWITCH: &str = "detailed thinking";

/// The conversation with thinking switched on or off by its system prompt (for a model that
/// [`switched_by_system_prompt`]): a system prompt that already says "detailed thinking" is the
/// caller's own switch and stays; otherwise the switch becomes the system prompt and the caller's
/// system prompt, if any, opens the first user turn, as the models' cards ask (the system prompt
/// holds the switch alone, every instruction goes in the user prompt).
pub fn with_thinking_switch(messages: &[ChatMessage], on: bool) -> Vec<ChatMessage> {
    let first_system = messages.first().filter(|m| m.role == Role::System);
    if first_system.is_some_and(|m| m.content.contains(SWITCH)) {
        return messages.to_vec();
    }
    let switch = ChatMessage::new(Role::System, format!("{SWITCH} {}", if on { "on" } else { "off" }));
    let mut out = vec![switch];
    let mut rest = messages.iter().skip(first_system.is_some() as usize).cloned().collect::<Vec<_>>();
    if let Some(system) = first_system.filter(|m| !m.content.trim().is_empty()) {
        match rest.iter_mut().find(|m| m.role == Role::User) {
            Some(user) => user.content = format!("{}\n\n{}", system.content.trim_end(), user.content),
            None => rest.insert(0, ChatMessage::new(Role::User, system.content.clone())),
        }
    }
    out.extend(rest);
    out
}

/// A piece of a streamed output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Thinking.
    Reasoning(String),
    /// The answer.
    Content(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    /// Nothing but white space yet: the output may still open a block.
    #[default]
    Start,
    Thinking,
    Answer,
}

/// [`split`] for a stream: pieces as they can be told apart, a possible tag's beginning held back
/// until the next delta says. A block the template opened reaches it with its tag restored
/// ([`prompt_opens`], [`OPENED`]).
#[derive(Debug, Default)]
pub struct Splitter {
    phase: Phase,
    held: String,
    /// White space between `</think>` and the answer is dropped.
    after_close: bool,
}

impl Splitter {
    /// The pieces `delta` completes.
    pub fn push(&mut self, delta: &str) -> Vec<Piece> {
        self.held.push_str(delta);
        let mut out = vec![];
        loop {
            match self.phase {
                Phase::Start => {
                    let t = self.held.trim_start();
                    if let Some(rest) = t.strip_prefix(OPEN) {
                        self.held = rest.trim_start().to_string();
                        self.phase = Phase::Thinking;
                    } else if t.is_empty() || OPEN.starts_with(t) {
                        return out;
                    } else {
                        self.phase = Phase::Answer;
                    }
                }
                Phase::Thinking => match self.held.find(CLOSE) {
                    Some(end) => {
                        let thought = self.held[..end].trim_end().to_string();
                        if !thought.is_empty() {
                            out.push(Piece::Reasoning(thought));
                        }
                        self.held = self.held[end + CLOSE.len()..].to_string();
                        self.phase = Phase::Answer;
                        self.after_close = true;
                    }
                    None => {
                        let keep = partial_tag(&self.held, CLOSE);
                        let ready = self.held[..self.held.len() - keep].to_string();
                        self.held.drain(..ready.len());
                        if !ready.is_empty() {
                            out.push(Piece::Reasoning(ready));
                        }
                        return out;
                    }
                },
                Phase::Answer => {
                    if self.after_close {
                        let t = self.held.trim_start();
                        if t.is_empty() {
                            self.held.clear();
                            return out;
                        }
                        self.held = t.to_string();
                        self.after_close = false;
                    }
                    if !self.held.is_empty() {
                        out.push(Piece::Content(std::mem::take(&mut self.held)));
                    }
                    return out;
                }
            }
        }
    }

    /// What is still held at the end of the output.
    pub fn finish(&mut self) -> Vec<Piece> {
        let held = std::mem::take(&mut self.held);
        match self.phase {
            Phase::Thinking if !held.trim().is_empty() => vec![Piece::Reasoning(held.trim_end().to_string())],
            Phase::Start | Phase::Answer if !held.is_empty() && !self.after_close => {
                vec![Piece::Content(held)]
            }
            _ => vec![],
        }
    }
}

/// How many bytes at the end of `text` could begin `tag`.
fn partial_tag(text: &str, tag: &str) -> usize {
    (1..tag.len().min(text.len() + 1))
        .rev()
        .find(|&n| text.is_char_boundary(text.len() - n) && tag.starts_with(&text[text.len() - n..]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_outputs_split_at_the_block() {
        assert_eq!(
            split("<think>\nThe dock is free.\n</think>\n\nGo."),
            (Some("The dock is free.".into()), "Go.".into())
        );
        assert_eq!(split("  <think>cut by the limit"), (Some("cut by the limit".into()), String::new()));
        assert_eq!(
            split("opened by the template</think>Answer"),
            (Some("opened by the template".into()), "Answer".into())
        );
        assert_eq!(split("No thinking here."), (None, "No thinking here.".into()));
        assert_eq!(split("I wrote <think> in prose."), (None, "I wrote <think> in prose.".into()));
        assert_eq!(split("<think></think>Hi"), (Some(String::new()), "Hi".into()));
    }

    #[test]
    fn a_block_the_prompt_opened_is_told_apart() {
        assert!(prompt_opens("<｜Assistant｜><think>\n"));
        assert!(prompt_opens("<|im_start|>assistant\n<think>"));
        assert!(!prompt_opens("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
        assert!(!prompt_opens("What does <think> mean?<|im_end|>\n<|im_start|>assistant\n"));
        let restored = format!("{OPENED}The dock is free.\n</think>\n\nGo.");
        assert_eq!(split(&restored), (Some("The dock is free.".into()), "Go.".into()));
        // Cut by the limit inside the block: all thinking, not an answer.
        assert_eq!(split(&format!("{OPENED}The dock")), (Some("The dock".into()), String::new()));
    }

    #[test]
    fn llama_nemotron_s_thinking_is_switched_by_the_system_prompt() {
        assert!(switched_by_system_prompt(None, Some("Llama 3.1 Nemotron Nano 4B v1.1")));
        assert!(switched_by_system_prompt(Some("{{ 'detailed thinking ' + option }}"), None));
        assert!(!switched_by_system_prompt(None, Some("Llama 3.1 Nemotron 70B Instruct")));
        assert!(!switched_by_system_prompt(None, Some("NVIDIA Nemotron Nano 9B v2")));
        let sys = ChatMessage::new(Role::System, "You are a robot's assistant.");
        let user = ChatMessage::new(Role::User, "Is the dock free?");
        let on = with_thinking_switch(&[sys.clone(), user.clone()], true);
        assert_eq!(on[0].content, "detailed thinking on");
        assert_eq!(
            (on.len(), on[1].content.as_str()),
            (2, "You are a robot's assistant.\n\nIs the dock free?")
        );
        let off = with_thinking_switch(std::slice::from_ref(&user), false);
        assert_eq!(
            (off[0].content.as_str(), off[1].content.as_str()),
            ("detailed thinking off", "Is the dock free?")
        );
        // The caller's own switch wins.
        let own = [ChatMessage::new(Role::System, "detailed thinking on"), user];
        assert_eq!(with_thinking_switch(&own, false), own.to_vec());
    }

    #[test]
    fn reasoning_templates_are_told_apart() {
        assert!(template_thinks(
            "{%- if '</think>' in content %}{% set content = content.split('</think>')[-1] %}"
        ));
        assert!(template_thinks("{{- 'detailed thinking on' }}"));
        assert!(!template_thinks("{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}"));
    }

    fn stream(deltas: &[&str]) -> (String, String) {
        let mut s = Splitter::default();
        let mut pieces: Vec<Piece> = deltas.iter().flat_map(|d| s.push(d)).collect();
        pieces.extend(s.finish());
        let (mut r, mut c) = (String::new(), String::new());
        for p in pieces {
            match p {
                Piece::Reasoning(x) => r.push_str(&x),
                Piece::Content(x) => c.push_str(&x),
            }
        }
        (r, c)
    }

    #[test]
    fn a_stream_splits_as_the_whole_does_wherever_the_deltas_cut() {
        let text = "<think>\nThe dock is free.\n</think>\n\nGo to the dock.";
        let (reasoning, content) = split(text);
        for cut in 0..text.len() {
            for cut2 in cut..text.len() {
                let (a, b, c) = (&text[..cut], &text[cut..cut2], &text[cut2..]);
                let (r, co) = stream(&[a, b, c]);
                assert_eq!(r.trim(), reasoning.as_deref().unwrap_or(""), "{a:?} {b:?} {c:?}");
                assert_eq!(co, content, "{a:?} {b:?} {c:?}");
            }
        }
        assert_eq!(
            stream(&["Just ", "an answer <th", "ink> in prose."]),
            (String::new(), "Just an answer <think> in prose.".into())
        );
        assert_eq!(stream(&["<th", "ink>unfinished </thi"]), ("unfinished </thi".into(), String::new()));
        assert_eq!(stream(&["  ", "<"]), (String::new(), "  <".into()));
    }
}
