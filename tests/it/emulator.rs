//! End-to-end tests of the emulator with fe2o3-amqp 0.18 as the client.

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

type Msg = Message<Body<Value>>;
const T: Duration = Duration::from_secs(10);

async fn start(hubs: Vec<HubSpec>) -> EmulatorHandle {
    start_with(EmulatorConfig {
        port: 0,
        hubs,
        ..Default::default()
    })
    .await
}

async fn start_with(config: EmulatorConfig) -> EmulatorHandle {
    Emulator::start(config).await.expect("emulator starts")
}

struct Client {
    conn: ConnectionHandle<()>,
    session: SessionHandle<()>,
}

impl Client {
    async fn connect(emu: &EmulatorHandle) -> Self {
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

    async fn sender(&mut self, address: &str) -> Sender {
        Sender::attach(&mut self.session, uuid::Uuid::new_v4().to_string(), address)
            .await
            .expect("sender attaches")
    }

    async fn receiver(
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

    async fn close(mut self) {
        let _ = self.session.end().await;
        let _ = self.conn.close().await;
    }
}

fn selector(expr: &str, descriptor: Descriptor) -> Value {
    Value::Described(Box::new(Described {
        descriptor,
        value: Value::String(expr.to_string()),
    }))
}

fn by_name(expr: &str) -> Option<Value> {
    Some(selector(
        expr,
        Descriptor::Name(Symbol::from("apache.org:selector-filter:string")),
    ))
}

fn event(body: &str) -> Msg {
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

fn annotation<'a>(m: &'a Msg, key: &str) -> Option<&'a Value> {
    m.message_annotations
        .as_ref()?
        .0
        .get(&OwnedKey::Symbol(Symbol::from(key)))
}

fn body_str(m: &Msg) -> String {
    match &m.body {
        Body::Data(d) => String::from_utf8_lossy(&d[0].0).into_owned(),
        other => format!("{other:?}"),
    }
}

async fn recv(r: &mut Receiver) -> Msg {
    let d = tokio::time::timeout(T, r.recv::<Body<Value>>())
        .await
        .expect("event within timeout")
        .expect("recv succeeds");
    d.into_message()
}

async fn send_all(s: &mut Sender, bodies: &[&str]) {
    for b in bodies {
        let outcome = tokio::time::timeout(T, s.send(event(b)))
            .await
            .expect("send in time")
            .expect("send ok");
        assert!(outcome.is_accepted(), "{outcome:?}");
    }
}

#[tokio::test]
async fn produce_consume_roundtrip_with_annotations() {
    let emu = start(vec![HubSpec::new("weather", 2)]).await;
    let mut c = Client::connect(&emu).await;
    let mut s = c.sender("weather/Partitions/1").await;
    send_all(&mut s, &["a", "b"]).await;
    // Keyed message to the hub address goes to a stable partition with its key.
    let mut hub_sender = c.sender("weather").await;
    let keyed = Message::builder()
        .message_annotations(
            MessageAnnotations::builder()
                .insert(
                    OwnedKey::Symbol(Symbol::from("x-opt-partition-key")),
                    Value::String("k1".into()),
                )
                .build(),
        )
        .body(Body::<Value>::Data(
            vec![Data(b"keyed".to_vec().into())].into(),
        ))
        .build();
    assert!(hub_sender.send(keyed).await.unwrap().is_accepted());

    let mut r = c
        .receiver(
            "weather/ConsumerGroups/$Default/Partitions/1",
            by_name("amqp.annotation.x-opt-offset > '-1'"),
            None,
        )
        .await
        .unwrap();
    for (i, expected) in ["a", "b"].iter().enumerate() {
        let m = recv(&mut r).await;
        assert_eq!(body_str(&m), *expected);
        assert_eq!(
            annotation(&m, "x-opt-sequence-number"),
            Some(&Value::Long(i as i64))
        );
        assert!(matches!(
            annotation(&m, "x-opt-offset"),
            Some(Value::String(_))
        ));
        assert!(matches!(
            annotation(&m, "x-opt-enqueued-time"),
            Some(Value::Timestamp(_))
        ));
        assert_eq!(
            m.application_properties.as_ref().unwrap().0.get("station"),
            Some(&SimpleValue::String("s1".into()))
        );
    }
    let stats: Vec<_> = (0..2)
        .map(|p| emu.partition_stats("weather", p).unwrap().events)
        .collect();
    assert_eq!(stats.iter().sum::<usize>(), 3);
    let keyed_partition = if stats[0] == 1 { 0 } else { 1 };
    let mut r2 = c
        .receiver(
            &format!("weather/ConsumerGroups/$Default/Partitions/{keyed_partition}"),
            None,
            None,
        )
        .await
        .unwrap();
    let mut found = false;
    for _ in 0..stats[keyed_partition as usize] {
        let m = recv(&mut r2).await;
        if body_str(&m) == "keyed" {
            assert_eq!(
                annotation(&m, "x-opt-partition-key"),
                Some(&Value::String("k1".into()))
            );
            found = true;
        }
    }
    assert!(found, "keyed event delivered");
    c.close().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn batch_format_is_unpacked() {
    let emu = start(vec![HubSpec::new("weather", 1)]).await;
    let mut c = Client::connect(&emu).await;
    let mut s = c.sender("weather").await;
    let sections: Vec<Data> = (0..3)
        .map(|i| {
            Data(
                serde_amqp::to_vec(&Serializable(event(&format!("e{i}"))))
                    .unwrap()
                    .into(),
            )
        })
        .collect();
    let envelope: Msg = Message::builder().body(Body::Data(sections.into())).build();
    let sendable = Sendable::builder()
        .message(envelope)
        .message_format(0x8001_3700)
        .build();
    assert!(s.send(sendable).await.unwrap().is_accepted());
    assert_eq!(emu.partition_stats("weather", 0).unwrap().events, 3);
    let mut r = c
        .receiver("weather/ConsumerGroups/$Default/Partitions/0", None, None)
        .await
        .unwrap();
    for i in 0..3 {
        let m = recv(&mut r).await;
        assert_eq!(body_str(&m), format!("e{i}"));
        assert_eq!(
            annotation(&m, "x-opt-sequence-number"),
            Some(&Value::Long(i))
        );
    }
    c.close().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn selector_filter_variants() {
    let emu = start(vec![HubSpec::new("weather", 1)]).await;
    let mut c = Client::connect(&emu).await;
    let mut s = c.sender("weather/Partitions/0").await;
    let bodies: Vec<String> = (0..10).map(|i| format!("e{i}")).collect();
    send_all(
        &mut s,
        &bodies.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let addr = "weather/ConsumerGroups/$Default/Partitions/0";

    // Offset of event 3, read from the log through a consumer.
    let mut r = c.receiver(addr, None, None).await.unwrap();
    let mut offset3 = String::new();
    for i in 0..4 {
        let m = recv(&mut r).await;
        if i == 3 {
            let Some(Value::String(o)) = annotation(&m, "x-opt-offset") else {
                panic!("offset")
            };
            offset3 = o.clone();
        }
    }

    let cases: Vec<(Value, i64)> = vec![
        (
            by_name("amqp.annotation.x-opt-sequence-number >= '5'").unwrap(),
            5,
        ),
        (
            by_name("amqp.annotation.x-opt-sequence-number>'2'").unwrap(),
            3,
        ),
        (
            by_name("amqp.annotation.x-opt-sequence-number > 7").unwrap(),
            8,
        ),
        (
            by_name(&format!("amqp.annotation.x-opt-offset > '{offset3}'")).unwrap(),
            4,
        ),
        (
            by_name(&format!("amqp.annotation.x-opt-offset >= '{offset3}'")).unwrap(),
            3,
        ),
        (
            by_name("amqp.annotation.x-opt-enqueued-time > '1700000000000'").unwrap(),
            0,
        ),
        (
            selector(
                "amqp.annotation.x-opt-sequence-number >= '6'",
                Descriptor::Code(0x0000_468C_0000_0004),
            ),
            6,
        ),
        (
            selector(
                "amqp.annotation.x-opt-sequence-number >= '9'",
                Descriptor::Code(0x13_7000_000A),
            ),
            9,
        ),
    ];
    for (filter, first) in cases {
        let mut r = c.receiver(addr, Some(filter.clone()), None).await.unwrap();
        let m = recv(&mut r).await;
        assert_eq!(
            annotation(&m, "x-opt-sequence-number"),
            Some(&Value::Long(first)),
            "filter {filter:?}"
        );
        r.close().await.unwrap();
    }

    // @latest: only events sent after attaching.
    let mut latest = c
        .receiver(
            addr,
            by_name("amqp.annotation.x-opt-offset > '@latest'"),
            None,
        )
        .await
        .unwrap();
    let none = tokio::time::timeout(Duration::from_millis(300), latest.recv::<Body<Value>>()).await;
    assert!(none.is_err(), "no old events after @latest");
    send_all(&mut s, &["new"]).await;
    let m = recv(&mut latest).await;
    assert_eq!(body_str(&m), "new");
    assert_eq!(
        annotation(&m, "x-opt-sequence-number"),
        Some(&Value::Long(10))
    );

    // A bad selector is refused.
    let bad = c
        .receiver(addr, by_name("amqp.annotation.x-opt-offset < '3'"), None)
        .await;
    let refused = match bad {
        Err(e) => e,
        Ok(mut r) => format!("{:?}", r.recv::<Body<Value>>().await.unwrap_err()),
    };
    assert!(refused.contains("InvalidField"), "{refused}");
    c.close().await;
    emu.shutdown().await;
}

/// Attach must fail, or the first receive must fail, with `condition`.
async fn expect_refused(c: &mut Client, addr: &str, epoch: Option<i64>, condition: &str) {
    let err = match c.receiver(addr, None, epoch).await {
        Err(e) => e,
        Ok(mut r) => match tokio::time::timeout(T, r.recv::<Body<Value>>()).await {
            Ok(Err(e)) => format!("{e:?}"),
            other => panic!("{addr}: expected refusal, got {other:?}"),
        },
    };
    assert!(err.contains(condition), "{addr}: {err}");
}

#[tokio::test]
async fn unknown_entities_are_not_found() {
    let emu = start(vec![HubSpec::new("weather", 2)]).await;
    let mut c = Client::connect(&emu).await;
    expect_refused(
        &mut c,
        "nohub/ConsumerGroups/$Default/Partitions/0",
        None,
        "NotFound",
    )
    .await;
    expect_refused(
        &mut c,
        "weather/ConsumerGroups/$Default/Partitions/7",
        None,
        "NotFound",
    )
    .await;
    expect_refused(
        &mut c,
        "weather/ConsumerGroups/nocg/Partitions/0",
        None,
        "NotFound",
    )
    .await;
    expect_refused(&mut c, "weather/bogus", None, "NotFound").await;
    let sender = Sender::attach(&mut c.session, "s-unknown", "nohub").await;
    let err = match sender {
        Err(e) => format!("{e:?}"),
        Ok(mut s) => format!("{:?}", s.send(event("x")).await.unwrap_err()),
    };
    assert!(err.contains("NotFound"), "{err}");
    // The session still works afterwards.
    let mut s = c.sender("weather/Partitions/0").await;
    send_all(&mut s, &["ok"]).await;
    c.close().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn consumer_groups_from_spec() {
    let emu = start(vec!["weather:1:analytics".parse().unwrap()]).await;
    let mut c = Client::connect(&emu).await;
    let mut s = c.sender("weather").await;
    send_all(&mut s, &["x"]).await;
    let mut r = c
        .receiver("weather/ConsumerGroups/analytics/Partitions/0", None, None)
        .await
        .unwrap();
    assert_eq!(body_str(&recv(&mut r).await), "x");
    c.close().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn owner_level_steals_and_refuses() {
    let emu = start(vec![HubSpec::new("weather", 1)]).await;
    let addr = "weather/ConsumerGroups/$Default/Partitions/0";
    let mut c1 = Client::connect(&emu).await;
    let mut c2 = Client::connect(&emu).await;
    let mut first = c1.receiver(addr, None, Some(1)).await.unwrap();
    let mut second = c2.receiver(addr, None, Some(2)).await.unwrap();
    let err = tokio::time::timeout(T, first.recv::<Body<Value>>())
        .await
        .expect("first reader is detached")
        .unwrap_err();
    assert!(format!("{err:?}").contains("Stolen"), "{err:?}");
    // Lower owner level and readers without one are refused while epoch 2 holds it.
    expect_refused(&mut c1, addr, Some(1), "PreconditionFailed").await;
    expect_refused(&mut c1, addr, None, "PreconditionFailed").await;
    // The owner still reads.
    let mut s = c1.sender("weather").await;
    send_all(&mut s, &["mine"]).await;
    assert_eq!(body_str(&recv(&mut second).await), "mine");
    // Readers without epoch coexist once the owner left.
    second.close().await.unwrap();
    let mut a = c1.receiver(addr, None, None).await.unwrap();
    let mut b = c2.receiver(addr, None, None).await.unwrap();
    assert_eq!(body_str(&recv(&mut a).await), "mine");
    assert_eq!(body_str(&recv(&mut b).await), "mine");
    c1.close().await;
    c2.close().await;
    emu.shutdown().await;
}

async fn request(
    c: &mut Client,
    node: &str,
    app: Vec<(&str, &str)>,
    body: Value,
    message_id: u64,
) -> Msg {
    let reply_to = format!("{node}-reply-{message_id}");
    let mut sender = c.sender(node).await;
    let mut receiver = Receiver::builder()
        .name(uuid::Uuid::new_v4().to_string())
        .source(node.to_string())
        .target(reply_to.clone())
        .attach(&mut c.session)
        .await
        .unwrap();
    let mut props = ApplicationProperties::builder();
    for (k, v) in app {
        props = props.insert(k, SimpleValue::String(v.to_string()));
    }
    let msg: Msg = Message::builder()
        .properties(Properties {
            message_id: Some(fe2o3_amqp::types::messaging::MessageId::Ulong(message_id)),
            reply_to: Some(reply_to),
            ..Default::default()
        })
        .application_properties(props.build())
        .body(Body::Value(AmqpValue(body)))
        .build();
    sender.send(msg).await.unwrap();
    let reply = recv(&mut receiver).await;
    assert_eq!(
        reply.properties.as_ref().unwrap().correlation_id,
        Some(fe2o3_amqp::types::messaging::MessageId::Ulong(message_id)),
        "correlation id keeps the message id and its type"
    );
    let _ = sender.close().await;
    let _ = receiver.close().await;
    reply
}

fn status(m: &Msg) -> Option<SimpleValue> {
    m.application_properties
        .as_ref()?
        .0
        .get("status-code")
        .cloned()
}

fn map_get<'a>(m: &'a Msg, key: &str) -> &'a Value {
    let Body::Value(AmqpValue(Value::Map(map))) = &m.body else {
        panic!("map body: {:?}", m.body)
    };
    map.get(&Value::String(key.into()))
        .unwrap_or_else(|| panic!("key {key}"))
}

#[tokio::test]
async fn management_read_types() {
    let emu = start(vec![HubSpec::new("weather", 3)]).await;
    let mut c = Client::connect(&emu).await;
    let hub = request(
        &mut c,
        "$management",
        vec![
            ("operation", "READ"),
            ("type", "com.microsoft:eventhub"),
            ("name", "weather"),
        ],
        Value::Null,
        7,
    )
    .await;
    assert_eq!(status(&hub), Some(SimpleValue::Int(200)));
    assert_eq!(map_get(&hub, "name"), &Value::String("weather".into()));
    assert!(matches!(map_get(&hub, "created_at"), Value::Timestamp(_)));
    assert_eq!(map_get(&hub, "partition_count"), &Value::Int(3));
    let Value::Array(ids) = map_get(&hub, "partition_ids") else {
        panic!("partition_ids must be an array")
    };
    assert_eq!(
        ids.clone().into_inner(),
        vec![
            Value::String("0".into()),
            Value::String("1".into()),
            Value::String("2".into())
        ]
    );

    let mut s = c.sender("weather/Partitions/1").await;
    send_all(&mut s, &["a", "b"]).await;
    let p = request(
        &mut c,
        "$management",
        vec![
            ("operation", "READ"),
            ("type", "com.microsoft:partition"),
            ("name", "weather"),
            ("partition", "1"),
        ],
        Value::Null,
        8,
    )
    .await;
    assert_eq!(status(&p), Some(SimpleValue::Int(200)));
    assert_eq!(map_get(&p, "partition"), &Value::String("1".into()));
    assert_eq!(
        map_get(&p, "type"),
        &Value::String("com.microsoft:partition".into())
    );
    assert_eq!(map_get(&p, "begin_sequence_number"), &Value::Long(0));
    assert_eq!(
        map_get(&p, "last_enqueued_sequence_number"),
        &Value::Long(1)
    );
    assert!(matches!(
        map_get(&p, "last_enqueued_offset"),
        Value::String(_)
    ));
    assert!(matches!(
        map_get(&p, "last_enqueued_time_utc"),
        Value::Timestamp(_)
    ));
    assert_eq!(map_get(&p, "is_partition_empty"), &Value::Bool(false));
    assert_eq!(
        map_get(&p, "last_enqueued_sequence_number_epoch"),
        &Value::Long(0)
    );

    let missing = request(
        &mut c,
        "$management",
        vec![
            ("operation", "READ"),
            ("type", "com.microsoft:eventhub"),
            ("name", "nope"),
        ],
        Value::Null,
        9,
    )
    .await;
    assert_eq!(status(&missing), Some(SimpleValue::Int(404)));
    c.close().await;
    emu.shutdown().await;
}

fn sas_token(key: &str, resource: &str, expiry: i64) -> String {
    use hmac::Mac;
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let sr = utf8_percent_encode(resource, NON_ALPHANUMERIC).to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{sr}\n{expiry}").as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let sig = utf8_percent_encode(&sig, NON_ALPHANUMERIC);
    format!("SharedAccessSignature sr={sr}&sig={sig}&se={expiry}&skn=RootManageSharedAccessKey")
}

#[tokio::test]
async fn cbs_put_token_verification() {
    let emu = start_with(EmulatorConfig {
        port: 0,
        sas_key: Some("s3cret".into()),
        ..Default::default()
    })
    .await;
    assert!(emu.connection_string().contains("SharedAccessKey=s3cret;"));
    let mut c = Client::connect(&emu).await;
    let audience = "sb://localhost/weather";
    let expiry = chrono::Utc::now().timestamp() + 3600;
    let app = || {
        vec![
            ("operation", "put-token"),
            ("type", "servicebus.windows.net:sastoken"),
            ("name", audience),
        ]
    };
    let good = request(
        &mut c,
        "$cbs",
        app(),
        Value::String(sas_token("s3cret", audience, expiry)),
        1,
    )
    .await;
    assert_eq!(status(&good), Some(SimpleValue::Int(202)));
    let bad = request(
        &mut c,
        "$cbs",
        app(),
        Value::String(sas_token("wrong", audience, expiry)),
        2,
    )
    .await;
    assert_eq!(status(&bad), Some(SimpleValue::Int(401)));
    c.close().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn data_dir_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || EmulatorConfig {
        port: 0,
        hubs: vec![HubSpec::new("weather", 2)],
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let emu = start_with(config()).await;
    let mut c = Client::connect(&emu).await;
    let mut s = c.sender("weather/Partitions/1").await;
    send_all(&mut s, &["a", "b", "c"]).await;
    c.close().await;
    emu.shutdown().await;

    let emu = start_with(config()).await;
    assert_eq!(
        emu.partition_stats("weather", 1)
            .unwrap()
            .last_sequence_number,
        2
    );
    let mut c = Client::connect(&emu).await;
    let mut s = c.sender("weather/Partitions/1").await;
    send_all(&mut s, &["d"]).await;
    let mut r = c
        .receiver("weather/ConsumerGroups/$Default/Partitions/1", None, None)
        .await
        .unwrap();
    for (i, b) in ["a", "b", "c", "d"].iter().enumerate() {
        let m = recv(&mut r).await;
        assert_eq!(body_str(&m), *b);
        assert_eq!(
            annotation(&m, "x-opt-sequence-number"),
            Some(&Value::Long(i as i64))
        );
    }
    c.close().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn drop_all_connections_keeps_serving() {
    let emu = start(vec![HubSpec::new("weather", 1)]).await;
    let mut c = Client::connect(&emu).await;
    let mut r = c
        .receiver("weather/ConsumerGroups/$Default/Partitions/0", None, None)
        .await
        .unwrap();
    emu.drop_all_connections();
    let res = tokio::time::timeout(T, r.recv::<Body<Value>>())
        .await
        .expect("receiver notices the drop");
    assert!(res.is_err());
    let mut c2 = Client::connect(&emu).await;
    let mut s = c2.sender("weather").await;
    send_all(&mut s, &["after"]).await;
    let mut r2 = c2
        .receiver("weather/ConsumerGroups/$Default/Partitions/0", None, None)
        .await
        .unwrap();
    assert_eq!(body_str(&recv(&mut r2).await), "after");
    c2.close().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn tls_on_the_same_port() {
    let emu = start(vec![HubSpec::new("weather", 1)]).await;
    let cert = native_tls::Certificate::from_pem(emu.cert_pem().as_bytes()).unwrap();
    let connector = native_tls::TlsConnector::builder()
        .add_root_certificate(cert)
        .build()
        .unwrap();
    let url = format!("amqps://localhost:{}", emu.local_addr().port());
    let mut conn = Connection::builder()
        .container_id("tls-client")
        .sasl_profile(SaslProfile::Anonymous)
        .native_tls_connector(tokio_native_tls::TlsConnector::from(connector))
        .open(url.as_str())
        .await
        .expect("TLS connection opens");
    let mut session = Session::begin(&mut conn).await.unwrap();
    let mut s = Sender::attach(&mut session, "tls-sender", "weather")
        .await
        .unwrap();
    assert!(s.send(event("secure")).await.unwrap().is_accepted());
    assert_eq!(emu.partition_stats("weather", 0).unwrap().events, 1);
    let _ = s.close().await;
    let _ = session.end().await;
    let _ = conn.close().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn raw_tls_handshake_on_the_same_port() {
    let emu = start(vec![HubSpec::new("weather", 1)]).await;
    let cert = native_tls::Certificate::from_pem(emu.cert_pem().as_bytes()).unwrap();
    let connector = tokio_native_tls::TlsConnector::from(
        native_tls::TlsConnector::builder()
            .add_root_certificate(cert)
            .build()
            .unwrap(),
    );
    let tcp = tokio::net::TcpStream::connect(emu.local_addr())
        .await
        .unwrap();
    let tls = connector
        .connect("localhost", tcp)
        .await
        .expect("TLS handshake (first byte 0x16)");
    let mut conn = Connection::builder()
        .container_id("raw-tls-client")
        .sasl_profile(SaslProfile::Anonymous)
        .open_with_stream(tls)
        .await
        .expect("AMQP over TLS opens");
    let mut session = Session::begin(&mut conn).await.unwrap();
    let mut s = Sender::attach(&mut session, "raw-tls-sender", "weather")
        .await
        .unwrap();
    assert!(s.send(event("secure")).await.unwrap().is_accepted());
    assert_eq!(emu.partition_stats("weather", 0).unwrap().events, 1);
    let _ = session.end().await;
    let _ = conn.close().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn garbage_input_does_not_hurt_the_emulator() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let emu = start(vec![HubSpec::new("weather", 1)]).await;
    // Not an AMQP header at all.
    let mut tcp = tokio::net::TcpStream::connect(emu.local_addr())
        .await
        .unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(T, tcp.read_to_end(&mut buf))
        .await
        .expect("connection is closed");
    // A valid SASL header followed by a corrupt frame.
    let mut tcp = tokio::net::TcpStream::connect(emu.local_addr())
        .await
        .unwrap();
    tcp.write_all(b"AMQP\x03\x01\x00\x00").await.unwrap();
    tcp.write_all(&[0, 0, 0, 12, 2, 1, 0, 0, 0xde, 0xad, 0xbe, 0xef])
        .await
        .unwrap();
    let _ = tokio::time::timeout(T, tcp.read_to_end(&mut buf))
        .await
        .expect("connection is closed");
    // A half-open TLS handshake.
    let mut tcp = tokio::net::TcpStream::connect(emu.local_addr())
        .await
        .unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2])
        .await
        .unwrap();
    drop(tcp);
    // Still serving.
    let mut c = Client::connect(&emu).await;
    let mut s = c.sender("weather").await;
    send_all(&mut s, &["fine"]).await;
    c.close().await;
    emu.shutdown().await;
}
