//! The reference weather workload generator (the Rust twin of `workload/tools/gen_events.py`).
//!
//! Owns: the workload configuration ([`WorkloadConfig`], [`FaultRates`]), the streaming,
//! deterministic event [`Generator`] (same fields, text format, send-order timeline, faults,
//! fault precedence and default rates as gen_events.py; not byte-identical to it, since the
//! random number generators differ), the JSON-lines writer [`write_jsonl`] with its
//! `<file>.meta.json` ([`Meta`]), and the cheap partition-key scan [`station_key`] shared by
//! the sources.
//!
//! Timeline: every station reports once per `interval_s` with a fixed per-station phase; line
//! `i` is sent in round `i / stations` by the `i % stations`-th station in phase order; the last
//! send is before `now`. A duplicate line repeats an earlier line's body (the previous line, or
//! one up to `stations` lines, about one interval, back) in place of its own reading.
//!
//! Memory is O(stations): randomness is addressable per event (see `core`), so nothing per event
//! is kept, and any event can be rebuilt on its own ([`Generator::event_at`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub(crate) mod engine;
mod fmt;

pub use fmt::{rfc3339_ms, station_key, KeyScan, KeyScanner};

/// "now" of gen_events.py: 2026-11-26T12:00:00.000Z.
pub const DEFAULT_NOW_MS: i64 = 1_795_694_400_000;
/// Most stations a workload can have (station ids are `WS-` and 5 digits).
pub const MAX_STATIONS: u32 = 100_000;
/// Number of fault kinds.
pub const FAULT_COUNT: usize = 15;
/// Timestamps the generator writes stay within years 1..=9999.
const MIN_NOW_MS: i64 = -62_135_596_800_000 + 86_400_000 * 30;
const MAX_NOW_MS: i64 = 253_402_300_799_999 - 86_400_000 * 30;

/// Errors of the workload generator.
#[derive(Debug, Error)]
pub enum WorkloadError {
    #[error("unknown fault '{0}'; known: {known}", known = Fault::ALL.map(Fault::name).join(", "))]
    UnknownFault(String),
    #[error("fault rate of {name} must be within 0..=1, got {rate}")]
    InvalidRate { name: &'static str, rate: f64 },
    #[error("invalid workload configuration: {0}")]
    InvalidConfig(String),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

macro_rules! faults {
    ($( $variant:ident $field:ident $default:literal, )*) => {
        /// One kind of fault the generator injects (the README's table).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Fault { $( $variant, )* }

        impl Fault {
            /// All faults, in gen_events.py's order.
            pub const ALL: [Fault; FAULT_COUNT] = [ $( Fault::$variant, )* ];
            /// The name used by gen_events.py (`--rate NAME=RATE`) and in `.meta.json`.
            pub fn name(self) -> &'static str {
                match self { $( Fault::$variant => stringify!($field), )* }
            }
        }

        /// Probability of each fault per line (an independent draw per non-duplicate line).
        #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
        pub struct FaultRates { $( pub $field: f64, )* }

        impl Default for FaultRates {
            /// The README's default rates (about 6% of lines carry a fault).
            fn default() -> Self { FaultRates { $( $field: $default, )* } }
        }

        impl FaultRates {
            /// The rates as an array indexed by `Fault as usize`.
            pub fn to_array(&self) -> [f64; FAULT_COUNT] { [ $( self.$field, )* ] }
            fn slot(&mut self, f: Fault) -> &mut f64 {
                match f { $( Fault::$variant => &mut self.$field, )* }
            }
        }

        /// How many lines carry each fault (after precedence, as gen_events.py counts them).
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct FaultCounts { $( pub $field: u64, )* }

        impl FaultCounts {
            /// Count of `f`.
            pub fn get(&self, f: Fault) -> u64 {
                match f { $( Fault::$variant => self.$field, )* }
            }
            fn slot(&mut self, f: Fault) -> &mut u64 {
                match f { $( Fault::$variant => &mut self.$field, )* }
            }
        }
    };
}

faults! {
    MalformedBody malformed_body 0.002,
    MissingStationId missing_station_id 0.003,
    BadStationId bad_station_id 0.003,
    BadEventTime bad_event_time 0.003,
    FutureEventTime future_event_time 0.003,
    NullTemperature null_temperature 0.010,
    TemperatureRange temperature_range 0.005,
    HumidityRange humidity_range 0.005,
    PressureRange pressure_range 0.003,
    NegativeWind negative_wind 0.003,
    UnknownCondition unknown_condition 0.005,
    NegativePrecip negative_precip 0.003,
    WrongType wrong_type 0.002,
    Duplicate duplicate 0.005,
    LateArrival late_arrival 0.010,
}

impl Fault {
    /// The fault called `name` (gen_events.py's names, e.g. `duplicate`, `wrong_type`).
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl std::str::FromStr for Fault {
    type Err = WorkloadError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fault::from_name(s).ok_or_else(|| WorkloadError::UnknownFault(s.to_string()))
    }
}

impl FaultRates {
    /// All rates 0: a clean workload.
    pub fn zero() -> Self {
        FaultRates::from_array([0.0; FAULT_COUNT])
    }

