//! Java (Spark `rlike`) regex semantics on top of the `regex` crate.
//!
//! The syntax is largely shared; the differences that change verdicts are translated:
//! - `$` (outside a class) and `\Z` match at the end *or before a final line terminator* in
//!   Java, only at the very end in Rust: they become `(?:\r\n|[\n\r\u85\u2028\u2029])?\z`;
//! - `\d`, `\w`, `\s` (and negations) are ASCII-only in Java, Unicode in Rust: they become
//!   explicit ASCII classes; so do Java's POSIX classes `\p{Alpha}`, `\p{Lower}`, … (and `\P{…}`);
//! - `[` inside a class opens a nested class (a union) in Java, so `[[:alpha:]]` is the set of
//!   `:`, `a`, `l`, `p`, `h`; Rust would read a POSIX class there: the `:` is escaped.
//!
//! Matching is unanchored (Java `find()`), which is what `Regex::is_match` does.

use regex::Regex;

const END: &str = r"(?:\r\n|[\n\r\x{85}\x{2028}\x{2029}])?\z";

/// Compiles a Java regex into an equivalent Rust one.
///
/// ```
/// use medallion::quality::expr::javaregex::compile;
/// let re = compile("^WS-\\d{5}$").unwrap();
/// assert!(re.is_match("WS-00042"));
/// assert!(re.is_match("WS-00042\n")); // Java's $ allows a final line terminator
/// assert!(!re.is_match("WS-00042\nx"));
/// assert!(!re.is_match("WS-٠٠٠٤٢")); // \d is ASCII-only in Java
/// ```
pub fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&translate(pattern))
}

/// The Rust spelling of a Java pattern (see the module docs).
pub fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let class = |s: &str| -> String {
                    if in_class > 0 {
                        s.to_string()
                    } else {
                        format!("[{s}]")
                    }
                };
                if matches!(n, 'p' | 'P') && chars.peek() == Some(&'{') {
                    let mut name = String::new();
                    let mut rest = chars.clone();
                    rest.next();
                    for c in rest.by_ref() {
                        if c == '}' {
                            break;
                        }
                        name.push(c);
                    }
                    if let Some(set) = posix_class(&name) {
                        chars = rest;
                        let set = if n == 'P' {
                            format!("[^{set}]")
                        } else if in_class > 0 {
                            set.to_string()
                        } else {
                            format!("[{set}]")
                        };
                        out.push_str(&set);
                        continue;
                    }
                }
                match n {
                    'd' => out.push_str(&class("0-9")),
                    'w' => out.push_str(&class("0-9A-Za-z_")),
                    's' => out.push_str(&class(r"\t\n\x0B\f\r ")),
                    'D' if in_class == 0 => out.push_str("[^0-9]"),
                    'W' if in_class == 0 => out.push_str("[^0-9A-Za-z_]"),
                    'S' if in_class == 0 => out.push_str(r"[^\t\n\x0B\f\r ]"),
                    'Z' if in_class == 0 => out.push_str(END),
                    'Q' => {
                        // \Q…\E quotes everything up to \E.
                        let mut lit = String::new();
                        while let Some(q) = chars.next() {
                            if q == '\\' && chars.peek() == Some(&'E') {
                                chars.next();
                                break;
                            }
                            lit.push(q);
                        }
                        out.push_str(&regex::escape(&lit));
                    }
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
            }
            '[' => {
                in_class += 1;
                out.push('[');
                if in_class > 1 && chars.peek() == Some(&':') {
                    out.push('\\');
                }
                // A leading `]` (or `^]`) is a literal in both dialects.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str(r"\]");
                    chars.next();
                }
            }
            ']' if in_class > 0 => {
                in_class -= 1;
                out.push(']');
            }
            '$' if in_class == 0 => out.push_str(END),
            other => out.push(other),
        }
    }
    out
}

/// Java's POSIX character classes (US-ASCII only), as the inside of a Rust class.
fn posix_class(name: &str) -> Option<&'static str> {
    Some(match name {
        "Lower" => "a-z",
        "Upper" => "A-Z",
        "ASCII" => r"\x00-\x7F",
        "Alpha" => "a-zA-Z",
        "Digit" => "0-9",
        "Alnum" => "a-zA-Z0-9",
        "Punct" => r"!-/:-@\[-`{-~",
        "Graph" => "!-~",
        "Print" => " -~",
        "Blank" => r" \t",
        "Cntrl" => r"\x00-\x1F\x7F",
        "XDigit" => "0-9a-fA-F",
        "Space" => r" \t\n\x0B\f\r",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translations() {
        assert_eq!(translate("^a$"), format!("^a{END}"));
        assert_eq!(translate(r"[\d_]+"), "[0-9_]+");
        assert_eq!(translate(r"\d{4}"), "[0-9]{4}");
        assert_eq!(translate(r"[$]"), "[$]");
        assert_eq!(translate(r"\$"), r"\$");
        assert_eq!(translate(r"\Qa.b\E"), r"a\.b");
    }

    #[test]
    fn java_semantics() {
        let re = compile(r"^\d{4}-(0\d|1[0-2])-([0-2]\d|3[01])$").unwrap();
        assert!(re.is_match("2023-01-02"));
        assert!(!re.is_match("2023/01/02"));
        assert!(re.is_match("2023-01-02\r\n"));
        let find = compile("b+").unwrap();
        assert!(find.is_match("abbc"));
        // A nested class, not a POSIX class: the characters `:alph` (what Spark's rlike does).
        let nested = compile("[[:alpha:]]").unwrap();
        assert!(nested.is_match("1:2"));
        assert!(!nested.is_match("noon"));
        // Java's POSIX classes are ASCII.
        let alpha = compile(r"^\p{Alpha}+$").unwrap();
        assert!(alpha.is_match("abc"));
        assert!(!alpha.is_match("héllo"));
        assert!(compile(r"^\P{Digit}+$").unwrap().is_match("ab"));
        assert!(compile(r"^[\p{Lower}0-9]+$").unwrap().is_match("a1"));
    }
}
