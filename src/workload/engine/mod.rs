//! The generator's engine: the station table, the send-order timeline, the counter-based random
//! draws of each event, the body writer with its faults, and the cheap routing (partition key)
//! of an event.
//!
//! Randomness is *addressable*: event `i` takes its draws from fixed word positions of two
//! ChaCha8 streams of the seed (stream 1: 8 "routing" words at `8 i`, stream 2: 40 "value" words
//! at `40 i`; stream 0 holds the stations). So any event can be rebuilt alone, in O(1): a
//! duplicate re-renders the line it copies (no window of past bodies), and a partition reader can
//! find the partition of event `i` from its 8 routing words alone, without rendering it.
//! Every draw is taken whatever the rates, so changing one rate changes nothing else.

use std::sync::Arc;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::fmt::{float_repr, station_key, DateCache, Padded, W, WRITER_ROOM};
use super::{Fault, FaultSet, WorkloadConfig, FAULT_COUNT};

mod reading;
use reading::{write_measurements, Reading};

pub(crate) const CONDITIONS: [&str; 6] = ["clear", "cloudy", "rain", "snow", "fog", "storm"];
const CONDITION_TEXT: [Padded; 6] = [
    Padded::new(CONDITIONS[0]),
    Padded::new(CONDITIONS[1]),
    Padded::new(CONDITIONS[2]),
    Padded::new(CONDITIONS[3]),
    Padded::new(CONDITIONS[4]),
    Padded::new(CONDITIONS[5]),
];
pub(crate) const BAD_STATION_IDS: [&str; 8] = [
    "ws42",
    "WS-42",
    "WS-000042",
    "WS_00042",
    "ws-00042",
    "WS-0004A",
    "42",
    "WS 00042",
];
pub(crate) const BAD_EVENT_TIMES: [&str; 9] = [
    "yesterday",
    "2026-13-45T99:00:00Z",
    "not-a-timestamp",
    "",
    "26/11/2026 15:21:20",
    "2026-11-26T25:61:00.000Z",
    "2026-02-30T12:00:00.000Z",
    "now",
    "NaN",
];
/// Out-of-range values as JSON text (as gen_events.py's `jnum` writes them).
const BAD_TEMPS: [&str; 6] = ["999.9", "-273.0", "-9999.0", "85.0", "-95.5", "60.1"];
const BAD_HUMIDITY: [&str; 5] = ["104.0", "-3.0", "100.1", "150.0", "-0.5"];
const BAD_PRESSURE: [&str; 6] = ["0", "2000", "500.0", "1100.0", "9999.9", "869.9"];
const BAD_CONDITIONS: [&str; 6] = ["sunny", "CLOUDY", "", "Rain", "hail", "n/a"];
const GARBAGE: [&str; 8] = [
    "station offline",
    "<?xml version=\"1.0\"?><reading station=\"WS-00042\"/>",
    "ERR 0x1F sensor bus timeout",
    "temperature=21.4;humidity=55",
    "???",
    "données corrompues",
    "{{{{",
    "}",
];

const ROUTE_WORDS: usize = 8;
const VALUE_WORDS: usize = 40;
const TAU: f64 = std::f64::consts::TAU;

/// `w` as a uniform in the open interval (0, 1).
#[inline]
fn unit(w: u32) -> f64 {
    (f64::from(w) + 0.5) * (1.0 / 4_294_967_296.0)
}

/// `x` rounded half away from zero (as `f64::round`), as an integer; inline without SSE4.1.
#[inline]
fn round_i64(x: f64) -> i64 {
    (x + if x >= 0.0 { 0.5 } else { -0.5 }) as i64
}

/// Uniform index below `n` (n ≤ 2^32).
#[inline]
fn below(w: u32, n: u64) -> u64 {
    (u64::from(w) * n) >> 32
}

#[inline]
fn pick<T: Copy>(seq: &[T], w: u32) -> T {
    seq[below(w, seq.len() as u64) as usize]
}

/// Two independent standard normals from two words (Box–Muller).
#[inline]
fn normals(a: u32, b: u32) -> (f64, f64) {
    let r = (-2.0 * unit(a).ln()).sqrt();
    let (s, c) = (TAU * unit(b)).sin_cos();
    (r * c, r * s)
}

