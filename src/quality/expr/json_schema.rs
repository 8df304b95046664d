//! `has_valid_json_schema`'s schema and its test: a Spark DDL schema (`a INT, b STRUCT<c:
//! STRING NOT NULL>` or `struct<a:int>`) read as PySpark's `_parse_datatype_string` reads it,
//! printed as Spark's `simpleString` (DQX's message shows it), and the test DQX builds from
//! `from_json` with a corrupt-record column: a JSON object whose fields convert to their types
//! as Spark's JSON reader converts them (numbers into integer types only when integral and in
//! range, anything into a string, …) and whose `NOT NULL` fields are present and not null
//! (children of a null nullable struct are not looked at). Text that is not valid JSON is
//! `is_valid_json`'s business and is tested there first.

use std::fmt;

/// A field type of the schema.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonType {
    String,
    /// Integer types by width in bits: tinyint 8, smallint 16, int 32, bigint 64.
    Int(u8),
    Double,
    Float,
    Boolean,
    Decimal(u8, u8),
    Date,
    Timestamp,
    Array(Box<JsonType>),
    Map(Box<JsonType>, Box<JsonType>),
    Struct(Vec<JsonField>),
}

/// A named field of a struct.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonField {
    pub name: String,
    pub ty: JsonType,
    pub nullable: bool,
}

/// The schema of `has_valid_json_schema`: the fields of the top-level object.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonSchema {
    pub fields: Vec<JsonField>,
}

impl fmt::Display for JsonType {
    /// Spark's `simpleString`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonType::String => f.write_str("string"),
            JsonType::Int(8) => f.write_str("tinyint"),
            JsonType::Int(16) => f.write_str("smallint"),
            JsonType::Int(32) => f.write_str("int"),
            JsonType::Int(_) => f.write_str("bigint"),
            JsonType::Double => f.write_str("double"),
            JsonType::Float => f.write_str("float"),
            JsonType::Boolean => f.write_str("boolean"),
            JsonType::Decimal(p, s) => write!(f, "decimal({p},{s})"),
            JsonType::Date => f.write_str("date"),
            JsonType::Timestamp => f.write_str("timestamp"),
            JsonType::Array(t) => write!(f, "array<{t}>"),
            JsonType::Map(k, v) => write!(f, "map<{k},{v}>"),
            JsonType::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}:{}", field.name, field.ty)?;
                }
                f.write_str(">")
            }
        }
    }
}

impl fmt::Display for JsonSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        JsonType::Struct(self.fields.clone()).fmt(f)
    }
}

impl JsonSchema {
    /// Reads a DDL schema: a field list (`a INT, b STRING NOT NULL`) or one `struct<…>`.
    pub fn parse(ddl: &str) -> Result<JsonSchema, String> {
        let mut p = Ddl { s: ddl, pos: 0 };
        let fields = if p.peek_word().eq_ignore_ascii_case("struct") && p.after_word_is('<') {
            match p.ty()? {
                JsonType::Struct(fields) => fields,
                _ => unreachable!("a struct type"),
            }
        } else {
            p.fields(None)?
        };
        p.skip_ws();
        if p.pos < p.s.len() {
            return Err(format!(
                "unexpected '{}' at position {}",
                &p.s[p.pos..],
                p.pos
            ));
        }
        if fields.is_empty() {
            return Err("no fields".into());
        }
        Ok(JsonSchema { fields })
    }

    /// Whether `text` (valid JSON) conforms: see the module docs.
    pub fn conforms(&self, text: &str) -> bool {
        let mut r = Reader {
            b: text.as_bytes(),
            pos: 0,
        };
        let Some(root) = r.value() else {
            return false;
        };
        match &root {
            Json::Object(members) => {
                fields_convert(&self.fields, members) && complete(&self.fields, &root)
            }
            _ => false,
        }
    }
}

/// A DDL reader.
struct Ddl<'a> {
    s: &'a str,
    pos: usize,
}

