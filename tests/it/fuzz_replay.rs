//! CI's short fuzz budget: each fuzz target (`medallion::fuzzing`, `eventhub_emulator::fuzzing`;
//! coverage-guided runs are `scripts/fuzz.sh`) over its seed corpus in `fuzz/corpus/<target>/`
//! (where fuzzing keeps what it finds, and where a crash input goes as a regression test) and over
//! deterministic mutations of it: byte flips, insertions of JSON/YAML/SQL/AMQP tokens, deletions,
//! duplications, splices and truncations. A panic fails the test.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\\u",
    b"\\ud800",
    b"1e999",
    b"-0",
    b"NaN",
    b"null",
    b"- ",
    b"\n  ",
    b": ",
    b"&a",
    b"*a",
    b"!!",
    b"'",
    b"(",
    b")",
    b" AND ",
    b" OR ",
    b" NOT ",
    b" LIKE ",
    b" IN (",
    b"CASE WHEN ",
    b" END",
    b"%",
    b"/",
    b"\x00",
    b"\xff",
    b"AMQP",
    b"\x53\x10",
    b"\xc0\xff\xff",
    b"\xb0\xff\xff\xff\xff",
    b"\xa1\xff",
    b"\xf0\x00\x00\x00\x01",
];

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "{} has no seeds", dir.display());
    seeds
}

fn mutate(seeds: &[Vec<u8>], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut v = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..=4) {
        let at = rng.random_range(0..=v.len());
        match rng.random_range(0..6) {
            0 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let t = TOKENS[rng.random_range(0..TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            2 => {
                let end = rng.random_range(at..=v.len());
                v.drain(at..end);
            }
            3 => {
                let end = rng.random_range(at..=v.len().min(at + 64));
                let piece = v[at..end].to_vec();
                for _ in 0..rng.random_range(1..8) {
                    v.splice(at..at, piece.iter().copied());
                }
            }
            4 => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                let from = rng.random_range(0..=other.len());
                v.truncate(at);
                v.extend_from_slice(&other[from..]);
            }
            _ => v.truncate(at),
        }
    }
    v
}

fn replay(target: &str, run: fn(&[u8]), mutations: usize) {
    let seeds = corpus(target);
    for s in &seeds {
        run(s);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x6d65_6461_6c6c);
    for _ in 0..mutations {
        run(&mutate(&seeds, &mut rng));
    }
}

#[test]
fn json_body() {
    replay("json_body", medallion::fuzzing::json_body, 100_000);
}

#[test]
fn check_file() {
    replay("check_file", medallion::fuzzing::check_file, 5_000);
}

#[test]
fn sql_expression() {
    replay("sql_expression", medallion::fuzzing::sql_expression, 20_000);
}

#[test]
fn emulator_frames() {
    replay("emulator_frames", eventhub_emulator::fuzzing::frames, 1_000);
}
