//! End-to-end tests of the emulator with fe2o3-amqp 0.18 as the client: the shared client
//! helpers here; AMQP messaging (links, filters, ownership) in `messaging`; the service around
//! it (management, CBS, persistence, TLS, hostile input) in `service`.

mod messaging;
mod service;

use std::time::Duration;

use base64::Engine;
use fe2o3_amqp::{
    connection::ConnectionHandle,
    link::{delivery::Sendable, Receiver, Sender},
    sasl_profile::SaslProfile,
    session::SessionHandle,
    types::{
        messaging::{
            annotations::OwnedKey, AmqpValue, ApplicationProperties, Body, Data, Message,
            MessageAnnotations, Properties, Source,
        },
        primitives::{SimpleValue, Value},
    },
    Connection, Session,
};
use fe2o3_amqp_types::messaging::message::__private::Serializable;
use medallion::emulator::{Emulator, EmulatorConfig, EmulatorHandle, HubSpec};
use serde_amqp::{described::Described, descriptor::Descriptor, primitives::Symbol};

pub(super) type Msg = Message<Body<Value>>;
pub(super) const T: Duration = Duration::from_secs(10);

pub(super) async fn start(hubs: Vec<HubSpec>) -> EmulatorHandle {
    start_with(EmulatorConfig {
        port: 0,
        hubs,
        ..Default::default()
    })
    .await
}

pub(super) async fn start_with(config: EmulatorConfig) -> EmulatorHandle {
    Emulator::start(config).await.expect("emulator starts")
}

pub(super) struct Client {
    pub(super) conn: ConnectionHandle<()>,
    pub(super) session: SessionHandle<()>,
}

impl Client {
    pub(super) async fn connect(emu: &EmulatorHandle) -> Self {
        let url = format!("amqp://localhost:{}", emu.local_addr().port());
        let mut conn = Connection::builder()
            .container_id(uuid::Uuid::new_v4().to_string())
            .sasl_profile(SaslProfile::Anonymous)
            .open(url.as_str())
            .await
            .expect("connection opens");
        let session = Session::begin(&mut conn).await.expect("session begins");
        Self { conn, session }
    }

    pub(super) async fn sender(&mut self, address: &str) -> Sender {
        Sender::attach(&mut self.session, uuid::Uuid::new_v4().to_string(), address)
            .await
            .expect("sender attaches")
    }

    pub(super) async fn receiver(
        &mut self,
        address: &str,
        filter: Option<Value>,
        epoch: Option<i64>,
    ) -> Result<Receiver, String> {
        let mut source = Source::builder().address(address.to_string());
        if let Some(f) = filter {
            source = source.add_to_filter_using_legacy_format("selector", f);
        }
        let mut builder = Receiver::builder()
            .name(uuid::Uuid::new_v4().to_string())
            .source(source.build())
            .target("client");
        if let Some(e) = epoch {
            let mut props = fe2o3_amqp::types::definitions::Fields::new();
            props.insert(Symbol::from("com.microsoft:epoch"), Value::Long(e));
            builder = builder.properties(props);
        }
        builder
            .attach(&mut self.session)
            .await
            .map_err(|e| format!("{e:?}"))
    }

    pub(super) async fn close(mut self) {
        let _ = self.session.end().await;
        let _ = self.conn.close().await;
    }
}

pub(super) fn selector(expr: &str, descriptor: Descriptor) -> Value {
    Value::Described(Box::new(Described {
        descriptor,
        value: Value::String(expr.to_string()),
    }))
}

pub(super) fn by_name(expr: &str) -> Option<Value> {
    Some(selector(
        expr,
        Descriptor::Name(Symbol::from("apache.org:selector-filter:string")),
    ))
}

pub(super) fn event(body: &str) -> Msg {
    Message::builder()
        .application_properties(
            ApplicationProperties::builder()
                .insert("station", SimpleValue::String("s1".into()))
                .build(),
        )
        .body(Body::Data(
            vec![Data(body.as_bytes().to_vec().into())].into(),
        ))
        .build()
}

pub(super) fn annotation<'a>(m: &'a Msg, key: &str) -> Option<&'a Value> {
    m.message_annotations
        .as_ref()?
        .0
        .get(&OwnedKey::Symbol(Symbol::from(key)))
}

pub(super) fn body_str(m: &Msg) -> String {
    match &m.body {
        Body::Data(d) => String::from_utf8_lossy(&d[0].0).into_owned(),
        other => format!("{other:?}"),
    }
}

pub(super) async fn recv(r: &mut Receiver) -> Msg {
    let d = tokio::time::timeout(T, r.recv::<Body<Value>>())
        .await
        .expect("event within timeout")
        .expect("recv succeeds");
    d.into_message()
}

pub(super) async fn send_all(s: &mut Sender, bodies: &[&str]) {
    for b in bodies {
        let outcome = tokio::time::timeout(T, s.send(event(b)))
            .await
            .expect("send in time")
            .expect("send ok");
        assert!(outcome.is_accepted(), "{outcome:?}");
    }
}
