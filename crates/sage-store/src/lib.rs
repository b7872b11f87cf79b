//! SQLite persistence of SAGE: conversations, memories, trust, measured model costs and the
//! decision log.
//!
//! One [`Store`] is one SQLite database in WAL mode with a busy timeout, so that a reader never
//! blocks the writer and a process killed mid-write loses at most the transaction it was in.
//! The schema is versioned with `PRAGMA user_version` and migrated forward on open. Only this
//! crate knows SQL; callers pass and receive plain values. Times are arguments (seconds since
//! the Unix epoch, as the caller measures them).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

mod schema;

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or migrated.
    #[error("opening the store {path}: {source}")]
    Open {
        /// Database file.
        path: String,
        /// Cause.
        source: rusqlite::Error,
    },
    /// The database was written by a newer SAGE.
    #[error("the store {path} has schema version {found}, newer than this SAGE understands ({known})")]
    TooNew {
        /// Database file.
        path: String,
        /// Version in the file.
        found: i64,
        /// Newest version known here.
        known: i64,
    },
    /// A query failed (disk full, locked past the busy timeout, corrupt file...).
    #[error("store {path}: {what}: {source}")]
    Query {
        /// Database file.
        path: String,
        /// What was being done.
        what: &'static str,
        /// Cause.
        source: rusqlite::Error,
    },
    /// A JSON column could not be written or read.
    #[error("store {path}: {what}: {source}")]
    Json {
        /// Database file.
        path: String,
        /// What was being done.
        what: &'static str,
        /// Cause.
        source: serde_json::Error,
    },
    /// A referenced row does not exist.
    #[error("store {path}: no session {session}")]
    NoSession {
        /// Database file.
        path: String,
        /// Session id.
        session: String,
    },
}

/// Result of a store operation.
pub type Result<T> = std::result::Result<T, StoreError>;

/// What was measured when a model was loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Model id.
    pub model: String,
    /// Resident bytes after the load.
    pub bytes: u64,
    /// Load seconds (the last load).
    pub load_s: f64,
    /// Loads so far.
    pub loads: u64,
    /// When it was last measured.
    pub measured_at: f64,
}

/// A conversation session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    /// Id.
    pub id: String,
    /// System prompt.
    pub system: Option<String>,
    /// Created at.
    pub created: f64,
    /// Messages stored.
    pub messages: u64,
}

/// A message to store.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// Text.
    pub content: String,
    /// Its tokens under the model that produced or read it, if counted.
    pub tokens: Option<u32>,
    /// The model that produced it (assistant turns).
    pub model: Option<String>,
    /// Prompt tokens evaluated for this reply.
    pub prompt_tokens: Option<u32>,
    /// Prompt tokens reused from the KV cache.
    pub cached_tokens: Option<u32>,
    /// Seconds to evaluate the prompt.
    pub prefill_s: Option<f64>,
    /// Seconds of decoding.
    pub decode_s: Option<f64>,
    /// Whether the reply came from the degraded responder.
    pub degraded: bool,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRow {
    /// Row id.
    pub id: i64,
    /// Position in the session (0-based).
    pub seq: u64,
    /// The message.
    #[serde(flatten)]
    pub message: NewMessage,
    /// Stored at.
    pub created: f64,
}

/// An observation in the recent ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservationRow {
    /// Time of the observation.
    pub t: f64,
    /// Source (sensor or speaker).
    pub source: String,
    /// What it was, in words (text, or a summary of a sensor vector).
    pub content: String,
    /// Its salience.
    pub salience: f64,
    /// Its situation class.
    pub class: String,
}

/// A memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryRow {
    /// Row id.
    pub id: i64,
    /// When it happened.
    pub t: f64,
    /// Kind: `observation`, `conversation`, `answer`, `state`...
    pub kind: String,
    /// Source.
    pub source: String,
    /// Text.
    pub text: String,
    /// Salience when stored.
    pub salience: f64,
    /// How many times it was seen again (merged duplicates) or retrieved.
    pub hits: u64,
}

