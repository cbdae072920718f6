//! Archive files (crate::archive): written with DuckDB's `COPY ... TO` from the stored tables,
//! read back with `read_parquet` in a private in-memory database.

use crate::archive::{ArchiveFormat, ExportSpec, ExportedFile, Selection};
use crate::{Result, StoreError};
use duckdb::Connection;
use spyglass_model::{
    Category, Convention, CostSource, Encoding, Field, OtelKind, Severity, SpanKind, Status, Vector,
};
use std::path::Path;

const DAY_NS: i64 = 86_400_000_000_000;

/// A SQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A SQL list of an enum's names in code order, so `list[code + 1]` is the name of a code.
fn names(all: impl IntoIterator<Item = &'static str>) -> String {
    let quoted: Vec<String> = all.into_iter().map(literal).collect();
    format!("[{}]", quoted.join(", "))
}

/// A 16-hex-character span id (NULL stays NULL).
fn hex_id(column: &str) -> String {
    format!("lower(lpad(hex({column}), 16, '0'))")
}

/// A project id in a path segment (`project=<id>`): what is not `[A-Za-z0-9._-]` is
/// percent-encoded, so no id names another directory.
pub fn path_segment(project: &str) -> String {
    let mut out = String::with_capacity(project.len());
    for b in project.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The span columns of an archive row, in the canonical span's JSON shape.
fn span_columns() -> String {
    let otel_kinds = names(OtelKind::ALL.iter().map(|k| k.as_str()));
    let kinds = names(SpanKind::ALL.iter().map(|k| k.as_str()));
    let statuses = names(Status::ALL.iter().map(|k| k.as_str()));
    let cost_sources = names(CostSource::ALL.iter().map(|k| k.as_str()));
    let conventions = names(Convention::ALL.iter().map(|k| k.as_str()));
    format!(
        "s.project_id, replace(s.trace_id::VARCHAR, '-', '') AS trace_id, {span_id} AS span_id, \
         {parent} AS parent_span_id, s.name, \
         coalesce(r.service_name, 'unknown_service') AS service_name, \
         coalesce(r.scope_name, '') AS scope_name, r.environment, \
         {otel_kinds}[s.otel_kind + 1] AS otel_kind, {kinds}[s.kind + 1] AS kind, \
         s.start_ns, s.end_ns, s.duration_ns, {statuses}[s.status + 1] AS status, \
         s.status_message, s.session_id, s.user_id, s.agent_name, s.agent_id, s.tool_name, \
         s.provider, s.request_model, s.response_model, \
         struct_pack(input := s.input_tokens, output := s.output_tokens, \
            cache_read := s.cache_read_tokens, cache_write := s.cache_write_tokens, \
            reasoning := s.reasoning_tokens, total := s.total_tokens) AS tokens, \
         s.cost_usd, {cost_sources}[s.cost_source + 1] AS cost_source, s.input, s.output, \
         s.attributes::JSON AS attributes, \
         coalesce(r.attributes, '{{}}')::JSON AS resource_attributes, \
         coalesce(s.events, '[]')::JSON AS events, coalesce(s.links, '[]')::JSON AS links, \
         list_filter({conventions}, lambda x, i: (s.conventions >> (i - 1)) & 1 = 1) AS convention, \
         coalesce(s.unmapped_keys, '[]')::JSON AS unmapped_keys, s.received_ns",
        span_id = hex_id("s.span_id"),
        parent = hex_id("s.parent_span_id"),
    )
}

/// A finding in the findings API's shape.
fn finding_struct() -> String {
    let kinds = names(SpanKind::ALL.iter().map(|k| k.as_str()));
    let categories = names(Category::ALL.iter().map(|k| k.as_str()));
    let severities = names(Severity::ALL.iter().map(|k| k.as_str()));
    let fields = names(Field::ALL.iter().map(|k| k.as_str()));
    let vectors = names(Vector::ALL.iter().map(|k| k.as_str()));
    let encodings = names(Encoding::ALL.iter().map(|k| k.as_str()));
    format!(
        "struct_pack(id := {id}, trace_id := replace(trace_id::VARCHAR, '-', ''), \
            span_id := {span_id}, span_name := span_name, span_kind := {kinds}[span_kind + 1], \
            service_name := service_name, agent_name := agent_name, session_id := session_id, \
            user_id := user_id, time_ns := time_ns, received_ns := received_ns, \
            category := {categories}[category + 1], detector := detector, \
            severity := {severities}[severity + 1], score := score, field := {fields}[field + 1], \
            key := key, start := start_offset, \"end\" := end_offset, evidence := evidence, \
            vector := {vectors}[vector + 1], encoding := {encodings}[encoding + 1])",
        id = hex_id("id"),
        span_id = hex_id("span_id"),
    )
}

/// The predicate over `spans` rows that a selection keeps.
fn selection_filter(project: &str, selection: Selection) -> String {
    match selection {
        Selection::Started { from_ns, to_ns } => {
            format!("start_ns >= {from_ns} AND start_ns < {to_ns}")
        }
        Selection::Expiring { cutoff_ns } => format!(
            "trace_id IN (SELECT trace_id FROM trace_summaries WHERE project_id = {} \
             GROUP BY trace_id HAVING max(max_start_ns) < {cutoff_ns})",
            literal(project)
        ),
    }
}

/// Writes the selected spans (latest versions) with their findings under
/// `dir/project=<id>/day=<YYYY-MM-DD>/`, and lists the files written.
pub fn export(conn: &Connection, spec: &ExportSpec, dir: &Path) -> Result<Vec<ExportedFile>> {
    let project = literal(&spec.project);
    let spans_of = format!(
        "project_id = {project} AND {}",
        selection_filter(&spec.project, spec.selection)
    );
    // One file per day, written by its own statement: DuckDB's partitioned writer holds
    // every open partition's rows in memory.
    let days: Vec<(i64, String)> = conn
        .prepare(&format!(
            "SELECT d, gen_random_uuid()::VARCHAR FROM \
             (SELECT DISTINCT start_ns // {DAY_NS} AS d FROM spans WHERE {spans_of}) ORDER BY d"
        ))?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<duckdb::Result<_>>()?;
    let mut files = Vec::with_capacity(days.len());
    for (day, uuid) in days {
        let (lo, hi) = (day * DAY_NS, (day + 1) * DAY_NS);
        let rel = format!(
            "project={}/day={}/spans-{uuid}.{}",
            path_segment(&spec.project),
            crate::archive::day_of(lo),
            spec.format.extension()
        );
        let path = dir.join(&rel);
        std::fs::create_dir_all(path.parent().expect("a file in a directory"))?;
        let path_text = path
            .to_str()
            .ok_or_else(|| StoreError::InvalidQuery("export directory is not UTF-8".into()))?;
        let of_day = format!("{spans_of} AND start_ns >= {lo} AND start_ns < {hi}");
        // The day's latest span versions, joined with the findings of just their traces.
        let select = format!(
            "SELECT {cols}, coalesce(f.findings, []) AS findings \
             FROM (SELECT * FROM spans WHERE rowid IN (SELECT rowid FROM spans WHERE {of_day} \
                QUALIFY row_number() OVER (PARTITION BY trace_id, span_id \
                  ORDER BY (end_ns IS NOT NULL) DESC, received_ns DESC) = 1)) s \
             LEFT JOIN (SELECT DISTINCT ON (resource_id) * FROM resources WHERE project_id = {project}) r \
                ON r.resource_id = s.resource_id \
             LEFT JOIN (SELECT trace_id, span_id, list({finding} ORDER BY id) AS findings \
                FROM (SELECT * FROM findings WHERE project_id = {project} \
                  AND trace_id IN (SELECT trace_id FROM spans WHERE {of_day}) \
                  QUALIFY row_number() OVER (PARTITION BY id ORDER BY received_ns DESC) = 1) \
                GROUP BY trace_id, span_id) f \
                ON f.trace_id = s.trace_id AND f.span_id = s.span_id",
            cols = span_columns(),
            finding = finding_struct(),
        );
        match spec.format {
            ArchiveFormat::Parquet => conn.execute_batch(&format!(
                "COPY ({select}) TO {} (FORMAT parquet, COMPRESSION zstd)",
                literal(path_text)
            ))?,
            // Streamed row by row: DuckDB's JSON writer held a busy day's rows in memory.
            ArchiveFormat::Jsonl => write_jsonl(conn, &select, &path)?,
        }
        files.push(ExportedFile {
            bytes: std::fs::metadata(&path)?.len(),
            day: crate::archive::day_of(lo),
            path: rel,
        });
    }
    Ok(files)
}

/// Writes the rows of `select` to `path` as JSON lines, a chunk at a time.
fn write_jsonl(conn: &Connection, select: &str, path: &Path) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut stmt = conn.prepare(&format!("SELECT to_json(t)::VARCHAR FROM ({select}) t"))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let line: String = r.get(0)?;
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Calls `row` with each row of a Parquet archive file, as a JSON object.
pub fn read_parquet(path: &Path, mut row: impl FnMut(&str) -> Result<()>) -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(
        "SET autoinstall_known_extensions = false; SET autoload_known_extensions = false; \
         SET threads = 1; SET memory_limit = '512MB';",
    )?;
    let path = path
        .to_str()
        .ok_or_else(|| StoreError::InvalidQuery("archive path is not UTF-8".into()))?;
    let unreadable = |e: duckdb::Error| {
        // DuckDB's message names the temporary file; the client knows which file it sent.
        let e = e.to_string().replace(path, "the file");
        StoreError::InvalidQuery(format!("not a readable Parquet archive: {e}"))
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT to_json(t)::VARCHAR FROM read_parquet({}, hive_partitioning = false) t",
            literal(path)
        ))
        .map_err(unreadable)?;
    let mut rows = stmt.query([]).map_err(unreadable)?;
    while let Some(r) = rows.next().map_err(unreadable)? {
        let json: String = r.get(0)?;
        row(&json)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids_cannot_leave_their_directory() {
        assert_eq!(path_segment("acme-prod_1.x"), "acme-prod_1.x");
        assert_eq!(path_segment("../etc"), "..%2Fetc");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn literals_escape_quotes() {
        assert_eq!(literal("it's"), "'it''s'");
    }
}
