//! `sage serve`: the OpenAI-compatible API, the SAGE API and metrics over the runtime.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use sage_kernel::Kernel;
use sage_runtime::driver::{kernel_config, LlmDriver};
use sage_runtime::route::Router;
use sage_server::{App, KernelHost, ServerConfig};

use crate::runtime::{compose, ZooArgs};

/// Arguments of `sage serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// A file with one accepted API key per line (also `SAGE_API_KEY`); without either, no key
    /// is needed.
    #[arg(long, value_name = "FILE")]
    pub api_keys: Option<PathBuf>,
    /// Requests generating at once (default: the engine's --parallel, so that every running
    /// request has a sequence in the batch).
    #[arg(long)]
    pub max_running: Option<usize>,
    /// Requests waiting for a slot before new ones are answered 429.
    #[arg(long, default_value_t = 16)]
    pub max_waiting: usize,
    #[command(flatten)]
    pub zoo: ZooArgs,
}

/// What `sage serve` and `sage node` build before serving.
pub struct Prepared {
    /// The router of API requests.
    pub router: Router,
    /// The kernel.
    pub kernel: Kernel,
    /// Its driver.
    pub driver: LlmDriver,
    /// Models.
    pub specs: Vec<sage_runtime::ModelSpec>,
    /// Residency.
    pub residency: std::sync::Arc<sage_runtime::Residency>,
    /// Clock.
    pub clock: std::sync::Arc<dyn sage_runtime::Clock>,
    /// The request log's own connection.
    pub log_store: sage_store::Store,
    /// Where the store is.
    pub store_path: std::path::PathBuf,
    /// Server settings.
    pub config: ServerConfig,
    /// What was decided for each model.
    pub notes: Vec<String>,
    /// Sequences per model.
    pub parallel: u32,
}

/// Compose the models, the router, the kernel and its driver for serving.
pub fn prepare(args: &mut ServeArgs) -> anyhow::Result<Prepared> {
    let mut keys: Vec<String> = vec![];
    if let Some(p) = &args.api_keys {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading the API keys {}", p.display()))?;
        keys.extend(
            text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string),
        );
    }
    if let Ok(k) = std::env::var("SAGE_API_KEY") {
        if !k.trim().is_empty() {
            keys.push(k.trim().to_string());
        }
    }
    // A server has concurrent users: four sequences unless told otherwise.
    let parallel = *args.zoo.engine.parallel.get_or_insert(4);
    let c = compose(&args.zoo)?;
    let notes = c.notes.clone();
    let mut router = Router::new(c.specs.clone(), c.residency.clone(), c.clock.clone(), 7);
    let trust = c.store.load_trust()?;
    router.restore_trust(&trust);
    let kernel = Kernel::new(kernel_config(&c.specs, c.profile.model_bytes, &c.residency))
        .context("configuring the kernel")?;
    let first = c.specs.first().map(|s| s.id.clone()).unwrap_or_default();
    let store_path = c.store.path().to_path_buf();
    let mut driver = LlmDriver::new(
        c.specs.clone(),
        c.residency.clone(),
        Some(c.store),
        Some(sage_runtime::semantic::SemanticScorer::new(&first, 0.01)),
        c.clock.clone(),
    )
    // A server runs for months and nobody replays it: no tape, so memory stays flat.
    .without_tape();
    driver.follow_states(kernel.config().policies.clone(), c.profile.model_bytes);
    driver.restore_trust(trust);
    // The handlers log requests through their own connection (SQLite in WAL mode).
    let log_store = sage_store::Store::open(&store_path)?;
    let config = ServerConfig {
        api_keys: keys,
        max_running: args.max_running.unwrap_or(parallel as usize).max(1),
        max_waiting: args.max_waiting,
        ..ServerConfig::default()
    };
    Ok(Prepared {
        router,
        kernel,
        driver,
        specs: c.specs,
        residency: c.residency,
        clock: c.clock,
        log_store,
        store_path,
        config,
        notes,
        parallel,
    })
}

/// Run the server until Ctrl-C.
pub fn run(mut args: ServeArgs) -> anyhow::Result<()> {
    let p = prepare(&mut args)?;
    let guarded = !p.config.api_keys.is_empty();
    let parallel = p.parallel;
    let notes = p.notes.clone();
    let app = App::new(
        p.router,
        p.residency,
        Some(p.log_store),
        KernelHost::new(p.kernel, p.driver),
        p.clock,
        p.config,
    );
    let banner = format!(
        "sage serve: http://{{addr}} (OpenAI API at /v1, Ollama API at /api, llama-server's /completion, \
         SAGE API at /sage, /health, /ready, /metrics); \
         {parallel} sequences per model{}",
        if guarded { "; API key required" } else { "" }
    );
    http(app, args.listen, &banner, &notes, "sage serve")
}

/// Serve `app` on `listen` until SIGINT or SIGTERM; `banner` is printed with `{addr}` replaced.
pub fn http(
    app: std::sync::Arc<App>,
    listen: SocketAddr,
    banner: &str,
    notes: &[String],
    name: &str,
) -> anyhow::Result<()> {
    let rt =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    rt.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
        eprintln!("{}", banner.replace("{addr}", &listener.local_addr()?.to_string()));
        for note in notes {
            eprintln!("  model {note}");
        }
        // Listen at once; /ready says 503 until the keep-hot models are loaded.
        let warm = app.clone();
        tokio::task::spawn_blocking(move || warm.warm_up());
        let name = name.to_string();
        let shutdown = async move {
            let signal = stop_signal().await;
            eprintln!(
                "{name}: {signal}: shutting down; in-flight requests finish, what was learned is saved"
            );
        };
        sage_server::serve(app, listener, shutdown).await.context("serving")
    })
}

/// The signal that stops the server: SIGINT (Ctrl-C) or SIGTERM (what systemd and Docker send).
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}
