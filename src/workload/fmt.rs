//! Allocation-free text formatting for event bodies (integers, fixed-point decimals, RFC 3339
//! timestamps, UUID text) and the cheap `station_id` scan used as the partition key.

use std::borrow::Cow;

/// Appends the decimal text of `v`.
#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends the decimal text of `v` (with a `-` when negative).
#[inline]
pub(crate) fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// Appends `v` zero-padded to `width` digits (wider values are written in full).
#[inline]
pub(crate) fn push_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    let mut x = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    let start = i.min(buf.len().saturating_sub(width));
    out.extend_from_slice(&buf[start..]);
}

/// Appends the fixed-point number `scaled / 10^decimals` with exactly `decimals` decimals,
/// e.g. `push_fixed(out, -215, 1)` writes `-21.5` (the text Python's `f"{x:.1f}"` gives).
#[inline]
pub(crate) fn push_fixed(out: &mut Vec<u8>, scaled: i64, decimals: u32) {
    if scaled < 0 {
        out.push(b'-');
    }
    let a = scaled.unsigned_abs();
    let p = 10u64.pow(decimals);
    push_u64(out, a / p);
    out.push(b'.');
    push_padded(out, a % p, decimals as usize);
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Appends `ms` (milliseconds since the Unix epoch) as `YYYY-MM-DDTHH:MM:SS.mmm`, UTC, without
/// the trailing `Z`. Years outside 0..=9999 are written in full (never panics).
pub(crate) fn push_timestamp_ms(out: &mut Vec<u8>, ms: i64) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000) as u64;
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        push_padded(out, y as u64, 4);
    } else {
        push_i64(out, y);
    }
    out.push(b'-');
    push_padded(out, u64::from(m), 2);
    out.push(b'-');
    push_padded(out, u64::from(d), 2);
    out.push(b'T');
    push_padded(out, in_day / 3_600_000, 2);
    out.push(b':');
    push_padded(out, in_day / 60_000 % 60, 2);
    out.push(b':');
    push_padded(out, in_day / 1000 % 60, 2);
    out.push(b'.');
    push_padded(out, in_day % 1000, 3);
}

/// `ms` as RFC 3339 UTC text with milliseconds and `Z`, e.g. `2026-11-26T12:00:00.000Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    let mut v = Vec::with_capacity(24);
    push_timestamp_ms(&mut v, ms);
    v.push(b'Z');
    String::from_utf8(v).unwrap_or_default()
}

/// Appends the UUID v4 text (lowercase 8-4-4-4-12) of 16 random bytes given as four words; the
/// version and variant bits are set here.
#[inline]
pub(crate) fn push_uuid_v4(out: &mut Vec<u8>, w: [u32; 4]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = [0u8; 16];
    for (k, word) in w.iter().enumerate() {
        b[4 * k..4 * k + 4].copy_from_slice(&word.to_le_bytes());
    }
    b[6] = (b[6] & 0x0F) | 0x40;
    b[8] = (b[8] & 0x3F) | 0x80;
    let mut t = [0u8; 36];
    let mut j = 0;
    for (k, byte) in b.iter().enumerate() {
        if k == 4 || k == 6 || k == 8 || k == 10 {
            t[j] = b'-';
            j += 1;
        }
        t[j] = HEX[(byte >> 4) as usize];
        t[j + 1] = HEX[(byte & 0x0F) as usize];
        j += 2;
    }
    out.extend_from_slice(&t);
}

/// Text of a station's latitude or longitude the way Python's `repr(float)` writes it (shortest
/// round-trip text, always with a decimal point).
pub(crate) fn float_repr(x: f64) -> String {
    let mut s = format!("{x}");
    if !s.contains(['.', 'e', 'E', 'N', 'i']) {
        s.push_str(".0");
    }
    s
}

/// The partition key of a body: the string value of its first `"station_id"` member, found by a
/// cheap byte scan (no JSON parse). `None` when there is no such member, its value is not a
/// string (e.g. `null`), the string is empty or unterminated (a truncated body), or it is not
/// valid UTF-8. JSON escapes in the value are decoded.
///
/// The scan takes the first `"station_id"` token followed by `:`; a body that carries that token
/// inside another string before the real member is mis-keyed, which only moves it to another
/// partition (keys are routing, not data).
pub fn station_key(body: &[u8]) -> Option<Cow<'_, str>> {
    const PAT: &[u8] = b"\"station_id\"";
    let mut from = 0;
    while let Some(p) = find(&body[from..], PAT) {
        let mut k = from + p + PAT.len();
        from = k;
        while k < body.len() && body[k].is_ascii_whitespace() {
            k += 1;
        }
        if body.get(k) != Some(&b':') {
            continue;
        }
        k += 1;
        while k < body.len() && body[k].is_ascii_whitespace() {
            k += 1;
        }
        if body.get(k) != Some(&b'"') {
            return None;
        }
        let open = k;
        let mut escaped = false;
        let mut j = open + 1;
        while j < body.len() {
            match body[j] {
                b'\\' => {
                    escaped = true;
                    j += 2;
                    continue;
                }
                b'"' => {
                    let raw = &body[open + 1..j];
                    if raw.is_empty() {
                        return None;
                    }
                    if escaped {
                        return serde_json::from_slice::<String>(&body[open..=j])
                            .ok()
                            .filter(|s| !s.is_empty())
                            .map(Cow::Owned);
                    }
                    return std::str::from_utf8(raw).ok().map(Cow::Borrowed);
                }
                _ => j += 1,
            }
        }
        return None;
    }
    None
}

/// First position of `needle` in `hay` (needle non-empty).
#[inline]
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    let last_start = hay.len().checked_sub(needle.len())?;
    let mut i = 0;
    while i <= last_start {
        if hay[i] == first && &hay[i..i + needle.len()] == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn numbers() {
        assert_eq!(s(|o| push_fixed(o, -215, 1)), "-21.5");
        assert_eq!(s(|o| push_fixed(o, 5, 1)), "0.5");
        assert_eq!(s(|o| push_fixed(o, 371, 2)), "3.71");
        assert_eq!(s(|o| push_fixed(o, 305, 2)), "3.05");
        assert_eq!(s(|o| push_fixed(o, 0, 1)), "0.0");
        assert_eq!(s(|o| push_i64(o, i64::MIN)), "-9223372036854775808");
        assert_eq!(float_repr(20.0), "20.0");
        assert_eq!(float_repr(-1.4498), "-1.4498");
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_ms(1_795_694_400_000), "2026-11-26T12:00:00.000Z");
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
        let _ = rfc3339_ms(i64::MAX);
        let _ = rfc3339_ms(i64::MIN);
    }

    #[test]
    fn keys() {
        assert_eq!(
            station_key(br#"{"a":1,"station_id":"WS-00042","x":2}"#).as_deref(),
            Some("WS-00042")
        );
        assert_eq!(
            station_key(br#"{"station_id" : "ws42"}"#).as_deref(),
            Some("ws42")
        );
        assert_eq!(station_key(br#"{"station_id":null}"#), None);
        assert_eq!(station_key(br#"{"station_id":""}"#), None);
        assert_eq!(station_key(br#"{"station_id":"WS-00"#), None);
        assert_eq!(
            station_key(br#"{"x":"station_id","station_id":"B"}"#).as_deref(),
            Some("B")
        );
        assert_eq!(
            station_key(br#"{"station_id":"A\"B"}"#).as_deref(),
            Some("A\"B")
        );
        assert_eq!(station_key(b"station offline"), None);
        assert_eq!(station_key(b""), None);
        assert_eq!(station_key(br#"{"station_id":"\"#), None);
    }
}