    /// Rates from an array indexed by `Fault as usize`.
    pub fn from_array(a: [f64; FAULT_COUNT]) -> Self {
        let mut r = FaultRates::default();
        for (f, v) in Fault::ALL.into_iter().zip(a) {
            *r.slot(f) = v;
        }
        r
    }

    /// Rate of `f`.
    pub fn get(&self, f: Fault) -> f64 {
        self.to_array()[f as usize]
    }

    /// Sets the rate of the fault called `name` (e.g. `set("duplicate", 0.01)`); an error for an
    /// unknown name or a rate outside 0..=1.
    pub fn set(&mut self, name: &str, rate: f64) -> Result<(), WorkloadError> {
        let f: Fault = name.parse()?;
        self.set_fault(f, rate)
    }

    /// Sets the rate of `f`; an error for a rate outside 0..=1.
    pub fn set_fault(&mut self, f: Fault, rate: f64) -> Result<(), WorkloadError> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(WorkloadError::InvalidRate {
                name: f.name(),
                rate,
            });
        }
        *self.slot(f) = rate;
        Ok(())
    }

    /// Applies `NAME=RATE` (the `--rate` syntax of gen_events.py).
    pub fn set_kv(&mut self, kv: &str) -> Result<(), WorkloadError> {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            WorkloadError::InvalidConfig(format!("expected FAULT=RATE, got '{kv}'"))
        })?;
        let rate: f64 = v.trim().parse().map_err(|_| {
            WorkloadError::InvalidConfig(format!("rate '{v}' of {k} is not a number"))
        })?;
        self.set(k.trim(), rate)
    }

    /// `(fault, rate)` pairs in gen_events.py's order.
    pub fn iter(&self) -> impl Iterator<Item = (Fault, f64)> {
        Fault::ALL.into_iter().zip(self.to_array())
    }

    fn validate(&self) -> Result<(), WorkloadError> {
        for (f, r) in self.iter() {
            if !(0.0..=1.0).contains(&r) {
                return Err(WorkloadError::InvalidRate {
                    name: f.name(),
                    rate: r,
                });
            }
        }
        Ok(())
    }
}

impl FaultCounts {
    /// Total over all faults (a line with two faults counts twice).
    pub fn total(&self) -> u64 {
        Fault::ALL.into_iter().map(|f| self.get(f)).sum()
    }
    /// Adds one for each fault in `set`.
    pub fn add(&mut self, set: FaultSet) {
        if set.is_empty() {
            return;
        }
        for f in set.iter() {
            *self.slot(f) += 1;
        }
    }
}

