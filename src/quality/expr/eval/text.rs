//! The per-value string functions of DQX checks ([`TextFn`]): what DQX computes with a chain of
//! Spark SQL functions (letter cases, decimal places, IPv4 networks, JSON keys) or with a Python
//! UDF (IPv6, through `ipaddress`), each one function here with the same answers.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray};

use super::super::error::ExprError;
use super::super::{StringCase, TextFn};
use super::cast::{map_strings, test_strings};

/// Evaluates `f` on every string of `s` (nulls stay null).
pub(super) fn eval(f: &TextFn, s: &StringArray) -> Result<ArrayRef, ExprError> {
    Ok(match f {
        TextFn::Case(case) => Arc::new(StringArray::from_iter(map_strings(s, |x| {
            Some(with_case(x, *case))
        }))),
        TextFn::DecimalPlaces => Arc::new(Float64Array::from_iter(map_strings(s, decimal_places))),
        TextFn::IsIpv6 => Arc::new(BooleanArray::from_iter(map_strings(s, |x| {
            Some(ipv6(x).is_some())
        }))),
        TextFn::Ipv4InCidr { net, prefix } => {
            Arc::new(BooleanArray::from_iter(map_strings(s, |x| {
                ipv4(x).map(|ip| same_network(ip.into(), (*net).into(), *prefix, 32))
            })))
        }
        TextFn::Ipv6InCidr { net, prefix } => {
            Arc::new(BooleanArray::from_iter(map_strings(s, |x| {
                ipv6(x).map(|ip| same_network(ip, *net, *prefix, 128))
            })))
        }
        TextFn::Prefix(n) => Arc::new(StringArray::from_iter(map_strings(s, |x| {
            Some(match x.char_indices().nth(*n) {
                Some((end, _)) => x[..end].to_string(),
                None => x.to_string(),
            })
        }))),
        TextFn::InCodeList { list, lower } => {
            Arc::new(test_strings(s, |x| list.contains(x, *lower)))
        }
        TextFn::JsonSchema(schema) => Arc::new(test_strings(s, |x| schema.conforms(x))),
        TextFn::NationalId(id) => Arc::new(test_strings(s, |x| id.matches(x))),
        TextFn::BeforeFirst(sep) => Arc::new(StringArray::from_iter(map_strings(s, |x| {
            Some(x.split(*sep).next().unwrap_or(x).to_string())
        }))),
        TextFn::JsonHasKeys { keys, all } => {
            Arc::new(BooleanArray::from_iter(map_strings(s, |x| {
                let present = json_object_keys(x)?;
                let has = |k: &String| present.iter().any(|p| p == k);
                Some(if *all {
                    keys.iter().all(has)
                } else {
                    keys.iter().any(has)
                })
            })))
        }
    })
}

/// Java's `\s`: the ASCII white space of `regexp_extract(segment, '^(\s*)', 1)`.
fn java_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0B' | '\x0C' | '\r')
}

/// `s` with its first character upper-cased (Spark's `upper(substring(s, 1, 1))`).
fn upper_first(s: &str, out: &mut String) {
    let mut chars = s.chars();
    if let Some(c) = chars.next() {
        out.extend(c.to_uppercase());
        out.push_str(chars.as_str());
    }
}

/// The value `has_valid_string_case` compares with: DQX's normalisation for `case`.
pub fn with_case(s: &str, case: StringCase) -> String {
    match case {
        StringCase::Upper => s.to_uppercase(),
        StringCase::Lower => s.to_lowercase(),
        StringCase::Title => {
            let mut out = String::with_capacity(s.len());
            for (i, word) in s.split(' ').enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                upper_first(word, &mut out);
            }
            out
        }
        StringCase::Sentence => {
            let mut out = String::with_capacity(s.len());
            for (i, segment) in s.split('.').enumerate() {
                if i > 0 {
                    out.push('.');
                }
                let rest = segment.trim_start_matches(java_space);
                out.push_str(&segment[..segment.len() - rest.len()]);
                upper_first(rest, &mut out);
            }
            out
        }
    }
}