/// Bernoulli threshold for `rate`: `w < threshold` with probability `rate`.
pub(crate) fn threshold(rate: f64) -> u64 {
    if rate.is_nan() || rate <= 0.0 {
        0
    } else if rate >= 1.0 {
        1 << 32
    } else {
        (rate * 4_294_967_296.0) as u64
    }
}

/// One station's fixed part.
#[derive(Debug, Clone)]
struct StationRec {
    /// `WS-%05d` text.
    sid: [u8; 8],
    /// Latitude and longitude text (`repr(float)` style).
    lat_s: Padded,
    lon_s: Padded,
    lon: f64,
    base_t: f64,
    batt: f64,
    phase_ms: i64,
}

/// The fixed part of every station, built once per configuration (O(stations)), stored in send
/// order within a round (by phase, then station number): line `i` is sent by the station at
/// position `i % stations`, so a generator reads this table sequentially (no cache misses with
/// 100,000 stations).
#[derive(Debug)]
pub(crate) struct Stations {
    recs: Vec<StationRec>,
}

impl Stations {
    pub(crate) fn new(seed: u64, stations: u32, interval_ms: i64) -> Stations {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(0);
        let mut recs = Vec::with_capacity(stations as usize);
        for s in 0..stations {
            let mut w = [0u32; 8];
            for x in &mut w {
                *x = rng.next_u32();
            }
            let lat = ((-60.0 + 130.0 * unit(w[0])) * 1e4).round() / 1e4;
            let lon = ((-180.0 + 360.0 * unit(w[1])) * 1e4).round() / 1e4;
            let phase_ms = below(w[2], interval_ms.max(1) as u64) as i64;
            let (z, _) = normals(w[3], w[4]);
            let base_t = 27.0 - 0.45 * lat.abs() + 3.0 * z;
            let batt = 3.4 + 0.8 * unit(w[5]);
            let mut sid = *b"WS-00000";
            let mut x = s;
            for k in (3..8).rev() {
                sid[k] = b'0' + (x % 10) as u8;
                x /= 10;
            }
            recs.push(StationRec {
                sid,
                lat_s: Padded::new(&float_repr(lat)),
                lon_s: Padded::new(&float_repr(lon)),
                lon,
                base_t,
                batt,
                phase_ms,
            });
        }
        // stable: equal phases keep station order
        recs.sort_by_key(|r| r.phase_ms);
        Stations { recs }
    }

    pub(crate) fn len(&self) -> u64 {
        self.recs.len() as u64
    }

    /// Station id text of the station at send position `p`.
    pub(crate) fn sid(&self, p: u32) -> &[u8; 8] {
        &self.recs[p as usize].sid
    }

    /// Station id texts, in send position order.
    pub(crate) fn sids(&self) -> impl Iterator<Item = &[u8; 8]> {
        self.recs.iter().map(|r| &r.sid)
    }
}

/// One ChaCha8 stream read in fixed-size records: record `i` is the `N` words at `N * i`.
/// Records are drawn `K` at a time (a block of `K` records from the first one asked for), so a
/// sequential walk costs one bulk fill per `K` records; `K = 1` suits random access.
#[derive(Clone)]
struct Records<const N: usize, const K: usize> {
    rng: ChaCha8Rng,
    /// First record in `buf`.
    base: u64,
    /// Records valid in `buf` (0 before the first fill).
    len: u64,
    buf: Vec<[u32; N]>,
}

impl<const N: usize, const K: usize> Records<N, K> {
    fn new(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Records {
            rng,
            base: 0,
            len: 0,
            buf: vec![[0; N]; K],
        }
    }

    /// The words of record `i` (seeks only when not reading sequentially).
    #[inline]
    fn get(&mut self, i: u64) -> [u32; N] {
        if i.wrapping_sub(self.base) >= self.len {
            if i != self.base.wrapping_add(self.len) {
                self.rng.set_word_pos(u128::from(i) * N as u128);
            }
            self.rng.fill(self.buf.as_flattened_mut());
            self.base = i;
            self.len = K as u64;
        }
        self.buf[(i - self.base) as usize]
    }
}

