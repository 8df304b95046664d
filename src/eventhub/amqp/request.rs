//! Request/response over an AMQP node (`$cbs`, `$management`): a sender link to the node and a
//! receiver link whose target address is the `reply-to` of every request.

use fe2o3_amqp::{
    link::{Receiver, Sender},
    session::SessionHandle,
    types::{
        messaging::{
            AmqpValue, ApplicationProperties, Body, Message, MessageId, Properties, Source,
        },
        primitives::{SimpleValue, Value},
    },
};

use crate::eventhub::error::EventHubError;

/// A message as requests and responses carry it.
pub type AmqpMessage = Message<Body<Value>>;

/// One request/response pair of links.
pub struct RequestLink {
    node: &'static str,
    sender: Sender,
    receiver: Receiver,
    reply_to: String,
    next_id: u64,
}

impl std::fmt::Debug for RequestLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestLink")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// A response: its status code, description and body.
#[derive(Debug)]
pub struct Response {
    /// `status-code` (200 and 202 are success).
    pub status: i64,
    /// `status-description`.
    pub description: String,
    /// The body value (`Null` when there is none).
    pub body: Value,
}

impl RequestLink {
    /// Attaches both links to `node` on `session`.
    pub async fn attach(
        session: &mut SessionHandle<()>,
        node: &'static str,
    ) -> Result<Self, EventHubError> {
        let id = uuid::Uuid::new_v4();
        let reply_to = format!("{node}-reply-{id}");
        let sender = Sender::attach(session, format!("{node}-sender-{id}"), node)
            .await
            .map_err(|e| EventHubError::client(format!("attaching to {node}"), e))?;
        let receiver = Receiver::builder()
            .name(format!("{node}-receiver-{id}"))
            .source(Source::builder().address(node).build())
            .target(reply_to.clone())
            .attach(session)
            .await
            .map_err(|e| EventHubError::client(format!("attaching to {node}"), e))?;
        Ok(RequestLink {
            node,
            sender,
            receiver,
            reply_to,
            next_id: 1,
        })
    }

    /// Sends a request with `properties` as application properties and `body`, and waits for
    /// the response that correlates with it.
    pub async fn call(
        &mut self,
        properties: Vec<(&str, SimpleValue)>,
        body: Value,
    ) -> Result<Response, EventHubError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut app = ApplicationProperties::builder();
        for (k, v) in properties {
            app = app.insert(k, v);
        }
        let message = Message::builder()
            .properties(
                Properties::builder()
                    .message_id(MessageId::from(id))
                    .reply_to(self.reply_to.clone())
                    .build(),
            )
            .application_properties(app.build())
            .body(Body::Value(AmqpValue(body)))
            .build();
        let node = self.node;
        let failed =
            |e: &dyn std::fmt::Display| EventHubError::client(format!("request to {node}"), e);
        self.sender.send(message).await.map_err(|e| failed(&e))?;
        loop {
            let delivery = self
                .receiver
                .recv::<Body<Value>>()
                .await
                .map_err(|e| failed(&e))?;
            let _ = self.receiver.accept(&delivery).await;
            let response = delivery.into_message();
            let correlates = response
                .properties
                .as_ref()
                .and_then(|p| p.correlation_id.as_ref())
                .is_none_or(|c| *c == MessageId::from(id));
            if correlates {
                return Ok(parse_response(response));
            }
        }
    }

    /// Detaches both links.
    pub async fn close(self) {
        let _ = self.sender.close().await;
        let _ = self.receiver.close().await;
    }
}

fn parse_response(message: AmqpMessage) -> Response {
    let property = |key: &str| {
        message
            .application_properties
            .as_ref()
            .and_then(|a| a.0.get(key))
    };
    let status = match property("status-code").or_else(|| property("statusCode")) {
        Some(SimpleValue::Int(v)) => i64::from(*v),
        Some(SimpleValue::Long(v)) => *v,
        Some(SimpleValue::Uint(v)) => i64::from(*v),
        Some(SimpleValue::Short(v)) => i64::from(*v),
        _ => 0,
    };
    let description = match property("status-description").or_else(|| property("statusDescription"))
    {
        Some(SimpleValue::String(s)) => s.clone(),
        Some(SimpleValue::Symbol(s)) => s.0.clone(),
        _ => String::new(),
    };
    let body = match message.body {
        Body::Value(AmqpValue(v)) => v,
        _ => Value::Null,
    };
    Response {
        status,
        description,
        body,
    }
}

/// Looks a key up in a map value whose keys are strings or symbols.
pub fn map_get<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    let Value::Map(map) = map else { return None };
    map.iter()
        .find(|(k, _)| match k {
            Value::String(s) => s == key,
            Value::Symbol(s) => s.0 == key,
            _ => false,
        })
        .map(|(_, v)| v)
}
