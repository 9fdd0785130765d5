//! Summaries of a distribution stored as exact `(value, count)` pairs: what
//! the `ranking` projection keeps per problem for runtimes and memory peaks.
//! Pure, so the numbers the API shows are unit-tested without a database.

/// A distribution of non-negative integer measurements (ms, KiB).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Distribution {
    /// `(value, how many)`, ascending by value, counts positive.
    counts: Vec<(i64, i64)>,
    total: i64,
}

/// One histogram bar: values in `low..=high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub low: i64,
    pub high: i64,
    pub count: i64,
}

impl Distribution {
    /// From `(value, count)` pairs in any order; zero counts are dropped.
    pub fn from_counts(mut counts: Vec<(i64, i64)>) -> Self {
        counts.retain(|(_, n)| *n > 0);
        counts.sort_unstable();
        let total = counts.iter().map(|(_, n)| n).sum();
        Self { counts, total }
    }

    pub fn count(&self) -> i64 {
        self.total
    }

    pub fn min(&self) -> Option<i64> {
        self.counts.first().map(|(v, _)| *v)
    }

    pub fn max(&self) -> Option<i64> {
        self.counts.last().map(|(v, _)| *v)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.total > 0).then(|| {
            let sum: f64 = self.counts.iter().map(|(v, n)| *v as f64 * *n as f64).sum();
            sum / self.total as f64
        })
    }

    /// Nearest-rank percentile (`p` in 0..=100): the smallest value with at
    /// least `p`% of the measurements at or below it.
    pub fn percentile(&self, p: f64) -> Option<i64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((p.clamp(0.0, 100.0) / 100.0) * self.total as f64).ceil() as i64;
        let rank = rank.max(1);
        let mut seen = 0;
        for (v, n) in &self.counts {
            seen += n;
            if seen >= rank {
                return Some(*v);
            }
        }
        self.max()
    }

    /// At most `buckets` bars of equal integer width from the minimum to the
    /// maximum; empty bars in between are kept so the shape is honest.
    pub fn histogram(&self, buckets: usize) -> Vec<Bucket> {
        let (Some(lo), Some(hi)) = (self.min(), self.max()) else {
            return vec![];
        };
        let buckets = buckets.max(1) as i64;
        let span = hi - lo + 1;
        let width = (span + buckets - 1) / buckets;
        let n = (span + width - 1) / width;
        let mut out: Vec<Bucket> = (0..n)
            .map(|i| Bucket {
                low: lo + i * width,
                high: lo + (i + 1) * width - 1,
                count: 0,
            })
            .collect();
        for (v, c) in &self.counts {
            out[((v - lo) / width) as usize].count += c;
        }
        out
    }
}

/// "Faster than X%": the share of `total` measurements that are strictly
/// greater than this one, in percent. `None` when there are none.
pub fn share_above(strictly_greater: i64, total: i64) -> Option<f64> {
    (total > 0).then(|| 100.0 * strictly_greater as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_exact_counts() {
        let d = Distribution::from_counts(vec![(30, 1), (10, 2), (20, 1), (99, 0)]);
        assert_eq!(d.count(), 4);
        assert_eq!((d.min(), d.max()), (Some(10), Some(30)));
        assert_eq!(d.mean(), Some(17.5));
        assert_eq!(d.percentile(50.0), Some(10));
        assert_eq!(d.percentile(75.0), Some(20));
        assert_eq!(d.percentile(90.0), Some(30));
        assert_eq!(d.percentile(0.0), Some(10));
    }

    #[test]
    fn histogram_covers_min_to_max_in_equal_bars() {
        let d = Distribution::from_counts(vec![(10, 2), (14, 1), (29, 3)]);
        let h = d.histogram(4);
        assert_eq!(
            h,
            vec![
                Bucket {
                    low: 10,
                    high: 14,
                    count: 3
                },
                Bucket {
                    low: 15,
                    high: 19,
                    count: 0
                },
                Bucket {
                    low: 20,
                    high: 24,
                    count: 0
                },
                Bucket {
                    low: 25,
                    high: 29,
                    count: 3
                },
            ]
        );
        assert_eq!(h.iter().map(|b| b.count).sum::<i64>(), d.count());
        // Fewer distinct values than bars: one value per bar.
        assert_eq!(
            Distribution::from_counts(vec![(5, 1), (6, 1)])
                .histogram(10)
                .len(),
            2
        );
        assert!(Distribution::default().histogram(10).is_empty());
    }

    #[test]
    fn share_above_is_a_percentage_of_all() {
        assert_eq!(share_above(87, 100), Some(87.0));
        assert_eq!(share_above(0, 1), Some(0.0));
        assert_eq!(share_above(0, 0), None);
    }
}
