//! The body of the emulator's fuzz target (`fuzz/fuzz_targets/emulator_frames.rs`, replayed in
//! CI by `tests/it/fuzz_replay.rs`): bytes from an unauthenticated peer. One emulator runs for
//! the whole fuzzing process; each input is sent on a new connection (after a valid AMQP or SASL
//! protocol header when the first byte says so, to reach the frame decoder), and afterwards the
//! emulator must still answer a new connection's protocol header and then end every task of
//! both connections: a panic, a hang, a dead accept loop or a connection outliving its peer
//! (memory that would pile up) fails the target.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Emulator, EmulatorConfig, EmulatorHandle, HubSpec};

const SASL_HEADER: &[u8] = b"AMQP\x03\x01\x00\x00";
const AMQP_HEADER: &[u8] = b"AMQP\x00\x01\x00\x00";

struct Target {
    rt: tokio::runtime::Runtime,
    emulator: EmulatorHandle,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime starts");
        let emulator = rt
            .block_on(Emulator::start(EmulatorConfig {
                port: 0,
                hubs: vec![HubSpec::new("weather", 2)],
                ..Default::default()
            }))
            .expect("the emulator starts");
        Target { rt, emulator }
    })
}

/// Sends `data` as a peer would (see the module docs) and checks that the emulator lives on.
pub fn frames(data: &[u8]) {
    let t = target();
    let addr = t.emulator.local_addr();
    let (prefix, body) = match data.split_first() {
        Some((0, rest)) => (SASL_HEADER, rest),
        Some((1, rest)) => (AMQP_HEADER, rest),
        Some((_, rest)) => (&[][..], rest),
        None => (&[][..], data),
    };
    t.rt.block_on(async {
        let mut s = TcpStream::connect(addr)
            .await
            .expect("the emulator accepts");
        let _ = s.write_all(prefix).await;
        let _ = s.write_all(body).await;
        let _ = s.shutdown().await;
        // Read what the emulator answers until it closes, or give up after a while: a peer that
        // sent garbage must not hold anything.
        let mut buf = vec![0u8; 64 * 1024];
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        // Still alive: a new connection gets the SASL header back.
        let mut probe = TcpStream::connect(addr)
            .await
            .expect("the emulator still accepts");
        probe.write_all(SASL_HEADER).await.expect("probe sends");
        let mut answer = [0u8; 8];
        tokio::time::timeout(Duration::from_secs(10), probe.read_exact(&mut answer))
            .await
            .expect("the emulator answers within 10 s after the input")
            .expect("the emulator answers the protocol header");
        assert_eq!(&answer[..4], b"AMQP");
        drop(probe);
        // Both connections end: every task of a connection the peer closed finishes, so
        // nothing of it stays allocated (a connection that outlived its peer would leak).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while t.emulator.open_connections() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} connection(s) still open 10 s after their peers closed",
                t.emulator.open_connections()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
}
