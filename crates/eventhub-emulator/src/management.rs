//! `$management` node: READ of `com.microsoft:eventhub` and
//! `com.microsoft:partition`, plus helpers shared with `$cbs` for building
//! request/response messages.

use fe2o3_amqp_types::{
    messaging::{AmqpValue, ApplicationProperties, Body, Message, Properties},
    primitives::{Array, OrderedMap, SimpleValue, Timestamp, Value},
};

use crate::{
    hub::{Broker, Partition},
    log::AmqpMessage,
};

/// Address of the management node.
pub use crate::address::MANAGEMENT_ADDRESS;
/// Entity type for hub properties.
pub const EVENTHUB_TYPE: &str = "com.microsoft:eventhub";
/// Entity type for partition properties.
pub const PARTITION_TYPE: &str = "com.microsoft:partition";

/// Reads a string application property of a request.
pub fn app_property<'a>(request: &'a AmqpMessage, key: &str) -> Option<&'a str> {
    match request.application_properties.as_ref()?.0.get(key)? {
        SimpleValue::String(s) => Some(s.as_str()),
        SimpleValue::Symbol(s) => Some(s.0.as_str()),
        _ => None,
    }
}

/// Builds a response: `status-code`/`status-description` application
/// properties, `correlation-id` = the request's `message-id` (same AMQP type).
pub fn response(request: &AmqpMessage, status: i32, description: &str, body: Value) -> AmqpMessage {
    let mut app = OrderedMap::new();
    app.insert("status-code".to_string(), SimpleValue::Int(status));
    app.insert(
        "status-description".to_string(),
        SimpleValue::String(description.to_string()),
    );
    let correlation_id = request
        .properties
        .as_ref()
        .and_then(|p| p.message_id.clone().or_else(|| p.correlation_id.clone()));
    let to = request.properties.as_ref().and_then(|p| p.reply_to.clone());
    Message {
        header: None,
        delivery_annotations: None,
        message_annotations: None,
        properties: Some(Properties {
            correlation_id,
            to,
            ..Default::default()
        }),
        application_properties: Some(ApplicationProperties(app)),
        body: match body {
            Value::Null => Body::Empty,
            v => Body::Value(AmqpValue(v)),
        },
        footer: None,
    }
}

fn entry(map: &mut OrderedMap<Value, Value>, key: &str, value: Value) {
    map.insert(Value::String(key.to_string()), value);
}

fn partition_properties(hub: &str, partition: &Partition) -> Value {
    let log = partition.log();
    let mut map = OrderedMap::new();
    entry(&mut map, "name", Value::String(hub.to_string()));
    entry(&mut map, "type", Value::String(PARTITION_TYPE.to_string()));
    entry(
        &mut map,
        "partition",
        Value::String(partition.id.to_string()),
    );
    let (last_seq, last_offset, last_time) = match log.last() {
        Some(e) => (e.sequence_number, e.offset.to_string(), e.enqueued_ms),
        None => (-1, "-1".to_string(), 0),
    };
    entry(&mut map, "begin_sequence_number", Value::Long(log.begin()));
    entry(
        &mut map,
        "last_enqueued_sequence_number",
        Value::Long(last_seq),
    );
    entry(&mut map, "last_enqueued_offset", Value::String(last_offset));
    entry(
        &mut map,
        "last_enqueued_time_utc",
        Value::Timestamp(Timestamp::from_milliseconds(last_time)),
    );
    entry(&mut map, "is_partition_empty", Value::Bool(log.is_empty()));
    entry(
        &mut map,
        "last_enqueued_sequence_number_epoch",
        Value::Long(0),
    );
    Value::Map(map)
}

/// Answers one `$management` request.
pub fn handle_request(broker: &Broker, request: &AmqpMessage) -> AmqpMessage {
    let operation = app_property(request, "operation").unwrap_or_default();
    if operation != "READ" {
        return response(
            request,
            400,
            &format!("unsupported operation {operation:?}"),
            Value::Null,
        );
    }
    let name = app_property(request, "name").unwrap_or_default();
    let Some(hub) = broker.hub(name) else {
        return response(
            request,
            404,
            &format!("event hub {name:?} not found"),
            Value::Null,
        );
    };
    match app_property(request, "type").unwrap_or_default() {
        EVENTHUB_TYPE => {
            let ids: Vec<Value> = hub
                .partitions
                .iter()
                .map(|p| Value::String(p.id.to_string()))
                .collect();
            let mut map = OrderedMap::new();
            entry(&mut map, "name", Value::String(hub.name.clone()));
            entry(&mut map, "type", Value::String(EVENTHUB_TYPE.to_string()));
            entry(
                &mut map,
                "created_at",
                Value::Timestamp(Timestamp::from_milliseconds(hub.created_at_ms)),
            );
            entry(&mut map, "partition_count", Value::Int(ids.len() as i32));
            entry(&mut map, "partition_ids", Value::Array(Array::from(ids)));
            response(request, 200, "OK", Value::Map(map))
        }
        PARTITION_TYPE => {
            let id = app_property(request, "partition").unwrap_or_default();
            match hub.partition(id) {
                Some(p) => response(request, 200, "OK", partition_properties(&hub.name, p)),
                None => response(
                    request,
                    404,
                    &format!("partition {id:?} of {name:?} not found"),
                    Value::Null,
                ),
            }
        }
        other => response(
            request,
            400,
            &format!("unsupported type {other:?}"),
            Value::Null,
        ),
    }
}
