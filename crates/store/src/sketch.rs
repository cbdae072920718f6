//! A mergeable latency sketch (DDSketch, 1% relative accuracy): a value lands in the bucket
//! `ceil(log_γ v)`, so any quantile comes back within 1% of a true value whatever the
//! distribution, and two sketches merge by adding bucket counts. Counts are signed because
//! the rollup writer also subtracts: a span version that another replaces takes its value
//! back out. Written here rather than taken from a crate because the rollups need exactly
//! that (negative deltas) and a compact byte form to store per row.

/// Relative accuracy of every quantile.
pub const ALPHA: f64 = 0.01;

fn gamma_ln() -> f64 {
    ((1.0 + ALPHA) / (1.0 - ALPHA)).ln()
}

/// Sparse bucket counts, sorted by bucket index. Values ≤ 1 (ns) share the zero bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sketch {
    zero: i64,
    bins: Vec<(i16, i64)>,
}

impl Sketch {
    pub fn bucket(v: f64) -> Option<i16> {
        if v <= 1.0 || v.is_nan() {
            return None;
        }
        Some((v.ln() / gamma_ln()).ceil().min(i16::MAX as f64) as i16)
    }

    /// The value a bucket stands for: the point whose relative error to both edges is ALPHA.
    fn value_of(bucket: i16) -> f64 {
        let g = gamma_ln().exp();
        2.0 * g.powi(bucket as i32) / (g + 1.0)
    }

    pub fn add(&mut self, v: f64, n: i64) {
        match Self::bucket(v) {
            None => self.zero += n,
            Some(b) => self.add_bucket(b, n),
        }
    }

    fn add_bucket(&mut self, b: i16, n: i64) {
        match self.bins.binary_search_by_key(&b, |(k, _)| *k) {
            Ok(i) => {
                self.bins[i].1 += n;
                if self.bins[i].1 == 0 {
                    self.bins.remove(i);
                }
            }
            Err(i) => {
                if n != 0 {
                    self.bins.insert(i, (b, n));
                }
            }
        }
    }

    pub fn merge(&mut self, o: &Sketch) {
        self.zero += o.zero;
        if self.bins.is_empty() {
            self.bins = o.bins.clone();
            return;
        }
        // An accumulator soon holds every bucket its rows use: adding a small sketch into it
        // bucket by bucket is a few binary searches and no allocation, where a full merge
        // would rebuild the accumulator for every row (it dominated 24-hour percentile queries).
        if o.bins.len() <= self.bins.len() {
            for (b, n) in &o.bins {
                self.add_bucket(*b, *n);
            }
            return;
        }
        // Both are sorted: one linear merge instead of a search per bucket.
        let mut out = Vec::with_capacity(self.bins.len() + o.bins.len());
        let (mut i, mut j) = (0, 0);
        while i < self.bins.len() || j < o.bins.len() {
            let next = match (self.bins.get(i), o.bins.get(j)) {
                (Some(a), Some(b)) if a.0 == b.0 => {
                    i += 1;
                    j += 1;
                    (a.0, a.1 + b.1)
                }
                (Some(a), Some(b)) if a.0 < b.0 => {
                    i += 1;
                    *a
                }
                (Some(a), None) => {
                    i += 1;
                    *a
                }
                (_, Some(b)) => {
                    j += 1;
                    *b
                }
                (None, None) => unreachable!("loop condition"),
            };
            if next.1 != 0 {
                out.push(next);
            }
        }
        self.bins = out;
    }

    /// Takes `o`'s counts out.
    pub fn subtract(&mut self, o: &Sketch) {
        let negated = Sketch {
            zero: -o.zero,
            bins: o.bins.iter().map(|(b, n)| (*b, -n)).collect(),
        };
        self.merge(&negated);
    }

    /// The zero bucket's count and the other buckets' (index, count), sorted by index.
    pub fn parts(&self) -> (i64, &[(i16, i64)]) {
        (self.zero, &self.bins)
    }

    /// A sketch from [`Sketch::parts`]-shaped counts in any order (repeated buckets add up).
    pub fn from_parts(zero: i64, bins: impl IntoIterator<Item = (i16, i64)>) -> Sketch {
        let mut s = Sketch {
            zero,
            bins: Vec::new(),
        };
        for (b, n) in bins {
            s.add_bucket(b, n);
        }
        s
    }

    pub fn count(&self) -> i64 {
        self.zero + self.bins.iter().map(|(_, n)| n).sum::<i64>()
    }

    pub fn is_empty(&self) -> bool {
        self.zero == 0 && self.bins.is_empty()
    }

