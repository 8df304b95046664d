//! Allocation-free text formatting for event bodies (integers, fixed-point decimals, RFC 3339
//! timestamps, UUID text) and the cheap `station_id` scan used as the partition key.

use std::borrow::Cow;

/// Longest body the writer produces (bodies are bounded by construction, well under this).
pub(crate) const BODY_MAX: usize = 1024;
/// Room a writer needs: a body plus the over-copy of [`W::padded`].
pub(crate) const WRITER_ROOM: usize = BODY_MAX + 64;

const POW10: [u64; 4] = [1, 10, 100, 1000];

/// A short text stored in 16 bytes, copied with one fixed-size move.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Padded {
    b: [u8; 16],
    len: u8,
}

impl Padded {
    /// `s` truncated to 16 bytes.
    pub(crate) const fn new(s: &str) -> Padded {
        let mut b = [0u8; 16];
        let src = s.as_bytes();
        let len = if src.len() < 16 { src.len() } else { 16 };
        let mut i = 0;
        while i < len {
            b[i] = src[i];
            i += 1;
        }
        Padded { b, len: len as u8 }
    }
}

/// The date text (`YYYY-MM-DDT`) of the last day formatted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DateCache {
    day: Option<i64>,
    text: Padded,
}

impl Default for DateCache {
    fn default() -> Self {
        DateCache {
            day: None,
            text: Padded::new(""),
        }
    }
}

/// Number of decimal digits of `v`.
#[inline]
fn ndigits(v: u64) -> usize {
    let mut d = 1;
    let mut x = v;
    while x >= 10 {
        x /= 10;
        d += 1;
    }
    d
}

/// A writer into a fixed scratch buffer (at least [`WRITER_ROOM`] bytes): fixed-size copies and
/// digit loops instead of `Vec` growth checks and `memcpy` calls, for the hot path.
pub(crate) struct W<'a> {
    b: &'a mut [u8],
    n: usize,
}

