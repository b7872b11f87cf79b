#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::scripted::{Script, ScriptedLoader};
use crate::zoo::EngineKind;
use crate::ManualClock;

fn spec(id: &str, mib: u64) -> ModelSpec {
    ModelSpec {
        id: id.into(),
        engine: EngineKind::Gguf,
        path: Some(format!("{id}.gguf").into()),
        url: None,
        remote_model: None,
        api_key_env: None,
        role: "primary".into(),
        modalities: vec!["text".into()],
        context: 512,
        parallel: None,
        load: None,
        quality: BTreeMap::from([("text.question".to_string(), 0.5)]),
        expected_mib: mib,
        expected_load_s: 0.1,
        keep_alive_s: 60.0,
        pinned: false,
        chat_template: None,
    }
}

fn script(id: &str, mib: u64) -> Script {
    Script { bytes: mib << 20, ..Script::new(id, 0.8) }
}

fn setup(budget_mib: u64, delay_ms: u64) -> (Arc<Residency>, Arc<ScriptedLoader>, Arc<ManualClock>) {
    let specs = vec![spec("a", 600), spec("b", 600), spec("huge", 4000), spec("c", 100)];
    let loader = Arc::new(ScriptedLoader::new(
        vec![script("a", 600), script("b", 600), script("huge", 4000), script("c", 100)],
        Duration::from_millis(delay_ms),
    ));
    let clock = Arc::new(ManualClock::default());
    (Residency::new(&specs, budget_mib << 20, loader.clone(), clock.clone()), loader, clock)
}

#[test]
fn a_budget_for_one_of_two_models_forces_an_eviction() {
    let (r, _, clock) = setup(1000, 0);
    drop(r.acquire("a", "test").unwrap());
    clock.advance(1.0);
    drop(r.acquire("b", "test").unwrap());
    assert!(!r.is_resident("a") && r.is_resident("b"));
    let log = r.take_log();
    assert!(log.iter().any(|l| matches!(l, ResidencyLog::Unload { model, why, .. } if model == "a" && why.contains("room for b"))), "{log:?}");
    assert_eq!(log.iter().filter(|l| matches!(l, ResidencyLog::Load { .. })).count(), 2);
}

#[test]
fn whether_a_load_would_evict_counts_what_is_resident() {
    let (r, _, _) = setup(1000, 0);
    assert!(!r.would_evict("a"));
    drop(r.acquire("a", "test").unwrap());
    // Resident: nothing to load. 600 + 100 fits; 600 + 600 does not.
    assert!(!r.would_evict("a"));
    assert!(!r.would_evict("c"));
    assert!(r.would_evict("b"));
    assert!(r.fits("b"), "it fits once a is evicted");
}

#[test]
fn a_busy_model_is_never_evicted() {
    let (r, _, _) = setup(1000, 0);
    let lease = r.acquire("a", "test").unwrap();
    let e = r.acquire("b", "test").err().unwrap();
    assert!(matches!(&e, ResidencyError::NoRoom { held, .. } if held == "a"), "{e}");
    assert!(r.is_resident("a"));
    assert!(!r.fits("b"));
    drop(lease);
    assert!(r.fits("b"));
    r.acquire("b", "test").unwrap();
}

#[test]
fn an_oversized_model_is_a_clear_error() {
    let (r, loader, _) = setup(1000, 0);
    let e = r.acquire("huge", "test").err().unwrap();
    assert_eq!(e.to_string(), "model huge needs 4000 MiB, more than the whole budget of 1000 MiB");
    assert_eq!(loader.loads(), 0, "nothing was attempted");
    assert!(matches!(r.acquire("nope", "x").err().unwrap(), ResidencyError::Unknown { .. }));
}

#[test]
fn a_failed_load_is_logged_and_reported() {
    let (r, loader, _) = setup(1000, 0);
    loader.fail("a", "file truncated");
    let e = r.acquire("a", "test").err().unwrap();
    assert_eq!(e.to_string(), "model a failed to load: file truncated");
    assert!(!r.is_resident("a"));
    assert!(matches!(&r.take_log()[..], [ResidencyLog::LoadFailed { .. }]));
}

#[test]
fn concurrent_requests_load_a_model_once() {
    let (r, loader, _) = setup(1000, 50);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let r = r.clone();
            std::thread::spawn(move || r.acquire("a", "test").map(|l| l.id().to_string()))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), "a");
    }
    assert_eq!(loader.loads(), 1);
    assert_eq!(r.resident()[0].busy, 0, "every lease was returned");
}

#[test]
fn keep_alive_and_state_changes() {
    let (r, _, clock) = setup(2000, 0);
    drop(r.acquire("a", "test").unwrap());
    drop(r.acquire("c", "test").unwrap());
    clock.advance(30.0);
    assert_eq!(r.expire(), 0);
    clock.advance(31.0);
    assert_eq!(r.expire(), 2, "both idle past 60 s");
    // A state keeps c hot: it is loaded, the rest unloaded, and c outlives its keep-alive.
    drop(r.acquire("a", "test").unwrap());
    let errors = r.apply_state("rest", 650 << 20, &["c".to_string()]);
    assert!(errors.is_empty());
    assert!(r.is_resident("c") && !r.is_resident("a"));
    clock.advance(1000.0);
    assert_eq!(r.expire(), 0);
    assert!(r.resident()[0].pinned);
}

#[test]
fn measured_costs_replace_expected_ones() {
    let (r, _, _) = setup(2000, 0);
    assert_eq!(r.cost("a"), Some((600 << 20, 0.1, false)));
    drop(r.acquire("a", "test").unwrap());
    assert_eq!(r.cost("a"), Some((600 << 20, 0.1, true)));
    r.set_measured("b", 700 << 20, 2.0);
    assert_eq!(r.cost("b"), Some((700 << 20, 2.0, true)));
}

#[test]
fn pins_and_unloads_on_request() {
    let (r, _, clock) = setup(2000, 0);
    drop(r.acquire("a", "test").unwrap());
    r.set_pinned("a", true).unwrap();
    clock.advance(1000.0);
    assert_eq!(r.expire(), 0, "a pinned model outlives its keep-alive");
    let lease = r.acquire("a", "test").unwrap();
    assert!(r.unload("a", "asked").is_err(), "never under a request");
    drop(lease);
    assert_eq!(r.unload("a", "asked"), Ok(true));
    assert!(!r.is_resident("a"));
    assert_eq!(r.unload("a", "asked"), Ok(false));
    assert!(matches!(r.unload("zz", "asked"), Err(ResidencyError::Unknown { .. })));
    assert!(r.set_pinned("zz", true).is_err());
}