/// Where an event goes: its partition key, as cheaply as it can be known.
pub(crate) enum Route {
    /// The key is the (valid) id of the station at this send position.
    Station(u32),
    /// Any other key (a bad id), or none.
    Other(Option<Vec<u8>>),
}

/// The key of a rendered line.
pub(crate) enum Key {
    Station(u32),
    Static(&'static str),
    None,
    Scanned(Option<String>),
}

impl Key {
    /// The key as text (borrowed: no allocation).
    pub(crate) fn as_str<'a>(&'a self, st: &'a Stations) -> Option<&'a str> {
        match self {
            Key::Station(s) => Some(std::str::from_utf8(st.sid(*s)).unwrap_or_default()),
            Key::Static(k) => Some(k),
            Key::None => None,
            Key::Scanned(k) => k.as_deref(),
        }
    }

    /// The key as an owned string (a scanned key is moved, not copied).
    pub(crate) fn into_string(self, st: &Stations) -> Option<String> {
        match self {
            Key::Scanned(k) => k,
            other => other.as_str(st).map(str::to_owned),
        }
    }
}

/// What rendering line `i` produced.
pub(crate) struct Rendered {
    /// Faults of this line (only `Duplicate` for a duplicate line).
    pub faults: FaultSet,
    /// For a duplicate: the index of the line it repeats.
    pub duplicate_of: Option<u64>,
    pub key: Key,
    pub send_time_ms: i64,
}

/// The per-configuration engine; cheap to clone the station table (shared by `Arc`).
#[derive(Clone)]
pub(crate) struct Core {
    pub st: Arc<Stations>,
    pub events: u64,
    s: u64,
    interval_ms: i64,
    start_ms: i64,
    now_ms: i64,
    thr: [u64; FAULT_COUNT],
    /// Routing words, for walking the lines in order.
    route: Records<ROUTE_WORDS, 256>,
    /// Routing words, for following duplicate links back.
    route_back: Records<ROUTE_WORDS, 1>,
    vals: Records<VALUE_WORDS, 1>,
    scratch: Vec<u8>,
    /// The body writer's scratch buffer (`WRITER_ROOM` bytes).
    wbuf: Vec<u8>,
    dates: DateCache,
}

/// The routing-relevant faults of a line, from its routing words.
struct RouteFlags {
    dup: bool,
    malformed: bool,
    missing: bool,
    bad: bool,
}

impl Core {
    /// `cfg` must be valid (`WorkloadConfig::validate`); `st` built for the same seed/stations.
    pub(crate) fn new(cfg: &WorkloadConfig, st: Arc<Stations>) -> Core {
        let s = st.len().max(1);
        let interval_ms = i64::from(cfg.interval_s.max(1)) * 1000;
        let rounds = cfg.events.div_ceil(s).max(1);
        let span = (i128::from(rounds) + 1) * i128::from(interval_ms);
        let start_ms = (i128::from(cfg.now_ms) - span)
            .clamp(i64::MIN as i128 / 2, i64::MAX as i128 / 2) as i64;
        let rates = cfg.rates.to_array();
        let mut thr = [0u64; FAULT_COUNT];
        for (t, r) in thr.iter_mut().zip(rates) {
            *t = threshold(r);
        }
        Core {
            st,
            events: cfg.events,
            s,
            interval_ms,
            start_ms,
            now_ms: cfg.now_ms,
            thr,
            route: Records::new(cfg.seed, 1),
            route_back: Records::new(cfg.seed, 1),
            vals: Records::new(cfg.seed, 2),
            scratch: Vec::with_capacity(512),
            wbuf: vec![0; WRITER_ROOM],
            dates: DateCache::default(),
        }
    }

    #[inline]
    fn hit(&self, f: Fault, w: u32) -> bool {
        u64::from(w) < self.thr[f as usize]
    }

    /// Send position (index into the station table) of the station sending line `i`.
    #[inline]
    pub(crate) fn station_of(&self, i: u64) -> u32 {
        (i % self.s) as u32
    }

    /// Send time of line `i`: its round's start plus its station's phase.
    #[inline]
    pub(crate) fn send_ms(&self, i: u64) -> i64 {
        let s = self.station_of(i) as usize;
        let round = (i / self.s) as i64;
        self.start_ms
            .saturating_add(round.saturating_mul(self.interval_ms))
            .saturating_add(self.st.recs[s].phase_ms)
    }

