//! OTLP trace and span ids: fixed-size byte arrays, lowercase hex on the wire and in the API.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("expected {expected} hex characters, got {got}")]
    Length { expected: usize, got: usize },
    #[error("not a hexadecimal id")]
    NotHex,
    #[error("id is all zeros")]
    Zero,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn encode_hex<const N: usize>(bytes: &[u8; N], out: &mut [u8]) {
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 0xf) as usize];
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn decode_hex<const N: usize>(s: &str) -> Result<[u8; N], IdError> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return Err(IdError::Length {
            expected: 2 * N,
            got: s.len(),
        });
    }
    let mut out = [0u8; N];
    for i in 0..N {
        let hi = hex_val(s[2 * i]).ok_or(IdError::NotHex)?;
        let lo = hex_val(s[2 * i + 1]).ok_or(IdError::NotHex)?;
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

macro_rules! id_type {
    ($name:ident, $n:expr, $hexlen:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; $n]);

        impl $name {
            pub const LEN: usize = $n;

            /// Accepts exactly `LEN` bytes that are not all zero (the OTLP validity rule).
            pub fn from_bytes(b: &[u8]) -> Result<Self, IdError> {
                let arr: [u8; $n] = b.try_into().map_err(|_| IdError::Length {
                    expected: 2 * $n,
                    got: 2 * b.len(),
                })?;
                if arr.iter().all(|&x| x == 0) {
                    return Err(IdError::Zero);
                }
                Ok(Self(arr))
            }

            pub fn to_hex(&self) -> String {
                let mut buf = [0u8; 2 * $n];
                encode_hex(&self.0, &mut buf);
                // Only ASCII hex digits were written.
                String::from_utf8(buf.to_vec()).expect("hex is ascii")
            }

            pub fn is_zero(&self) -> bool {
                self.0.iter().all(|&x| x == 0)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^[0-9a-f]{", stringify!($hexlen), "}$")))
                    .description(Some($doc))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let arr = decode_hex::<$n>(s)?;
                Self::from_bytes(&arr)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut buf = [0u8; 2 * $n];
                encode_hex(&self.0, &mut buf);
                f.write_str(std::str::from_utf8(&buf).expect("hex is ascii"))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut buf = [0u8; 2 * $n];
                encode_hex(&self.0, &mut buf);
                s.serialize_str(std::str::from_utf8(&buf).expect("hex is ascii"))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    TraceId,
    16,
    32,
    "A 16-byte OTLP trace id, as 32 lowercase hex characters."
);
id_type!(
    SpanId,
    8,
    16,
    "An 8-byte OTLP span id, as 16 lowercase hex characters."
);

impl TraceId {
    pub fn as_u128(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }
    pub fn from_u128(v: u128) -> Self {
        Self(v.to_be_bytes())
    }
}

impl SpanId {
    pub fn as_u64(&self) -> u64 {
        u64::from_be_bytes(self.0)
    }
    pub fn from_u64(v: u64) -> Self {
        Self(v.to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints_lowercase_hex() {
        let t: TraceId = "5B8EFFF798038103D269B633813FC60C".parse().unwrap();
        assert_eq!(t.to_string(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(t.to_hex(), t.to_string());
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(
            "abc".parse::<SpanId>(),
            Err(IdError::Length {
                expected: 16,
                got: 3
            })
        );
        assert_eq!("zzzzzzzzzzzzzzzz".parse::<SpanId>(), Err(IdError::NotHex));
        assert_eq!("0000000000000000".parse::<SpanId>(), Err(IdError::Zero));
        assert_eq!(
            SpanId::from_bytes(&[1, 2, 3]),
            Err(IdError::Length {
                expected: 16,
                got: 6
            })
        );
    }

    proptest! {
        #[test]
        fn hex_round_trip(v in 1u128..) {
            let t = TraceId::from_u128(v);
            let back: TraceId = t.to_string().parse().unwrap();
            prop_assert_eq!(back, t);
            prop_assert_eq!(back.as_u128(), v);
        }

        #[test]
        fn serde_round_trip(v in 1u64..) {
            let s = SpanId::from_u64(v);
            let json = serde_json::to_string(&s).unwrap();
            let back: SpanId = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, s);
        }
    }
}
