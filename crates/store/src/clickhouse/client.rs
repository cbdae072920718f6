//! The connection: configuration, errors, migrations and the few ways queries run.

use super::schema;
use crate::{Result, StoreError};
use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

/// Where ClickHouse is (the `[store.clickhouse]` table, or `--store clickhouse://...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// `clickhouse://USER:PASSWORD@HOST:8123/DATABASE` (HTTP interface), or an `http://` URL
    /// with the database set below.
    pub url: String,
    /// The database, when the URL names none.
    pub database: String,
    /// Overrides the URL's user.
    pub user: Option<String>,
    /// Overrides the URL's password (`SPYGLASS_CLICKHOUSE_PASSWORD` keeps it out of argv).
    pub password: Option<String>,
    /// A query running longer is stopped by ClickHouse (`max_execution_time`) and answered as
    /// a timeout (504 from the API).
    pub query_timeout_ms: u64,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "clickhouse://default@127.0.0.1:8123/spyglass".into(),
            database: "spyglass".into(),
            user: None,
            password: None,
            query_timeout_ms: 30_000,
        }
    }
}

/// The parts of a `clickhouse://` URL.
#[derive(Debug, PartialEq)]
struct Target {
    http_url: String,
    user: Option<String>,
    password: Option<String>,
    database: Option<String>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_url(url: &str) -> std::result::Result<Target, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not a URL (clickhouse://USER:PASSWORD@HOST:PORT/DB)"))?;
    let http = match scheme {
        "clickhouse" | "http" => "http",
        "clickhouses" | "https" => "https",
        other => {
            return Err(format!(
                "unknown scheme {other:?}: use clickhouse:// (HTTP interface, port 8123)"
            ));
        }
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if host.is_empty() {
        return Err(format!("{scheme}:// URL without a host"));
    }
    let host = if host.contains(':') || host.starts_with('[') {
        host.to_string()
    } else {
        format!("{host}:8123")
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(u) => match u.split_once(':') {
            Some((u, p)) => (Some(percent_decode(u)), Some(percent_decode(p))),
            None => (Some(percent_decode(u)), None),
        },
    };
    let database = path.split('?').next().filter(|d| !d.is_empty());
    if let Some(d) = database
        && !d.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(format!(
            "database name {d:?}: use letters, digits and underscores"
        ));
    }
    Ok(Target {
        http_url: format!("{http}://{host}"),
        user: user.filter(|u| !u.is_empty()),
        password,
        database: database.map(str::to_string),
    })
}

impl ClickHouseConfig {
    /// The URL without its password, for logs.
    pub fn redacted_url(&self) -> String {
        match parse_url(&self.url) {
            Ok(t) => format!(
                "{}/{}{}",
                t.http_url,
                t.database.as_deref().unwrap_or(&self.database),
                t.user.map(|u| format!(" (user {u})")).unwrap_or_default()
            ),
            Err(_) => "(invalid url)".into(),
        }
    }

    /// Checks the URL without connecting.
    pub fn validate(&self) -> std::result::Result<(), String> {
        parse_url(&self.url).map(|_| ())
    }
}

/// The connection to one database.
#[derive(Clone)]
pub struct Ch {
    pub client: Client,
    pub db: String,
    query_timeout_ms: u64,
}

/// Codes of the ClickHouse errors told apart.
const TIMEOUT_EXCEEDED: &str = "Code: 159";

pub(super) fn error(e: clickhouse::error::Error) -> StoreError {
    use clickhouse::error::Error as E;
    match e {
        E::Network(_) | E::TimedOut => StoreError::Unavailable(e.to_string()),
        E::BadResponse(m) if m.contains(TIMEOUT_EXCEEDED) => StoreError::Timeout(0),
        E::BadResponse(m) => StoreError::Database(m),
        other => StoreError::Database(other.to_string()),
    }
}

/// A query's conditions, joined with AND, with the strings their `?`s bind, in order.
/// Integers are formatted into the conditions; strings are always bound.
#[derive(Default)]
pub(super) struct Filter {
    pub clauses: Vec<String>,
    pub params: Vec<String>,
}

impl Filter {
    pub fn add(&mut self, clause: impl Into<String>, params: impl IntoIterator<Item = String>) {
        self.clauses.push(clause.into());
        self.params.extend(params);
    }