impl<'a> W<'a> {
    pub(crate) fn new(b: &'a mut [u8]) -> Self {
        W { b, n: 0 }
    }
    /// The bytes written.
    pub(crate) fn written(&self) -> &[u8] {
        &self.b[..self.n]
    }
    #[inline(always)]
    pub(crate) fn lit<const N: usize>(&mut self, s: &[u8; N]) {
        self.b[self.n..self.n + N].copy_from_slice(s);
        self.n += N;
    }
    #[inline(always)]
    pub(crate) fn byte(&mut self, c: u8) {
        self.b[self.n] = c;
        self.n += 1;
    }
    #[inline]
    pub(crate) fn bytes(&mut self, s: &[u8]) {
        self.b[self.n..self.n + s.len()].copy_from_slice(s);
        self.n += s.len();
    }
    #[inline(always)]
    pub(crate) fn padded(&mut self, p: &Padded) {
        self.b[self.n..self.n + 16].copy_from_slice(&p.b);
        self.n += p.len as usize;
    }
    /// `v` in decimal.
    #[inline]
    pub(crate) fn uint(&mut self, v: u64) {
        let d = ndigits(v);
        self.pad(v, d);
    }
    /// The last `width` decimal digits of `v`, zero-padded.
    #[inline]
    pub(crate) fn pad(&mut self, v: u64, width: usize) {
        let mut x = v;
        let end = self.n + width;
        for c in self.b[self.n..end].iter_mut().rev() {
            *c = b'0' + (x % 10) as u8;
            x /= 10;
        }
        self.n = end;
    }
    /// `v` in decimal, with a `-` when negative.
    #[inline]
    pub(crate) fn int(&mut self, v: i64) {
        if v < 0 {
            self.byte(b'-');
        }
        self.uint(v.unsigned_abs());
    }
    /// The fixed-point number `scaled / 10^decimals` (decimals ≤ 3) with exactly `decimals`
    /// decimals, e.g. `fixed(-215, 1)` writes `-21.5` (Python's `f"{x:.1f}"`).
    #[inline]
    pub(crate) fn fixed(&mut self, scaled: i64, decimals: usize) {
        if scaled < 0 {
            self.byte(b'-');
        }
        let a = scaled.unsigned_abs();
        let p = POW10[decimals];
        self.uint(a / p);
        self.byte(b'.');
        self.pad(a % p, decimals);
    }
    /// `ms` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmm` (UTC, no `Z`); years outside
    /// 0..=9999 are written in full.
    pub(crate) fn timestamp(&mut self, ms: i64) {
        let days = ms.div_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        self.date(y, m, d);
        self.time_of_day(ms);
    }
    /// `YYYY-MM-DDT`.
    fn date(&mut self, y: i64, m: u32, d: u32) {
        if (0..=9999).contains(&y) {
            self.pad(y as u64, 4);
        } else {
            self.int(y);
        }
        self.byte(b'-');
        self.pad(u64::from(m), 2);
        self.byte(b'-');
        self.pad(u64::from(d), 2);
        self.byte(b'T');
    }
    /// Like [`W::timestamp`], reusing the date text of the previous call on the same day.
    #[inline]
    pub(crate) fn timestamp_cached(&mut self, ms: i64, cache: &mut DateCache) {
        let days = ms.div_euclid(86_400_000);
        if cache.day != Some(days) {
            let mut buf = [0u8; 32];
            let mut w = W::new(&mut buf);
            let (y, m, d) = civil_from_days(days);
            w.date(y, m, d);
            cache.text = Padded::new(std::str::from_utf8(w.written()).unwrap_or_default());
            cache.day = Some(days);
        }
        self.padded(&cache.text);
        self.time_of_day(ms);
    }
    /// `HH:MM:SS.mmm` of `ms`.
    #[inline]
    fn time_of_day(&mut self, ms: i64) {
        let in_day = ms.rem_euclid(86_400_000) as u64;
        self.pad(in_day / 3_600_000, 2);
        self.byte(b':');
        self.pad(in_day / 60_000 % 60, 2);
        self.byte(b':');
        self.pad(in_day / 1000 % 60, 2);
        self.byte(b'.');
        self.pad(in_day % 1000, 3);
    }
    /// UUID v4 text (lowercase 8-4-4-4-12) of 16 random bytes given as four words; the version
    /// and variant bits are set here.
    #[inline]
    pub(crate) fn uuid_v4(&mut self, w: [u32; 4]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut b = [0u8; 16];
        for (k, word) in w.iter().enumerate() {
            b[4 * k..4 * k + 4].copy_from_slice(&word.to_le_bytes());
        }
        b[6] = (b[6] & 0x0F) | 0x40;
        b[8] = (b[8] & 0x3F) | 0x80;
        let t = &mut self.b[self.n..self.n + 36];
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
        self.n += 36;
    }
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

/// `ms` as RFC 3339 UTC text with milliseconds and `Z`, e.g. `2026-11-26T12:00:00.000Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    let mut buf = [0u8; 64];
    let mut w = W::new(&mut buf);
    w.timestamp(ms);
    w.byte(b'Z');
    String::from_utf8_lossy(w.written()).into_owned()
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
    scan_key(body, STATION_ID_PATTERN.len(), find_station_id, false)
}

/// The first `"NAME"` member's value of `body` (see [`station_key`]); `pattern_len` is the
/// length of `"NAME"` and `find` finds it. With `tokens`, a number, `true` or `false` is a key
/// too (as its text).
fn scan_key(
    body: &[u8],
    pattern_len: usize,
    find: impl Fn(&[u8]) -> Option<usize>,
    tokens: bool,
) -> Option<Cow<'_, str>> {
    let mut from = 0;
    while let Some(p) = find(&body[from..]) {
        let mut k = from + p + pattern_len;
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
            return tokens.then(|| token_at(body, k)).flatten();
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

/// The number, `true` or `false` token at `k` of `body`, as text.
fn token_at(body: &[u8], k: usize) -> Option<Cow<'_, str>> {
    let end = body[k..]
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')))
        .map_or(body.len(), |n| k + n);
    let token = std::str::from_utf8(&body[k..end]).ok()?;
    let is_token =
        token == "true" || token == "false" || (!token.is_empty() && token.parse::<f64>().is_ok());
    is_token.then_some(Cow::Borrowed(token))
}

/// Finds the partition key of bodies by a declared key field's name, as [`station_key`] does for
/// `station_id`; a string's text, or a number's or boolean's token.
#[derive(Debug, Clone)]
pub struct KeyScanner {
    pattern: Vec<u8>,
    finder: memchr::memmem::Finder<'static>,
}