/// `has_num_decimal_places`' count for a plain or exponent number (DQX's `DECIMAL_NUMBER`:
/// sign, digits with an optional point, optional exponent, nothing around): the fraction's
/// digits less the significand's trailing zeros less the exponent, at least 0; `None` when the
/// text is not such a number.
pub fn decimal_places(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int_end = digits(i);
    let int = &s[i..int_end];
    i = int_end;
    let mut frac = "";
    if b.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        frac = &s[i + 1..end];
        i = end;
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut exponent = 0.0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let start = i + 1;
        let sign = usize::from(matches!(b.get(start), Some(b'+' | b'-')));
        let end = digits(start + sign);
        if end == start + sign {
            return None;
        }
        exponent = s[start..end].parse::<f64>().ok()?;
        i = end;
    }
    if i != b.len() {
        return None;
    }
    let significant = int.len() + frac.len();
    let trailing_zeros = int
        .bytes()
        .chain(frac.bytes())
        .rev()
        .take_while(|&c| c == b'0')
        .count();
    if trailing_zeros == significant {
        return Some(0.0);
    }
    Some((frac.len() as f64 - trailing_zeros as f64 - exponent).max(0.0))
}

/// An IPv4 address as DQX's `IPV4_ADDRESS` pattern reads it: four decimal octets of at most
/// 255, no leading zeros, nothing around.
pub fn ipv4(s: &str) -> Option<u32> {
    let mut ip = 0u32;
    let mut n = 0;
    for octet in s.split('.') {
        n += 1;
        let ok = (1..=3).contains(&octet.len())
            && octet.bytes().all(|c| c.is_ascii_digit())
            && (octet.len() == 1 || !octet.starts_with('0'));
        let v: u32 = octet.parse().ok().filter(|&v| ok && v <= 255)?;
        ip = (ip << 8) | v;
    }
    (n == 4).then_some(ip)
}

/// An IPv6 address as Python's `ipaddress.IPv6Address(text)` reads it (what DQX's UDF calls):
/// hextets of 1–4 hex digits, one `::` at most, an IPv4 tail, a `%scope` suffix.
pub fn ipv6(s: &str) -> Option<u128> {
    if s.contains('/') {
        return None;
    }
    let addr = match s.split_once('%') {
        None => s,
        Some((_, scope)) if scope.is_empty() || scope.contains('%') => return None,
        Some((addr, _)) => addr,
    };
    if addr.is_empty() {
        return None;
    }
    let mut parts: Vec<std::borrow::Cow<'_, str>> = addr.split(':').map(Into::into).collect();
    if parts.len() < 3 {
        return None;
    }
    if parts.last().is_some_and(|p| p.contains('.')) {
        // Python's IPv4Address rules are DQX's pattern's (no leading zeros, at most 255).
        let v4 = ipv4(&parts.pop()?)?;
        parts.push(format!("{:x}", v4 >> 16).into());
        parts.push(format!("{:x}", v4 & 0xFFFF).into());
    }
    if parts.len() > 9 {
        return None;
    }
    let n = parts.len();
    let mut skip = None;
    for (i, p) in parts.iter().enumerate().take(n - 1).skip(1) {
        if p.is_empty() {
            if skip.is_some() {
                return None;
            }
            skip = Some(i);
        }
    }
    let (hi, lo, skipped) = match skip {
        Some(k) => {
            let (mut hi, mut lo) = (k, n - k - 1);
            if parts[0].is_empty() {
                hi -= 1;
                if hi > 0 {
                    return None;
                }
            }
            if parts[n - 1].is_empty() {
                lo -= 1;
                if lo > 0 {
                    return None;
                }
            }
            let skipped = 8usize.checked_sub(hi + lo).filter(|&s| s >= 1)?;
            (hi, lo, skipped)
        }
        None if n != 8 || parts[0].is_empty() || parts[n - 1].is_empty() => return None,
        None => (n, 0, 0),
    };
    let hextet = |p: &str| -> Option<u128> {
        let ok = !p.is_empty() && p.len() <= 4 && p.bytes().all(|c| c.is_ascii_hexdigit());
        ok.then(|| u128::from_str_radix(p, 16).ok()).flatten()
    };
    let mut ip = 0u128;
    for p in &parts[..hi] {
        ip = (ip << 16) | hextet(p)?;
    }
    ip = ip.checked_shl(16 * skipped as u32).unwrap_or(0);
    for p in &parts[n - lo..] {
        ip = (ip << 16) | hextet(p)?;
    }
    Some(ip)
}

/// Whether `ip` and `net` agree on their first `prefix` of `bits` bits.
fn same_network(ip: u128, net: u128, prefix: u8, bits: u32) -> bool {
    let prefix = u32::from(prefix).min(bits);
    if prefix == 0 {
        return true;
    }
    let shift = bits - prefix;
    (ip >> shift) == (net >> shift)
}