    /// `col = ?`, bound to `v`.
    pub fn eq(&mut self, col: &str, v: &str) {
        self.add(format!("{col} = ?"), [v.to_string()]);
    }

    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1".into()
        } else {
            self.clauses.join(" AND ")
        }
    }

    /// Binds the parameters to `q`, after whatever `q` already bound.
    pub fn bind(&self, q: clickhouse::query::Query) -> clickhouse::query::Query {
        bind_all(q, &self.params)
    }
}

/// Binds `params` to the query's placeholders in order.
pub(super) fn bind_all(
    mut q: clickhouse::query::Query,
    params: &[String],
) -> clickhouse::query::Query {
    for p in params {
        q = q.bind(p.as_str());
    }
    q
}

/// Ids (integers) as an SQL list for `IN (...)`. Each is quoted: a bare literal above
/// `u64::MAX` is read as a Float64 and never equals a UInt128, while a quoted one converts
/// exactly. Numbers, so nothing to escape.
pub(super) fn id_list<T: std::fmt::Display>(ids: impl IntoIterator<Item = T>) -> String {
    let mut s = String::from("(");
    for (i, id) in ids.into_iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('\'');
        s.push_str(&id.to_string());
        s.push('\'');
    }
    s.push(')');
    s
}

/// A trace id as an exact UInt128 expression (see [`id_list`]).
pub(super) fn trace_lit(trace: spyglass_model::TraceId) -> String {
    format!("toUInt128('{}')", trace.as_u128())
}

#[derive(Row, Deserialize)]
struct Version {
    v: u32,
}

impl Ch {
    pub fn connect(cfg: &ClickHouseConfig) -> Result<Ch> {
        let t = parse_url(&cfg.url).map_err(StoreError::InvalidQuery)?;
        let db = t.database.unwrap_or_else(|| cfg.database.clone());
        let mut client = Client::default()
            .with_url(t.http_url)
            .with_compression(clickhouse::Compression::None)
            // Rows are read by position: the SELECTs list the struct's fields in order, and
            // some of them computed (so names and types are not the table's).
            .with_validation(false);
        if let Some(u) = cfg.user.clone().or(t.user) {
            client = client.with_user(u);
        }
        if let Some(p) = cfg.password.clone().or(t.password) {
            client = client.with_password(p);
        }
        Ok(Ch {
            client,
            db,
            query_timeout_ms: cfg.query_timeout_ms.max(1),
        })
    }

    /// A client on the database (after it exists).
    fn on_db(&self) -> Client {
        self.client.clone().with_database(self.db.clone())
    }

    /// A read query, bounded by the query timeout.
    pub fn read(&self, sql: &str) -> clickhouse::query::Query {
        self.on_db().query(sql).with_setting(
            "max_execution_time",
            (self.query_timeout_ms.div_ceil(1000)).to_string(),
        )
    }

    /// A statement without a time bound (writes, deletes, exports).
    pub fn stmt(&self, sql: &str) -> clickhouse::query::Query {
        self.on_db().query(sql)
    }