/// A set of faults (bit `f as usize` set when the line carries `f`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FaultSet(pub u16);

impl FaultSet {
    pub const EMPTY: FaultSet = FaultSet(0);
    pub fn single(f: Fault) -> FaultSet {
        FaultSet(1 << f as u16)
    }
    pub fn contains(self, f: Fault) -> bool {
        self.0 & (1 << f as u16) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    pub(crate) fn set_if(&mut self, f: Fault, on: bool) {
        self.0 |= u16::from(on) << f as u16;
    }
    /// The faults in the set, in [`Fault::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Fault> {
        Fault::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

/// What to generate. [`Default`] is gen_events.py's default (10,000 events, 100 stations, seed
/// 42, now 2026-11-26T12:00:00Z, one reading a minute, default rates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadConfig {
    /// Number of lines (bodies sent), duplicates included.
    pub events: u64,
    /// Number of stations, 1..=100,000.
    pub stations: u32,
    pub seed: u64,
    /// Time of generation, ms since the Unix epoch: the last send is before it, and
    /// "future" event times are relative to it.
    pub now_ms: i64,
    /// Seconds between two readings of one station (≥ 1).
    pub interval_s: u32,
    pub rates: FaultRates,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            events: 10_000,
            stations: 100,
            seed: 42,
            now_ms: DEFAULT_NOW_MS,
            interval_s: 60,
            rates: FaultRates::default(),
        }
    }
}

impl WorkloadConfig {
    /// Checks the ranges: stations 1..=100,000, interval ≥ 1 s, rates within 0..=1, now within
    /// years 1..=9999.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        if !(1..=MAX_STATIONS).contains(&self.stations) {
            return Err(WorkloadError::InvalidConfig(format!(
                "stations must be 1..={MAX_STATIONS} (station ids are WS- and 5 digits), got {}",
                self.stations
            )));
        }
        if self.interval_s == 0 {
            return Err(WorkloadError::InvalidConfig(
                "interval_s must be at least 1".into(),
            ));
        }
        if !(MIN_NOW_MS..=MAX_NOW_MS).contains(&self.now_ms) {
            return Err(WorkloadError::InvalidConfig(format!(
                "now_ms {} is out of range",
                self.now_ms
            )));
        }
        self.rates.validate()
    }

    /// The configuration with every out-of-range value clamped into range (NaN rates become 0).
    pub fn sanitized(&self) -> WorkloadConfig {
        let mut c = self.clone();
        c.stations = c.stations.clamp(1, MAX_STATIONS);
        c.interval_s = c.interval_s.max(1);
        c.now_ms = c.now_ms.clamp(MIN_NOW_MS, MAX_NOW_MS);
        let a = c
            .rates
            .to_array()
            .map(|r| if r.is_nan() { 0.0 } else { r.clamp(0.0, 1.0) });
        c.rates = FaultRates::from_array(a);
        c
    }
}

/// One generated line (its body was appended to the caller's buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedEvent {
    /// Line number, 0-based.
    pub index: u64,
    /// The partition key: the `station_id` string as sent, if the body has one
    /// (exactly what [`station_key`] finds in the body).
    pub station: Option<String>,
    /// When the line is sent (the Event Hubs enqueued time), ms since the Unix epoch.
    pub send_time_ms: i64,
    /// The faults of this line (only [`Fault::Duplicate`] on a duplicate line).
    pub faults: FaultSet,
    /// For a duplicate line, the earlier line it repeats (at most `stations` lines back; that
    /// line may itself be a duplicate).
    pub duplicate_of: Option<u64>,
}

/// The streaming generator: call [`Generator::next_event`] until it returns `None`.
pub struct Generator {
    cfg: WorkloadConfig,
    core: engine::Core,
    next: u64,
    injected: FaultCounts,
    lines_with_fault: u64,
}