    #[inline]
    fn route_flags(&self, i: u64, w: &[u32; ROUTE_WORDS]) -> RouteFlags {
        let dup = i > 0 && self.hit(Fault::Duplicate, w[3]);
        RouteFlags {
            dup,
            malformed: !dup && self.hit(Fault::MalformedBody, w[0]),
            missing: !dup && self.hit(Fault::MissingStationId, w[1]),
            bad: !dup && self.hit(Fault::BadStationId, w[2]),
        }
    }

    /// The line a duplicate line `i` repeats: the previous line, or one up to `stations` lines
    /// (about one interval) back.
    #[inline]
    fn dup_source(&self, i: u64, w: &[u32; ROUTE_WORDS]) -> u64 {
        let back = if w[4] < (1 << 31) {
            1
        } else {
            1 + below(w[5], i.min(self.s))
        };
        i - back.clamp(1, i)
    }

    /// Follows duplicate links from `i` to the original line (a duplicate may repeat a line that
    /// is itself a duplicate); returns it, its routing words and flags, and the line `i` repeats
    /// directly (`None` when `i` is not a duplicate).
    fn original(&mut self, mut i: u64) -> (u64, [u32; ROUTE_WORDS], RouteFlags, Option<u64>) {
        let mut first = None;
        loop {
            let w = if first.is_none() {
                self.route.get(i)
            } else {
                self.route_back.get(i)
            };
            let f = self.route_flags(i, &w);
            if f.dup {
                i = self.dup_source(i, &w);
                first.get_or_insert(i);
            } else {
                return (i, w, f, first);
            }
        }
    }

    /// The partition key of line `i`, without rendering it (except for a malformed body, whose
    /// key depends on where it was cut).
    pub(crate) fn route(&mut self, i: u64) -> Route {
        let (j, w, f, _) = self.original(i);
        if f.malformed {
            let mut buf = std::mem::take(&mut self.scratch);
            buf.clear();
            let _ = self.render_original(j, &w, &f, &mut buf);
            let key = station_key(&buf).map(|k| k.as_bytes().to_vec());
            self.scratch = buf;
            return Route::Other(key);
        }
        if f.missing {
            Route::Other(None)
        } else if f.bad {
            Route::Other(Some(pick(&BAD_STATION_IDS, w[6]).as_bytes().to_vec()))
        } else {
            Route::Station(self.station_of(j))
        }
    }

    /// Appends the body of line `i` to `out`.
    pub(crate) fn render(&mut self, i: u64, out: &mut Vec<u8>) -> Rendered {
        let send_time_ms = self.send_ms(i);
        let (j, w, f, first) = self.original(i);
        let (faults, key) = self.render_original(j, &w, &f, out);
        match first {
            Some(d) => Rendered {
                faults: FaultSet::single(Fault::Duplicate),
                duplicate_of: Some(d),
                key,
                send_time_ms,
            },
            None => Rendered {
                faults,
                key,
                duplicate_of: None,
                send_time_ms,
            },
        }
    }