impl Ddl<'_> {
    fn skip_ws(&mut self) {
        let rest = &self.s[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }
    fn peek_word(&mut self) -> &str {
        self.skip_ws();
        let rest = &self.s[self.pos..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        &rest[..end]
    }
    fn after_word_is(&mut self, c: char) -> bool {
        let w = self.peek_word().len();
        self.s[self.pos + w..].trim_start().starts_with(c)
    }
    fn word(&mut self) -> Result<String, String> {
        let w = self.peek_word().to_string();
        if w.is_empty() {
            return Err(format!("expected a name at position {}", self.pos));
        }
        self.pos += w.len();
        Ok(w)
    }
    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.s[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{c}' at position {}", self.pos))
        }
    }
    /// A field name: a word or a back-quoted name.
    fn name(&mut self) -> Result<String, String> {
        self.skip_ws();
        if self.eat('`') {
            let rest = &self.s[self.pos..];
            let end = rest.find('`').ok_or("unclosed '`'")?;
            self.pos += end + 1;
            return Ok(rest[..end].to_string());
        }
        self.word()
    }
    /// Fields up to `close` (or the end): `name [:] TYPE [NOT NULL] [COMMENT '…']`, by commas.
    fn fields(&mut self, close: Option<char>) -> Result<Vec<JsonField>, String> {
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            if close.is_some_and(|c| self.s[self.pos..].starts_with(c)) && out.is_empty() {
                break;
            }
            let name = self.name()?;
            self.eat(':');
            let ty = self.ty()?;
            let mut nullable = true;
            if self.peek_word().eq_ignore_ascii_case("not") {
                self.word()?;
                if !self.word()?.eq_ignore_ascii_case("null") {
                    return Err(format!("expected NULL after NOT at position {}", self.pos));
                }
                nullable = false;
            }
            if self.peek_word().eq_ignore_ascii_case("comment") {
                self.word()?;
                self.skip_ws();
                let quote = self.s[self.pos..].chars().next().ok_or("missing comment")?;
                if quote != '\'' && quote != '"' {
                    return Err(format!(
                        "expected a quoted comment at position {}",
                        self.pos
                    ));
                }
                let rest = &self.s[self.pos + 1..];
                let end = rest.find(quote).ok_or("unclosed comment")?;
                self.pos += end + 2;
            }
            if out.iter().any(|f: &JsonField| f.name == name) {
                return Err(format!("duplicate field '{name}'"));
            }
            out.push(JsonField { name, ty, nullable });
            if !self.eat(',') {
                break;
            }
        }
        Ok(out)
    }
    fn ty(&mut self) -> Result<JsonType, String> {
        let at = self.pos;
        let w = self.word()?.to_ascii_lowercase();
        Ok(match w.as_str() {
            "string" => JsonType::String,
            "tinyint" | "byte" => JsonType::Int(8),
            "smallint" | "short" => JsonType::Int(16),
            "int" | "integer" => JsonType::Int(32),
            "bigint" | "long" => JsonType::Int(64),
            "double" => JsonType::Double,
            "float" | "real" => JsonType::Float,
            "boolean" => JsonType::Boolean,
            "date" => JsonType::Date,
            "timestamp" => JsonType::Timestamp,
            "decimal" | "dec" | "numeric" => {
                if self.eat('(') {
                    let p = self.number()?;
                    let s = if self.eat(',') { self.number()? } else { 0 };
                    self.expect(')')?;
                    if p == 0 || p > 38 || s > p {
                        return Err(format!("decimal({p},{s}) is not a valid decimal type"));
                    }
                    JsonType::Decimal(p, s)
                } else {
                    JsonType::Decimal(10, 0)
                }
            }
            "array" => {
                self.expect('<')?;
                let t = self.ty()?;
                self.expect('>')?;
                JsonType::Array(Box::new(t))
            }
            "map" => {
                self.expect('<')?;
                let k = self.ty()?;
                self.expect(',')?;
                let v = self.ty()?;
                self.expect('>')?;
                JsonType::Map(Box::new(k), Box::new(v))
            }
            "struct" => {
                self.expect('<')?;
                let fields = self.fields(Some('>'))?;
                self.expect('>')?;
                JsonType::Struct(fields)
            }
            _ => return Err(format!("unsupported data type '{w}' at position {at}")),
        })
    }
    fn number(&mut self) -> Result<u8, String> {
        let w = self.word()?;
        w.parse()
            .map_err(|_| format!("expected a number, found '{w}'"))
    }
}

