//! Dates and timestamps without chrono in the hot path: Spark's string → timestamp and → date
//! casts (what `try_to_timestamp` and `to_date` do without a format), a strict ISO / RFC 3339
//! parser for check arguments, Spark datetime patterns
//! (`MM/dd/yyyy`, `yyyy-MM-dd HH:mm:ss`, …) compiled to a token parser, proleptic Gregorian
//! day arithmetic, and Spark's `cast(… as string)` rendering of dates and timestamps.
//!
//! Timestamps are microseconds since the Unix epoch, UTC; dates are days since the epoch.

use super::error::ExprError;

/// Microseconds in one second.
pub const US_PER_SEC: i64 = 1_000_000;
/// Microseconds in one day.
pub const US_PER_DAY: i64 = 86_400 * US_PER_SEC;

/// The fields of a parsed date/time, before the zone offset is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// Days since 1970-01-01 of the local date.
    pub days: i64,
    /// Seconds since local midnight.
    pub secs: i64,
    /// Fraction of the second, in microseconds (digits beyond 6 are truncated).
    pub micros: i64,
    /// Zone offset east of UTC, in seconds (0 when absent: timestamps without zone are UTC).
    pub offset_secs: i64,
}

impl Parts {
    /// The UTC instant, in microseconds since the epoch.
    pub fn timestamp_us(&self) -> Option<i64> {
        let secs = self.days.checked_mul(86_400)? + self.secs - self.offset_secs;
        secs.checked_mul(US_PER_SEC)?.checked_add(self.micros)
    }
    /// The local calendar date (what Spark's `to_date` keeps).
    pub fn date_days(&self) -> Option<i32> {
        i32::try_from(self.days).ok()
    }
}

/// Whether `y` is a leap year (proleptic Gregorian).
#[inline]
pub fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in month `m` (1-12) of year `y`.
#[inline]
pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a (valid) civil date (H. Hinnant's algorithm).
#[inline]
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[inline]
pub(super) fn digits(s: &[u8], at: usize, n: usize) -> Option<u32> {
    let b = s.get(at..at + n)?;
    let mut v = 0u32;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u32;
    }
    Some(v)
}

/// Parses a zone suffix at `s[i..]`: `Z`, `z`, `±hh:mm`, `±hhmm`, `±hh`, or ` UTC`. The whole rest
/// of the input must be the zone.
fn parse_zone(s: &[u8], i: usize) -> Option<i64> {
    let rest = &s[i..];
    match rest {
        [] => Some(0),
        [b'Z'] | [b'z'] => Some(0),
        b"UTC" | b" UTC" => Some(0),
        [sign @ (b'+' | b'-'), ..] => {
            let sign = if *sign == b'+' { 1 } else { -1 };
            let (h, m) = match rest.len() {
                3 => (digits(rest, 1, 2)?, 0),
                5 => (digits(rest, 1, 2)?, digits(rest, 3, 2)?),
                6 if rest[3] == b':' => (digits(rest, 1, 2)?, digits(rest, 4, 2)?),
                _ => return None,
            };
            if h > 18 || m > 59 {
                return None;
            }
            Some(sign * (h as i64 * 3600 + m as i64 * 60))
        }
        _ => None,
    }
}

/// Parses strict ISO / RFC 3339 text (check arguments such as a limit of `2026-10-17`, typed
/// literals, `--now`; value casts follow Spark: [`spark_timestamp`], [`spark_date`]):
/// `yyyy-MM-dd`, `yyyy-MM-dd[T| ]HH:mm[:ss[.f…]][zone]` with zone `Z`, `±hh:mm`, `±hhmm`, `±hh`
/// or ` UTC` (no zone = UTC), with real calendar validation. Leading/trailing spaces are ignored,
/// as Spark's cast does.
pub fn parse_iso(s: &[u8]) -> Option<Parts> {
    let s = trim_ascii(s);
    if s.len() < 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let y = digits(s, 0, 4)? as i64;
    let mo = digits(s, 5, 2)?;
    let d = digits(s, 8, 2)?;
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    if s.len() == 10 {
        return Some(Parts {
            days,
            secs: 0,
            micros: 0,
            offset_secs: 0,
        });
    }
    if s[10] != b'T' && s[10] != b' ' && s[10] != b't' {
        return None;
    }
    // HH:mm
    if s.len() < 16 || s[13] != b':' {
        return None;
    }
    let h = digits(s, 11, 2)?;
    let mi = digits(s, 14, 2)?;
    let mut i = 16;
    let mut sec = 0;
    let mut micros = 0i64;
    if s.get(i) == Some(&b':') {
        sec = digits(s, i + 1, 2)?;
        i += 3;
        if s.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            let mut scale = 100_000i64;
            while i < s.len() && s[i].is_ascii_digit() {
                if scale > 0 {
                    micros += (s[i] - b'0') as i64 * scale;
                    scale /= 10;
                }
                i += 1;
            }
            if i == start || i - start > 9 {
                return None;
            }
        }
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let offset_secs = parse_zone(s, i)?;
    Some(Parts {
        days,
        secs: h as i64 * 3600 + mi as i64 * 60 + sec as i64,
        micros,
        offset_secs,
    })
}

