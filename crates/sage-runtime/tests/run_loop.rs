#![allow(clippy::unwrap_used)]

//! The whole loop over the bundled demo scenario with scripted engines (test doubles): the
//! model is invoked only on salient events, every decision is recorded, and a replay through a
//! fresh kernel reproduces every decision without any model.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sage_kernel::{Attention, Kernel, Scenario};
use sage_runtime::driver::{kernel_config, LlmDriver};
use sage_runtime::record::{self, parse, replay};
use sage_runtime::scripted::{Script, ScriptedLoader};
use sage_runtime::{ManualClock, ModelSpec, Residency, Zoo};
use sage_store::Store;

const DEMO: &str = include_str!("../../../scenarios/demo.jsonl");

fn zoo() -> Vec<ModelSpec> {
    let z = Zoo::parse(
        r#"
[[model]]
id = "small-lm"
engine = "gguf"
path = "small.gguf"
role = "primary"
expected_mib = 60
quality = { "text.question" = 0.8, "text.alert" = 0.8, "text.chat" = 0.5 }
[[model]]
id = "large-lm"
engine = "gguf"
path = "large.gguf"
role = "large"
expected_mib = 200
expected_load_s = 2.0
quality = { "text.question" = 0.85, "text.alert" = 0.9 }
"#,
        "test zoo",
        std::path::Path::new("."),
    )
    .unwrap();
    z.models
}

#[test]
fn the_demo_invokes_models_only_on_salient_events_and_replays_exactly() {
    let specs = zoo();
    let loader = Arc::new(ScriptedLoader::new(
        vec![
            Script { bytes: 60 << 20, ..Script::new("small-lm", 0.7) },
            Script { bytes: 200 << 20, failure_rate: 0.3, seed: 5, ..Script::new("large-lm", 0.8) },
        ],
        Duration::ZERO,
    ));
    let clock = Arc::new(ManualClock::default());
    let residency = Residency::new(&specs, 320 << 20, loader, clock.clone());
    let config = kernel_config(&specs, 320 << 20, &residency);
    let store = Store::in_memory().unwrap();
    let mut driver = LlmDriver::new(specs, residency, Some(store), None, clock.clone());
    let mut kernel = Kernel::new(config.clone()).unwrap();
    let scenario = Scenario::parse(DEMO).unwrap();
    let threshold = config.attention_threshold;
    let mut llm_runs = 0;
    let mut salient_text = 0;
    let summary = sage_kernel::scenario::run_with(&mut kernel, &scenario, &mut driver, |r, _| {
        clock.advance(1.0);
        for run in &r.runs {
            if run.expert.ends_with("-lm") {
                llm_runs += 1;
                let o = &r.observations[run.observation];
                assert!(o.salience.unwrap().total >= threshold, "a model ran on a non-salient observation");
            }
        }
        salient_text += r
            .observations
            .iter()
            .filter(|o| o.class.starts_with("text") && matches!(o.attention, Attention::Attended))
            .count();
    });
    assert!(llm_runs >= 3, "the models answered the salient messages: {llm_runs}");
    assert!(summary.observations > 5 * salient_text as u64);
    assert_eq!(
        driver.invocations.len() as u64,
        driver.invocations.iter().filter(|i| i.salience >= threshold).count() as u64
    );
    let store = driver.store().unwrap();
    assert!(!store.decisions(Some("dispatch"), 100).unwrap().is_empty());
    assert!(!store.memories(100).unwrap().is_empty(), "salient messages became memories");

    let text = record::write(&config, DEMO, driver.tape());
    let rec = parse(&text).unwrap();
    let report = replay(&rec).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.first_mismatch, None);
    assert_eq!(report.matched, report.ticks);
    assert_eq!(report.ticks as u64, summary.ticks);

    // A tampered recording is caught.
    let tampered = text.replacen("\"quality\":", "\"quality\":0.0123,\"x\":", 0);
    let mut rec = parse(&tampered).unwrap();
    if let Some((_, record::TapeEntry::Run(r))) =
        rec.tape.entries.iter_mut().find(|(_, e)| matches!(e, record::TapeEntry::Run(_)))
    {
        r.telemetry.atp_spent += 1.0;
    }
    let report = replay(&rec).unwrap();
    assert!(report.first_mismatch.is_some(), "a changed outcome changes the decisions");
    let _ = BTreeMap::<u8, u8>::new();
}
