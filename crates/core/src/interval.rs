//! Confidence intervals for proportions.
//!
//! - [`wilson`]: the Wilson score interval for one proportion. Unlike the textbook
//!   "p ± z·√(p(1−p)/n)" it never leaves [0, 1], is not degenerate at 0 or n successes,
//!   and keeps close to its nominal coverage down to small samples, which is what a
//!   survey answered by a handful of visitors per channel group needs.
//! - [`newcombe_difference`]: Newcombe's hybrid score interval for the difference of two
//!   independent proportions (method 10 of Newcombe, *Statistics in Medicine* 17, 1998,
//!   pp. 873–890), assembled from the two Wilson intervals.

/// The two-sided 95 % quantile of the standard normal distribution.
pub const Z95: f64 = 1.959963984540054;

/// Wilson score interval for `k` successes in `n` trials at normal quantile `z` (use
/// [`Z95`] for 95 %). With no trials nothing is known: `(0.0, 1.0)`. A `k` above `n` is
/// read as `n`. The bounds are exactly 0 for `k == 0` and exactly 1 for `k == n`.
pub fn wilson(k: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let k = k.min(n);
    let n_f = n as f64;
    let p = k as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = (z / denom) * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    let low = if k == 0 {
        0.0
    } else {
        (centre - half).clamp(0.0, 1.0)
    };
    let high = if k == n {
        1.0
    } else {
        (centre + half).clamp(0.0, 1.0)
    };
    (low, high)
}

/// Newcombe's hybrid score interval (his method 10) for `p1 − p2 = k1/n1 − k2/n2`, built
/// from the two Wilson intervals `(l1, u1)` and `(l2, u2)`:
///
/// ```text
/// low  = d − √((p1 − l1)² + (u2 − p2)²)
/// high = d + √((u1 − p1)² + (p2 − l2)²)
/// ```
///
/// When a sample is empty its proportion may be anything in [0, 1], so the interval is
/// the widest difference the two Wilson intervals allow, `(l1 − u2, u1 − l2)`. The
/// result always lies within [−1, 1].
pub fn newcombe_difference(k1: u64, n1: u64, k2: u64, n2: u64, z: f64) -> (f64, f64) {
    let (l1, u1) = wilson(k1, n1, z);
    let (l2, u2) = wilson(k2, n2, z);
    if n1 == 0 || n2 == 0 {
        return ((l1 - u2).max(-1.0), (u1 - l2).min(1.0));
    }
    let p1 = k1.min(n1) as f64 / n1 as f64;
    let p2 = k2.min(n2) as f64 / n2 as f64;
    let d = p1 - p2;
    let low = d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
    let high = d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
    (low.max(-1.0), high.min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: (f64, f64), expected: (f64, f64), tol: f64) {
        assert!(
            (actual.0 - expected.0).abs() <= tol && (actual.1 - expected.1).abs() <= tol,
            "got ({:.5}, {:.5}), expected ({:.4}, {:.4})",
            actual.0,
            actual.1,
            expected.0,
            expected.1
        );
    }

    #[test]
    fn wilson_matches_published_values() {
        // Newcombe (1998a), table II, method 3 (score interval without continuity
        // correction), four of his examples.
        close(wilson(81, 263, Z95), (0.2553, 0.3662), 5e-5);
        close(wilson(15, 148, Z95), (0.0624, 0.1605), 5e-5);
        close(wilson(0, 20, Z95), (0.0, 0.1611), 5e-5);
        close(wilson(1, 29, Z95), (0.0061, 0.1718), 5e-5);
    }

    #[test]
    fn wilson_by_hand() {
        // 5/10 at z = 2: centre = (0.5 + 0.2) / 1.4 = 0.5,
        // half = (2 / 1.4) · √(0.025 + 0.01) = 0.267261…
        let (l, h) = wilson(5, 10, 2.0);
        let half = (2.0 / 1.4) * 0.035f64.sqrt();
        assert!((l - (0.5 - half)).abs() < 1e-12, "{l}");
        assert!((h - (0.5 + half)).abs() < 1e-12, "{h}");
    }

    #[test]
    fn wilson_edges() {
        assert_eq!(wilson(0, 0, Z95), (0.0, 1.0));
        let (l, h) = wilson(7, 7, Z95);
        assert_eq!(h, 1.0);
        assert!(l > 0.6 && l < 0.7, "{l}");
        // k above n is read as n.
        assert_eq!(wilson(9, 7, Z95), wilson(7, 7, Z95));
        // Symmetry: the interval for failures mirrors the one for successes.
        let (a, b) = wilson(3, 17, Z95);
        let (c, d) = wilson(14, 17, Z95);
        assert!((a - (1.0 - d)).abs() < 1e-12 && (b - (1.0 - c)).abs() < 1e-12);
        // More trials at the same proportion narrow the interval.
        let (l1, h1) = wilson(10, 40, Z95);
        let (l2, h2) = wilson(100, 400, Z95);
        assert!(h2 - l2 < h1 - l1);
    }

    #[test]
    fn newcombe_matches_published_values() {
        // Newcombe (1998b), table II, method 10.
        close(
            newcombe_difference(56, 70, 48, 80, Z95),
            (0.0524, 0.3339),
            5e-5,
        );
        close(
            newcombe_difference(9, 10, 3, 10, Z95),
            (0.1705, 0.8090),
            5e-5,
        );
        close(
            newcombe_difference(0, 10, 0, 20, Z95),
            (-0.1611, 0.2775),
            5e-5,
        );
        close(newcombe_difference(10, 10, 0, 20, Z95), (0.6791, 1.0), 5e-5);
        close(
            newcombe_difference(5, 56, 0, 29, Z95),
            (-0.0381, 0.1926),
            5e-5,
        );
    }

    #[test]
    fn newcombe_edges() {
        // Swapping the samples mirrors the interval.
        let (a, b) = newcombe_difference(12, 40, 30, 50, Z95);
        let (c, d) = newcombe_difference(30, 50, 12, 40, Z95);
        assert!((a + d).abs() < 1e-12 && (b + c).abs() < 1e-12);
        // The point difference lies inside.
        assert!(a < 0.3 - 0.6 && 0.3 - 0.6 < b);
        // An empty sample: anything its Wilson box allows.
        assert_eq!(newcombe_difference(0, 0, 0, 0, Z95), (-1.0, 1.0));
        let (l, h) = newcombe_difference(5, 10, 0, 0, Z95);
        let (wl, wh) = wilson(5, 10, Z95);
        assert!((l - (wl - 1.0)).abs() < 1e-12 && (h - wh).abs() < 1e-12);
        // Extremes stay within [−1, 1].
        let (l, h) = newcombe_difference(10, 10, 0, 10, Z95);
        assert!(l > 0.0 && h == 1.0, "({l}, {h})");
    }
}
