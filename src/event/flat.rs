//! A reader for the shape nearly every body has: one flat JSON object whose keys and string
//! values need no escapes, whose values are strings, numbers without exponents, `true`, `false`
//! or `null`. [`members`] walks such a body once, handing each member to the caller, and gives
//! up (`None`) at the first thing outside that shape — an escape, a control character, a nested
//! object or array, an exponent, anything malformed — so that serde_json, the parser of record,
//! reads the body instead and says what is wrong with it. It takes nothing serde_json would
//! refuse: every body it reads whole is JSON, and the parser's property test checks that both
//! readings give the same row (`event::tests`).
//!
//! serde_json's general machinery (a visitor call per token) was ~17% of the instructions of a
//! run shaped like 5,000 events/s, ~7,800 a body; reading the flat shape here cut the whole run's
//! instructions by ~6% (`docs/src/performance.md`, "Instructions per event").

/// One member's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Scalar<'a> {
    Null,
    Bool(bool),
    /// A string's contents (no escapes in it).
    Str(&'a str),
    /// A JSON number without an exponent, as written: `-`? (`0` | `[1-9][0-9]*`) (`.[0-9]+`)?;
    /// `integer` when it has no fraction; `short`: its value when it has at most 15 digits
    /// (correctly rounded, as `str::parse` rounds every longer one).
    Num {
        text: &'a str,
        integer: bool,
        short: Option<f64>,
    },
}

/// Calls `each(key, guessed, value)` for every member of the flat object `text`, in order
/// (`guessed`: the key is the one `guess()` gave). `None`: the
/// body is not of this shape (or `each` returned `false`: the caller gives up too), and some
/// members may have been handed over already.
///
/// `guess()` is the key the caller expects next (bodies mostly list their keys in one order): a
/// key that is exactly it is compared instead of scanned. It must have no quote, backslash or
/// control character in it.
pub(super) fn members<'a, 'g>(
    text: &'a str,
    guess: impl Fn() -> Option<&'g str>,
    mut each: impl FnMut(&'a str, bool, Scalar<'a>) -> bool,
) -> Option<()> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if *b.get(i)? != b'{' {
        return None;
    }
    i = skip_ws(b, i + 1);
    if *b.get(i)? == b'}' {
        return closed(b, i);
    }
    loop {
        if *b.get(i)? != b'"' {
            return None;
        }
        let expected = guess();
        let end = i + 1 + expected.map_or(0, str::len);
        let guessed = expected
            .is_some_and(|g| b.get(end) == Some(&b'"') && b.get(i + 1..end) == Some(g.as_bytes()));
        let (key, next) = if guessed {
            (&text[i + 1..end], end + 1)
        } else {
            string(text, i + 1)?
        };
        i = skip_ws(b, next);
        if *b.get(i)? != b':' {
            return None;
        }
        i = skip_ws(b, i + 1);
        let (value, next) = match *b.get(i)? {
            b'"' => {
                let (s, next) = string(text, i + 1)?;
                (Scalar::Str(s), next)
            }
            b't' => (Scalar::Bool(true), literal(b, i, b"true")?),
            b'f' => (Scalar::Bool(false), literal(b, i, b"false")?),
            b'n' => (Scalar::Null, literal(b, i, b"null")?),
            b'-' | b'0'..=b'9' => number(text, i)?,
            _ => return None,
        };
        if !each(key, guessed, value) {
            return None;
        }
        i = skip_ws(b, next);
        match *b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => return closed(b, i),
            _ => return None,
        }
    }
}

/// After the object's closing brace at `i`: only whitespace to the end.
fn closed(b: &[u8], i: usize) -> Option<()> {
    (skip_ws(b, i + 1) == b.len()).then_some(())
}

