//! Alert rules and events, stored as JSON documents: they are few, read whole, and their
//! shape is the model's.

use crate::{Result, StoreError};
use duckdb::{Connection, ToSql, params};
use spyglass_model::alert::{AlertEvent, AlertRule};

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(column: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        column,
        message: e.to_string(),
    })
}

pub fn rules(conn: &Connection, project: Option<&str>) -> Result<Vec<AlertRule>> {
    let mut stmt = conn.prepare(
        "SELECT rule FROM alert_rules WHERE ?::VARCHAR IS NULL OR project_id = ? ORDER BY project_id, id",
    )?;
    let texts = stmt
        .query_map(params![project, project], |r| r.get::<_, String>(0))?
        .collect::<duckdb::Result<Vec<_>>>()?;
    texts.iter().map(|t| parse("alert_rules.rule", t)).collect()
}

pub fn put_rule(conn: &Connection, rule: &AlertRule) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO alert_rules VALUES (?, ?, ?, ?)",
        params![rule.project_id, rule.id, json(rule)?, rule.updated_ns],
    )?;
    Ok(())
}

pub fn delete_rule(conn: &Connection, project: &str, id: &str) -> Result<bool> {
    let n = conn.execute(
        "DELETE FROM alert_rules WHERE project_id = ? AND id = ?",
        params![project, id],
    )?;
    Ok(n > 0)
}

pub fn record_event(conn: &Connection, e: &AlertEvent) -> Result<()> {
    conn.execute(
        "INSERT INTO alert_events VALUES (?, ?, ?, ?, ?)",
        params![e.project_id, e.id, e.rule_id, e.time_ns, json(e)?],
    )?;
    Ok(())
}

pub fn events(
    conn: &Connection,
    project: &str,
    rule_id: Option<&str>,
    before_ns: Option<i64>,
    limit: u32,
) -> Result<Vec<AlertEvent>> {
    let limit = limit.clamp(1, spyglass_model::query::MAX_LIMIT);
    let before = before_ns.unwrap_or(i64::MAX);
    let params: [&dyn ToSql; 4] = [&project, &rule_id, &rule_id, &before];
    let mut stmt = conn.prepare(&format!(
        "SELECT event FROM alert_events WHERE project_id = ? AND (?::VARCHAR IS NULL OR rule_id = ?) \
         AND time_ns < ? ORDER BY time_ns DESC, id DESC LIMIT {limit}"
    ))?;
    let texts = stmt
        .query_map(params.as_slice(), |r| r.get::<_, String>(0))?
        .collect::<duckdb::Result<Vec<_>>>()?;
    texts
        .iter()
        .map(|t| parse("alert_events.event", t))
        .collect()
}

pub fn latest_events(conn: &Connection) -> Result<Vec<AlertEvent>> {
    let mut stmt = conn.prepare(
        "SELECT event FROM alert_events \
         QUALIFY row_number() OVER (PARTITION BY project_id, rule_id ORDER BY time_ns DESC, id DESC) = 1",
    )?;
    let texts = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<duckdb::Result<Vec<_>>>()?;
    texts
        .iter()
        .map(|t| parse("alert_events.event", t))
        .collect()
}
