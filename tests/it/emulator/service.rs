//! The service around the emulator's messaging: management requests, CBS tokens, `--data-dir`
//! persistence, dropped connections, TLS on the same port, garbage input.

use super::*;

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
    let conn = Connection::builder()
        .container_id("tls-client")
        .sasl_profile(SaslProfile::Anonymous)
        .native_tls_connector(tokio_native_tls::TlsConnector::from(connector))
        .open(url.as_str())
        .await
        .expect("TLS connection opens");
    sends_one_event(&emu, conn).await;
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
    let conn = Connection::builder()
        .container_id("raw-tls-client")
        .sasl_profile(SaslProfile::Anonymous)
        .open_with_stream(tls)
        .await
        .expect("AMQP over TLS opens");
    sends_one_event(&emu, conn).await;
    emu.shutdown().await;
}

/// Over `conn`, sends one event to `weather` (one partition), checks it is stored, and closes.
async fn sends_one_event(
    emu: &EmulatorHandle,
    mut conn: fe2o3_amqp::connection::ConnectionHandle<()>,
) {
    let mut session = Session::begin(&mut conn).await.unwrap();
    let mut s = Sender::attach(&mut session, "tls-sender", "weather")
        .await
        .unwrap();
    assert!(s.send(event("secure")).await.unwrap().is_accepted());
    assert_eq!(emu.partition_stats("weather", 0).unwrap().events, 1);
    let _ = s.close().await;
    let _ = session.end().await;
    let _ = conn.close().await;
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

#[tokio::test]
async fn with_a_sas_key_links_need_a_token_and_close_when_it_expires() {
    let emu = start_with(EmulatorConfig {
        port: 0,
        hubs: vec![HubSpec::new("weather", 1)],
        sas_key: Some("s3cret".into()),
        ..Default::default()
    })
    .await;
    let address = "weather/ConsumerGroups/$Default/Partitions/0";
    let mut c = Client::connect(&emu).await;
    super::messaging::expect_refused(&mut c, address, None, "UnauthorizedAccess").await;
    c.close().await;

    // A token valid for two more seconds, never renewed: the consumer link is closed.
    let mut c = Client::connect(&emu).await;
    let audience = "sb://localhost/weather";
    let expiry = chrono::Utc::now().timestamp() + 2;
    let app = vec![
        ("operation", "put-token"),
        ("type", "servicebus.windows.net:sastoken"),
        ("name", audience),
    ];
    let token = Value::String(sas_token("s3cret", audience, expiry));
    let accepted = request(&mut c, "$cbs", app, token, 1).await;
    assert_eq!(status(&accepted), Some(SimpleValue::Int(202)));
    let mut r = c
        .receiver(address, None, None)
        .await
        .expect("attaches with a token");
    let closed = tokio::time::timeout(Duration::from_secs(10), r.recv::<Body<Value>>())
        .await
        .expect("the link is closed once the token expires");
    let error = format!("{:?}", closed.unwrap_err());
    assert!(
        error.contains("UnauthorizedAccess") && error.contains("expired"),
        "{error}"
    );
    c.close().await;
    emu.shutdown().await;
}
