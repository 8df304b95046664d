//! One line's reading (the measurements before faults) and the writing of its measurement
//! fields with their faults: the part of a body that is the same for every station format.

use super::*;

/// A station's reading of one line before faults: the tenths (hundredths for the battery) the
/// body writes.
pub(super) struct Reading {
    pub(super) ev_ms: i64,
    pub(super) temp_t: i64,
    pub(super) hum_t: i64,
    pub(super) pres_t: i64,
    pub(super) wind_t: i64,
    pub(super) wdir: u64,
    pub(super) precip_t: i64,
    pub(super) cond: usize,
    pub(super) batt_h: i64,
}

impl Reading {
    /// The reading of station `rec` sent at `send` from the line's value words `v`.
    pub(super) fn of(rec: &StationRec, send: i64, v: &[u32; VALUE_WORDS]) -> Reading {
        let ev_ms = send.saturating_sub(below(v[0], 2000) as i64);
        let (z0, z1) = normals(v[1], v[2]);
        let (z2, _) = normals(v[3], v[4]);
        let tod = ev_ms.div_euclid(1000).rem_euclid(86_400) as f64 / 86_400.0;
        let temp = rec.base_t + 6.0 * (TAU * (tod + rec.lon / 360.0 - 0.375)).sin() + 1.5 * z0;
        let temp_t = round_i64(temp.clamp(-60.0, 50.0) * 10.0);
        let hum_t = round_i64((65.0 + 18.0 * z1).clamp(2.0, 100.0) * 10.0);
        let pres_t = round_i64((1013.0 + 11.0 * z2).clamp(930.0, 1060.0) * 10.0);
        // Gamma(shape 2, scale 2) = sum of two Exp(scale 2).
        let wind_t = round_i64(-2.0 * (unit(v[5]) * unit(v[6])).ln() * 10.0);
        let wdir = below(v[7], 360);
        let wet = u64::from(v[8]) < threshold(0.2);
        let precip_t = if wet {
            round_i64((-1.5 * unit(v[9]).ln() + 0.1) * 10.0)
        } else {
            0
        };
        let cond = if wet {
            if temp_t < 0 {
                3
            } else if u64::from(v[11]) < threshold(0.15) {
                5
            } else {
                2
            }
        } else {
            let u = u64::from(v[10]);
            if u < threshold(0.5) {
                0
            } else if u < threshold(0.9) {
                1
            } else {
                4
            }
        };
        let batt_h = round_i64((rec.batt - 0.1 * unit(v[12])) * 100.0);
        Reading {
            ev_ms,
            temp_t,
            hum_t,
            pres_t,
            wind_t,
            wdir,
            precip_t,
            cond,
            batt_h,
        }
    }
}

/// Writes the measurement fields (`temperature_c` .. `battery_v`, in FIELD_ORDER) of a reading
/// with its faults; `quoted` is the index (in NUMERIC_FIELDS order) of the field a wrong_type
/// fault writes as a string.
pub(super) fn write_measurements(
    w: &mut W,
    r: &Reading,
    rec: &StationRec,
    v: &[u32; VALUE_WORDS],
    fs: FaultSet,
    null_t: bool,
    quoted: usize,
) {
    use Fault::*;
    let temp_variant_null = v[29] < (1 << 31);
    #[inline]
    fn field<const N: usize>(w: &mut W, name: &[u8; N], quoted: bool) {
        w.lit(name);
        if quoted {
            w.byte(b'"');
        }
    }
    #[inline]
    fn close(w: &mut W, quoted: bool) {
        if quoted {
            w.byte(b'"');
        }
    }
    // temperature_c (numeric field 0)
    if null_t {
        if temp_variant_null {
            w.lit(b",\"temperature_c\":null");
        }
    } else {
        field(w, b",\"temperature_c\":", quoted == 0);
        if fs.contains(TemperatureRange) {
            w.bytes(pick(&BAD_TEMPS, v[30]).as_bytes());
        } else {
            w.fixed(r.temp_t, 1);
        }
        close(w, quoted == 0);
    }
    field(w, b",\"humidity_pct\":", quoted == 1);
    if fs.contains(HumidityRange) {
        w.bytes(pick(&BAD_HUMIDITY, v[31]).as_bytes());
    } else {
        w.fixed(r.hum_t, 1);
    }
    close(w, quoted == 1);
    field(w, b",\"pressure_hpa\":", quoted == 2);
    if fs.contains(PressureRange) {
        w.bytes(pick(&BAD_PRESSURE, v[32]).as_bytes());
    } else {
        w.fixed(r.pres_t, 1);
    }
    close(w, quoted == 2);
    field(w, b",\"wind_speed_ms\":", quoted == 3);
    if fs.contains(NegativeWind) {
        w.fixed(-(1 + below(v[33], 200) as i64), 1);
    } else {
        w.fixed(r.wind_t, 1);
    }
    close(w, quoted == 3);
    field(w, b",\"wind_dir_deg\":", quoted == 4);
    w.uint(r.wdir);
    close(w, quoted == 4);
    field(w, b",\"precip_mm\":", quoted == 5);
    if fs.contains(NegativePrecip) {
        w.fixed(-(1 + below(v[35], 50) as i64), 1);
    } else {
        w.fixed(r.precip_t, 1);
    }
    close(w, quoted == 5);
    w.lit(b",\"condition\":\"");
    if fs.contains(UnknownCondition) {
        w.bytes(pick(&BAD_CONDITIONS, v[34]).as_bytes());
    } else {
        w.padded(&CONDITION_TEXT[r.cond]);
    }
    w.byte(b'"');
    field(w, b",\"lat\":", quoted == 6);
    w.padded(&rec.lat_s);
    close(w, quoted == 6);
    field(w, b",\"lon\":", quoted == 7);
    w.padded(&rec.lon_s);
    close(w, quoted == 7);
    field(w, b",\"battery_v\":", quoted == 8);
    w.fixed(r.batt_h, 2);
    close(w, quoted == 8);
}
