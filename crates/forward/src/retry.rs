//! What one export attempt's answer means (OTLP's rules: which failures are worth another
//! attempt, and when), and how long to wait before the next.

use prost::Message;
use spyglass_receiver::rpc_status::{RetryInfo, RpcStatus};
use std::time::Duration;

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The backend took the request; `rejected` of its spans it refused one by one (OTLP
    /// partial success), which no retry changes.
    Sent { rejected: u64 },
    /// Worth another attempt, after `after` when the backend named a delay.
    Retry {
        after: Option<Duration>,
        why: String,
    },
    /// Retrying would fail the same way.
    Fail { why: String },
}

#[cfg(test)]
impl Outcome {
    pub fn is_retry(&self) -> bool {
        matches!(self, Outcome::Retry { .. })
    }
}

/// A gRPC status other than OK. Besides the three overload answers, OTLP lists cancelled,
/// aborted, out-of-range and data-loss as transient; a connection that could not be made
/// surfaces as UNAVAILABLE.
pub fn grpc(status: &tonic::Status) -> Outcome {
    use tonic::Code::*;
    let why = format!("gRPC {:?}: {}", status.code(), status.message());
    match status.code() {
        Unavailable | ResourceExhausted | DeadlineExceeded | Cancelled | Aborted | OutOfRange
        | DataLoss => Outcome::Retry {
            after: grpc_retry_delay(status),
            why,
        },
        _ => Outcome::Fail { why },
    }
}

/// `google.rpc.RetryInfo` in the status details: gRPC's Retry-After.
fn grpc_retry_delay(status: &tonic::Status) -> Option<Duration> {
    let details = RpcStatus::decode(status.details()).ok()?;
    details
        .details
        .iter()
        .find(|a| a.type_url.ends_with("/google.rpc.RetryInfo"))
        .and_then(|a| RetryInfo::decode(a.value.as_slice()).ok())
        .and_then(|r| r.retry_delay)
        .map(|d| {
            Duration::from_secs(d.seconds.max(0) as u64)
                + Duration::from_nanos(d.nanos.max(0) as u64)
        })
}

/// An HTTP answer other than 2xx. `retry_after` is the header's text (delay-seconds; a date is
/// ignored and the backoff used instead).
pub fn http(status: u16, retry_after: Option<&str>) -> Outcome {
    let why = format!("HTTP {status}");
    match status {
        429 | 502 | 503 | 504 => Outcome::Retry {
            after: retry_after.and_then(|v| v.trim().parse::<u64>().ok().map(Duration::from_secs)),
            why,
        },
        _ => Outcome::Fail { why },
    }
}

/// Exponential backoff settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after the `failed`-th failed attempt (1 for the first): the backend's delay
    /// when it named one, else `initial` doubled per earlier failure; both capped at `max`, so
    /// a backend cannot park a batch for longer than the settings allow.
    pub fn wait(&self, failed: u32, after: Option<Duration>) -> Duration {
        let doubled = self
            .initial
            .saturating_mul(2u32.saturating_pow(failed.saturating_sub(1)));
        after.unwrap_or(doubled).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spyglass_receiver::rpc_status::grpc_status;
    use tonic::{Code, Status};

    #[test]
    fn grpc_overload_and_connection_failures_are_retried() {
        for code in [
            Code::Unavailable,
            Code::ResourceExhausted,
            Code::DeadlineExceeded,
        ] {
            assert!(grpc(&Status::new(code, "x")).is_retry(), "{code:?}");
        }
        for code in [
            Code::InvalidArgument,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Unimplemented,
            Code::Internal,
        ] {
            assert!(
                matches!(grpc(&Status::new(code, "x")), Outcome::Fail { .. }),
                "{code:?}"
            );
        }
    }

    #[test]
    fn grpc_retry_info_is_the_delay() {
        let status = grpc_status(Code::Unavailable, "busy".into(), Some(7));
        assert_eq!(
            grpc(&status),
            Outcome::Retry {
                after: Some(Duration::from_secs(7)),
                why: "gRPC Unavailable: busy".into()
            }
        );
        match grpc(&Status::unavailable("no details")) {
            Outcome::Retry { after, .. } => assert_eq!(after, None),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn http_statuses_and_retry_after() {
        for code in [429, 502, 503, 504] {
            assert!(http(code, None).is_retry(), "{code}");
        }
        for code in [400, 401, 403, 404, 413, 500] {
            assert!(matches!(http(code, None), Outcome::Fail { .. }), "{code}");
        }
        let after = |v| match http(503, Some(v)) {
            Outcome::Retry { after, .. } => after,
            other => panic!("{other:?}"),
        };
        assert_eq!(after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_caps_retry_after() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let waits: Vec<u128> = (1..=6).map(|n| b.wait(n, None).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.wait(1, Some(Duration::from_millis(300))).as_millis(), 300);
        assert_eq!(b.wait(1, Some(Duration::from_secs(60))).as_millis(), 1000);
        assert_eq!(b.wait(u32::MAX, None), b.max);
    }
}
