//! Versioned DDL migrations for the ClickHouse backend. Each runs once and is recorded in
//! `schema_migrations`; every statement is idempotent (`IF NOT EXISTS`), so two processes
//! starting together, or a migration interrupted halfway, converge on the same schema.
//!
//! Layout, and why:
//! - `spans`: one row per span version in a ReplacingMergeTree whose version column ranks a
//!   finished span above a running one, then the latest received; reads still resolve
//!   versions themselves (`LIMIT 1 BY`), since merges happen when ClickHouse likes. Ordered by
//!   project and hour of start (the trace list, analytics and retention scan by time), then
//!   trace and span; a bloom filter on `trace_id` finds one trace without the time.
//! - `trace_summaries`: versioned summaries (the writer keeps them exact), replaced by version.
//! - `rollup_deltas` → materialized view → `rollups_minute` (AggregatingMergeTree): the
//!   writer appends what each commit changed (negative for a replaced span version); the view
//!   sums them per key and minute, latency sketches through `sumMap` over their buckets.
//! - `spans_minute` and `cost_minute`: materialized views straight from `spans` (finished
//!   versions) for Grafana and SQL users; the API reads the exact rollups above.
//! - Deduplicated inserts: every table the writer fills keeps a window of insert tokens, so a
//!   batch redelivered from the queue after a crash is not stored twice. The views' targets
//!   keep one too: without it a block dropped from the source is still aggregated again.

