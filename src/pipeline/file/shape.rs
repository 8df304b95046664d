//! The shape of a pipeline file, checked before anything is read from it: which keys each
//! mapping may have, which are required, and the type and allowed values of each, so that every
//! such problem is reported at once with its key path (serde stops at the first).

use serde_yaml::{Mapping, Value};

use super::{unknown_keys, TOP_KEYS};

type Problems = Vec<(String, String)>;

const FIELD_TYPES: [&str; 7] = [
    "string",
    "integer",
    "float",
    "boolean",
    "timestamp",
    "date",
    "json",
];
const TIME_FORMATS: [&str; 5] = [
    "rfc3339",
    "epoch_seconds",
    "epoch_millis",
    "epoch_s",
    "epoch_ms",
];
const VIEW_KINDS: [&str; 5] = [
    "latest",
    "aggregate",
    "station_latest",
    "station_hourly",
    "quality_by_window",
];
const AGG_FNS: [&str; 6] = ["count", "sum", "min", "max", "avg", "count_distinct"];

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn mapping<'a>(v: &'a Value, key: &str, out: &mut Problems) -> Option<&'a Mapping> {
    match v {
        Value::Mapping(m) => Some(m),
        other => {
            out.push((
                key.into(),
                format!("expected a mapping, found {}", kind_of(other)),
            ));
            None
        }
    }
}

fn sequence<'a>(v: &'a Value, key: &str, out: &mut Problems) -> Option<&'a Vec<Value>> {
    match v {
        Value::Sequence(s) => Some(s),
        other => {
            out.push((
                key.into(),
                format!("expected a list, found {}", kind_of(other)),
            ));
            None
        }
    }
}

/// A string value, optionally one of `allowed`.
fn string(m: &Mapping, name: &str, at: &str, allowed: &[&str], required: bool, out: &mut Problems) {
    let key = format!("{at}.{name}");
    match m.get(name) {
        None if required => out.push((key, format!("'{name}' is required"))),
        None => {}
        Some(Value::String(s)) if allowed.is_empty() || allowed.contains(&s.as_str()) => {}
        Some(Value::String(s)) => out.push((
            key,
            format!(
                "unknown value '{s}'; expected one of {}",
                allowed.join(", ")
            ),
        )),
        Some(other) => out.push((key, format!("expected a string, found {}", kind_of(other)))),
    }
}

fn strings(m: &Mapping, name: &str, at: &str, out: &mut Problems) {
    let key = format!("{at}.{name}");
    if let Some(v) = m.get(name) {
        if let Some(items) = sequence(v, &key, out) {
            for (i, item) in items.iter().enumerate() {
                if !item.is_string() {
                    out.push((
                        format!("{key}[{i}]"),
                        format!("expected a column name, found {}", kind_of(item)),
                    ));
                }
            }
        }
    }
}

/// Every shape problem of a whole file.
pub fn problems(doc: &Value) -> Problems {
    let mut out = Vec::new();
    let Some(top) = mapping(doc, "", &mut out) else {
        return out;
    };
    out.extend(unknown_keys(top, &TOP_KEYS, ""));
    match top.get("event") {
        None => out.push((
            "event".into(),
            "'event' is required: the fields the bodies carry".into(),
        )),
        Some(e) => event(e, &mut out),
    }
    match top.get("checks") {
        None | Some(Value::String(_)) | Some(Value::Sequence(_)) => {}
        Some(other) => out.push((
            "checks".into(),
            format!(
                "expected a check file's path or a list of checks, found {}",
                kind_of(other)
            ),
        )),
    }
    if let Some(v) = top.get("views") {
        if let Some(items) = sequence(v, "views", &mut out) {
            for (i, item) in items.iter().enumerate() {
                view(item, &format!("views[{i}]"), &mut out);
            }
        }
    }
    if let Some(v) = top.get("run") {
        if let Some(m) = mapping(v, "run", &mut out) {
            for k in m.keys().filter(|k| !k.is_string()) {
                out.push((
                    "run".into(),
                    format!("option names are strings, found {}", kind_of(k)),
                ));
            }
        }
    }
    out
}

fn event(v: &Value, out: &mut Problems) {
    let Some(m) = mapping(v, "event", out) else {
        return;
    };
    out.extend(unknown_keys(
        m,
        &["fields", "id", "time", "key", "unknown_fields"],
        "event",
    ));
    match m.get("fields") {
        None => out.push(("event.fields".into(), "'fields' is required".into())),
        Some(f) => {
            if let Some(items) = sequence(f, "event.fields", out) {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("event.fields[{i}]");
                    if let Some(fm) = mapping(item, &at, out) {
                        out.extend(unknown_keys(fm, &["name", "type", "format"], &at));
                        string(fm, "name", &at, &[], true, out);
                        string(fm, "type", &at, &FIELD_TYPES, true, out);
                        string(fm, "format", &at, &TIME_FORMATS, false, out);
                    }
                }
            }
        }
    }
    for role in ["id", "time", "key"] {
        string(m, role, "event", &[], false, out);
    }
    string(
        m,
        "unknown_fields",
        "event",
        &["keep", "ignore"],
        false,
        out,
    );
}

fn view(v: &Value, at: &str, out: &mut Problems) {
    let Some(m) = mapping(v, at, out) else {
        return;
    };
    string(m, "kind", at, &VIEW_KINDS, true, out);
    string(m, "name", at, &[], true, out);
    let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
    let known: &[&str] = match kind {
        "latest" => &["kind", "name", "key", "columns"],
        "aggregate" => &["kind", "name", "group_by", "window", "aggregates"],
        _ => &["kind", "name"],
    };
    out.extend(unknown_keys(m, known, at));
    match kind {
        "latest" => {
            strings(m, "key", at, out);
            strings(m, "columns", at, out);
        }
        "aggregate" => {
            strings(m, "group_by", at, out);
            string(m, "window", at, &[], true, out);
            match m.get("aggregates") {
                None => out.push((
                    format!("{at}.aggregates"),
                    "'aggregates' is required".into(),
                )),
                Some(a) => {
                    if let Some(items) = sequence(a, &format!("{at}.aggregates"), out) {
                        for (i, item) in items.iter().enumerate() {
                            let at = format!("{at}.aggregates[{i}]");
                            if let Some(am) = mapping(item, &at, out) {
                                out.extend(unknown_keys(am, &["fn", "column", "as"], &at));
                                string(am, "fn", &at, &AGG_FNS, true, out);
                                string(am, "column", &at, &[], false, out);
                                string(am, "as", &at, &[], false, out);
                            }
                        }
                    }
                }
            }
        }
        _ => {}
    }
}