/// [`parse_iso`]'s instant: microseconds since the epoch, or `None`.
#[inline]
pub fn parse_timestamp_us(s: &[u8]) -> Option<i64> {
    parse_iso(s)?.timestamp_us()
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\n' | b'\r', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\n' | b'\r'] = s {
        s = rest;
    }
    s
}

/// One element of a compiled Spark datetime pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Year(usize),
    Month(usize),
    MonthName {
        full: bool,
    },
    Day(usize),
    DayOfYear(usize),
    Hour24(usize),
    Hour12(usize),
    AmPm,
    Minute(usize),
    Second(usize),
    Fraction(usize),
    /// `XXX`, `XX`, `X`, `xxx`, `Z`, `ZZ`: an offset; `X` forms also accept `Z`.
    Offset {
        letter: u8,
        count: usize,
    },
    DayName,
    Lit(Vec<u8>),
}

/// A Spark datetime pattern (`yyyy-MM-dd HH:mm:ss`, `MM/dd/yyyy`, …) compiled to a parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateTimeFormat {
    pattern: String,
    toks: Vec<Tok>,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl DateTimeFormat {
    /// Compiles a Spark datetime pattern; the error names the unsupported letter.
    pub fn compile(pattern: &str) -> Result<Self, ExprError> {
        let bad = |problem: String| ExprError::DateTimePattern {
            pattern: pattern.to_string(),
            problem,
        };
        let b = pattern.as_bytes();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c == b'\'' {
                // quoted literal; '' is a single quote
                let mut lit = Vec::new();
                i += 1;
                if i < b.len() && b[i] == b'\'' {
                    toks.push(Tok::Lit(vec![b'\'']));
                    i += 1;
                    continue;
                }
                loop {
                    if i >= b.len() {
                        return Err(bad("unterminated quote".to_string()));
                    }
                    if b[i] == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            lit.push(b'\'');
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    lit.push(b[i]);
                    i += 1;
                }
                toks.push(Tok::Lit(lit));
                continue;
            }
            if c.is_ascii_alphabetic() {
                let start = i;
                while i < b.len() && b[i] == c {
                    i += 1;
                }
                let n = i - start;
                let tok = match c {
                    b'y' | b'u' => Tok::Year(n),
                    b'M' | b'L' if n >= 3 => Tok::MonthName { full: n >= 4 },
                    b'M' | b'L' => Tok::Month(n),
                    b'd' => Tok::Day(n),
                    b'D' => Tok::DayOfYear(n),
                    b'H' => Tok::Hour24(n),
                    b'h' => Tok::Hour12(n),
                    b'a' => Tok::AmPm,
                    b'm' => Tok::Minute(n),
                    b's' => Tok::Second(n),
                    b'S' => Tok::Fraction(n),
                    b'X' | b'x' | b'Z' => Tok::Offset {
                        letter: c,
                        count: n,
                    },
                    b'E' => Tok::DayName,
                    other => return Err(bad(format!("unsupported letter '{}'", other as char))),
                };
                toks.push(tok);
                continue;
            }
            toks.push(Tok::Lit(vec![c]));
            i += 1;
        }
        Ok(DateTimeFormat {
            pattern: pattern.to_string(),
            toks,
        })
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Parses `s` completely with this pattern; `None` when it does not match or is not a real
    /// date/time. Fields absent from the pattern default to 1970-01-01 00:00:00 UTC.
    pub fn parse(&self, s: &[u8]) -> Option<Parts> {
        let mut i = 0;
        let (mut y, mut mo, mut d) = (1970i64, 1u32, 1u32);
        let mut doy: Option<u32> = None;
        let (mut h, mut mi, mut sec, mut micros) = (0u32, 0u32, 0u32, 0i64);
        let mut h12: Option<u32> = None;
        let mut pm: Option<bool> = None;
        let mut off = 0i64;
        // A numeric field: exactly `n` digits when n >= 2 (or when the next token is also numeric),
        // 1..=2 digits otherwise.
        let num = |s: &[u8], i: &mut usize, n: usize, max: usize| -> Option<u32> {
            let start = *i;
            let lim = if n >= 2 { n } else { max };
            while *i < s.len() && *i - start < lim && s[*i].is_ascii_digit() {
                *i += 1;
            }
            let len = *i - start;
            if len == 0 || (n >= 2 && len != n) {
                return None;
            }
            digits(s, start, len)
        };
        for (k, tok) in self.toks.iter().enumerate() {
            match tok {
                Tok::Year(n) => {
                    // Java's adjacent value parsing: a year followed at once by another number
                    // (`yyyyMMdd`) takes its own width only.
                    let adjacent = matches!(
                        self.toks.get(k + 1),
                        Some(
                            Tok::Month(_)
                                | Tok::Day(_)
                                | Tok::DayOfYear(_)
                                | Tok::Hour24(_)
                                | Tok::Hour12(_)
                                | Tok::Minute(_)
                                | Tok::Second(_)
                        )
                    );
                    let widest = if adjacent { (*n).max(1) } else { 9 };
                    if *n == 2 {
                        y = 2000 + num(s, &mut i, 2, 2)? as i64;
                    } else {
                        let start = i;
                        while i < s.len() && i - start < widest && s[i].is_ascii_digit() {
                            i += 1;
                        }
                        let len = i - start;
                        if len < (*n).max(1) || (*n == 4 && len != 4) {
                            return None;
                        }
                        y = digits(s, start, len)? as i64;
                    }
                }
                Tok::Month(n) => mo = num(s, &mut i, *n, 2)?,
                Tok::MonthName { full } => {
                    let (m, len) = month_name(&s[i..], *full)?;
                    mo = m;
                    i += len;
                }
                Tok::Day(n) => d = num(s, &mut i, *n, 2)?,
                Tok::DayOfYear(n) => doy = Some(num(s, &mut i, *n, 3)?),
                Tok::Hour24(n) => h = num(s, &mut i, *n, 2)?,
                Tok::Hour12(n) => h12 = Some(num(s, &mut i, *n, 2)?),
                Tok::AmPm => {
                    let rest = s.get(i..i + 2)?;
                    pm = Some(if rest.eq_ignore_ascii_case(b"AM") {
                        false
                    } else if rest.eq_ignore_ascii_case(b"PM") {
                        true
                    } else {
                        return None;
                    });
                    i += 2;
                }
                Tok::Minute(n) => mi = num(s, &mut i, *n, 2)?,
                Tok::Second(n) => sec = num(s, &mut i, *n, 2)?,
                Tok::Fraction(n) => micros = fraction(s, &mut i, *n)?,
                Tok::Offset { letter, count } => {
                    let rest = &s[i..];
                    if rest.first().is_some_and(|c| *c == b'Z' || *c == b'z') && *letter == b'X' {
                        i += 1;
                        continue;
                    }
                    let (secs, len) = offset(rest, *letter, *count)?;
                    off = secs;
                    i += len;
                }
                Tok::DayName => {
                    let start = i;
                    while i < s.len() && s[i].is_ascii_alphabetic() {
                        i += 1;
                    }
                    if i - start < 3 {
                        return None;
                    }
                }
                Tok::Lit(lit) => {
                    if s.get(i..i + lit.len())? != lit.as_slice() {
                        return None;
                    }
                    i += lit.len();
                }
            }
        }
        if i != s.len() {
            return None;
        }
        if let Some(h12) = h12 {
            if !(1..=12).contains(&h12) {
                return None;
            }
            h = (h12 % 12) + if pm == Some(true) { 12 } else { 0 };
        }
        if h > 23 || mi > 59 || sec > 59 {
            return None;
        }
        let days = if let Some(doy) = doy {
            let len = if is_leap(y) { 366 } else { 365 };
            if doy == 0 || doy > len {
                return None;
            }
            days_from_civil(y, 1, 1) + doy as i64 - 1
        } else {
            if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
                return None;
            }
            days_from_civil(y, mo, d)
        };
        Some(Parts {
            days,
            secs: h as i64 * 3600 + mi as i64 * 60 + sec as i64,
            micros,
            offset_secs: off,
        })
    }
}

