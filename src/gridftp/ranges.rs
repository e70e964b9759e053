//! Sets of byte ranges (half-open `[start, end)`), merged as blocks arrive. They back MODE
//! E restart markers (`111 Range Marker 0-1048576,…`, GFD.20 §"Restart markers") and
//! `REST` ranges for ESTO/ERET resumes.

use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    /// Sorted, non-overlapping, non-adjacent.
    ranges: Vec<(u64, u64)>,
}

impl RangeSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `[start, end)`; empty ranges are ignored.
    pub fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut s, mut e) = (start, end);
        let mut kept = Vec::with_capacity(self.ranges.len() + 1);
        for &(a, b) in &self.ranges {
            if b < s || a > e {
                kept.push((a, b));
            } else {
                s = s.min(a);
                e = e.max(b);
            }
        }
        let at = kept.partition_point(|&(a, _)| a < s);
        kept.insert(at, (s, e));
        self.ranges = kept;
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Total bytes covered.
    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|(a, b)| b - a).sum()
    }

    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// Parses `s-e,s-e` (as in `REST 0-100,200-300`).
    pub fn parse(text: &str) -> Option<RangeSet> {
        let mut set = RangeSet::new();
        for part in text.trim().split(',') {
            let (a, b) = part.trim().split_once('-')?;
            let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            if a > b {
                return None;
            }
            set.insert(a, b);
        }
        Some(set)
    }
}

impl fmt::Display for RangeSet {
    /// `0-100,200-300` (exclusive ends), the form of 111 markers and REST.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (a, b)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{a}-{b}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_overlapping_and_adjacent() {
        let mut r = RangeSet::new();
        r.insert(10, 20);
        r.insert(30, 40);
        assert_eq!(r.to_string(), "10-20,30-40");
        r.insert(20, 30);
        assert_eq!(r.to_string(), "10-40");
        r.insert(0, 5);
        r.insert(5, 5);
        assert_eq!(r.to_string(), "0-5,10-40");
        r.insert(3, 12);
        assert_eq!(r.to_string(), "0-40");
        assert_eq!(r.len(), 40);
    }

    #[test]
    fn out_of_order_blocks() {
        let mut r = RangeSet::new();
        for (a, b) in [(300, 400), (0, 100), (200, 300), (100, 200)] {
            r.insert(a, b);
        }
        assert_eq!(r.ranges(), &[(0, 400)]);
    }

    #[test]
    fn parse_and_print() {
        assert_eq!(
            RangeSet::parse("0-1048576,2097152-3145728")
                .unwrap()
                .to_string(),
            "0-1048576,2097152-3145728"
        );
        assert_eq!(RangeSet::parse(" 5-10 , 0-5 ").unwrap().to_string(), "0-10");
        assert!(RangeSet::parse("10-5").is_none());
        assert!(RangeSet::parse("abc").is_none());
        assert!(RangeSet::parse("1-2,").is_none());
    }
}
