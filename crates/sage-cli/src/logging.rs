//! The log subscriber: `--log` or `SAGE_LOG` as an `EnvFilter`, and llama.cpp's notices of a
//! step that SAGE aborted on purpose kept out of the errors.
//!
//! A cancelled generation aborts the llama.cpp step in progress (`sage_llm::Cancel`); llama.cpp
//! then logs three lines at error level ("... failed with error 1", "compute status: 1",
//! "failed to decode, ret = 2": status 1 and return 2 both mean "aborted by the callback").
//! They are a cancellation working, not a failure, so they are shown at debug level only.

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer;

/// What llama.cpp says when a step was aborted by the callback.
const ABORT_NOTICES: [&str; 3] =
    ["failed with error 1", "failed to compute graph, compute status: 1", "failed to decode, ret = 2"];

/// Whether `message` is one of llama.cpp's notices of an aborted step.
fn is_abort_notice(message: &str) -> bool {
    let m = message.trim_end();
    ABORT_NOTICES.iter().any(|n| m.ends_with(n))
}

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// Drops llama.cpp's error-level notices of aborted steps unless debug logs are asked for.
struct AbortNotices {
    show: bool,
}

impl<S: Subscriber> Layer<S> for AbortNotices {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if self.show || meta.target() != "llama-cpp-2" || *meta.level() != Level::ERROR {
            return true;
        }
        let mut m = Message::default();
        event.record(&mut m);
        !is_abort_notice(&m.0)
    }
}

/// Install the subscriber (stderr) with `filter`, else `SAGE_LOG`, else warnings (and only
/// llama.cpp's errors).
pub fn init(filter: Option<&str>) {
    let filter = filter
        .map(str::to_string)
        .or_else(|| std::env::var("SAGE_LOG").ok())
        // llama.cpp warns about model quirks that users cannot act on; its errors still show.
        .unwrap_or_else(|| "warn,llama-cpp-2=error".to_string());
    let env = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Asked for debug or trace logs anywhere: show everything.
    let show = filter.contains("debug") || filter.contains("trace");
    let _ = tracing_subscriber::registry()
        .with(AbortNotices { show })
        .with(env)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_cpp_abort_notices_are_recognised() {
        assert!(is_abort_notice("ggml_backend_sched_graph_compute_async failed with error 1"));
        assert!(is_abort_notice("failed to compute graph, compute status: 1\n"));
        assert!(is_abort_notice("failed to decode, ret = 2"));
        // Real failures are not.
        assert!(!is_abort_notice("failed to decode, ret = -3"));
        assert!(!is_abort_notice("failed to compute graph, compute status: -1"));
        assert!(!is_abort_notice("failed with error -2"));
    }
}
