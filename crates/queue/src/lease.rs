//! Partition leases and processor heartbeats in Redis. A lease is a key holding its owner's
//! name with a TTL: only the owner may extend or delete it (compare in a Lua script, so the
//! check and the write are one atomic step).

use redis::aio::MultiplexedConnection;
use redis::{RedisResult, Script};
use std::sync::LazyLock;

static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('PEXPIRE', KEYS[1], ARGV[2])
          end
          return 0",
    )
});

static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
          end
          return 0",
    )
});

/// Registers the caller as live and returns how many processors are. Uses Redis's clock, so
/// processors with skewed clocks still agree on who is alive.
static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local t = redis.call('TIME')
          local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
          local ttl = tonumber(ARGV[2])
          redis.call('ZADD', KEYS[1], now, ARGV[1])
          redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
          redis.call('PEXPIRE', KEYS[1], ttl * 10)
          return redis.call('ZCARD', KEYS[1])",
    )
});

pub(crate) async fn acquire(
    conn: &mut MultiplexedConnection,
    key: &str,
    me: &str,
    lease_ms: u64,
) -> RedisResult<bool> {
    let r: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(me)
        .arg("NX")
        .arg("PX")
        .arg(lease_ms)
        .query_async(conn)
        .await?;
    Ok(r.is_some())
}

/// True while `me` still holds the lease (and it now lasts `lease_ms` more).
pub(crate) async fn extend(
    conn: &mut MultiplexedConnection,
    key: &str,
    me: &str,
    lease_ms: u64,
) -> RedisResult<bool> {
    let r: i64 = EXTEND
        .key(key)
        .arg(me)
        .arg(lease_ms)
        .invoke_async(conn)
        .await?;
    Ok(r == 1)
}

pub(crate) async fn release(
    conn: &mut MultiplexedConnection,
    key: &str,
    me: &str,
) -> RedisResult<bool> {
    let r: i64 = RELEASE.key(key).arg(me).invoke_async(conn).await?;
    Ok(r == 1)
}

pub(crate) async fn heartbeat(
    conn: &mut MultiplexedConnection,
    key: &str,
    me: &str,
    lease_ms: u64,
) -> RedisResult<u32> {
    let n: u32 = HEARTBEAT
        .key(key)
        .arg(me)
        .arg(lease_ms)
        .invoke_async(conn)
        .await?;
    Ok(n.max(1))
}

pub(crate) async fn leave(
    conn: &mut MultiplexedConnection,
    key: &str,
    me: &str,
) -> RedisResult<()> {
    redis::cmd("ZREM").arg(key).arg(me).exec_async(conn).await
}