/// A month name (`full`) or its first three letters at the start of `rest`, any case: the month
/// (1-12) and the length matched.
fn month_name(rest: &[u8], full: bool) -> Option<(u32, usize)> {
    for (k, name) in MONTHS.iter().enumerate() {
        let cand = if full {
            name.as_bytes()
        } else {
            &name.as_bytes()[..3]
        };
        if rest.len() >= cand.len() && rest[..cand.len()].eq_ignore_ascii_case(cand) {
            return Some((k as u32 + 1, cand.len()));
        }
    }
    None
}

/// A fraction of a second of 1 to `n` digits at `s[*i..]` (advancing `i`), in microseconds
/// (digits beyond 6 are truncated).
fn fraction(s: &[u8], i: &mut usize, n: usize) -> Option<i64> {
    let start = *i;
    while *i < s.len() && *i - start < n && s[*i].is_ascii_digit() {
        *i += 1;
    }
    if *i == start {
        return None;
    }
    let mut scale = 100_000i64;
    let mut micros = 0;
    for &c in &s[start..*i] {
        if scale > 0 {
            micros += (c - b'0') as i64 * scale;
            scale /= 10;
        }
    }
    Some(micros)
}

/// A signed zone offset (`+hh`, `+hhmm`, `+hh:mm`) at the start of `rest`, as the pattern letter
/// `letter` repeated `count` times reads it: the offset in seconds and the length matched.
fn offset(rest: &[u8], letter: u8, count: usize) -> Option<(i64, usize)> {
    let sign = match rest.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hh = digits(rest, 1, 2)?;
    let (mm, len) = if letter == b'X' || letter == b'x' {
        // Java's offset patterns, as Spark 4 parses them: `X` `+HH[mm]`, `XX` `+HHmm`, `XXX`
        // `+HH:mm`, `XXXX` `+HHmm[ss]`, `XXXXX` `+HH:mm[:ss]` (seconds not supported here).
        match count {
            1 => match digits(rest, 3, 2) {
                Some(m) => (m, 5),
                None => (0, 3),
            },
            2 | 4 => (digits(rest, 3, 2)?, 5),
            _ => {
                if rest.get(3) != Some(&b':') {
                    return None;
                }
                (digits(rest, 4, 2)?, 6)
            }
        }
    } else if rest.get(3) == Some(&b':') {
        (digits(rest, 4, 2)?, 6)
    } else if count >= 2 || letter == b'Z' {
        match digits(rest, 3, 2) {
            Some(m) => (m, 5),
            None => (0, 3),
        }
    } else {
        (0, 3)
    };
    if hh > 18 || mm > 59 {
        return None;
    }
    Some((sign * (hh as i64 * 3600 + mm as i64 * 60), len))
}