    pub async fn fetch<T>(&self, q: clickhouse::query::Query) -> Result<Vec<T>>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        let r = q.fetch_all::<T>().await.map_err(error);
        match r {
            Err(StoreError::Timeout(_)) => Err(StoreError::Timeout(self.query_timeout_ms)),
            other => other,
        }
    }

    pub async fn exec(&self, q: clickhouse::query::Query) -> Result<()> {
        q.execute().await.map_err(error)
    }

    /// Inserts rows; `token` makes a retry of the same insert a no-op (the tables keep a
    /// window of insert tokens); `None` for an insert that is never retried as such.
    pub async fn insert<T: Row + clickhouse::RowWrite>(
        &self,
        table: &str,
        rows: &[T::Value<'_>],
        token: Option<&str>,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // Every insert names itself: a token-less block identical to a recent one would be
        // dropped by the tables that keep a deduplication window.
        let token = token.map_or_else(super::write::unique_token, str::to_string);
        let mut ins = self
            .on_db()
            .insert::<T>(table)
            .await
            .map_err(error)?
            .with_setting("insert_deduplication_token", token);
        for r in rows {
            ins.write(r).await.map_err(error)?;
        }
        ins.end().await.map_err(error)
    }

    pub async fn ping(&self) -> Result<()> {
        self.client.query("SELECT 1").execute().await.map_err(error)
    }

    /// Creates the database and applies the migrations it lacks; the versions before and
    /// after.
    pub async fn migrate(&self) -> Result<(u32, u32)> {
        self.client
            .query(&format!("CREATE DATABASE IF NOT EXISTS {}", self.db))
            .execute()
            .await
            .map_err(error)?;
        self.stmt(&format!(
            "CREATE TABLE IF NOT EXISTS {}.schema_migrations (version UInt32, applied_ns Int64) \
             ENGINE = ReplacingMergeTree ORDER BY version",
            self.db
        ))
        .execute()
        .await
        .map_err(error)?;
        let current = self
            .fetch::<Version>(
                self.stmt("SELECT toUInt32(max(version)) AS v FROM schema_migrations"),
            )
            .await?
            .first()
            .map_or(0, |v| v.v);
        let known = schema::latest_version();
        if current > known {
            return Err(StoreError::DataDir {
                dir: self.db.clone(),
                message: format!(
                    "written by a newer Spyglass (schema {current}, this binary knows {known}); upgrade Spyglass"
                ),
            });
        }
        for (version, stmts) in schema::pending(&self.db, current) {
            for s in &stmts {
                self.stmt(s)
                    .execute()
                    .await
                    .map_err(|e| StoreError::Migration {
                        version,
                        message: e.to_string(),
                    })?;
            }
            self.stmt("INSERT INTO schema_migrations VALUES (?, ?)")
                .bind(version)
                .bind(spyglass_model::now_ns())
                .execute()
                .await
                .map_err(error)?;
            tracing::info!(version, "applied ClickHouse schema migration");
        }
        Ok((current, known))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_http_user_password_and_database() {
        let t = parse_url("clickhouse://sg:p%40ss@ch.internal/spyglass").unwrap();
        assert_eq!(
            t,
            Target {
                http_url: "http://ch.internal:8123".into(),
                user: Some("sg".into()),
                password: Some("p@ss".into()),
                database: Some("spyglass".into()),
            }
        );
        let t = parse_url("http://127.0.0.1:18123").unwrap();
        assert_eq!(t.http_url, "http://127.0.0.1:18123");
        assert_eq!((t.user, t.database), (None, None));
        assert_eq!(
            parse_url("clickhouses://h:8443/db").unwrap().http_url,
            "https://h:8443"
        );
        assert!(
            parse_url("redis://h")
                .unwrap_err()
                .contains("unknown scheme")
        );
        assert!(
            parse_url("clickhouse://h/a-b")
                .unwrap_err()
                .contains("database name")
        );
        assert!(parse_url("h:8123").is_err());
    }

    #[test]
    fn the_redacted_url_has_no_password() {
        let c = ClickHouseConfig {
            url: "clickhouse://u:secret@h/db".into(),
            ..Default::default()
        };
        let r = c.redacted_url();
        assert!(!r.contains("secret"), "{r}");
        assert!(r.contains("http://h:8123/db"), "{r}");
    }

    #[test]
    fn id_lists_are_quoted() {
        assert_eq!(id_list([1u64, 2, 3]), "('1','2','3')");
    }
}
