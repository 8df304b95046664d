//! Standard code lists and identifier formats that DQX's checks test text against: ISO 3166-1
//! countries, ISO 3166-2 subdivisions, ISO 4217 currencies and ISO 639 languages (the lists in
//! `assets/codes/`, written by `scripts/gen-iso-codes.py`, equal to DQX 0.17's), and national
//! identification numbers (DQX's `SSN_US`, `NINO_GB` and `PAN_IN` patterns, written out here
//! because they use look-aheads and a back-reference, which the `regex` crate does not have).

use std::collections::HashSet;
use std::sync::OnceLock;

/// One ISO code list, in one of its representations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeList {
    CountryAlpha2,
    CountryAlpha3,
    CountryNumeric,
    Subdivision,
    CurrencyAlphabetic,
    CurrencyNumeric,
    LanguageAlpha2,
    LanguageAlpha3,
}

const LISTS: usize = 8;

impl CodeList {
    fn index(self) -> usize {
        self as usize
    }

    fn text(self) -> &'static str {
        match self {
            CodeList::CountryAlpha2 => include_str!("../../../assets/codes/iso_3166_1_alpha_2.txt"),
            CodeList::CountryAlpha3 => include_str!("../../../assets/codes/iso_3166_1_alpha_3.txt"),
            CodeList::CountryNumeric => {
                include_str!("../../../assets/codes/iso_3166_1_numeric.txt")
            }
            CodeList::Subdivision => include_str!("../../../assets/codes/iso_3166_2.txt"),
            CodeList::CurrencyAlphabetic => {
                include_str!("../../../assets/codes/iso_4217_alphabetic.txt")
            }
            CodeList::CurrencyNumeric => include_str!("../../../assets/codes/iso_4217_numeric.txt"),
            CodeList::LanguageAlpha2 => include_str!("../../../assets/codes/iso_639_1_alpha_2.txt"),
            CodeList::LanguageAlpha3 => include_str!("../../../assets/codes/iso_639_3_alpha_3.txt"),
        }
    }

    /// The codes as registered (`lower`: lower-cased), built on first use.
    fn codes(self, lower: bool) -> &'static HashSet<String> {
        static SETS: [OnceLock<HashSet<String>>; 2 * LISTS] = [const { OnceLock::new() }; 16];
        SETS[self.index() * 2 + usize::from(lower)].get_or_init(|| {
            self.text()
                .split_whitespace()
                .map(|c| {
                    if lower {
                        c.to_lowercase()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
    }

    /// Whether `value` is a code of the list: exactly, or (`lower`) lower-cased as Spark's
    /// `lower` does, against the lower-cased codes.
    pub fn contains(self, value: &str, lower: bool) -> bool {
        if lower {
            self.codes(true).contains(&value.to_lowercase())
        } else {
            self.codes(false).contains(value)
        }
    }

    /// How many codes the list has.
    pub fn len(self) -> usize {
        self.codes(false).len()
    }
}

/// The national identification number formats of DQX's `is_valid_national_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NationalId {
    /// US Social Security Number: `AAA-GG-SSSS`, separators all `-`, all ` ` or none.
    SsnUs,
    /// UK National Insurance number: two letters, three pairs of digits, `A`–`D`.
    NinoGb,
    /// Indian Permanent Account Number.
    PanIn,
}

impl NationalId {
    /// The format of a country (ISO 3166 alpha-2, any case), as DQX supports them.
    pub fn for_country(country: &str) -> Option<NationalId> {
        match country.to_uppercase().as_str() {
            "US" => Some(NationalId::SsnUs),
            "GB" => Some(NationalId::NinoGb),
            "IN" => Some(NationalId::PanIn),
            _ => None,
        }
    }

    /// The countries supported, as DQX lists them.
    pub const COUNTRIES: &'static str = "GB, IN, US";

    /// DQX's name of the pattern (in messages and generated names).
    pub fn pattern_name(self) -> &'static str {
        match self {
            NationalId::SsnUs => "SSN_US",
            NationalId::NinoGb => "NINO_GB",
            NationalId::PanIn => "PAN_IN",
        }
    }

    /// Whether the whole of `s` has the format.
    pub fn matches(self, s: &str) -> bool {
        let b = s.as_bytes();
        match self {
            NationalId::SsnUs => ssn_us(b),
            NationalId::NinoGb => nino_gb(b),
            NationalId::PanIn => {
                b.len() == 10
                    && b[..3].iter().all(u8::is_ascii_uppercase)
                    && b"ABCFGHJLPT".contains(&b[3])
                    && b[4].is_ascii_uppercase()
                    && b[5..9].iter().all(u8::is_ascii_digit)
                    && b[9].is_ascii_uppercase()
            }
        }
    }
}

fn digits(b: &[u8]) -> bool {
    b.iter().all(u8::is_ascii_digit)
}

/// `\A(?!000|666|9\d{2})\d{3}([- ]?)(?!00)\d{2}\1(?!0000)\d{4}\z`.
fn ssn_us(b: &[u8]) -> bool {
    let sep = match b.len() {
        9 => None,
        11 if matches!(b[3], b'-' | b' ') => Some(b[3]),
        _ => return false,
    };
    let (area, group, serial) = match sep {
        None => (&b[..3], &b[3..5], &b[5..]),
        Some(s) if b[6] == s => (&b[..3], &b[4..6], &b[7..]),
        Some(_) => return false,
    };
    digits(area)
        && digits(group)
        && digits(serial)
        && area != b"000"
        && area != b"666"
        && area[0] != b'9'
        && group != b"00"
        && serial != b"0000"
}

/// `\A(?!(?:BG|GB|KN|NK|NT|TN|ZZ))(?![DFIQUV])[A-Z](?![DFIOQUV])[A-Z] ?\d{2} ?\d{2} ?\d{2} ?[ABCD]\z`.
fn nino_gb(b: &[u8]) -> bool {
    if b.len() < 9 || !b[0].is_ascii_uppercase() || !b[1].is_ascii_uppercase() {
        return false;
    }
    const BARRED: [&[u8]; 7] = [b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"];
    if BARRED.contains(&&b[..2]) || b"DFIQUV".contains(&b[0]) || b"DFIOQUV".contains(&b[1]) {
        return false;
    }
    let mut rest = &b[2..];
    for _ in 0..3 {
        rest = rest.strip_prefix(b" ").unwrap_or(rest);
        if rest.len() < 2 || !digits(&rest[..2]) {
            return false;
        }
        rest = &rest[2..];
    }
    rest = rest.strip_prefix(b" ").unwrap_or(rest);
    rest.len() == 1 && b"ABCD".contains(&rest[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_lists_are_dqx_sized_and_case_aware() {
        assert_eq!(CodeList::CountryAlpha2.len(), 249);
        assert_eq!(CodeList::Subdivision.len(), 5046);
        assert_eq!(CodeList::CurrencyAlphabetic.len(), 178);
        assert_eq!(CodeList::LanguageAlpha3.len(), 7927);
        assert!(CodeList::CountryAlpha2.contains("US", false));
        assert!(!CodeList::CountryAlpha2.contains("us", false));
        assert!(CodeList::CountryAlpha2.contains("us", true));
        assert!(!CodeList::CountryAlpha2.contains("XK", false));
        assert!(CodeList::CountryNumeric.contains("004", false));
        assert!(!CodeList::CountryNumeric.contains("4", false));
        assert!(CodeList::Subdivision.contains("US-CA", false));
        assert!(!CodeList::Subdivision.contains("US-BY", false));
        assert!(CodeList::LanguageAlpha2.contains("sh", false));
        assert!(!CodeList::LanguageAlpha3.contains("ger", false));
    }

    #[test]
    fn national_ids_follow_dqx_patterns() {
        let us = NationalId::SsnUs;
        for ok in ["123-45-6789", "123 45 6789", "123456789", "665-01-0001"] {
            assert!(us.matches(ok), "{ok}");
        }
        for bad in [
            "000-45-6789",
            "666-45-6789",
            "900-45-6789",
            "123-00-6789",
            "123-45-0000",
            "123-45 6789",
            "12345-6789",
            "123-456789",
            "１23-45-6789",
        ] {
            assert!(!us.matches(bad), "{bad}");
        }
        let gb = NationalId::NinoGb;
        for ok in ["AB123456C", "AB 12 34 56 C", "AB12 3456D"] {
            assert!(gb.matches(ok), "{ok}");
        }
        for bad in [
            "GB123456C",
            "DA123456C",
            "AO123456C",
            "AB123456E",
            "ab123456c",
            "AB12345C",
        ] {
            assert!(!gb.matches(bad), "{bad}");
        }
        let pan = NationalId::PanIn;
        assert!(pan.matches("ABCPD1234E"));
        assert!(!pan.matches("ABCDD1234E"));
        assert!(!pan.matches("ABCPD123E4"));
        assert_eq!(NationalId::for_country("gb"), Some(NationalId::NinoGb));
        assert_eq!(NationalId::for_country("FR"), None);
    }
}
