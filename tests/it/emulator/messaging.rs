//! The emulator's AMQP messaging: round trips with annotations, batches, selector filters,
//! unknown entities, consumer groups, owner levels.

use super::*;

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
pub(super) async fn expect_refused(
    c: &mut Client,
    addr: &str,
    epoch: Option<i64>,
    condition: &str,
) {
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
