//! The cost of one request from its token counts and a price.
//!
//! Token counts follow the canonical span (docs/canonical-span.md): `input` counts every input
//! token, cached ones included, and `cache_read` / `cache_write` are subsets of it; `output`
//! counts every output token and `reasoning` is a subset of it. So cached tokens are priced
//! once, at their cache rate, and never again as input; reasoning tokens are priced at the
//! reasoning rate (the output rate unless a table says otherwise).

use super::table::Price;
use spyglass_model::Tokens;

/// US dollars, or `None` when the span carries no token counts to price.
pub fn cost_usd(price: &Price, t: &Tokens) -> Option<f64> {
    if t.input.is_none() && t.output.is_none() && t.cache_read.is_none() {
        return None;
    }
    let n = |v: Option<i64>| v.unwrap_or(0).max(0);
    let cache_read = n(t.cache_read);
    let cache_write = n(t.cache_write);
    // A convention that reported cached tokens without input still used them as input.
    let input = n(t.input).max(cache_read.saturating_add(cache_write));
    let output = n(t.output);
    let reasoning = n(t.reasoning).min(output);
    let r = price.for_input(input);
    let uncached = input - cache_read - cache_write;
    let micro = uncached as f64 * r.input
        + cache_read as f64 * r.cache_read
        + cache_write as f64 * r.cache_write
        + (output - reasoning) as f64 * r.output
        + reasoning as f64 * r.reasoning;
    Some(micro / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::table::Resolved;
    use proptest::prelude::*;

    fn price() -> Price {
        Price {
            base: Resolved {
                input: 3.0,
                output: 15.0,
                cache_read: 0.3,
                cache_write: 3.75,
                reasoning: 15.0,
            },
            tiers: vec![(
                200_000,
                Resolved {
                    input: 6.0,
                    output: 22.5,
                    cache_read: 0.6,
                    cache_write: 7.5,
                    reasoning: 22.5,
                },
            )],
        }
    }

    fn tokens(
        input: i64,
        output: i64,
        cache_read: i64,
        cache_write: i64,
        reasoning: i64,
    ) -> Tokens {
        Tokens {
            input: Some(input),
            output: Some(output),
            cache_read: Some(cache_read),
            cache_write: Some(cache_write),
            reasoning: Some(reasoning),
            total: None,
        }
    }

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("priced");
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn cached_tokens_are_priced_once() {
        // 10k input of which 8k read from cache and 1k written: 1k uncached.
        close(
            cost_usd(&price(), &tokens(10_000, 0, 8_000, 1_000, 0)),
            (1_000.0 * 3.0 + 8_000.0 * 0.3 + 1_000.0 * 3.75) / 1e6,
        );
    }

    #[test]
    fn long_context_prices_the_whole_request_at_the_tier() {
        close(
            cost_usd(&price(), &tokens(250_000, 1_000, 50_000, 0, 0)),
            (200_000.0 * 6.0 + 50_000.0 * 0.6 + 1_000.0 * 22.5) / 1e6,
        );
    }

    #[test]
    fn nothing_to_price_is_none_not_zero() {
        assert_eq!(cost_usd(&price(), &Tokens::default()), None);
        close(
            cost_usd(
                &price(),
                &Tokens {
                    output: Some(0),
                    ..Tokens::default()
                },
            ),
            0.0,
        );
    }

    proptest! {
        /// Moving tokens from uncached to cached input never raises the cost when cache reads
        /// are cheaper, and the cost never goes negative whatever the counts say.
        #[test]
        fn caching_never_costs_more(input in 0i64..1_000_000, cached in 0i64..1_000_000, out in 0i64..100_000, reasoning in -10i64..200_000) {
            let cached = cached.min(input);
            let p = price();
            let without = cost_usd(&p, &tokens(input, out, 0, 0, reasoning)).unwrap();
            let with = cost_usd(&p, &tokens(input, out, cached, 0, reasoning)).unwrap();
            prop_assert!(with <= without + 1e-12);
            prop_assert!(with >= 0.0);
        }
    }
}