/// How a plugin converged on a class of inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvergenceRow {
    /// Plugin.
    pub plugin: String,
    /// Situation class.
    pub class: String,
    /// Runs recorded.
    pub runs: u64,
    /// Mean steps per run.
    pub mean_steps: f64,
    /// Largest steps of a run that converged.
    pub max_steps_converged: u64,
    /// Share of runs that converged (rather than hitting a cap).
    pub converged_share: f64,
}

/// A trust entry, opaque to the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustRow {
    /// Expert.
    pub expert: String,
    /// Situation class.
    pub class: String,
    /// The entry as the kernel serializes it.
    pub entry: serde_json::Value,
    /// Updated at.
    pub updated: f64,
}

/// A logged decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRow {
    /// Row id.
    pub id: i64,
    /// When.
    pub t: f64,
    /// Kind (`request`, `route`, `plan`, `residency`...).
    pub kind: String,
    /// The decision as JSON.
    pub body: serde_json::Value,
}

/// The SQLite store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    retention: Retention,
}

/// How much of the logs that grow with use a store keeps (the newest rows; older ones are
/// deleted as new ones come, checked every [`Retention::every`] writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Routing and planning decisions kept.
    pub decisions: u64,
    /// Cached scores kept.
    pub scores: u64,
    /// Prune after this many writes to a log.
    pub every: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Self { decisions: 100_000, scores: 50_000, every: 500 }
    }
}

