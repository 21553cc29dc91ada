//! The epidemic curve of the demo: daily bulletin figures, how each day splits
//! between Jilin City, Changchun and the rest of the province, and how many of
//! a day's confirmed cases are reclassified asymptomatic infections.

/// New local confirmed cases (including reclassified asymptomatic infections)
/// and new local asymptomatic infections, per day of March 2022, at scale 1.0.
///
/// Only the anchor rows are published figures from the Jilin Health Commission
/// bulletins: 9 March (165 confirmed, 12 of them reclassified, + 179
/// asymptomatic), 14 March (3,076 + 991, the peak), 22 March (2,320 + 528) and
/// 31 March (1,363 + 871). Every other row is an interpolation drawn by hand to
/// give the wave a plausible shape: a small start on 1–4 March, a steep rise
/// to the peak, a dip, a second rise as Changchun grows, and a late-March
/// plateau of 1,000–2,300 confirmed + 300–1,000 asymptomatic a day.
pub(crate) const DAILY_LOCAL: [(u32, u32, u32); 31] = [
    (1, 1, 2),
    (2, 1, 3),
    (3, 2, 5),
    (4, 4, 8),
    (5, 9, 18),
    (6, 20, 36),
    (7, 42, 64),
    (8, 88, 115),
    (9, 165, 179), // published
    (10, 390, 320),
    (11, 1020, 560),
    (12, 1480, 720),
    (13, 2190, 860),
    (14, 3076, 991), // published: the peak
    (15, 1840, 940),
    (16, 1510, 870),
    (17, 1620, 820),
    (18, 1930, 760),
    (19, 2080, 690),
    (20, 1860, 620),
    (21, 1990, 570),
    (22, 2320, 528), // published
    (23, 1980, 560),
    (24, 1720, 610),
    (25, 1560, 660),
    (26, 1680, 720),
    (27, 1490, 760),
    (28, 1420, 800),
    (29, 1380, 830),
    (30, 1310, 850),
    (31, 1363, 871), // published
];

/// Share of a day's confirmed cases that were reported asymptomatic earlier,
/// in per mille. The bulletins' "含X例无症状感染者转为确诊病例" ran at roughly
/// 5–10 %; 9 March is set so that 165 confirmed give the published 12.
/// Nothing can be reclassified in the first days: there is no one to reclassify.
const RECLASSIFIED_PER_MILLE: [u32; 31] = [
    0, 0, 0, 0, 40, 50, 60, 70, 73, 80, 85, 90, 80, 75, 70, 65, 70, 75, 80, 85, 80, 75, 70, 65, 60,
    70, 75, 80, 70, 65, 60,
];

/// The groups a day's figures are split into: Jilin City, Changchun, and the
/// seven other prefectures together, which share a thin remainder.
pub(crate) const GROUP_JILIN_CITY: usize = 0;
pub(crate) const GROUP_CHANGCHUN: usize = 1;
pub(crate) const GROUPS: usize = 3;

type Keypoints = [(u32, [u64; GROUPS])];

/// Weights of (Jilin City, Changchun, other prefectures) on key days; days in
/// between are interpolated. 14 March carries the published split as raw
/// counts, so at scale 1.0 Jilin City gets exactly 2,601 confirmed.
const CONFIRMED_SPLIT: &Keypoints = &[
    (1, [500, 400, 100]),
    (5, [600, 330, 70]),
    (9, [700, 260, 40]),
    (12, [820, 160, 20]),
    (14, [2601, 450, 25]),
    (17, [760, 220, 20]),
    (20, [620, 360, 20]),
    (24, [470, 510, 20]),
    (28, [390, 590, 20]),
    (31, [350, 625, 25]),
];

/// As [`CONFIRMED_SPLIT`]; on 14 March Jilin City reported 979 of the 991.
const ASYMPTOMATIC_SPLIT: &Keypoints = &[
    (1, [500, 400, 100]),
    (5, [650, 290, 60]),
    (9, [780, 190, 30]),
    (12, [900, 90, 10]),
    (14, [979, 10, 2]),
    (17, [850, 140, 10]),
    (20, [650, 330, 20]),
    (24, [480, 500, 20]),
    (28, [400, 580, 20]),
    (31, [360, 620, 20]),
];

