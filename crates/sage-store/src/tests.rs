#![allow(clippy::unwrap_used)]

use super::*;

fn msg(role: &str, content: &str) -> NewMessage {
    NewMessage { role: role.into(), content: content.into(), ..Default::default() }
}

#[test]
fn sessions_and_messages_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sage.db");
    {
        let s = Store::open(&path).unwrap();
        assert!(s.create_session("a", Some("be brief"), 1.0).unwrap());
        assert!(!s.create_session("a", None, 2.0).unwrap(), "an existing session is kept");
        assert_eq!(s.append_message("a", &msg("user", "hi"), 1.0).unwrap(), 0);
        let reply = NewMessage {
            model: Some("gemma".into()),
            tokens: Some(3),
            cached_tokens: Some(5),
            ..msg("assistant", "hello")
        };
        assert_eq!(s.append_message("a", &reply, 2.0).unwrap(), 1);
    }
    let s = Store::open(&path).unwrap();
    let session = s.session("a").unwrap().unwrap();
    assert_eq!(session.system.as_deref(), Some("be brief"));
    assert_eq!(session.messages, 2);
    let m = s.messages("a").unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m[1].message.model.as_deref(), Some("gemma"));
    assert_eq!(m[1].message.cached_tokens, Some(5));
    assert!(matches!(s.append_message("nope", &msg("user", "x"), 0.0), Err(StoreError::NoSession { .. })));
    let e = s.append_message("a", &msg("robot", "x"), 0.0).unwrap_err();
    assert!(e.to_string().contains("appending a message"), "{e}");
    assert_eq!(s.messages("a").unwrap().len(), 2, "a rejected message changes nothing");
}

#[test]
fn the_observation_ring_keeps_the_newest() {
    let s = Store::in_memory().unwrap();
    for i in 0..10 {
        let o = ObservationRow {
            t: i as f64,
            source: "imu".into(),
            content: format!("{i}"),
            salience: 0.1,
            class: "sensor".into(),
        };
        s.push_observation(&o, 4).unwrap();
    }
    let r = s.recent_observations(100).unwrap();
    assert_eq!(r.iter().map(|o| o.t as i32).collect::<Vec<_>>(), vec![6, 7, 8, 9]);
}

#[test]
fn memories_merge_search_and_consolidate() {
    let s = Store::in_memory().unwrap();
    let a = s.remember(1.0, "observation", "operator", "door sensor fault in bay 3", 0.8).unwrap();
    let b = s.remember(2.0, "observation", "operator", "door sensor fault in bay 3", 0.6).unwrap();
    assert_eq!(a, b, "the same memory is merged");
    s.remember(3.0, "observation", "operator", "battery at 40 percent", 0.5).unwrap();
    s.remember(4.0, "observation", "robot", "collision in bay 3, bumper pressed", 0.9).unwrap();
    let found = s.search_memories(&["bay".into(), "door".into()], 5).unwrap();
    assert_eq!(found[0].text, "door sensor fault in bay 3");
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].salience, 0.8);
    assert_eq!(s.consolidate_memories(2).unwrap(), 1);
    let left: Vec<String> = s.memories(10).unwrap().into_iter().map(|m| m.text).collect();
    assert!(!left.contains(&"battery at 40 percent".to_string()), "{left:?}");
}

#[test]
fn convergence_trust_decisions_and_measurements_round_trip() {
    let s = Store::in_memory().unwrap();
    s.record_convergence("intent", "text.chat", 4, true).unwrap();
    s.record_convergence("intent", "text.chat", 8, false).unwrap();
    let c = s.convergence("intent", "text.chat").unwrap().unwrap();
    assert_eq!((c.runs, c.max_steps_converged), (2, 4));
    assert!((c.mean_steps - 6.0).abs() < 1e-12 && (c.converged_share - 0.5).abs() < 1e-12);

    let row = TrustRow {
        expert: "gemma".into(),
        class: "text.question".into(),
        entry: serde_json::json!({"mean": 0.7}),
        updated: 5.0,
    };
    s.save_trust(std::slice::from_ref(&row)).unwrap();
    s.save_trust(&[TrustRow { updated: 6.0, ..row.clone() }]).unwrap();
    let t = s.load_trust().unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].updated, 6.0);

    s.log_decision(1.0, "route", &serde_json::json!({"chosen": "gemma"})).unwrap();
    s.log_decision(2.0, "plan", &serde_json::json!({"ok": true})).unwrap();
    assert_eq!(s.decisions(Some("route"), 10).unwrap().len(), 1);
    assert_eq!(s.decisions(None, 10).unwrap()[1].kind, "plan");

    assert!(s.measurement("gemma").unwrap().is_none());
    s.record_load("gemma", 300 << 20, 0.4, 1.0).unwrap();
    s.record_load("gemma", 310 << 20, 0.3, 2.0).unwrap();
    let m = s.measurement("gemma").unwrap().unwrap();
    assert_eq!((m.bytes, m.loads), (310 << 20, 2));

    assert_eq!(s.cached_score("k").unwrap(), None);
    s.cache_score("k", 0.25).unwrap();
    assert_eq!(s.cached_score("k").unwrap(), Some(0.25));
}

#[test]
fn a_file_that_is_not_a_database_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    std::fs::write(&path, b"this is not a database, just some bytes that are long enough").unwrap();
    let e = Store::open(&path).unwrap_err();
    assert!(e.to_string().contains("garbage.db"), "{e}");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    assert!(matches!(Store::open(&path), Err(StoreError::TooNew { found: 99, .. })));
}

#[test]
fn growing_logs_keep_the_newest_rows_only() {
    let mut s = Store::in_memory().unwrap();
    s.set_retention(Retention { decisions: 30, scores: 20, every: 10 });
    for i in 0..95 {
        s.log_decision(i as f64, "route", &serde_json::json!({"i": i})).unwrap();
        s.cache_score(&format!("k{i}"), i as f64).unwrap();
    }
    // Pruned at the 90th write of each: at most the retention plus one period.
    let kept = s.decisions(None, 1000).unwrap();
    assert!(kept.len() <= 40 && kept.len() >= 30, "{}", kept.len());
    assert_eq!(kept.last().unwrap().body["i"], 94, "the newest are kept");
    assert_eq!(s.cached_score("k94").unwrap(), Some(94.0));
    assert_eq!(s.cached_score("k0").unwrap(), None, "the oldest score went");
    s.prune().unwrap();
    assert_eq!(s.decisions(None, 1000).unwrap().len(), 30);
}
