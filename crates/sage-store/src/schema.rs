//! The schema, one migration per version (`PRAGMA user_version` = migrations applied).
//! Never edit a shipped migration; add the next one.

/// Migrations in order.
pub const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "
    CREATE TABLE models (
        id TEXT PRIMARY KEY,
        bytes INTEGER NOT NULL,
        load_s REAL NOT NULL,
        loads INTEGER NOT NULL,
        measured_at REAL NOT NULL
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        system TEXT,
        created REAL NOT NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        session TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL,
        tokens INTEGER,
        model TEXT,
        prompt_tokens INTEGER,
        cached_tokens INTEGER,
        prefill_s REAL,
        decode_s REAL,
        degraded INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        UNIQUE (session, seq)
    );
    CREATE TABLE observations (
        id INTEGER PRIMARY KEY,
        t REAL NOT NULL,
        source TEXT NOT NULL,
        content TEXT NOT NULL,
        salience REAL NOT NULL,
        class TEXT NOT NULL
    );
    CREATE TABLE memories (
        id INTEGER PRIMARY KEY,
        t REAL NOT NULL,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        text TEXT NOT NULL,
        salience REAL NOT NULL,
        hits INTEGER NOT NULL
    );
    CREATE INDEX memories_by_text ON memories (kind, source, text);
    CREATE TABLE convergence (
        plugin TEXT NOT NULL,
        class TEXT NOT NULL,
        runs INTEGER NOT NULL,
        mean_steps REAL NOT NULL,
        max_steps_converged INTEGER NOT NULL,
        converged_share REAL NOT NULL,
        PRIMARY KEY (plugin, class)
    );
    CREATE TABLE trust (
        expert TEXT NOT NULL,
        class TEXT NOT NULL,
        entry TEXT NOT NULL,
        updated REAL NOT NULL,
        PRIMARY KEY (expert, class)
    );
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        t REAL NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE score_cache (
        key TEXT PRIMARY KEY,
        score REAL NOT NULL
    );
    ",
];