/// (version, statements). Append only: never edit a migration that has shipped. `{db}` is
/// replaced by the database name.
pub const MIGRATIONS: &[(u32, &[&str])] = &[(
    1,
    &[
        r#"CREATE TABLE IF NOT EXISTS {db}.spans (
    project_id          LowCardinality(String),
    trace_id            UInt128,
    span_id             UInt64,
    parent_span_id      Nullable(UInt64),
    name                String,
    service_name        LowCardinality(String),
    scope_name          LowCardinality(String),
    environment         Nullable(String),
    otel_kind           UInt8,
    kind                LowCardinality(String),
    start_ns            Int64,
    end_ns              Nullable(Int64),
    duration_ns         Nullable(Int64),
    status              LowCardinality(String),
    status_message      Nullable(String),
    session_id          Nullable(String),
    user_id             Nullable(String),
    agent_name          Nullable(String),
    agent_id            Nullable(String),
    tool_name           Nullable(String),
    provider            Nullable(String),
    request_model       Nullable(String),
    response_model      Nullable(String),
    input_tokens        Nullable(Int64),
    output_tokens       Nullable(Int64),
    cache_read_tokens   Nullable(Int64),
    cache_write_tokens  Nullable(Int64),
    reasoning_tokens    Nullable(Int64),
    total_tokens        Nullable(Int64),
    cost_usd            Nullable(Float64),
    cost_source         Nullable(UInt8),
    input               Nullable(String) CODEC(ZSTD(3)),
    output              Nullable(String) CODEC(ZSTD(3)),
    attributes          String CODEC(ZSTD(3)),
    attributes_map      Map(String, String) CODEC(ZSTD(3)),
    resource_attributes String CODEC(ZSTD(3)),
    events              Nullable(String) CODEC(ZSTD(3)),
    links               Nullable(String),
    conventions         UInt16,
    unmapped_keys       Nullable(String),
    received_ns         Int64,
    ver                 UInt64,
    ttl_days            UInt16,
    model               Nullable(String) ALIAS coalesce(response_model, request_model),
    start_time          DateTime64(9) MATERIALIZED fromUnixTimestamp64Nano(start_ns),
    INDEX trace_bf trace_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX session_bf session_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX user_bf user_id TYPE bloom_filter(0.01) GRANULARITY 4
) ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(start_time)
ORDER BY (project_id, toStartOfHour(start_time), trace_id, span_id)
TTL toDateTime(start_time) + toIntervalDay(if(ttl_days = 0, 20000, ttl_days + 1))
SETTINGS non_replicated_deduplication_window = 10000"#,
        r#"CREATE TABLE IF NOT EXISTS {db}.span_links (
    project_id       LowCardinality(String),
    trace_id         UInt128,
    span_id          UInt64,
    linked_trace_id  UInt128,
    linked_span_id   UInt64,
    start_ns         Int64
) ENGINE = ReplacingMergeTree
ORDER BY (project_id, linked_trace_id, trace_id, span_id, linked_span_id)
SETTINGS non_replicated_deduplication_window = 10000"#,
        r#"CREATE TABLE IF NOT EXISTS {db}.trace_summaries (
    project_id         LowCardinality(String),
    trace_id           UInt128,
    root_span_id       Nullable(UInt64),
    name               String,
    service_name       LowCardinality(String),
    start_ns           Int64,
    max_start_ns       Int64,
    end_ns             Nullable(Int64),
    duration_ns        Nullable(Int64),
    span_count         Int64,
    error_count        Int64,
    running_count      Int64,
    status             LowCardinality(String),
    input_tokens       Nullable(Int64),
    output_tokens      Nullable(Int64),
    cache_read_tokens  Nullable(Int64),
    cache_write_tokens Nullable(Int64),
    reasoning_tokens   Nullable(Int64),
    total_tokens       Nullable(Int64),
    cost_usd           Nullable(Float64),
    session_id         Nullable(String),
    user_id            Nullable(String),
    environment        Nullable(String),
    agents             Array(String),
    services           Array(String),
    models             Array(String),
    tools              Array(String),
    kinds              Array(String),
    input_preview      Nullable(String),
    output_preview     Nullable(String),
    min_received_ns    Int64,
    last_received_ns   Int64,
    version            Int64,
    ttl_days           UInt16,
    INDEX start_mm start_ns TYPE minmax GRANULARITY 1,
    INDEX session_bf session_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX user_bf user_id TYPE bloom_filter(0.01) GRANULARITY 4
) ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, trace_id)
TTL toDateTime(intDiv(max_start_ns, 1000000000)) + toIntervalDay(if(ttl_days = 0, 20000, ttl_days + 1))
SETTINGS non_replicated_deduplication_window = 10000"#,
        r#"CREATE TABLE IF NOT EXISTS {db}.findings (
    project_id    LowCardinality(String),
    id            UInt64,
    trace_id      UInt128,
    span_id       UInt64,
    span_name     String,
    span_kind     UInt8,
    service_name  LowCardinality(String),
    agent_name    Nullable(String),
    session_id    Nullable(String),
    user_id       Nullable(String),
    time_ns       Int64,
    received_ns   Int64,
    category      UInt8,
    detector      LowCardinality(String),
    severity      UInt8,
    score         Float32,
    field         UInt8,
    key           Nullable(String),
    start_offset  UInt64,
    end_offset    UInt64,
    evidence      String,
    vector        Nullable(UInt8),
    encoding      Nullable(UInt8),
    INDEX trace_bf trace_id TYPE bloom_filter(0.01) GRANULARITY 4
) ENGINE = ReplacingMergeTree(received_ns)
ORDER BY (project_id, time_ns, id)
SETTINGS non_replicated_deduplication_window = 10000"#,
        r#"CREATE TABLE IF NOT EXISTS {db}.rollup_deltas (
    project_id         LowCardinality(String),
    minute_ns          Int64,
    dims_id            UInt64,
    service_name       LowCardinality(String),
    agent_name         Nullable(String),
    caller             Nullable(String),
    model              Nullable(String),
    tool_name          Nullable(String),
    kind               UInt8,
    is_error           Bool,
    span_count         Int64,
    error_count        Int64,
    duration_ns        Int64,
    input_tokens       Int64,
    output_tokens      Int64,
    cache_read_tokens  Int64,
    cache_write_tokens Int64,
    reasoning_tokens   Int64,
    total_tokens       Int64,
    cost_nano_usd      Int64,
    priced             Int64,
    latency_zero       Int64,
    latency_bins       Tuple(Array(Int16), Array(Int64))
) ENGINE = MergeTree
ORDER BY (project_id, minute_ns)
TTL toDateTime(intDiv(minute_ns, 1000000000)) + INTERVAL 2 DAY
SETTINGS non_replicated_deduplication_window = 10000"#,
        r#"CREATE TABLE IF NOT EXISTS {db}.rollups_minute (
    project_id         LowCardinality(String),
    minute_ns          Int64,
    dims_id            UInt64,
    -- The dimensions are a function of dims_id (their hash): any row's will do.
    service_name       SimpleAggregateFunction(any, String),
    agent_name         SimpleAggregateFunction(any, Nullable(String)),
    caller             SimpleAggregateFunction(any, Nullable(String)),
    model              SimpleAggregateFunction(any, Nullable(String)),
    tool_name          SimpleAggregateFunction(any, Nullable(String)),
    kind               SimpleAggregateFunction(any, UInt8),
    is_error           SimpleAggregateFunction(any, Bool),
    span_count         SimpleAggregateFunction(sum, Int64),
    error_count        SimpleAggregateFunction(sum, Int64),
    duration_ns        SimpleAggregateFunction(sum, Int64),
    input_tokens       SimpleAggregateFunction(sum, Int64),
    output_tokens      SimpleAggregateFunction(sum, Int64),
    cache_read_tokens  SimpleAggregateFunction(sum, Int64),
    cache_write_tokens SimpleAggregateFunction(sum, Int64),
    reasoning_tokens   SimpleAggregateFunction(sum, Int64),
    total_tokens       SimpleAggregateFunction(sum, Int64),
    cost_nano_usd      SimpleAggregateFunction(sum, Int64),
    priced             SimpleAggregateFunction(sum, Int64),
    latency_zero       SimpleAggregateFunction(sum, Int64),
    latency_bins       SimpleAggregateFunction(sumMap, Tuple(Array(Int16), Array(Int64)))
) ENGINE = AggregatingMergeTree
ORDER BY (project_id, minute_ns, dims_id)
SETTINGS non_replicated_deduplication_window = 10000"#,
        r#"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollups_minute_mv TO {db}.rollups_minute AS
