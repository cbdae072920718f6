//! Price overrides set through the API: one JSON document per project, kept as given (the
//! engine owns its shape and validates it).

use crate::Result;
use duckdb::{Connection, params};

pub fn overrides(conn: &Connection) -> Result<Vec<(String, String)>> {
    let mut stmt =
        conn.prepare("SELECT project_id, overrides FROM price_overrides ORDER BY project_id")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<duckdb::Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn put_overrides(conn: &Connection, project: &str, json: Option<&str>) -> Result<()> {
    match json {
        Some(json) => conn.execute(
            "INSERT OR REPLACE INTO price_overrides VALUES (?, ?, ?)",
            params![project, json, spyglass_model::now_ns()],
        )?,
        None => conn.execute(
            "DELETE FROM price_overrides WHERE project_id = ?",
            params![project],
        )?,
    };
    Ok(())
}