/// A JSON value as Spark's reader sees its tokens: numbers keep their text and whether they
/// were written as integers.
#[derive(Debug)]
enum Json<'a> {
    Null,
    Bool,
    Int(&'a str),
    Float(&'a str),
    Str(String),
    Array(Vec<Json<'a>>),
    Object(Vec<(String, Json<'a>)>),
}

/// Reads the first JSON value of text already known to be valid JSON.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn ws(&mut self) {
        while self.pos < self.b.len() && matches!(self.b[self.pos], b' ' | b'\t' | b'\r' | b'\n') {
            self.pos += 1;
        }
    }
    fn value(&mut self) -> Option<Json<'a>> {
        self.ws();
        let c = *self.b.get(self.pos)?;
        Some(match c {
            b'{' => {
                self.pos += 1;
                let mut fields = Vec::new();
                loop {
                    self.ws();
                    if self.b.get(self.pos) == Some(&b'}') {
                        self.pos += 1;
                        break;
                    }
                    let Json::Str(key) = self.value()? else {
                        return None;
                    };
                    self.ws();
                    self.pos += 1; // ':'
                    let v = self.value()?;
                    fields.push((key, v));
                    self.ws();
                    if self.b.get(self.pos) == Some(&b',') {
                        self.pos += 1;
                    }
                }
                Json::Object(fields)
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.b.get(self.pos) == Some(&b']') {
                        self.pos += 1;
                        break;
                    }
                    items.push(self.value()?);
                    self.ws();
                    if self.b.get(self.pos) == Some(&b',') {
                        self.pos += 1;
                    }
                }
                Json::Array(items)
            }
            b'"' => {
                let mut de = serde_json::Deserializer::from_slice(&self.b[self.pos..]).into_iter();
                let s: String = de.next()?.ok()?;
                self.pos += de.byte_offset();
                Json::Str(s)
            }
            b't' | b'f' | b'n' => {
                let lit = if c == b'f' { 5 } else { 4 };
                self.pos += lit;
                if c == b'n' {
                    Json::Null
                } else {
                    Json::Bool
                }
            }
            _ => {
                let start = self.pos;
                while self.pos < self.b.len()
                    && matches!(
                        self.b[self.pos],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.pos += 1;
                }
                let text = std::str::from_utf8(&self.b[start..self.pos]).ok()?;
                if text.contains(['.', 'e', 'E']) {
                    Json::Float(text)
                } else {
                    Json::Int(text)
                }
            }
        })
    }
}

/// Converts `v` to `ty` as Spark's JSON reader does: `Some(not null)` where it converts, `None`
/// where the record would be corrupt.
fn convert(ty: &JsonType, v: &Json<'_>) -> Option<bool> {
    if matches!(v, Json::Null) {
        return Some(false);
    }
    let ok = match (ty, v) {
        (JsonType::String, _) => true,
        (JsonType::Int(bits), Json::Int(t)) => t
            .parse::<i64>()
            .is_ok_and(|n| *bits == 64 || (n >= -(1 << (bits - 1)) && n < (1 << (bits - 1)))),
        (JsonType::Double | JsonType::Float, Json::Int(_) | Json::Float(_)) => true,
        (JsonType::Double | JsonType::Float, Json::Str(s)) => matches!(
            s.as_str(),
            "NaN"
                | "+NaN"
                | "-NaN"
                | "Infinity"
                | "+Infinity"
                | "-Infinity"
                | "INF"
                | "+INF"
                | "-INF"
        ),
        (JsonType::Boolean, Json::Bool) => true,
        (JsonType::Decimal(p, s), Json::Int(t) | Json::Float(t)) => decimal_fits(t, *p, *s),
        // Text through Java's `BigDecimal` after removing commas (Spark's en-US parser).
        (JsonType::Decimal(p, s), Json::Str(t)) => decimal_fits(&t.replace(',', ""), *p, *s),
        // Spark's date cast, else (Spark 1.5's files) days since the epoch as text.
        (JsonType::Date, Json::Str(s)) => {
            super::spark_cast::spark_date(s.as_bytes()).is_some() || s.parse::<i32>().is_ok()
        }
        (JsonType::Timestamp, Json::Str(s)) => {
            super::spark_cast::spark_timestamp(s.as_bytes(), Some(0)).is_some()
        }
        (JsonType::Timestamp, Json::Int(_)) => true,
        (JsonType::Array(t), Json::Array(items)) => items.iter().all(|i| convert(t, i).is_some()),
        (JsonType::Map(_, t), Json::Object(fields)) => {
            fields.iter().all(|(_, i)| convert(t, i).is_some())
        }
        (JsonType::Struct(fields), Json::Object(members)) => fields_convert(fields, members),
        _ => false,
    };
    ok.then_some(true)
}