impl Generator {
    /// A generator for `cfg`. Out-of-range settings are clamped (see
    /// [`WorkloadConfig::sanitized`]); use [`Generator::try_new`] to have them refused.
    pub fn new(cfg: WorkloadConfig) -> Self {
        let cfg = cfg.sanitized();
        let st = Arc::new(engine::Stations::new(
            cfg.seed,
            cfg.stations,
            i64::from(cfg.interval_s) * 1000,
        ));
        let core = engine::Core::new(&cfg, st);
        Generator {
            cfg,
            core,
            next: 0,
            injected: FaultCounts::default(),
            lines_with_fault: 0,
        }
    }

    /// A generator for `cfg`, or an error when `cfg` is out of range.
    pub fn try_new(cfg: WorkloadConfig) -> Result<Self, WorkloadError> {
        cfg.validate()?;
        Ok(Generator::new(cfg))
    }

    /// The (sanitized) configuration.
    pub fn config(&self) -> &WorkloadConfig {
        &self.cfg
    }

    /// Appends the next body to `out` and describes it; `None` after the last line.
    #[inline]
    pub fn next_event(&mut self, out: &mut Vec<u8>) -> Option<GeneratedEvent> {
        if self.next >= self.cfg.events {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let ev = self.render(i, out);
        self.injected.add(ev.faults);
        self.lines_with_fault += u64::from(!ev.faults.is_empty());
        Some(ev)
    }

    /// Appends the body of line `index` to `out` (random access; does not move the stream nor
    /// change [`Generator::injected`]); `None` when `index` is past the end.
    pub fn event_at(&mut self, index: u64, out: &mut Vec<u8>) -> Option<GeneratedEvent> {
        (index < self.cfg.events).then(|| self.render(index, out))
    }

    fn render(&mut self, i: u64, out: &mut Vec<u8>) -> GeneratedEvent {
        let r = self.core.render(i, out);
        GeneratedEvent {
            index: i,
            station: r.key.into_string(&self.core.st),
            send_time_ms: r.send_time_ms,
            faults: r.faults,
            duplicate_of: r.duplicate_of,
        }
    }

    /// Faults injected in the lines returned so far by `next_event`.
    pub fn injected(&self) -> &FaultCounts {
        &self.injected
    }

    /// Lines returned so far by `next_event` that carry a fault or are duplicates.
    pub fn lines_with_any_fault_or_duplicate(&self) -> u64 {
        self.lines_with_fault
    }
}

/// The `<file>.meta.json` written beside a generated file (gen_events.py's fields, without the
/// sha256).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub generator: String,
    pub events: u64,
    pub stations: u32,
    pub seed: u64,
    /// "now" as RFC 3339 text.
    pub now: String,
    pub now_epoch_ms: i64,
    pub interval_s: u32,
    pub rates: FaultRates,
    pub injected: FaultCounts,
    pub lines_with_any_fault_or_duplicate: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// `PATH.meta.json` for `PATH`.
pub fn meta_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".meta.json");
    PathBuf::from(s)
}

/// Writes `cfg.events` bodies to `path` as JSON lines (one body per line, `\n` after each), via
/// `PATH.tmp` renamed at the end, then `PATH.meta.json`; returns the meta.
pub fn write_jsonl(cfg: &WorkloadConfig, path: &Path) -> Result<Meta, WorkloadError> {
    cfg.validate()?;
    let t0 = std::time::Instant::now();
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| WorkloadError::Io { path, source }
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    let mut g = Generator::new(cfg.clone());
    const CHUNK: usize = 1 << 20;
    let mut buf = Vec::with_capacity(CHUNK + 4096);
    let mut bytes = 0u64;
    while g.next_event(&mut buf).is_some() {
        buf.push(b'\n');
        if buf.len() >= CHUNK {
            file.write_all(&buf).map_err(io(&tmp))?;
            bytes += buf.len() as u64;
            buf.clear();
        }
    }
    file.write_all(&buf).map_err(io(&tmp))?;
    bytes += buf.len() as u64;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io(path))?;
    let meta = Meta {
        generator: "medallion".into(),
        events: cfg.events,
        stations: cfg.stations,
        seed: cfg.seed,
        now: rfc3339_ms(cfg.now_ms),
        now_epoch_ms: cfg.now_ms,
        interval_s: cfg.interval_s,
        rates: cfg.rates,
        injected: *g.injected(),
        lines_with_any_fault_or_duplicate: g.lines_with_any_fault_or_duplicate(),
        bytes,
        seconds: (t0.elapsed().as_secs_f64() * 100.0).round() / 100.0,
    };
    let mp = meta_path(path);
    let text = serde_json::to_vec_pretty(&meta).map_err(|source| WorkloadError::Json {
        path: mp.display().to_string(),
        source,
    })?;
    std::fs::write(&mp, text).map_err(io(&mp))?;
    Ok(meta)
}