/// Spark's `cast(date as string)`: `yyyy-MM-dd`.
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Spark's `cast(timestamp as string)` in UTC: `yyyy-MM-dd HH:mm:ss`, followed by the fraction
/// without trailing zeros when it is not zero.
pub fn format_timestamp(us: i64) -> String {
    let days = us.div_euclid(US_PER_DAY);
    let rem = us.rem_euclid(US_PER_DAY);
    let secs = rem / US_PER_SEC;
    let frac = rem % US_PER_SEC;
    let mut out = format!(
        "{} {:02}:{:02}:{:02}",
        format_date(days),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac != 0 {
        let f = format!("{frac:06}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out
}

/// RFC 3339 rendering with microseconds and `Z` (JSON output).
pub fn format_rfc3339(us: i64) -> String {
    let days = us.div_euclid(US_PER_DAY);
    let rem = us.rem_euclid(US_PER_DAY);
    let secs = rem / US_PER_SEC;
    format!(
        "{}T{:02}:{:02}:{:02}.{:06}Z",
        format_date(days),
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        rem % US_PER_SEC
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_roundtrip() {
        for z in [-800_000i64, -1, 0, 1, 59, 365, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn iso_forms() {
        let base = parse_timestamp_us(b"2026-11-26T15:21:20Z").unwrap();
        assert_eq!(
            parse_timestamp_us(b"2026-11-26T15:21:20.123Z"),
            Some(base + 123_000)
        );
        assert_eq!(parse_timestamp_us(b"2026-11-26T17:21:20+02:00"), Some(base));
        assert_eq!(parse_timestamp_us(b"2026-11-26 15:21:20"), Some(base));
        assert_eq!(
            parse_timestamp_us(b"2026-11-26 15:21:20.5"),
            Some(base + 500_000)
        );
        assert_eq!(
            parse_timestamp_us(b"2026-11-26"),
            Some(base - (15 * 3600 + 21 * 60 + 20) * US_PER_SEC)
        );
        assert_eq!(
            parse_timestamp_us(b"2026-11-26T15:21Z"),
            Some(base - 20 * US_PER_SEC)
        );
        assert_eq!(base, 1_795_706_480 * US_PER_SEC);
    }

    #[test]
    fn iso_rejects() {
        for bad in [
            "yesterday",
            "2026-13-45T99:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-26T25:61:00Z",
            "2026-11-26T12:00:60Z",
            "2026-11-26T12:00:00.Z",
            "2026-11-26T12:00:00ZZ",
            "2026-11-26X12:00:00",
            "2026-1-26",
            "",
            "2026-11-26T12:00:00+25:00",
        ] {
            assert_eq!(parse_timestamp_us(bad.as_bytes()), None, "{bad}");
        }
        assert!(parse_timestamp_us(b"2024-02-29T00:00:00Z").is_some());
        assert!(parse_timestamp_us(b"2023-02-29T00:00:00Z").is_none());
    }

    #[test]
    fn patterns() {
        let f = DateTimeFormat::compile("MM/dd/yyyy").unwrap();
        assert_eq!(
            f.parse(b"12/31/2025").unwrap().days,
            days_from_civil(2025, 12, 31)
        );
        assert!(f.parse(b"2024-01-01").is_none());
        assert!(f.parse(b"02/30/2024").is_none());
        let f = DateTimeFormat::compile("yyyy-MM-dd HH:mm:ss").unwrap();
        let p = f.parse(b"2023-01-10 11:08:40").unwrap();
        assert_eq!(
            p.timestamp_us(),
            parse_timestamp_us(b"2023-01-10T11:08:40Z")
        );
        assert!(f.parse(b"2023-01-10 11:08").is_none());
        let f = DateTimeFormat::compile("yyyy-MM-dd'T'HH:mm:ss.SSSXXX").unwrap();
        assert_eq!(
            f.parse(b"2026-11-26T15:21:20.123Z").unwrap().timestamp_us(),
            parse_timestamp_us(b"2026-11-26T15:21:20.123Z")
        );
        assert!(DateTimeFormat::compile("yyyy-QQ").is_err());
        let f = DateTimeFormat::compile("dd MMM yyyy hh:mm a").unwrap();
        assert_eq!(
            f.parse(b"05 Jan 2024 01:30 PM").unwrap().timestamp_us(),
            parse_timestamp_us(b"2024-01-05T13:30:00Z")
        );
    }

    #[test]
    fn rendering() {
        let us = parse_timestamp_us(b"2023-01-10T11:08:43Z").unwrap();
        assert_eq!(format_timestamp(us), "2023-01-10 11:08:43");
        assert_eq!(format_timestamp(us + 120_000), "2023-01-10 11:08:43.12");
        assert_eq!(format_rfc3339(us + 5), "2023-01-10T11:08:43.000005Z");
        assert_eq!(format_date(-1), "1969-12-31");
        assert_eq!(format_timestamp(-1), "1969-12-31 23:59:59.999999");
    }
}