/// Spark's `json_object_keys(text)`: the keys of the outermost JSON object, `None` when the
/// first JSON value in the text is not an object (or does not parse).
fn json_object_keys(s: &str) -> Option<Vec<String>> {
    let mut values = serde_json::Deserializer::from_str(s).into_iter::<serde_json::Value>();
    match values.next()? {
        Ok(serde_json::Value::Object(map)) => Some(map.into_iter().map(|(k, _)| k).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_as_dqx_normalises_them() {
        assert_eq!(
            with_case("hello big world", StringCase::Title),
            "Hello Big World"
        );
        assert_eq!(with_case("a  b ", StringCase::Title), "A  B ");
        assert_eq!(with_case("HELLO", StringCase::Title), "HELLO");
        assert_eq!(
            with_case("one. two.  three", StringCase::Sentence),
            "One. Two.  Three"
        );
        assert_eq!(with_case("\tx.", StringCase::Sentence), "\tX.");
        assert_eq!(with_case("straße", StringCase::Upper), "STRASSE");
        assert_eq!(with_case("", StringCase::Title), "");
    }

    #[test]
    fn decimal_places_as_dqx_counts_them() {
        for (s, n) in [
            ("1", Some(0.0)),
            ("1.250", Some(2.0)),
            ("-1.25", Some(2.0)),
            ("+1.", Some(0.0)),
            (".5", Some(1.0)),
            ("1.5e3", Some(0.0)),
            ("1.0E-4", Some(4.0)),
            ("100e-2", Some(0.0)),
            ("0.000", Some(0.0)),
            ("1.0E-7", Some(7.0)),
            ("1e", None),
            (".", None),
            ("", None),
            (" 1", None),
            ("NaN", None),
            ("1.2.3", None),
        ] {
            assert_eq!(decimal_places(s), n, "{s}");
        }
    }

    #[test]
    fn ipv4_as_dqx_pattern() {
        assert_eq!(ipv4("192.168.1.1"), Some(0xC0A8_0101));
        assert_eq!(ipv4("0.0.0.0"), Some(0));
        for bad in [
            "01.2.3.4",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.4 ",
            "",
            "1..2.3",
        ] {
            assert_eq!(ipv4(bad), None, "{bad}");
        }
    }

    #[test]
    fn ipv6_as_python_reads_it() {
        assert_eq!(ipv6("::1"), Some(1));
        assert_eq!(ipv6("::"), Some(0));
        assert_eq!(ipv6("2001:db8::"), Some(0x2001_0db8 << 96));
        assert_eq!(ipv6("::ffff:1.2.3.4"), Some(0xffff_0102_0304));
        assert_eq!(ipv6("fe80::1%eth0"), Some((0xfe80 << 112) | 1));
        assert_eq!(
            ipv6("1:2:3:4:5:6:7:8"),
            Some(0x0001_0002_0003_0004_0005_0006_0007_0008)
        );
        for bad in [
            "",
            ":",
            "1:2",
            "1::2::3",
            ":1::2",
            "1:2:3:4:5:6:7:8:9",
            "12345::",
            "::1%",
            "::1%a%b",
            "1:2:3:4:5:6:7::8",
            "::ffff:01.2.3.4",
            "g::",
            "::1/64",
            " ::1",
            "1.2.3.4",
        ] {
            assert_eq!(ipv6(bad), None, "{bad}");
        }
        assert!(ipv6("1:2:3:4:5:6::7").is_some());
        assert!(ipv6("1:2:3:4:5:6:7::").is_some());
    }

    #[test]
    fn networks_compare_prefixes() {
        assert!(same_network(0xC0A8_0101, 0xC0A8_0100, 24, 32));
        assert!(!same_network(0xC0A8_0201, 0xC0A8_0100, 24, 32));
        assert!(same_network(1, 2, 0, 32));
        assert!(same_network(5, 5, 32, 32));
    }

    #[test]
    fn json_keys_of_the_outermost_object() {
        assert_eq!(
            json_object_keys(r#"{"a": {"b": 1}, "c": 2} x"#),
            Some(vec!["a".to_string(), "c".to_string()])
        );
        assert_eq!(json_object_keys("[1]"), None);
        assert_eq!(json_object_keys("{"), None);
    }
}