/// Whether each field present in the object converts to its type.
fn fields_convert(fields: &[JsonField], members: &[(String, Json<'_>)]) -> bool {
    fields.iter().all(|f| {
        members
            .iter()
            .find(|(k, _)| *k == f.name)
            .is_none_or(|(_, m)| convert(&f.ty, m).is_some())
    })
}

/// Whether every `NOT NULL` field of `fields` is present and not null in the object `v`, down
/// through struct fields (DQX's `_generate_field_presence_checks`): below a nullable struct
/// that is null nothing is required; arrays and maps are not looked into.
fn complete(fields: &[JsonField], v: &Json<'_>) -> bool {
    let Json::Object(members) = v else {
        return true;
    };
    fields.iter().all(|f| {
        let value = members
            .iter()
            .find(|(k, _)| *k == f.name)
            .map(|(_, m)| m)
            .filter(|m| !matches!(m, Json::Null));
        match (value, &f.ty) {
            (None, _) => f.nullable,
            (Some(m), JsonType::Struct(inner)) => complete(inner, m),
            (Some(_), _) => true,
        }
    })
}

/// Whether a number's text (`[+-]digits[.digits][e[+-]digits]`, Java's `BigDecimal`
/// grammar) fits `decimal(p, s)` once rounded half up to `s` places, exactly.
fn decimal_fits(text: &str, p: u8, s: u8) -> bool {
    let t = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mant, exp) = match t.find(['e', 'E']) {
        Some(i) => match t[i + 1..].parse::<i32>() {
            Ok(e) => (&t[..i], i64::from(e)),
            Err(_) => return false,
        },
        None => (t, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let all_digits = |x: &str| x.bytes().all(|c| c.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return false;
    }
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0').as_bytes();
    if digits.is_empty() {
        return true;
    }
    // value = digits × 10^(exp - frac.len()); unscaled at scale s = digits × 10^shift.
    let shift = exp - frac.len() as i64 + i64::from(s);
    let len = digits.len() as i64;
    if shift >= 0 {
        return len + shift <= i64::from(p);
    }
    let keep = len + shift;
    if keep <= 0 {
        return true; // rounds to 0 or 1
    }
    let kept = &digits[..keep as usize];
    let carry = digits[keep as usize] >= b'5' && kept.iter().all(|&d| d == b'9');
    keep + i64::from(carry) <= i64::from(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ddl_and_prints_simple_string() {
        let s = JsonSchema::parse("a INT, b STRUCT<c: STRING NOT NULL> NOT NULL").unwrap();
        assert_eq!(s.to_string(), "struct<a:int,b:struct<c:string>>");
        assert!(!s.fields[1].nullable);
        let s =
            JsonSchema::parse("struct<a:bigint, m:map<string,array<double>>, d decimal>").unwrap();
        assert_eq!(
            s.to_string(),
            "struct<a:bigint,m:map<string,array<double>>,d:decimal(10,0)>"
        );
        assert!(JsonSchema::parse("a FOO").is_err());
        assert!(JsonSchema::parse("a INT,").is_err());
        assert!(JsonSchema::parse("").is_err());
    }

    #[test]
    fn converts_as_spark_reads_json() {
        let s = JsonSchema::parse("a INT NOT NULL, b STRUCT<c: STRING NOT NULL>").unwrap();
        assert!(s.conforms(r#"{"a": 1}"#));
        assert!(s.conforms(r#"{"a": 1, "b": null}"#));
        assert!(s.conforms(r#"{"a": 1, "b": {"c": 2}}"#));
        assert!(!s.conforms(r#"{"a": 1, "b": {}}"#));
        assert!(!s.conforms(r#"{"a": 1.5}"#));
        assert!(!s.conforms(r#"{"a": 2147483648}"#));
        assert!(!s.conforms(r#"{"a": "1"}"#));
        assert!(!s.conforms(r#"{}"#));
        assert!(!s.conforms("[1]"));
        assert!(!s.conforms("1"));
    }

    #[test]
    fn decimals_round_half_up_then_fit() {
        assert!(decimal_fits("128", 5, 2));
        assert!(!decimal_fits("40000", 5, 2));
        assert!(decimal_fits("12.345", 5, 2));
        assert!(!decimal_fits("999.995", 5, 2));
        assert!(decimal_fits("999.994", 5, 2));
        assert!(decimal_fits("1e2", 5, 2));
        assert!(!decimal_fits("1e3", 5, 2));
        assert!(decimal_fits("-0.0001", 1, 0));
        assert!(decimal_fits(".5", 2, 1));
        assert!(!decimal_fits("x", 5, 2));
        assert!(!decimal_fits(".", 5, 2));
        assert!(!decimal_fits("1e", 5, 2));
        assert!(decimal_fits("1700000000", 10, 0));
        assert!(!decimal_fits("99999999999", 10, 0));
    }
}