impl KeyScanner {
    /// A scanner for the member `name`.
    pub fn new(name: &str) -> KeyScanner {
        let pattern = serde_json::to_string(name)
            .expect("a str serializes")
            .into_bytes();
        KeyScanner {
            finder: memchr::memmem::Finder::new(&pattern).into_owned(),
            pattern,
        }
    }

    /// The key of `body` (`None`: no such member, or a value that is no key).
    pub fn key<'a>(&self, body: &'a [u8]) -> Option<Cow<'a, str>> {
        scan_key(body, self.pattern.len(), |h| self.finder.find(h), true)
    }
}

/// How a body's partition key is found: the file source's partitioning and `medallion produce`'s
/// partition keys.
#[derive(Debug, Clone)]
pub enum KeyScan {
    /// The `station_id` string (the weather event's key).
    Station,
    /// A declared key field's value ([`KeyScanner`]).
    Named(KeyScanner),
    /// The event declares no key: lines go round-robin, with no partition key.
    Absent,
}

impl KeyScan {
    /// The scan for an event keyed by `key`.
    pub fn for_key(key: Option<&str>) -> KeyScan {
        match key {
            Some("station_id") => KeyScan::Station,
            Some(name) => KeyScan::Named(KeyScanner::new(name)),
            None => KeyScan::Absent,
        }
    }

    /// The partition key of `body` (`None`: it has none).
    pub fn key<'a>(&self, body: &'a [u8]) -> Option<Cow<'a, str>> {
        match self {
            KeyScan::Station => station_key(body),
            KeyScan::Named(k) => k.key(body),
            KeyScan::Absent => None,
        }
    }
}

/// The bytes [`station_key`] looks for.
const STATION_ID_PATTERN: &[u8] = b"\"station_id\"";

/// First position of `"station_id"` in `hay` (SIMD search; the searcher is built once).
#[inline]
fn find_station_id(hay: &[u8]) -> Option<usize> {
    static FINDER: std::sync::OnceLock<memchr::memmem::Finder<'static>> =
        std::sync::OnceLock::new();
    FINDER
        .get_or_init(|| memchr::memmem::Finder::new(STATION_ID_PATTERN))
        .find(hay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_key_is_a_string_number_or_boolean() {
        let k = super::KeyScanner::new("machine");
        assert_eq!(
            k.key(br#"{"a":1,"machine": 42,"b":2}"#).as_deref(),
            Some("42")
        );
        assert_eq!(k.key(br#"{"machine":"m-1"}"#).as_deref(), Some("m-1"));
        assert_eq!(k.key(br#"{"machine":true}"#).as_deref(), Some("true"));
        assert_eq!(k.key(br#"{"machine":null}"#), None);
        assert_eq!(k.key(br#"{"machine":{"id":1}}"#), None);
        assert_eq!(k.key(br#"{"other":1}"#), None);
        assert_eq!(station_key(br#"{"station_id":42}"#), None);
    }

    fn s(f: impl FnOnce(&mut W)) -> String {
        let mut buf = vec![0u8; WRITER_ROOM];
        let mut w = W::new(&mut buf);
        f(&mut w);
        String::from_utf8(w.written().to_vec()).unwrap()
    }

    #[test]
    fn numbers() {
        assert_eq!(s(|o| o.fixed(-215, 1)), "-21.5");
        assert_eq!(s(|o| o.fixed(5, 1)), "0.5");
        assert_eq!(s(|o| o.fixed(371, 2)), "3.71");
        assert_eq!(s(|o| o.fixed(305, 2)), "3.05");
        assert_eq!(s(|o| o.fixed(0, 1)), "0.0");
        assert_eq!(s(|o| o.int(i64::MIN)), "-9223372036854775808");
        assert_eq!(s(|o| o.uint(0)), "0");
        assert_eq!(s(|o| o.uint(u64::MAX)), "18446744073709551615");
        assert_eq!(s(|o| o.padded(&Padded::new("cloudy"))), "cloudy");
        assert_eq!(
            s(|o| o.uuid_v4([0, 0, 0, 0])),
            "00000000-0000-4000-8000-000000000000"
        );
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
