//! llama-server's lazy grammars in its request fields, for the clients and agent frameworks
//! written against them: `grammar_lazy` (the grammar or JSON schema applies only from a trigger
//! on), `grammar_triggers` (`[{"type", "value", "token"}]`, the type as llama-server's number,
//! 0 token, 1 word, 2 pattern, 3 pattern_full, or as that name) and `preserved_tokens` (special
//! tokens written into the output as their text). Read by `/completion` and by the OpenAI
//! endpoints, as llama-server reads them on both.

use serde::Deserialize;
use serde_json::Value;

use sage_llm::{Constraint, Trigger};

use crate::ApiError;

/// Most preserved tokens one request may give.
pub(crate) const MAX_PRESERVED: usize = 1024;

/// The lazy-grammar fields of a request body (flattened into it).
#[derive(Deserialize, Default)]
pub(crate) struct LazyFields {
    #[serde(default, deserialize_with = "crate::nullable")]
    grammar_lazy: bool,
    grammar_triggers: Option<Value>,
    preserved_tokens: Option<Value>,
}

impl LazyFields {
    /// The triggers that make `constraint` lazy (none when `grammar_lazy` is off: llama-server
    /// then applies the grammar from the first token and reads no triggers) and the preserved
    /// tokens. A lazy request without a constraint or without triggers is refused, as
    /// llama-server refuses it.
    pub(crate) fn read(
        &self,
        constraint: Option<&Constraint>,
    ) -> Result<(Vec<Trigger>, Vec<String>), ApiError> {
        let preserved = preserved(self.preserved_tokens.as_ref())?;
        if !self.grammar_lazy {
            return Ok((vec![], preserved));
        }
        if constraint.is_none() {
            return Err(ApiError::invalid(
                "grammar_lazy needs a grammar or a json_schema",
                Some("grammar_lazy"),
            ));
        }
        let triggers = triggers(self.grammar_triggers.as_ref())?;
        if triggers.is_empty() {
            return Err(ApiError::invalid(
                "grammar_lazy needs at least one of grammar_triggers",
                Some("grammar_triggers"),
            ));
        }
        sage_llm::grammar::trigger::check(&triggers)
            .map_err(|e| ApiError::invalid(format!("grammar_triggers: {e}"), Some("grammar_triggers")))?;
        Ok((triggers, preserved))
    }
}

/// `grammar_triggers` as triggers.
fn triggers(v: Option<&Value>) -> Result<Vec<Trigger>, ApiError> {
    let bad = |why: String| ApiError::invalid(format!("grammar_triggers: {why}"), Some("grammar_triggers"));
    let list = match v {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(bad(format!("{other} is not an array"))),
    };
    if list.len() > sage_llm::grammar::trigger::MAX_TRIGGERS {
        return Err(bad(format!(
            "{} triggers; at most {}",
            list.len(),
            sage_llm::grammar::trigger::MAX_TRIGGERS
        )));
    }
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            let kind = match t.get("type") {
                Some(Value::Number(n)) => n.as_u64().map(|n| n.to_string()),
                Some(Value::String(s)) => Some(s.clone()),
                _ => None,
            };
            let value = t.get("value").and_then(Value::as_str).map(str::to_string);
            let token = t.get("token").and_then(Value::as_u64);
            match (kind.as_deref(), value, token) {
                (Some("0" | "token"), _, Some(id)) if id <= u32::MAX as u64 => Ok(Trigger::Token(id as u32)),
                // A token trigger named by its text only: the word, which also triggers as the
                // one token it is.
                (Some("0" | "token"), Some(v), None) => Ok(Trigger::Word(v)),
                (Some("1" | "word"), Some(v), _) => Ok(Trigger::Word(v)),
                (Some("2" | "pattern"), Some(v), _) => Ok(Trigger::Pattern(v)),
                (Some("3" | "pattern_full"), Some(v), _) => Ok(Trigger::PatternFull(v)),
                _ => Err(bad(format!(
                    "trigger {i} ({t}) is not {{\"type\": 0-3 or token, word, pattern, pattern_full, \"value\": text, \"token\": id for a token}}"
                ))),
            }
        })
        .collect()
}

