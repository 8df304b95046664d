//! Spark's string casts to timestamps and dates (`SparkDateTimeUtils.parseTimestampString` and
//! `stringToDate`): what `try_to_timestamp`, `to_date` and `cast` do without a format, and so
//! what DQX's `is_valid_timestamp` / `is_valid_date` accept. Lenient where Spark is (one-digit
//! fields, a year alone, a time alone), strict where it is (a zone only after the seconds).

use super::datetime::{days_from_civil, days_in_month, digits, Parts};

/// Whether Spark's string casts trim byte `b` (white space and ISO control characters).
fn spark_trimmed(b: u8) -> bool {
    b <= b' ' || b == 0x7f
}

/// The positions of `s` left once Spark's casts trim it (an empty range: nothing left).
fn trimmed_range(s: &[u8]) -> std::ops::Range<usize> {
    let start = s.iter().position(|&b| !spark_trimmed(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !spark_trimmed(b))
        .map_or(start, |i| i + 1);
    start..end
}

/// A zone as Java's `ZoneId.of` reads it after Spark's `getZoneId` padding (`+h:mm`,
/// `+hh:m`): `Z`, an offset (`±h`, `±hh`, `±hhmm`, `±hh:mm`, `±hhmmss`, `±hh:mm:ss`, at most
/// 18 hours), `UTC` / `GMT` / `UT` optionally followed by an offset, and the fixed short ids
/// `EST`, `MST`, `HST`. Region ids (`Europe/Paris`) are not known here: `None`, as for an
/// invalid zone. Returns the offset east of UTC in seconds.
fn spark_zone(zone: &[u8]) -> Option<i64> {
    let z = &zone[trimmed_range(zone)];
    match z {
        b"Z" | b"UTC" | b"GMT" | b"UT" => return Some(0),
        b"EST" => return Some(-5 * 3600),
        b"MST" => return Some(-7 * 3600),
        b"HST" => return Some(-10 * 3600),
        _ => {}
    }
    for prefix in [&b"UTC"[..], b"GMT", b"UT"] {
        if let Some(rest) = z.strip_prefix(prefix) {
            if matches!(rest.first(), Some(b'+' | b'-')) {
                return spark_offset(rest);
            }
        }
    }
    spark_offset(z)
}

/// `ZoneOffset.of` on `±…`, after Spark's padding of a one-digit hour or minute.
fn spark_offset(z: &[u8]) -> Option<i64> {
    let (&sign, body) = z.split_first()?;
    let sign = match sign {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    // getZoneId: "+h:mm" → "+0h:mm", "+hh:m" → "+hh:0m".
    let mut padded = body.to_vec();
    if padded.len() >= 2 && padded[0].is_ascii_digit() && padded[1] == b':' {
        padded.insert(0, b'0');
    }
    if padded.len() == 4 && padded[2] == b':' && padded[3].is_ascii_digit() {
        padded.insert(3, b'0');
    }
    let b = &padded[..];
    let (h, m, sec) = match b.len() {
        1 => (digits(b, 0, 1)?, 0, 0),
        2 => (digits(b, 0, 2)?, 0, 0),
        4 => (digits(b, 0, 2)?, digits(b, 2, 2)?, 0),
        5 if b[2] == b':' => (digits(b, 0, 2)?, digits(b, 3, 2)?, 0),
        6 => (digits(b, 0, 2)?, digits(b, 2, 2)?, digits(b, 4, 2)?),
        8 if b[2] == b':' && b[5] == b':' => (digits(b, 0, 2)?, digits(b, 3, 2)?, digits(b, 6, 2)?),
        _ => return None,
    };
    let total = h as i64 * 3600 + m as i64 * 60 + sec as i64;
    if h > 18 || m > 59 || sec > 59 || total > 18 * 3600 {
        return None;
    }
    Some(sign * total)
}

/// Spark's string → timestamp cast (`SparkDateTimeUtils.parseTimestampString`, what
/// `try_to_timestamp` without a format does): `[+-]yyyy[yy]`, `…-[m]m`, `…-[d]d`, then after
/// ` ` or `T` `[h]h:[m]m:[s]s.[fraction]` (every part after the hour optional, more than six
/// fraction digits truncated) and a zone after the seconds (`Z`, `±hh:mm`, ` UTC`, …, see
/// [`spark_zone`]); or the time alone (`[h]h:[m]m…`, `T[h]h…`), on the date `today` (days since
/// the epoch; `None`: not a timestamp). Surrounding white space and control characters are
/// trimmed. Invalid fields (month 13, 25 o'clock, Feb 30) give `None`.
pub fn spark_timestamp(s: &[u8], today: Option<i64>) -> Option<Parts> {
    if let Some(parts) = utc_timestamp(s) {
        return Some(parts);
    }
    let valid_digits = |segment: usize, digits: usize| -> bool {
        segment == 6
            || (segment == 0 && (4..=6).contains(&digits))
            || (segment == 7 && digits <= 2)
            || (segment != 0 && segment != 6 && segment != 7 && (1..=2).contains(&digits))
    };
    let std::ops::Range { start, end } = trimmed_range(s);
    if start == end {
        return None;
    }
    let mut seg = [1i64, 1, 1, 0, 0, 0, 0, 0];
    let mut i = 0usize;
    let (mut value, mut ndigits) = (0i64, 0usize);
    let mut fraction_digits = 0;
    let mut just_time = false;
    let mut zone: Option<&[u8]> = None;
    let mut year_sign = None;
    let mut j = start;
    if s[j] == b'-' || s[j] == b'+' {
        year_sign = Some(if s[j] == b'-' { -1 } else { 1 });
        j += 1;
    }
    while j < end {
        let b = s[j];
        if b.is_ascii_digit() {
            if i == 6 {
                fraction_digits += 1;
            }
            if i != 6 || ndigits < 6 {
                value = value.checked_mul(10)?.checked_add((b - b'0') as i64)?;
            }
            ndigits += 1;
            j += 1;
            continue;
        }
        if j == 0 && b == b'T' {
            just_time = true;
            i += 3;
        } else if i < 2 {
            if b == b'-' {
                if !valid_digits(i, ndigits) {
                    return None;
                }
                seg[i] = value;
                (value, ndigits) = (0, 0);
                i += 1;
            } else if i == 0 && b == b':' && year_sign.is_none() {
                just_time = true;
                if !valid_digits(3, ndigits) {
                    return None;
                }
                seg[3] = value;
                (value, ndigits) = (0, 0);
                i = 4;
            } else {
                return None;
            }
        } else if i == 2 {
            if b != b' ' && b != b'T' || !valid_digits(i, ndigits) {
                return None;
            }
            seg[i] = value;
            (value, ndigits) = (0, 0);
            i += 1;
        } else if i == 3 || i == 4 {
            if b != b':' || !valid_digits(i, ndigits) {
                return None;
            }
            seg[i] = value;
            (value, ndigits) = (0, 0);
            i += 1;
        } else if i == 5 || i == 6 {
            if !valid_digits(i, ndigits) {
                return None;
            }
            seg[i] = value;
            (value, ndigits) = (0, 0);
            i += 1;
            if !(b == b'.' && i == 6) {
                // The rest is the zone.
                zone = Some(&s[j..end]);
                j = end;
                if i == 6 {
                    i += 1;
                }
                continue;
            }
        } else {
            // Spark accepts ':' or ' ' separating further segments; none follow the zone here.
            return None;
        }
        j += 1;
    }
    if !valid_digits(i, ndigits) || i >= seg.len() {
        return None;
    }
    seg[i] = value;
    let mut micros = seg[6];
    while fraction_digits < 6 {
        micros *= 10;
        fraction_digits += 1;
    }
    let offset_secs = match zone {
        Some(z) => spark_zone(z)?,
        None => 0,
    };
    let (h, mi, sec) = (seg[3], seg[4], seg[5]);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let days = if just_time {
        today?
    } else {
        let y = seg[0] * year_sign.unwrap_or(1);
        let (mo, d) = (seg[1], seg[2]);
        if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo as u32) as i64 {
            return None;
        }
        days_from_civil(y, mo as u32, d as u32)
    };
    Some(Parts {
        days,
        secs: h * 3600 + mi * 60 + sec,
        micros,
        offset_secs,
    })
}

/// The common shape read directly: `yyyy-mm-ddThh:mm:ss[.f{1,9}]Z`, nothing around it, every
/// field valid (what [`spark_timestamp`] gives for it; anything else, valid or not, is left to
/// it). Telemetry's timestamps nearly all look like this, and the general reader took ~650
/// instructions for one.
fn utc_timestamp(s: &[u8]) -> Option<Parts> {
    let n = s.len();
    if !(n == 20 || (22..=30).contains(&n))
        || s[4] != b'-'
        || s[7] != b'-'
        || s[10] != b'T'
        || s[13] != b':'
        || s[16] != b':'
        || s[n - 1] != b'Z'
        || (n > 20 && s[19] != b'.')
    {
        return None;
    }
    let (y, mo, d) = (digits(s, 0, 4)?, digits(s, 5, 2)?, digits(s, 8, 2)?);
    let (h, mi, sec) = (digits(s, 11, 2)?, digits(s, 14, 2)?, digits(s, 17, 2)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(i64::from(y), mo) {
        return None;
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let micros = if n > 20 {
        // 1 to 9 digits: the first six, scaled to microseconds.
        let fraction = &s[20..n - 1];
        let kept = fraction.len().min(6);
        let value = digits(fraction, 0, kept)?;
        digits(fraction, kept, fraction.len() - kept)?;
        i64::from(value) * 10i64.pow(6 - kept as u32)
    } else {
        0
    };
    Some(Parts {
        days: days_from_civil(i64::from(y), mo, d),
        secs: i64::from(h * 3600 + mi * 60 + sec),
        micros,
        offset_secs: 0,
    })
}

/// Spark's string → date cast (`SparkDateTimeUtils.stringToDate`): `[+-]yyyy[yyy]`,
/// `…-[m]m`, `…-[d]d`, and after a full date anything following ` ` or `T` is ignored
/// (`2026-11-26T25:99` is 2026-11-26). Days since the epoch.
pub fn spark_date(s: &[u8]) -> Option<i32> {
    let valid_digits = |segment: usize, digits: usize| -> bool {
        (segment == 0 && (4..=7).contains(&digits)) || (segment != 0 && (1..=2).contains(&digits))
    };
    let std::ops::Range { start, end } = trimmed_range(s);
    if start == end {
        return None;
    }
    let mut seg = [1i64, 1, 1];
    let mut sign = 1;
    let mut i = 0;
    let (mut value, mut ndigits) = (0i64, 0usize);
    let mut j = start;
    if s[j] == b'-' || s[j] == b'+' {
        sign = if s[j] == b'-' { -1 } else { 1 };
        j += 1;
    }
    while j < end && i < 3 && !(s[j] == b' ' || s[j] == b'T') {
        let b = s[j];
        if i < 2 && b == b'-' {
            if !valid_digits(i, ndigits) {
                return None;
            }
            seg[i] = value;
            (value, ndigits) = (0, 0);
            i += 1;
        } else if b.is_ascii_digit() {
            value = value.checked_mul(10)?.checked_add((b - b'0') as i64)?;
            ndigits += 1;
        } else {
            return None;
        }
        j += 1;
    }
    if !valid_digits(i, ndigits) || (i < 2 && j < end) {
        return None;
    }
    seg[i] = value;
    let (y, mo, d) = (sign * seg[0], seg[1], seg[2]);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo as u32) as i64 {
        return None;
    }
    i32::try_from(days_from_civil(y, mo as u32, d as u32)).ok()
}

#[cfg(test)]
mod tests {
    use super::super::datetime::{format_date, format_timestamp, DateTimeFormat};
    use super::*;

    /// What the general reader gives for `s`. For a string the shortcut takes, its answer is
    /// checked against the general reader's on a copy the shortcut does not take.
    fn general(s: &[u8]) -> Option<Parts> {
        let Some(parts) = utc_timestamp(s) else {
            return spark_timestamp(s, Some(7));
        };
        // Its answer must be the general reader's: read again with something the shortcut
        // does not take (a trailing space, which the general reader trims).
        let mut padded = s.to_vec();
        padded.push(b' ');
        assert!(utc_timestamp(&padded).is_none());
        assert_eq!(spark_timestamp(&padded, Some(7)), Some(parts));
        Some(parts)
    }

    #[test]
    fn the_common_shape_reads_as_the_general_reader_reads_it() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut fast = 0;
        for _ in 0..50_000 {
            let fraction = match rng.random_range(0..4) {
                0 => String::new(),
                _ => {
                    let k = rng.random_range(1..=10);
                    let digits: String = (0..k)
                        .map(|_| char::from(b'0' + rng.random_range(0..10)))
                        .collect();
                    format!(".{digits}")
                }
            };
            let mut text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}Z",
                rng.random_range(0..10_000),
                rng.random_range(0..14),
                rng.random_range(0..33),
                rng.random_range(0..26),
                rng.random_range(0..62),
                rng.random_range(0..62),
            )
            .into_bytes();
            // Now and then a byte changed: another separator, a sign, a letter, a zone.
            if rng.random_bool(0.2) {
                let at = rng.random_range(0..text.len());
                text[at] = b"-:T .Z+05x"[rng.random_range(0..10)];
            }
            let expected = general(&text);
            assert_eq!(
                spark_timestamp(&text, Some(7)),
                expected,
                "{}",
                String::from_utf8_lossy(&text)
            );
            fast += usize::from(utc_timestamp(&text).is_some());
        }
        assert!(fast > 10_000, "the shortcut took {fast}");
    }

    /// (text, `try_to_timestamp(text)`, `try_cast(text as date)`), rendered as Spark casts them to strings.
    const CAST_VECTORS: &[(&str, Option<&str>, Option<&str>)] = &[
        (
            "2026-11-26T15:21:20Z",
            Some("2026-11-26 15:21:20"),
            Some("2026-11-26"),
        ),
        (
            "2026-11-26T15:21:20.123Z",
            Some("2026-11-26 15:21:20.123"),
            Some("2026-11-26"),
        ),
        (
            "2026-11-26T17:21:20+02:00",
            Some("2026-11-26 15:21:20"),
            Some("2026-11-26"),
        ),
        (
            "2026-11-26 15:21:20",
            Some("2026-11-26 15:21:20"),
            Some("2026-11-26"),
        ),
        (
            "2026-11-26 15:21:20.5",
            Some("2026-11-26 15:21:20.5"),
            Some("2026-11-26"),
        ),
        (
            "2026-11-26",
            Some("2026-11-26 00:00:00"),
            Some("2026-11-26"),
        ),
        ("2026-11-26T15:21Z", None, Some("2026-11-26")),
        (
            "2026-11-26 15:21",
            Some("2026-11-26 15:21:00"),
            Some("2026-11-26"),
        ),
        ("2026-1-3", Some("2026-01-03 00:00:00"), Some("2026-01-03")),
        (
            "2026-11-26 1:2:3",
            Some("2026-11-26 01:02:03"),
            Some("2026-11-26"),
        ),
        ("2026", Some("2026-01-01 00:00:00"), Some("2026-01-01")),
        ("2026-12", Some("2026-12-01 00:00:00"), Some("2026-12-01")),
        (
            "+2026-12-04",
            Some("2026-12-04 00:00:00"),
            Some("2026-12-04"),
        ),
        ("10:00:00", Some("2026-12-06 10:00:00"), None),
        ("T10:00", Some("2026-12-06 10:00:00"), None),
        ("2026-11-26T", None, Some("2026-11-26")),
        (
            "2026-11-26 1",
            Some("2026-11-26 01:00:00"),
            Some("2026-11-26"),
        ),
        ("yesterday", None, None),
        ("2026-13-45T99:00:00Z", None, None),
        ("2026-02-30T00:00:00Z", None, None),
        ("2026-11-26T25:61:00Z", None, Some("2026-11-26")),
        ("2026-11-26T12:00:60Z", None, Some("2026-11-26")),
        (
            "2026-11-26T12:00:00.Z",
            Some("2026-11-26 12:00:00"),
            Some("2026-11-26"),
        ),
        ("2026-11-26T12:00:00ZZ", None, Some("2026-11-26")),
        ("2026-11-26X12:00:00", None, None),
        ("", None, None),
        ("2026-11-26T12:00:00+25:00", None, Some("2026-11-26")),
        (
            "2026-11-26T12:00:00 UTC",
            Some("2026-11-26 12:00:00"),
            Some("2026-11-26"),
        ),
        ("2026-11-26T12:00:00z", None, Some("2026-11-26")),
        (
            "2026-11-26T12:00:00+2:00",
            Some("2026-11-26 10:00:00"),
            Some("2026-11-26"),
        ),
        (
            "2026-11-26T12:00:00+02:0",
            Some("2026-11-26 10:00:00"),
            Some("2026-11-26"),
        ),
        (
            "2026-11-26T12:00:00+0200",
            Some("2026-11-26 10:00:00"),
            Some("2026-11-26"),
        ),
        (
            "2026-11-26T12:00:00+02",
            Some("2026-11-26 10:00:00"),
            Some("2026-11-26"),
        ),
        (
            "2026-11-26T12:00:00UTC+01:00",
            Some("2026-11-26 11:00:00"),
            Some("2026-11-26"),
        ),
        (
            "2026-11-26T12:00:00.1234567Z",
            Some("2026-11-26 12:00:00.123456"),
            Some("2026-11-26"),
        ),
        (
            " 2026-11-26 ",
            Some("2026-11-26 00:00:00"),
            Some("2026-11-26"),
        ),
        ("12", None, None),
        ("202", None, None),
        (
            "2026-11-26T12:00:00 EST",
            Some("2026-11-26 17:00:00"),
            Some("2026-11-26"),
        ),
        (
            "-2026-01-01",
            Some("-2026-01-01 00:00:00"),
            Some("-2026-01-01"),
        ),
        (
            "2026-11-26T12:00:00.",
            Some("2026-11-26 12:00:00"),
            Some("2026-11-26"),
        ),
        ("12:00", Some("2026-12-06 12:00:00"), None),
        (
            "2026-11-26 12:00:00.123456789",
            Some("2026-11-26 12:00:00.123456"),
            Some("2026-11-26"),
        ),
    ];

    /// Spark's casts, vectors read off Spark 4.3 (`try_to_timestamp(v)` and `try_cast(v as
    /// date)` with the session zone UTC, on 2026-12-06 for the time-only strings).
    #[test]
    fn spark_casts() {
        let today = days_from_civil(2026, 12, 6);
        let vectors = CAST_VECTORS;
        for (text, ts, date) in vectors {
            let got = spark_timestamp(text.as_bytes(), Some(today))
                .and_then(|p| p.timestamp_us())
                .map(format_timestamp);
            assert_eq!(got.as_deref(), *ts, "timestamp of {text:?}");
            let got = spark_date(text.as_bytes()).map(|d| format_date(d as i64));
            assert_eq!(got.as_deref(), *date, "date of {text:?}");
        }
        assert_eq!(
            spark_timestamp(b"10:00:00", None),
            None,
            "no date for a time alone"
        );
    }

    /// Patterns against Spark 4.3's `try_to_timestamp(v, fmt)` (session zone UTC).
    #[test]
    fn spark_patterns() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "yyyy-MM-dd'T'HH:mm:ssX",
                "2026-11-26T12:00:00Z",
                Some("2026-11-26 12:00:00"),
            ),
            (
                "yyyy-MM-dd'T'HH:mm:ssX",
                "2026-11-26T12:00:00+02",
                Some("2026-11-26 10:00:00"),
            ),
            (
                "yyyy-MM-dd'T'HH:mm:ssX",
                "2026-11-26T12:00:00+0200",
                Some("2026-11-26 10:00:00"),
            ),
            ("yyyy-MM-dd'T'HH:mm:ssX", "2026-11-26T12:00:00+02:00", None),
            ("yyyy-MM-dd'T'HH:mm:ssX", "2026-11-26T11:59:59.5Z", None),
            (
                "yyyy-MM-dd'T'HH:mm:ssX",
                "2026-11-26T12:00:00+0230",
                Some("2026-11-26 09:30:00"),
            ),
            (
                "yyyy-MM-dd'T'HH:mm:ssXXX",
                "2026-11-26T12:00:00Z",
                Some("2026-11-26 12:00:00"),
            ),
            ("yyyy-MM-dd'T'HH:mm:ssXXX", "2026-11-26T12:00:00+02", None),
            ("yyyy-MM-dd'T'HH:mm:ssXXX", "2026-11-26T12:00:00+0200", None),
            (
                "yyyy-MM-dd'T'HH:mm:ssXXX",
                "2026-11-26T12:00:00+02:00",
                Some("2026-11-26 10:00:00"),
            ),
            ("yyyyMMdd", "20261204", Some("2026-12-04 00:00:00")),
            ("yyyyMMdd", "2026124", None),
            ("yyyyMMdd", "202612041", None),
            ("yyyy-MM-dd", "2026-1-3", None),
            ("yyyy-MM-dd", "2026-01-03", Some("2026-01-03 00:00:00")),
            ("yyyy-MM-dd", "2026-01-03 10:00", None),
            ("yyyy-MM-dd HH:mm:ss", "2026-11-26 1:2:3", None),
            ("yyyy-MM-dd HH:mm:ss", "2026-11-26 12:00:00.5", None),
        ];
        for (pattern, text, want) in cases {
            let f = DateTimeFormat::compile(pattern).unwrap();
            let got = f
                .parse(text.as_bytes())
                .and_then(|p| p.timestamp_us())
                .map(format_timestamp);
            assert_eq!(got.as_deref(), *want, "{text:?} with {pattern}");
        }
    }
}
