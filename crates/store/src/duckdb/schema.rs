//! Versioned schema migrations. Each runs once, in its own transaction, and is recorded in
//! `schema_migrations`; a newer binary upgrades an older data directory in place.

use crate::StoreError;
use duckdb::Connection;

/// (version, SQL). Append only: never edit a migration that has shipped.
pub const MIGRATIONS: &[(u32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE spans (
    project_id          VARCHAR NOT NULL,
    trace_id            UUID NOT NULL,
    span_id             UBIGINT NOT NULL,
    parent_span_id      UBIGINT,
    name                VARCHAR NOT NULL,
    -- Enum columns hold spyglass_model codes (SpanKind, OtelKind, Status, CostSource::code).
    otel_kind           UTINYINT NOT NULL,
    kind                UTINYINT NOT NULL,
    start_ns            BIGINT NOT NULL,
    end_ns              BIGINT,
    duration_ns         BIGINT,
    status              UTINYINT NOT NULL,
    status_message      VARCHAR,
    session_id          VARCHAR,
    user_id             VARCHAR,
    agent_name          VARCHAR,
    agent_id            VARCHAR,
    tool_name           VARCHAR,
    provider            VARCHAR,
    request_model       VARCHAR,
    response_model      VARCHAR,
    input_tokens        BIGINT,
    output_tokens       BIGINT,
    cache_read_tokens   BIGINT,
    cache_write_tokens  BIGINT,
    reasoning_tokens    BIGINT,
    total_tokens        BIGINT,
    cost_usd            DOUBLE,
    cost_source         UTINYINT,
    input               VARCHAR,
    output              VARCHAR,
    attributes          VARCHAR NOT NULL,
    resource_id         UBIGINT NOT NULL,
    events              VARCHAR,          -- JSON array; NULL when the span has none
    links               VARCHAR,          -- JSON array; NULL when the span has none
    conventions         USMALLINT NOT NULL, -- bit set, see spyglass_model::Conventions
    unmapped_keys       VARCHAR,          -- JSON array; NULL when every key was understood
    received_ns         BIGINT NOT NULL
);

-- Each distinct resource and instrumentation scope once (service, environment, scope and
-- the resource attributes); spans point at it. Every span repeated them before, which cost
-- more to write than most of the span.
CREATE TABLE resources (
    project_id   VARCHAR NOT NULL,
    resource_id  UBIGINT NOT NULL,
    service_name VARCHAR NOT NULL,
    scope_name   VARCHAR NOT NULL,
    environment  VARCHAR,
    attributes   VARCHAR NOT NULL
);

CREATE TABLE span_links (
    project_id      VARCHAR NOT NULL,
    trace_id        UUID NOT NULL,
    span_id         UBIGINT NOT NULL,
    linked_trace_id UUID NOT NULL,
    linked_span_id  UBIGINT NOT NULL
);

CREATE TABLE trace_summaries (
    project_id         VARCHAR NOT NULL,
    trace_id           UUID NOT NULL,
    root_span_id       UBIGINT,
    name               VARCHAR NOT NULL,
    service_name       VARCHAR NOT NULL,
    start_ns           BIGINT NOT NULL,
    max_start_ns       BIGINT NOT NULL,
    end_ns             BIGINT,
    duration_ns        BIGINT,
    span_count         BIGINT NOT NULL,
    error_count        BIGINT NOT NULL,
    running_count      BIGINT NOT NULL,
    status             VARCHAR NOT NULL,
    input_tokens       BIGINT,
    output_tokens      BIGINT,
    cache_read_tokens  BIGINT,
    cache_write_tokens BIGINT,
    reasoning_tokens   BIGINT,
    total_tokens       BIGINT,
    cost_usd           DOUBLE,
    session_id         VARCHAR,
    user_id            VARCHAR,
    environment        VARCHAR,
    agents             VARCHAR[] NOT NULL,
    services           VARCHAR[] NOT NULL,
    models             VARCHAR[] NOT NULL,
    tools              VARCHAR[] NOT NULL,
    kinds              VARCHAR[] NOT NULL,
    input_preview      VARCHAR,
    output_preview     VARCHAR,
    -- Where the trace's rows are: spans are appended in receipt order, so row-group min/max
    -- on received_ns prunes a trace-by-id scan to the few row groups written meanwhile.
    min_received_ns    BIGINT NOT NULL,
    last_received_ns   BIGINT NOT NULL,
    -- Summaries are append-only versions (an upsert per commit costs more than the spans);
    -- reads take the highest version of each trace, and the writer deletes superseded rows.
    version            BIGINT NOT NULL
);
"#,
    ),
    (
        2,
        r#"
-- Security findings, one row per detection on a span version; `id` is the same for the same
-- detection on every version of a span, and reads take one row per id.
CREATE TABLE findings (
    project_id    VARCHAR NOT NULL,
    id            UBIGINT NOT NULL,
    trace_id      UUID NOT NULL,
    span_id       UBIGINT NOT NULL,
    span_name     VARCHAR NOT NULL,
    span_kind     UTINYINT NOT NULL,
    service_name  VARCHAR NOT NULL,
    agent_name    VARCHAR,
    session_id    VARCHAR,
    user_id       VARCHAR,
    time_ns       BIGINT NOT NULL,
    received_ns   BIGINT NOT NULL,
    -- Enum columns hold spyglass_model codes (Category, Severity, Field, Vector, Encoding).
    category      UTINYINT NOT NULL,
    detector      VARCHAR NOT NULL,
    severity      UTINYINT NOT NULL,
    score         FLOAT NOT NULL,
    field         UTINYINT NOT NULL,
    key           VARCHAR,
    start_offset  UBIGINT NOT NULL,
    end_offset    UBIGINT NOT NULL,
    evidence      VARCHAR NOT NULL,
    vector        UTINYINT,
    encoding      UTINYINT
);
"#,
    ),
    (
        3,
        r#"
-- Per-minute rollups. Each commit appends the delta of the minutes and keys it touched (a
-- replaced span version subtracts itself); compaction merges the rows of one key and minute.
-- Reads sum the rows, so they are right before and after compaction.
CREATE TABLE rollups_minute (
    project_id         VARCHAR NOT NULL,
    minute_ns          BIGINT NOT NULL,
    dims_id            UBIGINT NOT NULL,   -- hash of the dimensions below (rollup::RollupKey)
    service_name       VARCHAR NOT NULL,
    agent_name         VARCHAR,            -- the agent the span runs in (rollup::attribution)
    caller             VARCHAR,            -- for an agent span: the agent that invoked it
    model              VARCHAR,
    tool_name          VARCHAR,
    kind               UTINYINT NOT NULL,
    is_error           BOOLEAN NOT NULL,
    span_count         BIGINT NOT NULL,
    error_count        BIGINT NOT NULL,
    duration_ns        BIGINT NOT NULL,
    input_tokens       BIGINT NOT NULL,
    output_tokens      BIGINT NOT NULL,
    cache_read_tokens  BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    reasoning_tokens   BIGINT NOT NULL,
    total_tokens       BIGINT NOT NULL,
    cost_nano_usd      BIGINT NOT NULL,
    priced             BIGINT NOT NULL,
    latency            BLOB NOT NULL        -- sketch::Sketch::to_bytes
);

CREATE TABLE alert_rules (
    project_id  VARCHAR NOT NULL,
    id          VARCHAR NOT NULL,
    rule        VARCHAR NOT NULL,          -- JSON of spyglass_model::alert::AlertRule
    updated_ns  BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE alert_events (
    project_id  VARCHAR NOT NULL,
    id          VARCHAR NOT NULL,
    rule_id     VARCHAR NOT NULL,
    time_ns     BIGINT NOT NULL,
    event       VARCHAR NOT NULL           -- JSON of spyglass_model::alert::AlertEvent
);

-- Per-project price overrides set through the API (the config file's are not stored).
CREATE TABLE price_overrides (
    project_id  VARCHAR PRIMARY KEY,
    overrides   VARCHAR NOT NULL,          -- JSON of spyglass_engine's ProjectCost
    updated_ns  BIGINT NOT NULL
);

-- Agent versions (store::versions): each commit appends, per (project, agent, fingerprint) it
-- changed, the runs it added (negative: runs that moved to another version) and the starts of
-- those runs. Reads sum the runs and take min/max of the times; the writer merges the rows.
CREATE TABLE agent_versions (
    project_id          VARCHAR NOT NULL,
    agent               VARCHAR NOT NULL,
    fingerprint         UBIGINT NOT NULL,
    tools               VARCHAR NOT NULL,   -- JSON list, sorted
    models              VARCHAR NOT NULL,   -- JSON list, sorted
    system_prompt_hash  UBIGINT,
    first_seen_ns       BIGINT NOT NULL,
    last_seen_ns        BIGINT NOT NULL,
    runs                BIGINT NOT NULL
);

-- Admin actions (deletions, rule changes, price changes): append-only.
CREATE TABLE audit_log (
    project_id  VARCHAR NOT NULL,
    time_ns     BIGINT NOT NULL,
    actor       VARCHAR NOT NULL,
    action      VARCHAR NOT NULL,
    target      VARCHAR NOT NULL,
    detail      VARCHAR NOT NULL           -- JSON
);
"#,
    ),
    (
        4,
        r#"
-- Projects, API keys (salted digests), users (argon2id) and sessions (digests of the cookie):
-- few rows, read whole at start and changed one at a time.
CREATE TABLE auth_records (
    kind        VARCHAR NOT NULL,          -- project | key | user | session
    id          VARCHAR NOT NULL,
    body        VARCHAR NOT NULL,          -- JSON of spyglass_model::auth::AuthRecord
    updated_ns  BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
"#,
    ),
];

/// The newest schema version this binary knows.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// Checks, without changing anything, that the database is Spyglass's and not newer than this
/// binary: `Err` says what is wrong and what to do (one line).
pub fn inspect(conn: &Connection) -> Result<(), String> {
    let tables: Vec<String> = (|| -> duckdb::Result<Vec<String>> {
        let mut stmt = conn.prepare(
            "SELECT table_name FROM information_schema.tables
             WHERE table_catalog = current_database() AND table_schema = 'main' ORDER BY 1",
        )?;
        stmt.query_map([], |r| r.get(0))?.collect()
    })()
    .map_err(|e| {
        format!("cannot read the database's tables ({e}); is it a Spyglass data directory?")
    })?;
    if !tables.iter().any(|t| t == "schema_migrations") {
        if tables.is_empty() {
            return Ok(());
        }
        let mut shown = tables
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if tables.len() > 5 {
            shown.push_str(", ...");
        }
        return Err(format!(
            "{} is a DuckDB database that Spyglass did not create (it has tables {shown} but no schema_migrations); point --data-dir at an empty or Spyglass directory",
            super::DB_FILE
        ));
    }
    let current: i64 = conn
        .query_row(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(|e| format!("cannot read schema_migrations ({e}); the database may be damaged: restore it from a backup"))?;
    let known = latest_version();
    if current > i64::from(known) {
        return Err(format!(
            "written by a newer Spyglass (schema {current}, this binary knows {known}); upgrade Spyglass to open it"
        ));
    }
    Ok(())
}

/// Applies the migrations this data directory lacks; returns the versions before and after.
pub fn migrate(conn: &Connection) -> Result<(u32, u32), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_ns BIGINT NOT NULL)",
    )?;
    let current: u32 = conn.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let run = || -> Result<(), duckdb::Error> {
            conn.execute_batch("BEGIN TRANSACTION")?;
            conn.execute_batch(sql)?;
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?)",
                duckdb::params![version, spyglass_model::now_ns()],
            )?;
            conn.execute_batch("COMMIT")
        };
        if let Err(e) = run() {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(StoreError::Migration {
                version: *version,
                message: e.to_string(),
            });
        }
        tracing::info!(version, "applied schema migration");
    }
    Ok((current, latest_version()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_accepts_empty_and_own_databases() {
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(inspect(&conn), Ok(()));
        migrate(&conn).unwrap();
        assert_eq!(inspect(&conn), Ok(()));
    }

    #[test]
    fn inspect_refuses_a_newer_schema() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        let newer = latest_version() + 3;
        conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", [newer])
            .unwrap();
        let e = inspect(&conn).unwrap_err();
        assert!(
            e.contains(&format!(
                "written by a newer Spyglass (schema {newer}, this binary knows {})",
                latest_version()
            )),
            "{e}"
        );
    }

    #[test]
    fn inspect_refuses_a_foreign_database() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE customers (id INTEGER); CREATE TABLE orders (id INTEGER);",
        )
        .unwrap();
        let e = inspect(&conn).unwrap_err();
        assert!(e.contains("did not create"), "{e}");
        assert!(e.contains("customers, orders"), "{e}");
    }
}