SELECT project_id, minute_ns, dims_id, service_name, agent_name, caller, model, tool_name, kind,
       is_error, span_count, error_count, duration_ns, input_tokens, output_tokens,
       cache_read_tokens, cache_write_tokens, reasoning_tokens, total_tokens, cost_nano_usd,
       priced, latency_zero, latency_bins
FROM {db}.rollup_deltas"#,
        r#"CREATE TABLE IF NOT EXISTS {db}.spans_minute (
    project_id     LowCardinality(String),
    minute         DateTime,
    service_name   LowCardinality(String),
    kind           LowCardinality(String),
    model          String,
    spans          SimpleAggregateFunction(sum, UInt64),
    errors         SimpleAggregateFunction(sum, UInt64),
    latency_ms     AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64),
    input_tokens   SimpleAggregateFunction(sum, Int64),
    output_tokens  SimpleAggregateFunction(sum, Int64),
    cost_usd       SimpleAggregateFunction(sum, Float64)
) ENGINE = AggregatingMergeTree
ORDER BY (project_id, minute, service_name, kind, model)
SETTINGS non_replicated_deduplication_window = 10000"#,
        r#"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.spans_minute_mv TO {db}.spans_minute AS
SELECT project_id, toStartOfMinute(toDateTime(intDiv(start_ns, 1000000000))) AS minute,
       service_name, kind, coalesce(response_model, request_model, '') AS model,
       toUInt64(count()) AS spans, toUInt64(countIf(status = 'error')) AS errors,
       quantilesState(0.5, 0.95, 0.99)(toFloat64(coalesce(duration_ns, 0)) / 1e6) AS latency_ms,
       toInt64(sum(coalesce(input_tokens, 0))) AS input_tokens,
       toInt64(sum(coalesce(output_tokens, 0))) AS output_tokens,
       sum(coalesce(cost_usd, 0)) AS cost_usd
