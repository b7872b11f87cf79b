//! Request classification: how demanding a request is, decided before any model runs (small
//! versus large).

/// How demanding a request is, `[0, 1]`: its length, reasoning cues (why, how, explain,
/// compare...), and how many parts it has. Cheap and deterministic: it decides small versus
/// large before any model runs.
pub fn complexity(text: &str) -> f64 {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let length = (words.len() as f64 / 80.0).min(1.0);
    const CUES: &[&str] = &[
        "why",
        "how",
        "explain",
        "compare",
        "plan",
        "analyze",
        "analyse",
        "summarize",
        "summarise",
        "derive",
        "prove",
        "design",
        "because",
        "tradeoff",
        "trade",
        "step",
        "steps",
        "reason",
        "evaluate",
    ];
    let cues = words.iter().filter(|w| CUES.contains(w)).count() as f64;
    let parts = lower.matches('?').count().saturating_sub(1)
        + lower.matches(';').count()
        + words.iter().filter(|w| **w == "and").count();
    (0.4 * length + 0.4 * (cues / 2.0).min(1.0) + 0.2 * (parts as f64 / 3.0).min(1.0)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complexity_orders_requests() {
        let simple = complexity("What is the battery level?");
        let hard = complexity(
            "Explain why the robot stopped in aisle 3, compare it with yesterday's stop, and plan the steps to avoid it; \
             how would you change the route and why?",
        );
        assert!(simple < 0.2, "{simple}");
        assert!(hard >= 0.6, "{hard}");
        assert_eq!(complexity(""), 0.0);
    }
}