    /// Renders non-duplicate line `i` (routing words `rw`) and applies its faults.
    fn render_original(
        &mut self,
        i: u64,
        rw: &[u32; ROUTE_WORDS],
        rf: &RouteFlags,
        out: &mut Vec<u8>,
    ) -> (FaultSet, Key) {
        use Fault::*;
        let start = out.len();
        let mut wbuf = std::mem::take(&mut self.wbuf);
        wbuf.resize(WRITER_ROOM, 0);
        let s = self.station_of(i);
        let su = s as usize;
        let send = self.send_ms(i);
        let v = self.vals.get(i);
        let rec = &self.st.recs[su];

        let r = Reading::of(rec, send, &v);

        let (fs, bad_time, future, late, null_t) = self.faults(rf, &v);

        // wrong_type: index (in NUMERIC_FIELDS order) of the field written as a string.
        // Candidates are the numeric fields that have a value: all but a null/absent temperature.
        let quoted = if fs.contains(WrongType) {
            if null_t {
                1 + below(v[36], 8) as usize
            } else {
                below(v[36], 9) as usize
            }
        } else {
            usize::MAX
        };

        // ---- the body, fields in FIELD_ORDER
        let mut w = W::new(&mut wbuf);
        w.byte(b'{');
        w.lit(b"\"event_id\":\"");
        w.uuid_v4([v[13], v[14], v[15], v[16]]);
        w.byte(b'"');
        let key = if rf.missing {
            match below(rw[6], 3) {
                0 => {}
                1 => w.lit(b",\"station_id\":null"),
                _ => w.lit(b",\"station_id\":\"\""),
            }
            Key::None
        } else if rf.bad {
            let b = pick(&BAD_STATION_IDS, rw[6]);
            w.lit(b",\"station_id\":\"");
            w.bytes(b.as_bytes());
            w.byte(b'"');
            Key::Static(b)
        } else {
            w.lit(b",\"station_id\":\"");
            w.lit(&rec.sid);
            w.byte(b'"');
            Key::Station(s)
        };
        w.lit(b",\"event_time\":\"");
        if bad_time {
            w.bytes(pick(&BAD_EVENT_TIMES, v[28]).as_bytes());
        } else {
            let ms = if future {
                self.now_ms
                    .saturating_add(3_600_000)
                    .saturating_add(below(v[28], 47 * 3_600_000) as i64)
            } else if late {
                send.saturating_sub(600_000)
                    .saturating_sub(below(v[28], 3_000_000) as i64)
            } else {
                r.ev_ms
            };
            w.timestamp_cached(ms, &mut self.dates);
            w.byte(b'Z');
        }
        w.byte(b'"');

        write_measurements(&mut w, &r, rec, &v, fs, null_t, quoted);
        w.byte(b'}');

        out.extend_from_slice(w.written());
        self.wbuf = wbuf;

        if rf.malformed {
            let len = (out.len() - start) as u64;
            if u64::from(v[37]) < threshold(0.6) {
                // cut at 1 ..= len-2 bytes: never the whole object
                let cut = 1 + below(v[38], len.saturating_sub(2).max(1));
                out.truncate(start + cut as usize);
            } else {
                out.truncate(start);
                out.extend_from_slice(pick(&GARBAGE, v[39]).as_bytes());
            }
            let key = Key::Scanned(station_key(&out[start..]).map(|k| k.into_owned()));
            return (fs, key);
        }
        (fs, key)
    }

    /// Line `i`'s faults (routing flags `rf`, value words `v`), with gen_events.py's
    /// precedence: the set, and whether the event time is bad, in the future or late, and
    /// whether the temperature is null.
    fn faults(
        &self,
        rf: &RouteFlags,
        v: &[u32; VALUE_WORDS],
    ) -> (FaultSet, bool, bool, bool, bool) {
        use Fault::*;
        let mut fs = FaultSet::EMPTY;
        fs.set_if(MalformedBody, rf.malformed);
        fs.set_if(MissingStationId, rf.missing);
        fs.set_if(BadStationId, rf.bad && !rf.missing);
        let bad_time = self.hit(BadEventTime, v[17]);
        let future = !bad_time && self.hit(FutureEventTime, v[18]);
        let late = !bad_time && !future && self.hit(LateArrival, v[27]);
        fs.set_if(BadEventTime, bad_time);
        fs.set_if(FutureEventTime, future);
        fs.set_if(LateArrival, late);
        let null_t = self.hit(NullTemperature, v[19]);
        fs.set_if(NullTemperature, null_t);
        fs.set_if(
            TemperatureRange,
            !null_t && self.hit(TemperatureRange, v[20]),
        );
        fs.set_if(HumidityRange, self.hit(HumidityRange, v[21]));
        fs.set_if(PressureRange, self.hit(PressureRange, v[22]));
        fs.set_if(NegativeWind, self.hit(NegativeWind, v[23]));
        fs.set_if(UnknownCondition, self.hit(UnknownCondition, v[24]));
        fs.set_if(NegativePrecip, self.hit(NegativePrecip, v[25]));
        fs.set_if(WrongType, self.hit(WrongType, v[26]));
        (fs, bad_time, future, late, null_t)
    }
}