impl Store {
    /// Open (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let err = |source| StoreError::Open { path: path.display().to_string(), source };
        let conn = Connection::open(path).map_err(err)?;
        Self::init(conn, path.to_path_buf())
    }

    /// A private in-memory database (tests, `--no-store`).
    pub fn in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory()
            .map_err(|source| StoreError::Open { path: ":memory:".into(), source })?;
        Self::init(conn, PathBuf::from(":memory:"))
    }

    fn init(conn: Connection, path: PathBuf) -> Result<Self> {
        let shown = path.display().to_string();
        let err = |source| StoreError::Open { path: shown.clone(), source };
        conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        // WAL: readers do not block the writer and a crash loses at most the open transaction.
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
        let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(err)?;
        let known = schema::MIGRATIONS.len() as i64;
        if found > known {
            return Err(StoreError::TooNew { path: shown, found, known });
        }
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = conn.unchecked_transaction().map_err(err)?;
            tx.execute_batch(sql).map_err(err)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64).map_err(err)?;
            tx.commit().map_err(err)?;
            tracing::debug!(store = %shown, version = i + 1, "migrated");
        }
        Ok(Self { conn, path, retention: Retention::default() })
    }

    /// Keep this much of the growing logs from now on.
    pub fn set_retention(&mut self, retention: Retention) {
        self.retention = retention;
    }

    /// Delete all but the newest rows of the growing logs, as the retention says; returns the
    /// rows deleted.
    pub fn prune(&self) -> Result<u64> {
        let r = self.retention;
        let decisions = self
            .conn
            .execute(
                "DELETE FROM decisions WHERE id <= (SELECT MAX(id) FROM decisions) - ?1",
                params![r.decisions as i64],
            )
            .map_err(self.q("pruning decisions"))?;
        let scores = self
            .conn
            .execute(
                "DELETE FROM score_cache WHERE rowid <= (SELECT MAX(rowid) FROM score_cache) - ?1",
                params![r.scores as i64],
            )
            .map_err(self.q("pruning the score cache"))?;
        Ok((decisions + scores) as u64)
    }

    /// Prune when the row id just written is a multiple of the retention's period.
    fn prune_every(&self, rowid: i64) -> Result<()> {
        if rowid > 0 && (rowid as u64).is_multiple_of(self.retention.every.max(1)) {
            self.prune()?;
        }
        Ok(())
    }

    /// Where the database is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn q(&self, what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Query { path: self.path.display().to_string(), what, source }
    }

    fn j(&self, what: &'static str) -> impl Fn(serde_json::Error) -> StoreError + '_ {
        move |source| StoreError::Json { path: self.path.display().to_string(), what, source }
    }

    // --- models ---------------------------------------------------------------------------

    /// Record a measured load.
    pub fn record_load(&self, model: &str, bytes: u64, load_s: f64, now: f64) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO models (id, bytes, load_s, loads, measured_at) VALUES (?1, ?2, ?3, 1, ?4)
                 ON CONFLICT(id) DO UPDATE SET bytes = ?2, load_s = ?3, loads = loads + 1, measured_at = ?4",
                params![model, bytes as i64, load_s, now],
            )
            .map_err(self.q("recording a model load"))?;
        Ok(())
    }

    /// What was measured for `model`, if it was ever loaded.
    pub fn measurement(&self, model: &str) -> Result<Option<Measurement>> {
        self.conn
            .query_row(
                "SELECT id, bytes, load_s, loads, measured_at FROM models WHERE id = ?1",
                params![model],
                |r| {
                    Ok(Measurement {
                        model: r.get(0)?,
                        bytes: r.get::<_, i64>(1)? as u64,
                        load_s: r.get(2)?,
                        loads: r.get::<_, i64>(3)? as u64,
                        measured_at: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(self.q("reading a model measurement"))
    }

    // --- conversations --------------------------------------------------------------------

    /// Create a session (an existing one is left as it is). Returns whether it was created.
    pub fn create_session(&self, id: &str, system: Option<&str>, now: f64) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO sessions (id, system, created) VALUES (?1, ?2, ?3)",
                params![id, system, now],
            )
            .map_err(self.q("creating a session"))?;
        Ok(n == 1)
    }

    /// A session.
    pub fn session(&self, id: &str) -> Result<Option<SessionRow>> {
        self.conn
            .query_row(
                "SELECT s.id, s.system, s.created, (SELECT COUNT(*) FROM messages m WHERE m.session = s.id)
                 FROM sessions s WHERE s.id = ?1",
                params![id],
                session_row,
            )
            .optional()
            .map_err(self.q("reading a session"))
    }

    /// Every session, newest first.
    pub fn sessions(&self) -> Result<Vec<SessionRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT s.id, s.system, s.created, (SELECT COUNT(*) FROM messages m WHERE m.session = s.id)
                 FROM sessions s ORDER BY s.created DESC, s.id",
            )
            .map_err(self.q("listing sessions"))?;
        let rows = st.query_map([], session_row).map_err(self.q("listing sessions"))?;
        rows.collect::<std::result::Result<_, _>>().map_err(self.q("listing sessions"))
    }

    /// Append a message to a session; returns its position.
    pub fn append_message(&self, session: &str, m: &NewMessage, now: f64) -> Result<u64> {
        let tx = self.conn.unchecked_transaction().map_err(self.q("appending a message"))?;
        let exists: bool = tx
            .query_row("SELECT COUNT(*) FROM sessions WHERE id = ?1", params![session], |r| {
                r.get::<_, i64>(0).map(|n| n > 0)
            })
            .map_err(self.q("appending a message"))?;
        if !exists {
            return Err(StoreError::NoSession {
                path: self.path.display().to_string(),
                session: session.to_string(),
            });
        }
        let seq: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM messages WHERE session = ?1",
                params![session],
                |r| r.get(0),
            )
            .map_err(self.q("appending a message"))?;
        tx.execute(
            "INSERT INTO messages (session, seq, role, content, tokens, model, prompt_tokens, cached_tokens,
                                   prefill_s, decode_s, degraded, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                session,
                seq,
                m.role,
                m.content,
                m.tokens,
                m.model,
                m.prompt_tokens,
                m.cached_tokens,
                m.prefill_s,
                m.decode_s,
                m.degraded,
                now
            ],
        )
        .map_err(self.q("appending a message"))?;
        tx.commit().map_err(self.q("appending a message"))?;
        Ok(seq as u64)
    }

    /// The messages of a session in order.
    pub fn messages(&self, session: &str) -> Result<Vec<MessageRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, seq, role, content, tokens, model, prompt_tokens, cached_tokens, prefill_s, decode_s,
                        degraded, created
                 FROM messages WHERE session = ?1 ORDER BY seq",
            )
            .map_err(self.q("reading messages"))?;
        let rows = st
            .query_map(params![session], |r| {
                Ok(MessageRow {
                    id: r.get(0)?,
                    seq: r.get::<_, i64>(1)? as u64,
                    message: NewMessage {
                        role: r.get(2)?,
                        content: r.get(3)?,
                        tokens: r.get(4)?,
                        model: r.get(5)?,
                        prompt_tokens: r.get(6)?,
                        cached_tokens: r.get(7)?,
                        prefill_s: r.get(8)?,
                        decode_s: r.get(9)?,
                        degraded: r.get(10)?,
                    },
                    created: r.get(11)?,
                })
            })
            .map_err(self.q("reading messages"))?;
        rows.collect::<std::result::Result<_, _>>().map_err(self.q("reading messages"))
    }

    // --- observations and memories --------------------------------------------------------

    /// Add an observation to the ring of recent ones, keeping the newest `keep`.
    pub fn push_observation(&self, o: &ObservationRow, keep: u64) -> Result<()> {
        let tx = self.conn.unchecked_transaction().map_err(self.q("storing an observation"))?;
        tx.execute(
            "INSERT INTO observations (t, source, content, salience, class) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![o.t, o.source, o.content, o.salience, o.class],
        )
        .map_err(self.q("storing an observation"))?;
        tx.execute(
            "DELETE FROM observations WHERE id <= (SELECT MAX(id) FROM observations) - ?1",
            params![keep as i64],
        )
        .map_err(self.q("trimming the observation ring"))?;
        tx.commit().map_err(self.q("storing an observation"))?;
        Ok(())
    }

    /// The newest `n` observations, oldest first.
    pub fn recent_observations(&self, n: u64) -> Result<Vec<ObservationRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT t, source, content, salience, class FROM
                   (SELECT * FROM observations ORDER BY id DESC LIMIT ?1) ORDER BY id",
            )
            .map_err(self.q("reading observations"))?;
        let rows = st
            .query_map(params![n as i64], |r| {
                Ok(ObservationRow {
                    t: r.get(0)?,
                    source: r.get(1)?,
                    content: r.get(2)?,
                    salience: r.get(3)?,
                    class: r.get(4)?,
                })
            })
            .map_err(self.q("reading observations"))?;
        rows.collect::<std::result::Result<_, _>>().map_err(self.q("reading observations"))
    }

    /// Store a memory. The same text from the same source is merged into the existing memory
    /// (its hits grow, its salience is the larger). Returns the memory's id.
    pub fn remember(&self, t: f64, kind: &str, source: &str, text: &str, salience: f64) -> Result<i64> {
        let tx = self.conn.unchecked_transaction().map_err(self.q("storing a memory"))?;
        let existing: Option<i64> = tx
            .query_row(
                "SELECT id FROM memories WHERE kind = ?1 AND source = ?2 AND text = ?3",
                params![kind, source, text],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.q("storing a memory"))?;
        let id = match existing {
            Some(id) => {
                tx.execute(
                    "UPDATE memories SET hits = hits + 1, salience = MAX(salience, ?2), t = ?3 WHERE id = ?1",
                    params![id, salience, t],
                )
                .map_err(self.q("storing a memory"))?;
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO memories (t, kind, source, text, salience, hits) VALUES (?1, ?2, ?3, ?4, ?5, 0)",
                    params![t, kind, source, text, salience],
                )
                .map_err(self.q("storing a memory"))?;
                tx.last_insert_rowid()
            }
        };
        tx.commit().map_err(self.q("storing a memory"))?;
        Ok(id)
    }

    /// Every memory, most salient first, at most `limit`.
    pub fn memories(&self, limit: u64) -> Result<Vec<MemoryRow>> {
        self.select_memories("SELECT id, t, kind, source, text, salience, hits FROM memories ORDER BY salience DESC, t DESC LIMIT ?1", params![limit as i64])
    }

    /// Memories sharing words with `words`, best first: ranked by the number of distinct words
    /// matched, then salience. Retrieved memories count a hit.
    pub fn search_memories(&self, words: &[String], limit: u64) -> Result<Vec<MemoryRow>> {
        let words: Vec<String> =
            words.iter().map(|w| w.to_lowercase()).filter(|w| w.chars().count() >= 3).collect();
        let all = self
            .select_memories("SELECT id, t, kind, source, text, salience, hits FROM memories", params![])?;
        let mut scored: Vec<(usize, MemoryRow)> = all
            .into_iter()
            .map(|m| {
                let text = m.text.to_lowercase();
                (words.iter().filter(|w| text.contains(w.as_str())).count(), m)
            })
            .filter(|(n, _)| *n > 0)
            .collect();
        scored.sort_by(|a, b| {
            b.0.cmp(&a.0).then(b.1.salience.total_cmp(&a.1.salience)).then(b.1.t.total_cmp(&a.1.t))
        });
        scored.truncate(limit as usize);
        for (_, m) in &scored {
            self.conn
                .execute("UPDATE memories SET hits = hits + 1 WHERE id = ?1", params![m.id])
                .map_err(self.q("counting a memory hit"))?;
        }
        Ok(scored.into_iter().map(|(_, m)| m).collect())
    }

    fn select_memories(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<MemoryRow>> {
        let mut st = self.conn.prepare(sql).map_err(self.q("reading memories"))?;
        let rows = st
            .query_map(p, |r| {
                Ok(MemoryRow {
                    id: r.get(0)?,
                    t: r.get(1)?,
                    kind: r.get(2)?,
                    source: r.get(3)?,
                    text: r.get(4)?,
                    salience: r.get(5)?,
                    hits: r.get::<_, i64>(6)? as u64,
                })
            })
            .map_err(self.q("reading memories"))?;
        rows.collect::<std::result::Result<_, _>>().map_err(self.q("reading memories"))
    }

    /// DREAM consolidation of memories: keep the `keep` most valuable (salience, plus a little
    /// for every hit), delete the rest. Returns how many were removed.
    pub fn consolidate_memories(&self, keep: u64) -> Result<usize> {
        self.conn
            .execute(
                "DELETE FROM memories WHERE id NOT IN
                   (SELECT id FROM memories ORDER BY salience + 0.05 * MIN(hits, 10) DESC, t DESC LIMIT ?1)",
                params![keep as i64],
            )
            .map_err(self.q("consolidating memories"))
    }

    // --- convergence ----------------------------------------------------------------------

    /// Record one run of `plugin` on `class`: its steps and whether it converged.
    pub fn record_convergence(&self, plugin: &str, class: &str, steps: u32, converged: bool) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO convergence (plugin, class, runs, mean_steps, max_steps_converged, converged_share)
                 VALUES (?1, ?2, 1, ?3, CASE WHEN ?4 THEN ?3 ELSE 0 END, CASE WHEN ?4 THEN 1.0 ELSE 0.0 END)
                 ON CONFLICT(plugin, class) DO UPDATE SET
                   mean_steps = (mean_steps * runs + ?3) / (runs + 1),
                   max_steps_converged = CASE WHEN ?4 THEN MAX(max_steps_converged, ?3) ELSE max_steps_converged END,
                   converged_share = (converged_share * runs + CASE WHEN ?4 THEN 1.0 ELSE 0.0 END) / (runs + 1),
                   runs = runs + 1",
                params![plugin, class, steps, converged],
            )
            .map_err(self.q("recording convergence"))?;
        Ok(())
    }

    /// How `plugin` converged on `class`.
    pub fn convergence(&self, plugin: &str, class: &str) -> Result<Option<ConvergenceRow>> {
        self.conn
            .query_row(
                "SELECT plugin, class, runs, mean_steps, max_steps_converged, converged_share
                 FROM convergence WHERE plugin = ?1 AND class = ?2",
                params![plugin, class],
                |r| {
                    Ok(ConvergenceRow {
                        plugin: r.get(0)?,
                        class: r.get(1)?,
                        runs: r.get::<_, i64>(2)? as u64,
                        mean_steps: r.get(3)?,
                        max_steps_converged: r.get::<_, i64>(4)? as u64,
                        converged_share: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(self.q("reading convergence"))
    }

    // --- trust ----------------------------------------------------------------------------

    /// Replace the stored trust with `rows` (one transaction).
    pub fn save_trust(&self, rows: &[TrustRow]) -> Result<()> {
        let tx = self.conn.unchecked_transaction().map_err(self.q("saving trust"))?;
        for r in rows {
            let entry = serde_json::to_string(&r.entry).map_err(self.j("saving trust"))?;
            tx.execute(
                "INSERT INTO trust (expert, class, entry, updated) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(expert, class) DO UPDATE SET entry = ?3, updated = ?4",
                params![r.expert, r.class, entry, r.updated],
            )
            .map_err(self.q("saving trust"))?;
        }
        tx.commit().map_err(self.q("saving trust"))?;
        Ok(())
    }

    /// The stored trust.
    pub fn load_trust(&self) -> Result<Vec<TrustRow>> {
        let mut st = self
            .conn
            .prepare("SELECT expert, class, entry, updated FROM trust ORDER BY expert, class")
            .map_err(self.q("loading trust"))?;
        let rows: Vec<(String, String, String, f64)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(self.q("loading trust"))?
            .collect::<std::result::Result<_, _>>()
            .map_err(self.q("loading trust"))?;
        rows.into_iter()
            .map(|(expert, class, entry, updated)| {
                Ok(TrustRow {
                    expert,
                    class,
                    entry: serde_json::from_str(&entry).map_err(self.j("loading trust"))?,
                    updated,
                })
            })
            .collect()
    }

    // --- decisions and caches -------------------------------------------------------------

    /// Append a decision to the log; returns its id.
    pub fn log_decision(&self, t: f64, kind: &str, body: &impl Serialize) -> Result<i64> {
        let body = serde_json::to_string(body).map_err(self.j("logging a decision"))?;
        self.conn
            .execute("INSERT INTO decisions (t, kind, body) VALUES (?1, ?2, ?3)", params![t, kind, body])
            .map_err(self.q("logging a decision"))?;
        let id = self.conn.last_insert_rowid();
        self.prune_every(id)?;
        Ok(id)
    }

    /// The newest `limit` decisions (of `kind`, if given), oldest first.
    pub fn decisions(&self, kind: Option<&str>, limit: u64) -> Result<Vec<DecisionRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, t, kind, body FROM
                   (SELECT * FROM decisions WHERE ?1 IS NULL OR kind = ?1 ORDER BY id DESC LIMIT ?2)
                 ORDER BY id",
            )
            .map_err(self.q("reading decisions"))?;
        let rows: Vec<(i64, f64, String, String)> = st
            .query_map(params![kind, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(self.q("reading decisions"))?
            .collect::<std::result::Result<_, _>>()
            .map_err(self.q("reading decisions"))?;
        rows.into_iter()
            .map(|(id, t, kind, body)| {
                Ok(DecisionRow {
                    id,
                    t,
                    kind,
                    body: serde_json::from_str(&body).map_err(self.j("reading decisions"))?,
                })
            })
            .collect()
    }

    /// A cached score (semantic importance...) by key.
    pub fn cached_score(&self, key: &str) -> Result<Option<f64>> {
        self.conn
            .query_row("SELECT score FROM score_cache WHERE key = ?1", params![key], |r| r.get(0))
            .optional()
            .map_err(self.q("reading the score cache"))
    }

    /// Cache a score.
    pub fn cache_score(&self, key: &str, score: f64) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO score_cache (key, score) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET score = ?2",
                params![key, score],
            )
            .map_err(self.q("writing the score cache"))?;
        self.prune_every(self.conn.last_insert_rowid())
    }
}

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: r.get(0)?,
        system: r.get(1)?,
        created: r.get(2)?,
        messages: r.get::<_, i64>(3)? as u64,
    })
}

#[cfg(test)]
mod tests;
