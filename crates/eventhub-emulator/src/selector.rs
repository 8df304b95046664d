//! Event position filters: parsing of the `apache.org:selector-filter:string`
//! expressions that Event Hubs clients put on consumer links.
//!
//! Supported forms (whitespace optional, value quoted or bare):
//! `amqp.annotation.x-opt-offset > '-1'`,
//! `amqp.annotation.x-opt-sequence-number >= '5'`,
//! `amqp.annotation.x-opt-enqueued-time > '1700000000000'`,
//! where `-1` means the start of the partition and `@latest` its end.

use fe2o3_amqp_types::messaging::FilterSet;
use serde_amqp::{descriptor::Descriptor, Value};

use crate::log::PartitionLog;

/// Descriptor name of the selector filter.
pub const SELECTOR_FILTER_NAME: &str = "apache.org:selector-filter:string";
/// Descriptor code of the selector filter (0x0000468C:0x00000004).
pub const SELECTOR_FILTER_CODE: u64 = 0x0000_468C_0000_0004;
/// Legacy descriptor code some clients use for the selector filter.
pub const SELECTOR_FILTER_CODE_LEGACY: u64 = 0x13_7000_000A;

/// What a position refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionKind {
    /// `x-opt-offset`
    Offset,
    /// `x-opt-sequence-number`
    SequenceNumber,
    /// `x-opt-enqueued-time` (milliseconds since the Unix epoch)
    EnqueuedTime,
}

/// Where a consumer link starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    /// From the first event.
    Earliest,
    /// Only events enqueued after the link attached.
    Latest,
    /// Events after (or at, when inclusive) the given value.
    After {
        /// Which annotation the value compares with.
        kind: PositionKind,
        /// The value.
        value: i64,
        /// `>=` rather than `>`.
        inclusive: bool,
    },
}

impl StartPosition {
    /// Index in `log` of the first event to deliver.
    pub fn resolve(&self, log: &PartitionLog) -> usize {
        match *self {
            StartPosition::Earliest => log.begin() as usize,
            StartPosition::Latest => log.end(),
            StartPosition::After {
                kind,
                value,
                inclusive,
            } => match kind {
                PositionKind::Offset => log.index_after_offset(value, inclusive),
                PositionKind::EnqueuedTime => log.index_after_time(value, inclusive),
                PositionKind::SequenceNumber => {
                    let first = if inclusive {
                        value
                    } else {
                        value.saturating_add(1)
                    };
                    first.clamp(log.begin(), log.end() as i64) as usize
                }
            },
        }
    }
}

/// Parses a selector expression.
pub fn parse_selector(expr: &str) -> Result<StartPosition, String> {
    let expr = expr.trim();
    let (name, rest) = expr
        .split_once('>')
        .ok_or_else(|| format!("unsupported selector {expr:?}: expected '>' or '>='"))?;
    let (inclusive, value) = match rest.strip_prefix('=') {
        Some(v) => (true, v),
        None => (false, rest),
    };
    let name = name.trim();
    let name = name.strip_prefix("amqp.annotation.").unwrap_or(name);
    let kind = match name {
        "x-opt-offset" => PositionKind::Offset,
        "x-opt-sequence-number" => PositionKind::SequenceNumber,
        "x-opt-enqueued-time" => PositionKind::EnqueuedTime,
        other => return Err(format!("unsupported selector field {other:?}")),
    };
    let value = value.trim();
    let value = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
        .unwrap_or(value)
        .trim();
    if value == "@latest" {
        return Ok(StartPosition::Latest);
    }
    let value: i64 = value
        .parse()
        .map_err(|_| format!("selector value {value:?} is not an integer"))?;
    if value == -1 && kind != PositionKind::EnqueuedTime {
        return Ok(StartPosition::Earliest);
    }
    Ok(StartPosition::After {
        kind,
        value,
        inclusive,
    })
}

fn is_selector_descriptor(d: &Descriptor) -> bool {
    match d {
        Descriptor::Name(s) => s.0 == SELECTOR_FILTER_NAME,
        Descriptor::Code(c) => *c == SELECTOR_FILTER_CODE || *c == SELECTOR_FILTER_CODE_LEGACY,
    }
}

/// Extracts the start position from a source filter set; no selector = earliest.
pub fn start_position(filter: Option<&FilterSet>) -> Result<StartPosition, String> {
    let Some(filter) = filter else {
        return Ok(StartPosition::Earliest);
    };
    for (key, value) in filter.iter() {
        let described = match value {
            Value::Described(d) => Some(d.as_ref()),
            _ => None,
        };
        let expr = match described {
            Some(d) if is_selector_descriptor(&d.descriptor) => match &d.value {
                Value::String(s) => Some(s.as_str()),
                Value::Symbol(s) => Some(s.0.as_str()),
                _ => return Err("selector filter value must be a string".into()),
            },
            None if key.0 == SELECTOR_FILTER_NAME => match value {
                Value::String(s) => Some(s.as_str()),
                _ => None,
            },
            _ => None,
        };
        if let Some(expr) = expr {
            return parse_selector(expr);
        }
    }
    Ok(StartPosition::Earliest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_variants() {
        use PositionKind::*;
        assert_eq!(
            parse_selector("amqp.annotation.x-opt-offset > '-1'"),
            Ok(StartPosition::Earliest)
        );
        assert_eq!(
            parse_selector("amqp.annotation.x-opt-sequence-number >= '5'"),
            Ok(StartPosition::After {
                kind: SequenceNumber,
                value: 5,
                inclusive: true
            })
        );
        assert_eq!(
            parse_selector("amqp.annotation.x-opt-sequence-number>'2'"),
            Ok(StartPosition::After {
                kind: SequenceNumber,
                value: 2,
                inclusive: false
            })
        );
        assert_eq!(
            parse_selector("amqp.annotation.x-opt-enqueued-time > 1700000000000"),
            Ok(StartPosition::After {
                kind: EnqueuedTime,
                value: 1_700_000_000_000,
                inclusive: false
            })
        );
        assert_eq!(
            parse_selector("amqp.annotation.x-opt-offset > '@latest'"),
            Ok(StartPosition::Latest)
        );
        assert!(parse_selector("amqp.annotation.x-opt-offset < '3'").is_err());
        assert!(parse_selector("amqp.annotation.foo > '3'").is_err());
        assert!(parse_selector("amqp.annotation.x-opt-offset > 'abc'").is_err());
    }
}
