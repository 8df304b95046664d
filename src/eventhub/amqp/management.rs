//! `$management` requests: the hub's partition ids and a partition's positions.

use fe2o3_amqp::types::primitives::Value;

use crate::eventhub::{
    amqp::{request::map_get, shared::SharedConnection},
    client::PartitionInfo,
    error::EventHubError,
};

/// Partition ids of the hub (`READ` of `com.microsoft:eventhub`).
pub async fn partition_ids(connection: &SharedConnection) -> Result<Vec<String>, EventHubError> {
    let body = read(connection, "com.microsoft:eventhub", None).await?;
    let ids: Vec<String> = match map_get(&body, "partition_ids") {
        Some(Value::Array(a)) => a.0.iter().filter_map(as_string).collect(),
        Some(Value::List(l)) => l.iter().filter_map(as_string).collect(),
        _ => Vec::new(),
    };
    if ids.is_empty() {
        return Err(EventHubError::client(
            format!(
                "cannot read the properties of hub '{}'",
                connection.endpoint().hub
            ),
            "the answer lists no partition ids",
        ));
    }
    Ok(ids)
}

/// Positions of one partition (`READ` of `com.microsoft:partition`).
pub async fn partition_info(
    connection: &SharedConnection,
    partition: &str,
) -> Result<PartitionInfo, EventHubError> {
    let body = read(connection, "com.microsoft:partition", Some(partition)).await?;
    let last = long_field(&body, "last_enqueued_sequence_number").unwrap_or(-1);
    let is_empty = match map_get(&body, "is_partition_empty") {
        Some(Value::Bool(b)) => *b,
        _ => last < 0,
    };
    Ok(PartitionInfo {
        beginning_sequence_number: long_field(&body, "begin_sequence_number").unwrap_or(0),
        last_enqueued_sequence_number: last,
        is_empty,
    })
}

async fn read(
    connection: &SharedConnection,
    kind: &str,
    partition: Option<&str>,
) -> Result<Value, EventHubError> {
    let hub = connection.endpoint().hub.clone();
    let what = match partition {
        Some(p) => format!("the properties of partition {p} of hub '{hub}'"),
        None => format!("the properties of hub '{hub}'"),
    };
    let mut live = connection.lock().await?;
    let generation = live.generation;
    let mut properties = vec![
        ("operation", "READ".into()),
        ("name", hub.as_str().into()),
        ("type", kind.into()),
        ("security_token", live.token().into()),
    ];
    if let Some(p) = partition {
        properties.push(("partition", p.into()));
    }
    let result = match live.management().await {
        Ok(link) => link.call(properties, Value::Null).await,
        Err(e) => Err(e),
    };
    drop(live);
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            connection.invalidate(generation).await;
            return Err(EventHubError::client(format!("cannot read {what}"), e));
        }
    };
    match response.status {
        200 => Ok(response.body),
        401 | 403 => Err(EventHubError::Unauthorized {
            hub,
            message: response.description,
        }),
        status => Err(EventHubError::client(
            format!("cannot read {what}"),
            format!("status {status}: {}", response.description),
        )),
    }
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Symbol(s) => Some(s.0.clone()),
        _ => None,
    }
}

/// Reads an integer field of a response body.
fn long_field(body: &Value, key: &str) -> Option<i64> {
    match map_get(body, key)? {
        Value::Long(v) => Some(*v),
        Value::Int(v) => Some(i64::from(*v)),
        Value::Ulong(v) => i64::try_from(*v).ok(),
        Value::Uint(v) => Some(i64::from(*v)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}