    /// The q-quantile (0..=1), within ALPHA of a value of rank ⌊q·(n−1)⌋; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n <= 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * (n - 1) as f64).floor() as i64;
        let mut seen = self.zero;
        if rank < seen {
            return Some(0.0);
        }
        for (b, c) in &self.bins {
            seen += c;
            if rank < seen {
                return Some(Self::value_of(*b));
            }
        }
        self.bins.last().map(|(b, _)| Self::value_of(*b))
    }

    /// Compact bytes: zero count, then (bucket delta, count) pairs, all zigzag varints.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.bins.len() * 3);
        put_varint(&mut out, zigzag(self.zero));
        let mut prev = 0i64;
        for (b, c) in &self.bins {
            put_varint(&mut out, zigzag(*b as i64 - prev));
            put_varint(&mut out, zigzag(*c));
            prev = *b as i64;
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Sketch> {
        let mut s = Sketch::default();
        decode(bytes, |b, c| match b {
            None => s.zero = c,
            Some(b) => s.bins.push((b, c)),
        })?;
        Some(s)
    }
}

/// An accumulator for merging many stored sketches: dense counts, so adding a bucket is an
/// index, not a search and a shift (a 24-hour percentile merges every minute's sketches).
#[derive(Debug, Default)]
pub struct DenseSketch {
    zero: i64,
    first: i16,
    counts: Vec<i64>,
}

impl DenseSketch {
    fn add(&mut self, b: i16, c: i64) {
        if self.counts.is_empty() {
            self.first = b;
        }
        if b < self.first {
            let grow = (self.first - b) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.first = b;
        }
        let i = (b - self.first) as usize;
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += c;
    }

    /// Adds the sketch `bytes` encode; `None` when they are not a sketch.
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Option<()> {
        decode(bytes, |b, c| match b {
            None => self.zero += c,
            Some(b) => self.add(b, c),
        })
    }

    pub fn into_sketch(self) -> Sketch {
        let first = self.first;
        Sketch {
            zero: self.zero,
            bins: self
                .counts
                .into_iter()
                .enumerate()
                .filter(|(_, c)| *c != 0)
                .map(|(i, c)| (first + i as i16, c))
                .collect(),
        }
    }
}

/// Calls `f` with the zero count (bucket `None`), then each bucket and count in order; `None`
/// when the bytes are not a sketch.
fn decode(mut bytes: &[u8], mut f: impl FnMut(Option<i16>, i64)) -> Option<()> {
    f(None, unzigzag(get_varint(&mut bytes)?));
    let mut prev: Option<i64> = None;
    while !bytes.is_empty() {
        let b = prev.unwrap_or(0) + unzigzag(get_varint(&mut bytes)?);
        let c = unzigzag(get_varint(&mut bytes)?);
        let b16 = i16::try_from(b).ok()?;
        if prev.is_some_and(|p| p >= b) {
            return None;
        }
        f(Some(b16), c);
        prev = Some(b);
    }
    Some(())
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
    }

    proptest! {
        #[test]
        fn quantiles_are_within_alpha(values in proptest::collection::vec(2.0f64..1e12, 1..400), q in 0.0f64..=1.0) {
            let mut s = Sketch::default();
            for v in &values {
                s.add(*v, 1);
            }
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let want = exact_quantile(&sorted, q);
            let got = s.quantile(q).unwrap();
            prop_assert!((got - want).abs() <= want * ALPHA * 1.0001, "q {q}: got {got}, want {want}");
        }

        #[test]
        fn merge_equals_adding_everything(a in proptest::collection::vec(0.0f64..1e10, 0..100), b in proptest::collection::vec(0.0f64..1e10, 0..100)) {
            let (mut sa, mut sb, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
            for v in &a { sa.add(*v, 1); all.add(*v, 1); }
            for v in &b { sb.add(*v, 1); all.add(*v, 1); }
            let mut dense = DenseSketch::default();
            dense.merge_bytes(&sb.to_bytes()).unwrap();
            dense.merge_bytes(&sa.to_bytes()).unwrap();
            prop_assert_eq!(&dense.into_sketch(), &all);
            sa.merge(&sb);
            prop_assert_eq!(sa, all);
        }

        #[test]
        fn bytes_round_trip(values in proptest::collection::vec((0.0f64..1e13, -3i64..4), 0..200)) {
            let mut s = Sketch::default();
            for (v, n) in &values { s.add(*v, *n); }
            prop_assert_eq!(Sketch::from_bytes(&s.to_bytes()), Some(s));
        }

        #[test]
        fn garbage_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Sketch::from_bytes(&bytes);
        }
    }

    #[test]
    fn subtracting_a_value_takes_it_back_out() {
        let mut s = Sketch::default();
        s.add(1000.0, 1);
        s.add(5_000_000.0, 1);
        let mut undo = Sketch::default();
        undo.add(5_000_000.0, -1);
        s.merge(&undo);
        let mut want = Sketch::default();
        want.add(1000.0, 1);
        assert_eq!(s, want);
        assert_eq!(s.count(), 1);
    }

    #[test]
    fn empty_has_no_quantile_and_zero_durations_read_zero() {
        assert_eq!(Sketch::default().quantile(0.5), None);
        let mut s = Sketch::default();
        s.add(0.0, 3);
        assert_eq!(s.quantile(0.99), Some(0.0));
    }
}