/// The first position at or after `i` that is not JSON whitespace.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The string whose contents start at `start` (after its opening quote), and the position after
/// its closing quote; `None` at an escape, a control character or the end.
fn string(text: &str, start: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    let mut i = start;
    // Eight bytes at a time while none of them is a quote, a backslash or a control character.
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        if any_byte_below(w ^ (ONES * u64::from(b'"')), 1)
            || any_byte_below(w ^ (ONES * u64::from(b'\\')), 1)
            || any_byte_below(w, 0x20)
        {
            break;
        }
        i += 8;
    }
    loop {
        match *b.get(i)? {
            b'"' => return Some((&text[start..i], i + 1)),
            b'\\' | 0..=0x1f => return None,
            _ => i += 1,
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// Whether any of the eight bytes of `w` is below `n` (at most 128): each byte's high bit in
/// `w - n` that borrowing set and the byte itself did not have. Exact about whether there is one
/// (which one is not needed).
fn any_byte_below(w: u64, n: u8) -> bool {
    w.wrapping_sub(ONES * u64::from(n)) & !w & (ONES << 7) != 0
}

/// The position after `word` (`true`, `false`, `null`) at `i`.
fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    (b.get(i..i + word.len())? == word).then_some(i + word.len())
}

/// The number at `i` and the position after it (what follows is checked by the caller).
fn number(text: &str, start: usize) -> Option<(Scalar<'_>, usize)> {
    let b = text.as_bytes();
    let negative = b[start] == b'-';
    let mut i = start + usize::from(negative);
    // The digits as an integer (while there are at most 15 of them) and how many there are.
    let mut digits = (0u64, 0usize);
    match *b.get(i)? {
        b'0' => {
            i += 1;
            digits.1 = 1;
        }
        b'1'..=b'9' => i = take_digits(b, i, &mut digits),
        _ => return None,
    }
    let integer = b.get(i) != Some(&b'.');
    let mut scale = 0;
    if !integer {
        let after = take_digits(b, i + 1, &mut digits);
        scale = after - (i + 1);
        if scale == 0 {
            return None;
        }
        i = after;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        return None;
    }
    // At most 15 digits: the integer is exact (below 2^53), so is the power of ten, and one
    // division rounds correctly; -0 is -0.0, as serde_json reads it.
    let short = (digits.1 <= 15).then(|| {
        let v = digits.0 as f64 / EXACT_POWERS_OF_TEN[scale];
        if negative {
            -v
        } else {
            v
        }
    });
    Some((
        Scalar::Num {
            text: &text[start..i],
            integer,
            short,
        },
        i,
    ))
}

/// Powers of ten that are exact as `f64`.
const EXACT_POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Takes the digits starting at `i` into `digits` (their value while there are at most 15 in
/// all, and their count); returns the position after them.
fn take_digits(b: &[u8], mut i: usize, digits: &mut (u64, usize)) -> usize {
    while let Some(&c @ b'0'..=b'9') = b.get(i) {
        if digits.1 < 15 {
            digits.0 = digits.0 * 10 + u64::from(c - b'0');
        }
        digits.1 += 1;
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Option<Vec<(&str, Scalar<'_>)>> {
        read_guessing(text, None)
    }

    /// The members read with `guess` always guessed; a member said to be guessed is checked to
    /// be it.
    fn read_guessing<'a>(
        text: &'a str,
        guess: Option<&'static str>,
    ) -> Option<Vec<(&'a str, Scalar<'a>)>> {
        let mut out = Vec::new();
        members(
            text,
            || guess,
            |k, guessed, v| {
                assert!(!guessed || Some(k) == guess, "{k} said to be {guess:?}");
                out.push((k, v));
                true
            },
        )
        .map(|()| out)
    }

    #[test]
    fn flat_objects_are_read_member_by_member() {
        let got = read(r#" { "a" : "x y", "b":-0.50,"c":true,"d":null ,"e":0,"f":false,"a":12 } "#);
        assert_eq!(
            got.unwrap(),
            vec![
                ("a", Scalar::Str("x y")),
                (
                    "b",
                    Scalar::Num {
                        text: "-0.50",
                        integer: false,
                        short: Some(-0.5)
                    }
                ),
                ("c", Scalar::Bool(true)),
                ("d", Scalar::Null),
                (
                    "e",
                    Scalar::Num {
                        text: "0",
                        integer: true,
                        short: Some(0.0)
                    }
                ),
                ("f", Scalar::Bool(false)),
                (
                    "a",
                    Scalar::Num {
                        text: "12",
                        integer: true,
                        short: Some(12.0)
                    }
                ),
            ]
        );
        assert_eq!(read("{}").unwrap(), vec![]);
        assert_eq!(read(r#"{"é":"ü"}"#).unwrap(), vec![("é", Scalar::Str("ü"))]);
    }

    #[test]
    fn eight_bytes_are_checked_at_once_as_one_by_one() {
        use rand::{Rng, SeedableRng};
        const SPECIAL: &[u8] = b"\"\\\x00\x1f\x20!#[]\x7f\x80\xff";
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        for _ in 0..100_000 {
            let bytes: [u8; 8] = std::array::from_fn(|_| match rng.random_range(0..4) {
                0 => rng.random(),
                1 => SPECIAL[rng.random_range(0..SPECIAL.len())],
                _ => rng.random_range(0x20..0x7f),
            });
            let w = u64::from_le_bytes(bytes);
            for n in [1, 0x20, 0x80] {
                assert_eq!(
                    any_byte_below(w, n),
                    bytes.iter().any(|&b| b < n),
                    "{bytes:?} {n}"
                );
            }
        }
    }

    #[test]
    fn short_numbers_are_their_correctly_rounded_value() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(15);
        for _ in 0..200_000 {
            let digits: String = (0..rng.random_range(1..=17))
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect();
            let cut = rng.random_range(1..=digits.len());
            let (int, frac) = digits.split_at(cut);
            let int = int.trim_start_matches('0');
            let int = if int.is_empty() { "0" } else { int };
            let sign = if rng.random_bool(0.5) { "-" } else { "" };
            let text = if frac.is_empty() {
                format!("{sign}{int}")
            } else {
                format!("{sign}{int}.{frac}")
            };
            let Some((Scalar::Num { short, .. }, end)) = number(&text, 0) else {
                panic!("{text} is a number");
            };
            assert_eq!(end, text.len());
            let parsed: f64 = text.parse().unwrap();
            if let Some(x) = short {
                assert_eq!(x.to_bits(), parsed.to_bits(), "{text}");
            } else {
                assert!(int.len() + frac.len() > 15, "{text} is short");
            }
        }
    }

    #[test]
    fn a_guessed_key_reads_as_a_scanned_one() {
        for text in [
            r#"{"a":1,"ab":2,"":3,"b\"":4}"#,
            r#"{"a":1, "a" :2,"abc":3}"#,
            "{\"a\u{1}\":1}",
        ] {
            for guess in [
                None,
                Some(""),
                Some("a"),
                Some("ab"),
                Some("abc"),
                Some("b"),
            ] {
                assert_eq!(read_guessing(text, guess), read(text), "{text} {guess:?}");
            }
        }
    }

    #[test]
    fn anything_else_is_left_to_serde_json() {
        for text in [
            "",
            " ",
            "[]",
            "1",
            "\"a\"",
            "{",
            "{\"a\"",
            "{\"a\":}",
            "{\"a\":1,}",
            "{,}",
            "{\"a\":1}x",
            "{\"a\":1}{}",
            "{\"a\\n\":1}",
            "{\"a\":\"\\u0041\"}",
            "{\"a\":\"\t\"}",
            "{\"a\":{}}",
            "{\"a\":[1]}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":-}",
            "{\"a\":1e5}",
            "{\"a\":1.5E-3}",
            "{\"a\":+1}",
            "{\"a\":tru}",
            "{\"a\":truex}",
            "{\"a\":nul}",
            "{\"a\":NaN}",
            "{\"a\":1 2}",
            "{a:1}",
            "{\"a\" 1}",
            "{\"a\":'x'}",
        ] {
            assert_eq!(read(text), None, "{text:?}");
        }
        // The caller may give up too.
        assert_eq!(members(r#"{"a":1}"#, || None, |_, _, _| false), None);
    }
}