/// `preserved_tokens`: texts, each meant to be one special token.
fn preserved(v: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let bad = |why: String| ApiError::invalid(format!("preserved_tokens: {why}"), Some("preserved_tokens"));
    let list = match v {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(bad(format!("{other} is not an array of texts"))),
    };
    if list.len() > MAX_PRESERVED {
        return Err(bad(format!("{} tokens; at most {MAX_PRESERVED}", list.len())));
    }
    list.iter()
        .map(|t| match t.as_str() {
            Some(s) if !s.is_empty() && s.len() <= sage_llm::grammar::trigger::MAX_TRIGGER_LEN => {
                Ok(s.to_string())
            }
            _ => Err(bad(format!("{t} is not a token's text"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(body: Value, constraint: Option<&Constraint>) -> Result<(Vec<Trigger>, Vec<String>), String> {
        let f: LazyFields = serde_json::from_value(body).map_err(|e| e.to_string())?;
        f.read(constraint).map_err(|e| e.message)
    }

    #[test]
    fn llama_servers_numbers_and_names_are_read() {
        let g = Constraint::Grammar("root ::= \"x\"".into());
        let body = json!({"grammar_lazy": true, "grammar_triggers": [
            {"type": 1, "value": "<tool_call>"}, {"type": "pattern", "value": "a(b)"},
            {"type": 3, "value": "\\s*\\{"}, {"type": 0, "value": "<x>", "token": 12}, {"type": 0, "value": "<y>"}
        ], "preserved_tokens": ["<tool_call>"]});
        let (t, p) = read(body, Some(&g)).expect("read");
        assert_eq!(
            t,
            vec![
                Trigger::Word("<tool_call>".into()),
                Trigger::Pattern("a(b)".into()),
                Trigger::PatternFull("\\s*\\{".into()),
                Trigger::Token(12),
                Trigger::Word("<y>".into()),
            ]
        );
        assert_eq!(p, vec!["<tool_call>".to_string()]);
    }

    #[test]
    fn triggers_apply_only_to_a_lazy_grammar() {
        let g = Constraint::Grammar("root ::= \"x\"".into());
        let (t, _) = read(json!({"grammar_triggers": [{"type": 1, "value": "x"}]}), Some(&g)).expect("read");
        assert!(t.is_empty());
    }

    #[test]
    fn bad_lazy_requests_are_refused_with_the_field_named() {
        let g = Constraint::Grammar("root ::= \"x\"".into());
        let refused = |body: Value, c: Option<&Constraint>| read(body, c).expect_err("refused");
        assert!(refused(
            json!({"grammar_lazy": true, "grammar_triggers": [{"type": 1, "value": "x"}]}),
            None
        )
        .contains("needs a grammar"));
        assert!(refused(json!({"grammar_lazy": true}), Some(&g)).contains("at least one"));
        assert!(refused(
            json!({"grammar_lazy": true, "grammar_triggers": [{"type": 7, "value": "x"}]}),
            Some(&g)
        )
        .contains("trigger 0"));
        assert!(refused(json!({"grammar_lazy": true, "grammar_triggers": "x"}), Some(&g))
            .contains("not an array"));
        assert!(refused(
            json!({"grammar_lazy": true, "grammar_triggers": [{"type": 2, "value": "(?<=a)b"}]}),
            Some(&g)
        )
        .contains("regular expression"));
        assert!(refused(json!({"preserved_tokens": [1]}), Some(&g)).contains("preserved_tokens"));
        let many: Vec<Value> = (0..100).map(|i| json!({"type": 1, "value": format!("w{i}")})).collect();
        assert!(
            refused(json!({"grammar_lazy": true, "grammar_triggers": many}), Some(&g)).contains("at most")
        );
    }
}