/// `round(count × scale)`, the rule the public API promises.
pub(crate) fn scaled(count: u32, scale: f64) -> u32 {
    (f64::from(count) * scale).round() as u32
}

/// How many of `confirmed` new confirmed on `day` should be reclassifications.
pub(crate) fn reclassified_target(day: u32, confirmed: u32) -> u32 {
    let pm = RECLASSIFIED_PER_MILLE[(day - 1) as usize];
    (confirmed * pm + 500) / 1000
}

pub(crate) fn confirmed_split(day: u32) -> [u64; GROUPS] {
    split_on(CONFIRMED_SPLIT, day)
}

pub(crate) fn asymptomatic_split(day: u32) -> [u64; GROUPS] {
    split_on(ASYMPTOMATIC_SPLIT, day)
}

fn split_on(points: &Keypoints, day: u32) -> [u64; GROUPS] {
    if let Some((_, w)) = points.iter().find(|(d, _)| *d == day) {
        return *w;
    }
    let after = points
        .iter()
        .position(|(d, _)| *d > day)
        .unwrap_or(points.len() - 1);
    let before = after.saturating_sub(1);
    let (d0, w0) = points[before];
    let (d1, w1) = points[after];
    let t = if d1 == d0 {
        0.0
    } else {
        f64::from(day - d0) / f64::from(d1 - d0)
    };
    let (s0, s1) = (shares(&w0), shares(&w1));
    let mut out = [0u64; GROUPS];
    for g in 0..GROUPS {
        out[g] = ((s0[g] + (s1[g] - s0[g]) * t) * 1_000_000.0).round() as u64;
    }
    out
}

fn shares(w: &[u64; GROUPS]) -> [f64; GROUPS] {
    let total: u64 = w.iter().sum();
    w.map(|x| x as f64 / total.max(1) as f64)
}

/// Splits `n` in proportion to `weights` by largest remainder, in integers so
/// the result is exact and the same on every platform. Ties go to the earlier weight.
pub(crate) fn apportion(n: u32, weights: &[u64]) -> Vec<u32> {
    let total: u64 = weights.iter().sum();
    if total == 0 {
        return vec![0; weights.len()];
    }
    let n64 = u64::from(n);
    let mut out: Vec<u32> = weights.iter().map(|w| (n64 * w / total) as u32).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(n64 * weights[i] % total));
    let given: u32 = out.iter().sum();
    for &i in order.iter().take((n - given) as usize) {
        out[i] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_is_exact_and_proportional() {
        assert_eq!(apportion(3076, &[2601, 450, 25]), [2601, 450, 25]);
        assert_eq!(apportion(10, &[1, 1, 1]), [4, 3, 3]);
        assert_eq!(apportion(0, &[5, 5]), [0, 0]);
        assert_eq!(apportion(7, &[0, 0]), [0, 0]);
        for n in 0..200 {
            assert_eq!(apportion(n, &[333, 500, 167]).iter().sum::<u32>(), n);
        }
    }

    #[test]
    fn nine_march_has_the_published_twelve_reclassifications() {
        assert_eq!(reclassified_target(9, 165), 12);
    }

    #[test]
    fn interpolated_splits_lie_between_their_keypoints() {
        let jc = |w: [u64; GROUPS]| w[0] as f64 / w.iter().sum::<u64>() as f64;
        let (a, b, mid) = (
            jc(confirmed_split(9)),
            jc(confirmed_split(12)),
            jc(confirmed_split(10)),
        );
        assert!(a < mid && mid < b);
        assert_eq!(confirmed_split(14), [2601, 450, 25]);
        assert_eq!(asymptomatic_split(14), [979, 10, 2]);
    }

    #[test]
    fn the_curve_covers_every_day_of_march_once() {
        for (i, (day, _, _)) in DAILY_LOCAL.iter().enumerate() {
            assert_eq!(*day as usize, i + 1);
        }
    }
}