/// The workload as (partition key, body) pairs, the way a producer sends it: the key is the
/// body's `station_id` (none for bodies without one).
pub fn keyed_events(
    cfg: &WorkloadConfig,
) -> impl Iterator<Item = (Option<String>, Vec<u8>)> + Send {
    let mut g = Generator::new(cfg.clone());
    std::iter::from_fn(move || {
        let mut body = Vec::with_capacity(320);
        g.next_event(&mut body)?;
        let key = fmt::station_key(&body).map(|k| k.into_owned());
        Some((key, body))
    })
}

/// A read error met by [`keyed_lines`] after it started (the iterator then ends early).
pub type ReadErrorSlot = std::sync::Arc<std::sync::Mutex<Option<WorkloadError>>>;

/// The lines of a JSON-lines file as (partition key, body) pairs, the key found by `scan` (empty
/// lines skipped). A read error ends the iterator and is left in the returned slot: check it
/// after sending.
pub fn keyed_lines(
    path: &Path,
    scan: KeyScan,
) -> Result<
    (
        impl Iterator<Item = (Option<String>, Vec<u8>)> + Send,
        ReadErrorSlot,
    ),
    WorkloadError,
> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|source| WorkloadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let slot = ReadErrorSlot::default();
    let error = slot.clone();
    let shown = path.display().to_string();
    let lines = std::iter::from_fn(move || loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return None,
            Err(source) => {
                *error.lock().expect("error slot") = Some(WorkloadError::Io {
                    path: shown.clone(),
                    source,
                });
                return None;
            }
            Ok(_) => {
                while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    line.pop();
                }
                if line.is_empty() {
                    continue;
                }
                let key = scan.key(&line).map(|k| k.into_owned());
                return Some((key, line));
            }
        }
    });
    Ok((lines, slot))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str, scan: KeyScan) -> Vec<(Option<String>, String)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, text).unwrap();
        let (lines, slot) = keyed_lines(&path, scan).unwrap();
        let out = lines
            .map(|(k, body)| (k, String::from_utf8(body).unwrap()))
            .collect();
        assert!(slot.lock().unwrap().is_none());
        out
    }

    #[test]
    fn a_files_lines_are_keyed_by_the_member_asked_for() {
        let text =
            "{\"machine\": 7, \"station_id\": \"s-1\"}\n\n{\"machine\":\"m-2\"}\r\nnot json\n";
        let by = |scan| {
            keys(text, scan)
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        };
        let some = |k: &str| Some(k.to_string());
        assert_eq!(by(KeyScan::Station), vec![some("s-1"), None, None]);
        assert_eq!(
            by(KeyScan::for_key(Some("machine"))),
            vec![some("7"), some("m-2"), None]
        );
        assert_eq!(by(KeyScan::Absent), vec![None, None, None]);
        // Bodies are sent as they are, without their line ends; empty lines are skipped.
        assert_eq!(keys(text, KeyScan::Absent)[1].1, "{\"machine\":\"m-2\"}");
    }
}
