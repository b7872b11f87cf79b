//! The strategic decision reasoner (the seed's pattern 3): a model's resource plan for competing
//! tasks, as JSON constrained by a schema.

use std::sync::Arc;

use crate::residency::Residency;

/// The strategic decision reasoner: asks a model for a resource plan (ATP per competing task)
/// as JSON constrained by a schema. The kernel validates and clamps the plan and keeps its
/// heuristic allocation on anything invalid; this side returns `None` when the model cannot be
/// used or its output does not parse.
pub struct Reasoner {
    model: String,
    atp_per_token: f64,
    /// Plans asked for.
    pub asked: u64,
    /// Plans that did not parse.
    pub unparsed: u64,
}

impl Reasoner {
    /// A reasoner asking `model`; each token it reads or writes costs `atp_per_token`.
    pub fn new(model: &str, atp_per_token: f64) -> Self {
        Self { model: model.into(), atp_per_token, asked: 0, unparsed: 0 }
    }

    /// The prompt and schema for `tasks` within `budget`.
    pub fn prompt(budget: f64, tasks: &[sage_kernel::PlanTask]) -> (String, serde_json::Value) {
        let mut p = format!(
            "A robot has {budget:.1} ATP of energy for this moment and {} tasks. Give each task an amount of ATP: \
             urgent tasks get more, routine ones less, and the total must not exceed {budget:.1}.\nTasks:\n",
            tasks.len()
        );
        for (i, t) in tasks.iter().enumerate() {
            p.push_str(&format!(
                "{}. [{}, salience {:.2}] \"{}\" (suggested {:.1})\n",
                i + 1,
                t.class,
                t.salience,
                t.gist.replace('"', "'"),
                t.heuristic
            ));
        }
        p.push_str("Plan as JSON: ");
        let n = tasks.len();
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"atp": {"type": "array", "items": {"type": "number"}, "minItems": n, "maxItems": n}},
            "required": ["atp"]
        });
        (p, schema)
    }

    /// Ask for a plan.
    pub fn plan(
        &mut self,
        residency: &Arc<Residency>,
        budget: f64,
        tasks: &[sage_kernel::PlanTask],
    ) -> Option<(Vec<f64>, f64)> {
        self.asked += 1;
        let lease = residency.acquire(&self.model, "strategic planning").ok()?;
        let model = lease.model();
        let (prompt, schema) = Self::prompt(budget, tasks);
        let tokens = model.tokenize(&prompt, true).ok()?;
        let (session, _) = model.open_session(None).ok()?;
        let params = sage_llm::GenerateParams {
            max_tokens: 16 + 8 * tasks.len() as u32,
            sampling: sage_llm::Sampling::greedy(),
            constraint: Some(sage_llm::Constraint::JsonSchema(schema)),
            ..Default::default()
        };
        let g = model.generate_tokens(session, &tokens, &params, &mut |_| sage_llm::Flow::Continue);
        model.close_session(session);
        let g = match g {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(model = %self.model, error = %e, "planning failed");
                return None;
            }
        };
        let cost = (tokens.len() + g.tokens.len()) as f64 * self.atp_per_token;
        #[derive(serde::Deserialize)]
        struct Plan {
            atp: Vec<f64>,
        }
        match serde_json::from_str::<Plan>(g.text.trim()) {
            Ok(p) => Some((p.atp, cost)),
            Err(e) => {
                self.unparsed += 1;
                tracing::warn!(model = %self.model, text = %g.text, error = %e, "the plan does not parse");
                // An empty plan makes the kernel reject it and keep the heuristic; the cost stands.
                Some((vec![], cost))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripted::{Script, ScriptedLoader};
    use crate::zoo::{EngineKind, ModelSpec};
    use crate::ManualClock;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn residency(reply: &str) -> Arc<Residency> {
        let spec = ModelSpec {
            id: "m".into(),
            engine: EngineKind::Gguf,
            path: Some("m.gguf".into()),
            url: None,
            remote_model: None,
            api_key_env: None,
            role: "primary".into(),
            modalities: vec!["text".into()],
            context: 2048,
            parallel: None,
            load: None,
            quality: BTreeMap::from([("text.alert".to_string(), 0.5)]),
            expected_mib: 10,
            expected_load_s: 0.1,
            keep_alive_s: 60.0,
            pinned: false,
            chat_template: None,
        };
        let script = Script { reply: reply.into(), context: 2048, ..Script::new("m", 0.9) };
        let loader = Arc::new(ScriptedLoader::new(vec![script], Duration::ZERO));
        Residency::new(&[spec], 1 << 30, loader, Arc::new(ManualClock::default()))
    }

    fn tasks() -> Vec<sage_kernel::PlanTask> {
        ["URGENT: person in the corridor!", "routine lidar"]
            .iter()
            .map(|g| sage_kernel::PlanTask {
                class: "text.alert".into(),
                expert: "m".into(),
                salience: 0.9,
                trust: 0.5,
                gist: g.to_string(),
                heuristic: 2.0,
            })
            .collect()
    }

    #[test]
    fn the_reasoner_parses_a_plan_and_charges_for_it() {
        let r = residency("{\"atp\": [3.0, 1.0]}");
        let mut reasoner = Reasoner::new("m", 0.01);
        let (plan, cost) = reasoner.plan(&r, 4.0, &tasks()).unwrap();
        assert_eq!(plan, vec![3.0, 1.0]);
        assert!(cost > 0.0);
        let (prompt, schema) = Reasoner::prompt(4.0, &tasks());
        assert!(prompt
            .contains("1. [text.alert, salience 0.90] \"URGENT: person in the corridor!\" (suggested 2.0)"));
        assert_eq!(schema["properties"]["atp"]["minItems"], 2);
    }

    #[test]
    fn an_unparsable_plan_is_handed_on_empty_so_the_kernel_keeps_its_heuristic() {
        let r = residency("I think the robot should rest.");
        let mut reasoner = Reasoner::new("m", 0.01);
        let (plan, _) = reasoner.plan(&r, 4.0, &tasks()).unwrap();
        assert!(plan.is_empty());
        assert_eq!(reasoner.unparsed, 1);
        let h = sage_kernel::atp::Allocation {
            cycle_budget: 4.0,
            grants: vec![(0, 2.0), (1, 2.0)],
            capped: vec![],
        };
        assert!(sage_kernel::atp::apply_plan(&h, &plan).is_err());
        // A model that cannot be loaded gives no plan at all.
        let mut missing = Reasoner::new("absent", 0.01);
        assert!(missing.plan(&r, 4.0, &tasks()).is_none());
    }
}
