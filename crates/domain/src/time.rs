//! Days and instants. Instants are stored as seconds since the Unix epoch (UTC);
//! days are calendar days in the deployment's time zone.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The default time zone of a deployment: the one Jilin's bulletins use.
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Asia::Shanghai;

/// `[start, end)` of a calendar day (0–24 h) in `tz`, as UTC instants.
pub fn day_bounds(date: NaiveDate, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = local_midnight(date, tz);
    let end = local_midnight(date.succ_opt().unwrap_or(date), tz);
    (start, end)
}

fn local_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let naive = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A midnight that does not exist (a DST jump) starts at the earliest valid instant after it.
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        chrono::LocalResult::None => tz
            .from_local_datetime(&(naive + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&naive)),
    }
}

/// Reads an instant: RFC 3339 with an offset, or a local date-time (`YYYY-MM-DD HH:MM[:SS]`,
/// also with `T`) read in `tz`, or a bare date meaning local midnight.
pub fn parse_instant(raw: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    const LOCAL: [&str; 4] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ];
    for f in LOCAL {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return tz
                .from_local_datetime(&n)
                .earliest()
                .map(|t| t.with_timezone(&Utc));
        }
    }
    if let Some(d) = parse_date(s) {
        return Some(local_midnight(d, tz));
    }
    None
}

/// Reads a calendar date `YYYY-MM-DD` (also `YYYY/MM/DD`). Impossible dates are `None`.
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    let s = raw.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y/%m/%d"))
        .ok()
}

/// Formats an instant as RFC 3339 in `tz`, to the second.
pub fn format_instant(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

pub fn to_epoch(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

pub fn from_epoch(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_in_shanghai_starts_at_16h_utc_the_day_before() {
        let d = NaiveDate::from_ymd_opt(2022, 3, 9).unwrap();
        let (s, e) = day_bounds(d, DEFAULT_TIME_ZONE);
        assert_eq!(s.to_rfc3339(), "2022-03-08T16:00:00+00:00");
        assert_eq!(e.to_rfc3339(), "2022-03-09T16:00:00+00:00");
    }

    #[test]
    fn times_without_offset_are_local() {
        let t = parse_instant("2022-03-09 08:30", DEFAULT_TIME_ZONE).unwrap();
        assert_eq!(t.to_rfc3339(), "2022-03-09T00:30:00+00:00");
        let t = parse_instant("2022-03-09T08:30:00Z", DEFAULT_TIME_ZONE).unwrap();
        assert_eq!(t.to_rfc3339(), "2022-03-09T08:30:00+00:00");
        assert!(parse_instant("2022-02-30 08:00", DEFAULT_TIME_ZONE).is_none());
        assert!(parse_date("2022-02-29").is_none());
    }
}