FROM {db}.spans WHERE end_ns IS NOT NULL
GROUP BY project_id, minute, service_name, kind, model"#,
        r#"CREATE TABLE IF NOT EXISTS {db}.cost_minute (
    project_id     LowCardinality(String),
    minute         DateTime,
    model          String,
    cost_usd       SimpleAggregateFunction(sum, Float64),
    input_tokens   SimpleAggregateFunction(sum, Int64),
    output_tokens  SimpleAggregateFunction(sum, Int64),
    calls          SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
ORDER BY (project_id, minute, model)
SETTINGS non_replicated_deduplication_window = 10000"#,
        r#"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.cost_minute_mv TO {db}.cost_minute AS
SELECT project_id, toStartOfMinute(toDateTime(intDiv(start_ns, 1000000000))) AS minute,
       coalesce(response_model, request_model, '') AS model,
       sum(coalesce(cost_usd, 0)) AS cost_usd,
       toInt64(sum(coalesce(input_tokens, 0))) AS input_tokens,
       toInt64(sum(coalesce(output_tokens, 0))) AS output_tokens,
       toUInt64(count()) AS calls
FROM {db}.spans WHERE end_ns IS NOT NULL AND kind IN ('llm', 'embedding')
GROUP BY project_id, minute, model"#,
        r#"CREATE TABLE IF NOT EXISTS {db}.agent_versions (
    project_id          LowCardinality(String),
    agent               String,
    fingerprint         UInt64,
    tools               String,
    models              String,
    system_prompt_hash  Nullable(UInt64),
    first_seen_ns       Int64,
    last_seen_ns        Int64,
    runs                Int64
) ENGINE = MergeTree
ORDER BY (project_id, agent, fingerprint)
SETTINGS non_replicated_deduplication_window = 10000"#,
        r#"CREATE TABLE IF NOT EXISTS {db}.alert_rules (
    project_id  String,
    id          String,
    rule        String,
    updated_ns  Int64,
    deleted     UInt8
) ENGINE = ReplacingMergeTree(updated_ns)
ORDER BY (project_id, id)"#,
        r#"CREATE TABLE IF NOT EXISTS {db}.alert_events (
    project_id  String,
    id          String,
    rule_id     String,
    time_ns     Int64,
    event       String
) ENGINE = MergeTree
ORDER BY (project_id, time_ns)"#,
        r#"CREATE TABLE IF NOT EXISTS {db}.price_overrides (
    project_id  String,
    overrides   Nullable(String),
    updated_ns  Int64
) ENGINE = ReplacingMergeTree(updated_ns)
ORDER BY project_id"#,
        r#"CREATE TABLE IF NOT EXISTS {db}.audit_log (
    project_id  String,
    time_ns     Int64,
    actor       String,
    action      String,
    target      String,
    detail      String
) ENGINE = MergeTree
ORDER BY (project_id, time_ns)"#,
        r#"CREATE TABLE IF NOT EXISTS {db}.auth_records (
    kind        String,
    id          String,
    body        String,
    updated_ns  Int64,
    deleted     UInt8
) ENGINE = ReplacingMergeTree(updated_ns)
ORDER BY (kind, id)"#,
    ],
)];

/// The newest schema version this binary knows.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// The statements of every migration after `current`, with the database filled in.
pub fn pending(db: &str, current: u32) -> Vec<(u32, Vec<String>)> {
    MIGRATIONS
        .iter()
        .filter(|(v, _)| *v > current)
        .map(|(v, stmts)| (*v, stmts.iter().map(|s| s.replace("{db}", db)).collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_ordered_and_qualified() {
        let mut last = 0;
        for (v, stmts) in MIGRATIONS {
            assert!(*v > last, "migration versions must increase");
            last = *v;
            for s in *stmts {
                assert!(s.contains("IF NOT EXISTS"), "not idempotent: {s}");
                assert!(s.contains("{db}."), "not qualified with the database: {s}");
            }
        }
        let p = pending("sg", 0);
        assert!(
            p[0].1
                .iter()
                .all(|s| !s.contains("{db}") && s.contains("sg."))
        );
        assert!(pending("sg", latest_version()).is_empty());
    }
}
