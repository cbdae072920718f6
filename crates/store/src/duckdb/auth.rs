//! Projects, keys, users and sessions (spyglass_model::auth), one JSON document per row.

use crate::{Result, StoreError};
use duckdb::{Connection, params};
use spyglass_model::auth::{AuthKind, AuthRecord};

pub fn records(conn: &Connection) -> Result<Vec<AuthRecord>> {
    let mut stmt = conn.prepare("SELECT body FROM auth_records ORDER BY kind, id")?;
    let texts = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<duckdb::Result<Vec<_>>>()?;
    texts
        .iter()
        .map(|t| {
            serde_json::from_str(t).map_err(|e| StoreError::Corrupt {
                column: "auth_records.body",
                message: e.to_string(),
            })
        })
        .collect()
}

pub fn put(conn: &Connection, record: &AuthRecord) -> Result<()> {
    let body = serde_json::to_string(record).map_err(|e| StoreError::Database(e.to_string()))?;
    conn.execute(
        "INSERT OR REPLACE INTO auth_records VALUES (?, ?, ?, ?)",
        params![
            record.kind().as_str(),
            record.id(),
            body,
            spyglass_model::now_ns()
        ],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, kind: AuthKind, id: &str) -> Result<bool> {
    let n = conn.execute(
        "DELETE FROM auth_records WHERE kind = ? AND id = ?",
        params![kind.as_str(), id],
    )?;
    Ok(n > 0)
}
