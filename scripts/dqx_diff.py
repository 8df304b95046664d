#!/usr/bin/env python3
"""Differential test of medallion's quality engine against Databricks Labs DQX itself (issue 30).

For each seed: random rows (integers, doubles, strings of several shapes, booleans, nulls) and a
random check file over the row-level functions both engines have (random arguments, filters,
criticalities, names), run through DQX (`DQEngineCore.apply_checks_by_metadata` on a local
PySpark session, with `run_time_overwrite` as "now") and through `medallion check --input
--now`. Compared per row: the set of (name, message, columns, function, filter) in `_errors` and
in `_warnings`; a cell is one row's `_errors` or `_warnings`.

    python3 scripts/dqx_diff.py [--seeds 0-4] [--rows 200] [--checks 40] [--show 20]
                                [--bin target/release/medallion] [--json OUT] [--keep DIR]

Needs `databricks-labs-dqx==0.17.0` and `pyspark` (PyPI) and Java 17. Exit 1 when a cell
differs (other than the deliberate differences listed in docs/src/dqx.md), 0 when all agree.
"""
import argparse, json, os, random, re, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-26T12:00:00+00:00"

# Columns of the generated rows and their Spark types.
COLUMNS = {
    "i": "bigint",     # integers, some large
    "f": "double",     # doubles, with integral values, tiny and huge ones
    "s": "string",     # short words, with case and spaces
    "d": "string",     # date-like text
    "t": "string",     # timestamp-like text
    "ip": "string",    # IPv4-like text
    "j": "string",     # JSON-like text
    "u": "string",     # UUID-like text
    "b": "boolean",
    "n v": "string",   # a name that needs back-quotes
    "em": "string",    # email-like text
    "url": "string",   # URL-like text
    "ip6": "string",   # IPv6-like text
    "num": "string",   # number-like text (decimal places)
    "d2": "string",    # dates Spark's ANSI to_date reads (it fails the query on others)
    "cc": "string",    # country-code-like text
    "cur": "string",   # currency-code-like text
    "lang": "string",  # language-code-like text
    "sub": "string",   # subdivision-code-like text
    "ctry": "string",  # a country beside a subdivision
    "nid": "string",   # national-id-like text
    "js": "string",    # JSON objects for schema checks
    "arr": "array<string>",  # arrays (JSON arrays in medallion's rows)
}


# Date and timestamp columns (typed for DQX; text given `--schema` for medallion), drawn from
# their own random stream so that the other columns and checks of a seed do not change with them.
TIME_COLUMNS = {"ts": "timestamp", "dt": "date"}
TIME_SCHEMA = "ts TIMESTAMP, dt DATE"


def rand_times(rng, n):
    """`n` rows' ts and dt: hours (and days) before NOW with gaps, uneven counts, sometimes a
    spike in the latest one, a few nulls and a few after NOW."""
    from datetime import datetime, timedelta, timezone
    now = datetime.fromisoformat(NOW)
    hours = [h for h in range(36) if rng.random() < 0.8]
    weights = [rng.choice([1, 1, 2, 3, 5]) for _ in hours]
    if hours and rng.random() < 0.4:
        weights[0] *= rng.choice([5, 10])
    days = [d for d in range(20) if rng.random() < 0.75] or [0]
    out = []
    for _ in range(n):
        ts = dt = None
        if rng.random() > 0.08 and hours:
            h = rng.choices(hours, weights)[0]
            ts = now - timedelta(hours=h, minutes=rng.randint(0, 59), seconds=rng.choice([0, 0, 30]))
            if rng.random() < 0.03:
                ts = now + timedelta(minutes=rng.randint(1, 300))
            if rng.random() < 0.05:
                ts = ts + timedelta(microseconds=500000)
        if rng.random() > 0.08:
            dt = (now - timedelta(days=rng.choice(days))).date()
        out.append({"ts": ts, "dt": dt})
    return out


def rand_value(rng, col):
    if rng.random() < 0.12:
        return None
    if col == "i":
        return rng.choice([0, 1, -1, 3, 7, 42, 100, -100, 9007199254740993, rng.randint(-1000, 1000)])
    if col == "f":
        return rng.choice([0.0, 1.5, -2.25, 100.0, 100.00000000000001, 1e-7, 1e7, 12345678.9,
                           1.5e-300, 0.1 + 0.2, rng.uniform(-200, 200), float(rng.randint(-50, 50))])
    if col == "s":
        return rng.choice(["", " ", "a", "A", "abc", "Abc", "ABC", " abc ", "clear", "rain", "x y",
                           "héllo", "123", "a.b", "null", "Hello World", "hello. world",
                           "Hello. World", " x.  Y", "ÉCOLE", "straße", "Hello  world"])
    if col == "d":
        return rng.choice(["2026-11-26", "2026-1-3", "2026-02-30", "20261126", "26/11/2026",
                           "2026-11", "2026", "", "not a date", "2025-12-31"])
    if col == "t":
        return rng.choice(["2026-11-26T12:00:00Z", "2026-11-26 12:00:00", "2026-11-26T11:59:59.5Z",
                           "2026-11-27T00:00:00Z", "2026-11-26 1:2:3", "2026-11-26", "noon",
                           "2026-11-26T12:00:00+02:00", "2030-01-01T00:00:00Z"])
    if col == "ip":
        return rng.choice(["10.0.0.1", "255.255.255.255", "256.1.1.1", "1.2.3", "01.2.3.4",
                           "192.168.1.1 ", "::1", "0.0.0.0"])
    if col == "j":
        return rng.choice(['{"a": 1}', "[1, 2]", "{", "1", '"x"', "null", '{"a": 1} x', "",
                           '{"a": 1, "a": 2}', "true", '{"a": 1, "b": 2}', "{}",
                           '{"b": {"a": 1}}', '{"c": null, "a": [1]}'])
    if col == "u":
        return rng.choice(["123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000",
                           "123e4567e89b12d3a456426614174000", "not-a-uuid",
                           "00000000-0000-0000-0000-000000000000"])
    if col == "b":
        return rng.random() < 0.5
    if col == "n v":
        return rng.choice(["", "v", "V1", " v "])
    if col == "em":
        return rng.choice(["a@b.co", "john.doe@example.com", "x@y", "@b.com", "a@b.c",
                           '"a b"@x.org', "a..b@x.com", "a@[1.2.3.4]", "a@[IPv6:::1]",
                           "a" * 65 + "@x.com", "A@B.COM ", "a@-b.com", "a@b-.com", "é@x.com",
                           "a@b.com\n", "x@" + "a" * 250 + ".com"])
    if col == "url":
        return rng.choice(["http://x.com", "https://a.b/c?d=e#f", "s3://bucket/key",
                           "mailto:a@b.c", "example.com", "/path", "http://a b", "file:///tmp/x",
                           "http://[::1]:80/", "ht tp://x", "http://x.com/%zz", "urn:isbn:123",
                           "http://u:p@h:8080/p;q?r#s", "HTTP://X.COM/%41", "a:"])
    if col == "ip6":
        return rng.choice(["::1", "2001:db8::1", "fe80::1%eth0", "::ffff:1.2.3.4", "::",
                           "1:2:3:4:5:6:7:8", "2001:db8::/32", "12345::", "::ffff:01.2.3.4",
                           "1::2::3", "2001:DB8:0:0:8:800:200C:417A", "fe80::", "10.0.0.1",
                           "1:2:3:4:5:6:7::", ":1::2", "2001:db9::1"])
    if col == "d2":
        return rng.choice(["2026-11-26", "2026-1-3", "2025-12-31", "2026-11-26 10:00:00", "2026-11",
                           "2026", "2020-02-29", "2026-11-26T23:59:59Z", "2027-01-01"])
    if col == "num":
        return rng.choice(["1", "1.250", "-1.25", "+1.", ".5", "1.5e3", "1.0E-4", "100e-2",
                           "abc", " 1", "NaN", "1e", "0.000", "3.14159", "12.5000", "-0.001"])
    if col == "cc":
        return rng.choice(["US", "us", "Us", "USA", "usa", "840", "004", "4", "XK", "GB", "DE",
                           "ZZ", " US", "", "GBR", "276", "999"])
    if col == "cur":
        return rng.choice(["USD", "usd", "EUR", "XXX", "XTS", "840", "978", "036", "36", "ABC", "",
                           "JPY", "jpY", "999"])
    if col == "lang":
        return rng.choice(["en", "EN", "eng", "ENG", "sh", "ger", "deu", "xx", "zhk", "mrd",
                           "fra", "", "zh", "yol"])
    if col == "sub":
        return rng.choice(["US-CA", "us-ca", "GB-ENG", "US-BY", "DE-BY", "CA", "US-", "-CA",
                           "FR-75C", "", "US-NY", "gb-eng"])
    if col == "ctry":
        return rng.choice(["US", "GB", "us", "DE", "gb"])
    if col == "nid":
        return rng.choice(["123-45-6789", "123 45 6789", "123456789", "000-12-3456",
                           "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000",
                           "123-45 6789", "AB123456C", "AB 12 34 56 C", "GB123456C", "QQ123456C",
                           "ab123456c", "ABCPD1234E", "ABCDD1234E", "12-345-6789", "",
                           "DA123456A", "AB12 3456D", "AB123456E"])
    if col == "arr":
        return rng.choice([[], ["a"], ["a", None], [""], [None], ["x", "y", "z"]])
    if col == "js":
        return rng.choice(JSON_OBJECTS)
    raise KeyError(col)


JSON_OBJECTS = [
    '{"a": 1}', '{"a": 1.5}', '{"a": "1"}', '{"a": "x"}', '{"a": null}', '{}', '{"b": 2}',
    '[1,2]', '1', 'null', '{"a": 1} x', '{"a": true}', '{"a": 99999999999}', '{"a": 1e2}',
    '{"a": {"c": 1}}', '{"a": [1]}', '{"a": "NaN"}', '{"a": ""}', '{"a": "2026-11-26"}',
    '{"a": "2026-11-26T12:00:00Z"}', '{"a": 1700000000}', '{"A": 1}', '{"a": 1, "b": {"c": null}}',
    '{"a": 1, "b": {}}', '{"a": 1, "b": null}', '{"a": 1, "b": {"c": "z"}}', '{"a": -0}',
    '{"a": 12.345}', '{"a": 128}', '{"a": 40000}', '{"a": [1, null]}', '{"a": "01"}',
    '{"a": 2147483648}', '{"a": "1,000.5"}', '{"a": "-7"}', '{"a": 999.995}', '{"a": [1, "x"]}',
    '{"a": {"k": 1}}', '{"a": 1, "b": {"c": "z", "d": [1.5]}}', '{"a": "2026-1-3 10:00"}', '',
    '{"a": 1, "a": 2}']
JSON_SCHEMAS = [
    "a INT", "a INT NOT NULL", "a BIGINT", "a STRING", "a STRING NOT NULL", "a DOUBLE", "a FLOAT",
    "a BOOLEAN", "a DECIMAL(5,2)", "a DATE", "a TIMESTAMP", "a ARRAY<INT>", "a MAP<STRING,INT>",
    "a SMALLINT", "a TINYINT", "struct<a:int, b:struct<c:string NOT NULL>>",
    "a INT, b STRUCT<c: STRING NOT NULL, d: ARRAY<DOUBLE>> NOT NULL", "a STRUCT<k: INT>",
    "a decimal", "a long", "a STRING COMMENT 'the a', b MAP<STRING, STRING>"]


NUMERIC = ["i", "f"]
TEXT = ["s", "d", "t", "ip", "j", "u", "`n v`"]
ALL = NUMERIC + TEXT + ["b", "`s`"]
FILTERS = ["i > 0", "f < 50", "s is not null", "b", "not b", "i % 2 = 0", "length(s) > 1",
           "i between -10 and 10", "s in ('a', 'abc')", "f is null or f > 0"]
MESSAGES = ["'custom message'", "concat('bad i: ', cast(i as string))", "concat('s=', s)",
            "upper(s)", "concat(s, '/', f)", "concat('n', 'x')"]
EXPRESSIONS = ["i > 10", "f >= 0", "s = 'abc'", "i + f > 5", "length(s) < 3", "i is not null",
               "upper(s) = 'ABC'", "abs(f) <= 100", "i % 3 = 0", "coalesce(s, '') != ''",
               "b = true", "f / 2 > 1"]


# Limits given as text: DQX reads "3" as a number and "2.50" as a SQL decimal literal, whose
# scale its messages keep ("limit: 2.50").
def number(rng):
    return rng.choice([0, 1, -1, 10, 100, 2.5, -50, 1000, 0.5, "3", "-1", "2.50", "10.0"])


def rand_check(rng):
    """One check: (function, arguments)."""
    kind = rng.choice([
        "is_not_null", "is_null", "is_not_empty", "is_empty", "is_not_null_and_not_empty",
        "is_null_or_empty", "is_in_list", "is_not_null_and_is_in_list", "is_not_in_list",
        "is_in_range", "is_not_in_range", "is_not_less_than", "is_not_greater_than",
        "is_equal_to", "is_not_equal_to", "regex_match", "sql_expression", "is_valid_date",
        "is_valid_timestamp", "is_valid_ipv4_address", "is_valid_json", "is_valid_uuid",
        "is_latitude", "is_longitude", "has_valid_string_case", "has_num_decimal_places",
        "is_older_than_col2_for_n_days", "is_valid_email", "is_valid_url", "is_valid_ipv6_address",
        "is_ipv4_address_in_cidr", "is_ipv6_address_in_cidr", "has_json_keys",
        "is_valid_country_code", "is_valid_currency_code", "is_valid_language_code",
        "is_valid_subdivision_code", "is_valid_national_id", "has_valid_json_schema",
        "is_not_null_and_not_empty_array",
    ])
    a = {}
    if kind in ("is_not_null", "is_null"):
        a["column"] = rng.choice(ALL)
    elif kind in ("is_not_empty", "is_empty", "is_not_null_and_not_empty", "is_null_or_empty"):
        a["column"] = rng.choice(TEXT)
        if rng.random() < 0.5:
            a["trim_strings"] = rng.random() < 0.5
    elif kind in ("is_in_list", "is_not_null_and_is_in_list", "is_not_in_list"):
        col = rng.choice(["i", "s"])
        a["column"] = col
        if col == "i":
            vals = rng.sample([0, 1, 3, 7, 42, 100, -100], 3)
        else:
            vals = ["'" + v + "'" for v in rng.sample(["a", "abc", "ABC", "clear", "rain", ""], 3)]
        a["forbidden" if kind == "is_not_in_list" else "allowed"] = vals
        if col == "s" and rng.random() < 0.5:
            a["case_sensitive"] = rng.random() < 0.5
    elif kind in ("is_in_range", "is_not_in_range"):
        a["column"] = rng.choice(NUMERIC)
        lo, hi = sorted([number(rng), number(rng)], key=float)
        a["min_limit"], a["max_limit"] = lo, hi
    elif kind in ("is_not_less_than", "is_not_greater_than"):
        a["column"] = rng.choice(NUMERIC)
        a["limit"] = number(rng)
    elif kind in ("is_equal_to", "is_not_equal_to"):
        a["column"] = rng.choice(NUMERIC)
        a["value"] = number(rng)
        if rng.random() < 0.3:
            a["abs_tolerance"] = rng.choice([0.1, 1, 5])
        if rng.random() < 0.3:
            a["rel_tolerance"] = rng.choice([0.01, 0.1])
    elif kind == "regex_match":
        a["column"] = rng.choice(TEXT)
        a["regex"] = rng.choice(["^a", "^[a-z]+$", "b", "^\\d+$", "^[A-Z]", ".", "^$", "c$",
                                 "^\\p{Alpha}+$", "[[:alpha:]]", "(?i)^abc$", "\\s"])
        if rng.random() < 0.5:
            a["negate"] = rng.random() < 0.5
    elif kind == "sql_expression":
        a["expression"] = rng.choice(EXPRESSIONS)
        if rng.random() < 0.4:
            a["msg"] = rng.choice(["expression failed", "bad row", ""])
        if rng.random() < 0.2:
            a["columns"] = rng.sample(["i", "f", "s", "`s`"], 2)
        if rng.random() < 0.1:
            a["name"] = rng.choice(["", "my_expr"])
        if rng.random() < 0.3:
            a["negate"] = rng.random() < 0.5
    elif kind == "is_valid_date":
        a["column"] = "d"
        if rng.random() < 0.5:
            a["date_format"] = rng.choice(["yyyy-MM-dd", "dd/MM/yyyy", "yyyy-MM"])
    elif kind == "is_valid_timestamp":
        a["column"] = "t"
        if rng.random() < 0.5:
            a["timestamp_format"] = rng.choice(["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ssX"])
    elif kind == "is_valid_ipv4_address":
        a["column"] = "ip"
    elif kind == "is_valid_json":
        a["column"] = "j"
    elif kind == "is_valid_uuid":
        a["column"] = "u"
        if rng.random() < 0.5:
            a["strict"] = rng.random() < 0.5
    elif kind in ("is_latitude", "is_longitude"):
        a["column"] = rng.choice(NUMERIC)
    elif kind == "has_valid_string_case":
        a["column"] = rng.choice(["s", "s", "`n v`"])
        a["case"] = rng.choice(["upper", "lower", "title", "sentence"])
    elif kind == "has_num_decimal_places":
        a["column"] = rng.choice(["num", "num", "f", "i"])
        a["limit"] = rng.choice([0, 1, 2, 3])
    elif kind == "is_older_than_col2_for_n_days":
        a["column1"], a["column2"] = rng.choice(["d2", "`d2`"]), "d2"
        if rng.random() < 0.7:
            a["days"] = rng.choice([0, 1, 30, 400])
        if rng.random() < 0.4:
            a["negate"] = rng.random() < 0.5
    elif kind == "is_valid_email":
        a["column"] = "em"
    elif kind == "is_valid_url":
        a["column"] = "url"
    elif kind == "is_valid_ipv6_address":
        a["column"] = rng.choice(["ip6", "ip6", "ip"])
    elif kind == "is_ipv4_address_in_cidr":
        a["column"] = "ip"
        a["cidr_block"] = rng.choice(["10.0.0.0/8", "192.168.1.0/24", "0.0.0.0/0",
                                      "255.255.255.255/32", "10.0.0.1/31"])
    elif kind == "is_ipv6_address_in_cidr":
        a["column"] = "ip6"
        a["cidr_block"] = rng.choice(["2001:db8::/32", "::/0", "fe80::/10", "::1/128",
                                      "2001:db8::1/64"])
    elif kind == "has_json_keys":
        a["column"] = "j"
        a["keys"] = rng.sample(["a", "b", "c"], rng.randint(1, 2))
        if rng.random() < 0.5:
            a["require_all"] = rng.random() < 0.5
    elif kind in CODE_FORMATS:
        a["column"] = rng.choice(CODE_COLUMNS[kind])
        if rng.random() < 0.6:
            a["code_format"] = rng.choice(CODE_FORMATS[kind])
            # DQX casts a column to text for numeric codes only (an integer column against the
            # alphabetic lists is a type error in Spark), so integers get numeric codes.
            if a["code_format"].lower() == "numeric" and rng.random() < 0.3:
                a["column"] = "i"
        if rng.random() < 0.5:
            a["case_sensitive"] = rng.random() < 0.5
    elif kind == "is_valid_subdivision_code":
        a["column"] = rng.choice(["sub", "sub", "cc"])
        if rng.random() < 0.5:
            a["case_sensitive"] = rng.random() < 0.5
        if rng.random() < 0.5:
            a["country_column"] = rng.choice(["ctry", "cc"])
    elif kind == "is_valid_national_id":
        a["column"] = "nid"
        if rng.random() < 0.7:
            a["country"] = rng.choice(["US", "GB", "IN", "gb", "us"])
    elif kind == "is_not_null_and_not_empty_array":
        a["column"] = "arr"
    elif kind == "has_valid_json_schema":
        a["column"] = rng.choice(["js", "js", "j"])
        a["schema"] = rng.choice(JSON_SCHEMAS)
    if kind in ALLOW_NULLS and rng.random() < 0.3:
        a["allow_nulls"] = rng.random() < 0.5
    return kind, a


# The ISO code checks: their code formats (any case) and the columns they are drawn over.
CODE_FORMATS = {
    "is_valid_country_code": ["alpha-2", "alpha-3", "numeric", "ALPHA-3", "Numeric"],
    "is_valid_currency_code": ["alphabetic", "numeric", "NUMERIC"],
    "is_valid_language_code": ["alpha-2", "alpha-3", "Alpha-3"],
}
CODE_COLUMNS = {
    "is_valid_country_code": ["cc", "cc", "s"],
    "is_valid_currency_code": ["cur", "cur", "cc"],
    "is_valid_language_code": ["lang", "lang", "s"],
}

# Functions with DQX 0.17's allow_nulls.
ALLOW_NULLS = {"is_in_range", "is_not_in_range", "is_not_less_than", "is_not_greater_than",
               "is_equal_to", "is_not_equal_to", "has_num_decimal_places"}


# Aggregate types drawn for is_aggr_* (DQX's curated ones; mode and approx_count_distinct are
# left out: Spark's answers there depend on hashing, see docs/src/dqx.md).
AGGR_NUMERIC = ["sum", "avg", "min", "max", "stddev", "stddev_pop", "stddev_samp", "variance",
                "var_pop", "var_samp", "median", "skewness", "kurtosis", "percentile",
                "approx_percentile"]
AGGR_ANY = ["count", "count_distinct"]
SCHEMAS = ["i BIGINT, f DOUBLE", "i INT, s STRING", "s STRING, b BOOLEAN, arr ARRAY<STRING>",
           "i STRING", "f DECIMAL(5,2), d DATE", "arr ARRAY<INT>", "i BIGINT NOT NULL",
           "cc STRING, zz INT", "b BOOLEAN, i LONG, f FLOAT", "i BIGINT, f DOUBLE, s STRING"]
GROUP_BYS = [None, ["s"], ["b"], ["cc", "b"], ["i"]]


# The reference dataset of foreign_key checks (`ref_df_name: refs`), keys drawn from the pools
# of `i` and `s`.
REF_COLUMNS = {"k": "bigint", "t": "string", "f": "double"}  # f: from the second stream


def rand_refs(rng):
    return [{"k": rand_value(rng, "i"), "t": rand_value(rng, "s")} for _ in range(30)]


FOREIGN_KEYS = [(["i"], ["k"]), (["s"], ["t"]), (["i", "s"], ["k", "t"])]


def rand_dataset_check(rng):
    """One dataset-level check: (function, arguments)."""
    if rng.random() < 0.1:
        # No two keys equal ignoring case (DQX refuses such a distribution without case
        # sensitivity), shares summing to 1 at most.
        keys = rng.sample(["a", "abc", "clear", "rain", "", "x y", "Hello World"], rng.randint(1, 4))
        weights = [rng.choice([0.1, 0.2, 0.25, 0.05]) for _ in keys]
        a = {"column": "s", "distribution": dict(zip(keys, weights)),
             "distance": rng.choice([0, 0.05, 0.1, 0.3, 0.5, 1, 0.8])}
        if rng.random() < 0.4:
            a["case_sensitive"] = rng.random() < 0.5
        return "is_in_distribution", a
    if rng.random() < 0.12:
        cols, ref_cols = rng.choice(FOREIGN_KEYS)
        a = {"columns": cols, "ref_columns": ref_cols, "ref_df_name": "refs"}
        if rng.random() < 0.4:
            a["negate"] = rng.random() < 0.5
        if rng.random() < 0.4:
            a["null_safe"] = rng.random() < 0.5
        return "foreign_key", a
    if rng.random() < 0.15:
        return "has_no_outliers", {"column": rng.choice(NUMERIC)}
    if rng.random() < 0.15:
        # `columns` always given: DQX would otherwise compare every DataFrame column, and the
        # harness's frame has its `_row` column besides the rows' own.
        cols = rng.sample(["i", "f", "s", "b", "arr", "cc", "d"], rng.randint(1, 4))
        a = {"expected_schema": rng.choice(SCHEMAS), "columns": cols}
        if rng.random() < 0.4:
            a["strict"] = rng.random() < 0.7
        if rng.random() < 0.2:
            a["exclude_columns"] = [rng.choice(cols)]
        return "has_valid_schema", a
    if rng.random() < 0.3:
        cols = rng.sample(["s", "i", "b", "cc", "f", "lang"], rng.choice([1, 1, 2]))
        a = {"columns": cols}
        if rng.random() < 0.4:
            a["nulls_distinct"] = rng.random() < 0.5
        if rng.random() < 0.2:
            a["trim_strings"] = rng.random() < 0.5
        return "is_unique", a
    fn = rng.choice(["is_aggr_not_greater_than", "is_aggr_not_less_than", "is_aggr_equal",
                     "is_aggr_not_equal"])
    kind = rng.random()
    if kind < 0.15:
        a = {"column": "*", "aggr_type": "count"}
    elif kind < 0.35:
        a = {"column": rng.choice(["s", "i", "f", "cc", "b"]), "aggr_type": rng.choice(AGGR_ANY)}
    elif kind < 0.42:
        a = {"column": "b", "aggr_type": "count_if"}
    else:
        a = {"column": rng.choice(NUMERIC), "aggr_type": rng.choice(AGGR_NUMERIC)}
    if a["aggr_type"] in ("percentile", "approx_percentile"):
        a["aggr_params"] = {"percentile": rng.choice([0, 0.25, 0.5, 0.9, 1.0])}
    if a["aggr_type"] == "count" and a["column"] != "*" and rng.random() < 0.3:
        del a["aggr_type"]  # count is the default
    group_by = rng.choice(GROUP_BYS)
    if group_by:
        a["group_by"] = group_by
    a["limit"] = rng.choice([0, 1, 2, 3, 5, 10, 100, 2.5, 1.0, 0.5, "3", "-1", 20, "2.50"])
    if fn in ("is_aggr_equal", "is_aggr_not_equal") and rng.random() < 0.3:
        a["abs_tolerance" if rng.random() < 0.5 else "rel_tolerance"] = rng.choice([0.5, 1, 0.1])
    return fn, a


# sql_query checks: (query, merge_columns, condition column).
SQL_QUERIES = [
    ("SELECT s, count(*) > 1 AS condition FROM {{ input_view }} GROUP BY s", ["s"], None),
    ("SELECT b, sum(i) > 100 AS condition FROM {{ input_view }} GROUP BY b", ["b"], None),
    ("SELECT cc, b, avg(f) < 0 AS condition FROM {{ input_view }} GROUP BY cc, b", ["cc", "b"], None),
    ("SELECT s, count(DISTINCT i) >= 2 AS condition FROM {{ input_view }} WHERE f > 0 "
     "GROUP BY s HAVING count(*) > 1", ["s"], None),
    ("SELECT i, i % 2 = 0 AS condition FROM {{ input_view }}", ["i"], None),
    ("SELECT count(*) > 50 AS condition FROM {{ input_view }}", None, None),
    ("SELECT sum(f) > 100 AS condition FROM {{input_view}} WHERE b", None, None),
    ("SELECT max(i) - min(i) > 1000 AS condition FROM {{ input_view }}", None, None),
    ("SELECT t.s, min(t.f) < -100 OR max(t.f) > 100 AS condition FROM {{ input_view }} AS t "
     "GROUP BY t.s", ["s"], None),
    ("SELECT s, count(*) AS n, count(*) > 2 AS bad FROM {{ input_view }} GROUP BY s", ["s"], "bad"),
    ("SELECT cc, count_if(b) > 1 AS condition FROM {{ input_view }} GROUP BY cc", ["cc"], None),
    ("SELECT lower(s) AS s, count(*) > 1 AS condition FROM {{ input_view }} GROUP BY lower(s)",
     ["s"], None),
    ("SELECT s, stddev(f) > 50 AS condition FROM {{ input_view }} GROUP BY s", ["s"], None),
    ("SELECT b, median(i) > 5 AS condition FROM {{ input_view }} GROUP BY b", ["b"], None),
    ("SELECT i, s, f IS NULL AS condition FROM {{ input_view }} WHERE i BETWEEN -10 AND 10",
     ["i", "s"], None),
    ("SELECT avg(f) BETWEEN -10 AND 10 AS condition FROM {{ input_view }} HAVING count(*) > 5",
     None, None),
]


def rand_sql_query(rng):
    query, merge, cond = rng.choice(SQL_QUERIES)
    a = {"query": query}
    if merge:
        a["merge_columns"] = merge
    if cond:
        a["condition_column"] = cond
    if rng.random() < 0.2:
        a["query"] = query.replace("input_view", "src")
        a["input_placeholder"] = "src"
    if rng.random() < 0.3:
        a["negate"] = rng.random() < 0.7
    if rng.random() < 0.3:
        a["msg"] = rng.choice(["query failed", "bad group", ""])
    if rng.random() < 0.2:
        a["name"] = "my_query"
    return "sql_query", a


def rand_compare(rng):
    cols, ref_cols = rng.choice(FOREIGN_KEYS)
    a = {"columns": cols, "ref_columns": ref_cols}
    a["ref_table" if rng.random() < 0.3 else "ref_df_name"] = "refs"
    # One compared column: with several, DQX orders them (to pair repeated keys, and to list
    # the changed ones) as its working DataFrame holds them, which earlier checks reorder;
    # medallion uses the input's order (docs/src/dqx.md, deliberate differences).
    a["exclude_columns"] = [rng.choice(["t", "f"])]
    if rng.random() < 0.3:
        a["null_safe_row_matching"] = rng.random() < 0.5
    if rng.random() < 0.3:
        a["null_safe_column_value_matching"] = rng.random() < 0.5
    if rng.random() < 0.25:
        a["abs_tolerance" if rng.random() < 0.5 else "rel_tolerance"] = rng.choice([0.5, 1, 0.1])
    # check_missing_records adds rows to DQX's output (and the later checks see them), and
    # raise_on_duplicate_keys fails on these keys: both are tested in tests/it/quality_cli.rs.
    return "compare_datasets", a


def rand_series_check(rng):
    """One time-series, reference-aggregate or SQL query dataset check, or a row-level check
    against "now": (function, arguments)."""
    if rng.random() < 0.2:
        return rand_sql_query(rng)
    if rng.random() < 0.12:
        return rand_compare(rng)
    if rng.random() < 0.1:
        # Distributions of integer and boolean columns (keys typed for DQX; JSON makes them text).
        if rng.random() < 0.5:
            keys = rng.sample([0, 1, -1, 3, 7, 42, 100, -100], rng.randint(1, 4))
            column = "i"
        else:
            keys = rng.sample([True, False], rng.randint(1, 2))
            column = "b"
        weights = [rng.choice([0.1, 0.2, 0.25, 0.4]) for _ in keys]
        return "is_in_distribution", {"column": column, "distribution": dict(zip(keys, weights)),
                                      "distance": rng.choice([0, 0.05, 0.1, 0.3, 0.5])}
    if rng.random() < 0.2:
        # Not the text column `t`: DQX's comparisons cast it with ANSI on, failing the query
        # on a value like 'noon'.
        column = rng.choice(["ts", "dt"])
        fn = rng.choice(["is_not_in_future", "is_not_in_near_future", "is_data_fresh",
                         "is_older_than_n_days"])
        if fn == "is_data_fresh":
            return fn, {"column": column, "max_age_minutes": rng.choice([1, 30, 60, 600, 3000])}
        if fn == "is_older_than_n_days":
            a = {"column": column, "days": rng.choice([0, 1, 2, 7, 30])}
            if rng.random() < 0.3:
                a["negate"] = rng.random() < 0.5
            return fn, a
        a = {"column": column}
        if rng.random() < 0.6:
            a["offset"] = rng.choice([0, 60, 3600, 86400])
        return fn, a
    k = rng.random()
    if k < 0.25:
        a = {"column": rng.choice(["ts", "ts", "dt"]),
             "window_minutes": rng.choice([15, 30, 60, 120, 1440]),
             "min_records_per_window": rng.choice([1, 2, 3, 5, 10])}
        if rng.random() < 0.5:
            a["lookback_windows"] = rng.choice([1, 3, 12, 1000])
        return "is_data_fresh_per_time_window", a
    if k < 0.5:
        a = {"column": rng.choice(["ts", "ts", "dt"]), "window_minutes": rng.choice([30, 60, 120, 1440])}
        if rng.random() < 0.4:
            a["group_by"] = rng.choice([["b"], ["s"], ["b", "cc"]])
        if rng.random() < 0.4:
            a["trailing_gap"] = rng.random() < 0.7
        return "has_no_gaps_per_time_window", a
    if k < 0.75:
        column = rng.choice(["*", "i", "f"])
        a = {"column": column, "time_column": rng.choice(["ts", "ts", "dt"])}
        if column == "*":
            a["aggr_type"] = "count"
        elif rng.random() < 0.8:
            a["aggr_type"] = rng.choice(["count", "sum", "avg", "min", "max", "count_distinct",
                                         "stddev", "median"])
        a["time_interval"] = "day" if a["time_column"] == "dt" else rng.choice(["hour", "hour", "day"])
        lookback = rng.choice([2, 3, 5, 14])
        if rng.random() < 0.7:
            a["lookback_num_intervals"] = lookback
        else:
            lookback = 14
        if rng.random() < 0.7:
            a["warmup_num_intervals"] = rng.randint(1, lookback)
        elif lookback < 7:
            a["warmup_num_intervals"] = lookback
        if rng.random() < 0.6:
            a["sigma"] = rng.choice([0.5, 1, 2, 3.0, 1.5])
        if rng.random() < 0.3:
            a["group_by"] = ["b"]
        return "has_no_aggr_outliers", a
    column = rng.choice(["*", "i", "i", "s"])
    a = {"column": column}
    if column == "*":
        # count_distinct(*) is left out: DQX counts over its working DataFrame, whose columns
        # include what earlier checks added (docs/src/dqx.md, deliberate differences).
        aggr = "count"
    elif column == "s":
        aggr = rng.choice(["count", "count_distinct", "min", "max"])
    else:
        aggr = rng.choice(["count", "count_distinct", "sum", "avg", "min", "max"])
    if aggr != "count" or rng.random() < 0.5:
        a["aggr_type"] = aggr
    if column != "*" or rng.random() < 0.5:
        a["ref_column"] = {"*": "*", "i": "k", "s": "t"}[column]
    a["ref_table" if rng.random() < 0.3 else "ref_df_name"] = "refs"
    if rng.random() < 0.4:
        a["group_by"] = ["s"]
        a["ref_group_by"] = ["t"]
    if rng.random() < 0.3:
        a["ref_row_filter"] = rng.choice(["k > 0", "t is not null", "k % 2 = 0"])
    if aggr in ("sum", "avg") and rng.random() < 0.3:
        a["abs_tolerance" if rng.random() < 0.5 else "rel_tolerance"] = rng.choice([0.5, 10, 0.1])
    return "aggr_matches_dataset", a


# The dataset functions that take a `row_filter` argument: it selects what they read, while a
# check-level `filter` also selects the rows they may mark (DQX pushes it into `row_filter`).
ROW_FILTERED = {"is_unique", "is_aggr_not_greater_than", "is_aggr_not_less_than", "is_aggr_equal",
                "is_aggr_not_equal", "foreign_key", "has_no_outliers", "is_in_distribution",
                "aggr_matches_dataset", "has_no_aggr_outliers", "is_data_fresh_per_time_window",
                "sql_query", "compare_datasets"}


def rand_series_checks(rng, n):
    out = []
    for k in range(n):
        if rng.random() < 0.15:
            fn, args = rand_dataset_check(rng)
        else:
            fn, args = rand_series_check(rng)
        if fn in ROW_FILTERED and "row_filter" not in args and rng.random() < 0.25:
            args["row_filter"] = rng.choice(FILTERS)
            if args.get("column") == "*" and args.get("aggr_type", "count") != "count":
                del args["row_filter"]
        c = {"criticality": rng.choice(["error", "warn"]), "check": {"function": fn, "arguments": args}}
        if rng.random() < 0.3:
            c["name"] = f"series_{k}"
        # A filter on a count(*) or count_distinct(*) with a filter is refused by both engines.
        if rng.random() < 0.3 and not (args.get("column") == "*" and fn == "aggr_matches_dataset"
                                       and args.get("aggr_type") == "count_distinct"):
            c["filter"] = rng.choice(FILTERS)
        out.append(c)
    return out


def rand_checks(rng, n):
    out = []
    for k in range(n):
        fn, args = rand_dataset_check(rng) if rng.random() < 0.15 else rand_check(rng)
        c = {"criticality": rng.choice(["error", "warn"]), "check": {"function": fn, "arguments": args}}
        if rng.random() < 0.3:
            c["name"] = f"check_{k}"
        if rng.random() < 0.3:
            c["filter"] = rng.choice(FILTERS)
        if rng.random() < 0.1:
            c["message_expr"] = rng.choice(MESSAGES)
        out.append(c)
    return out


# A floating-point aggregate (sum, avg, the deviations, ...) depends on the order Spark feeds
# the rows (a window operator's input follows the sorts of earlier checks in the plan; a global
# aggregate adds partial sums); medallion accumulates in input order. Their metrics are compared to 12 significant digits
# (docs/src/dqx.md lists this as a deliberate difference).
AGGR_VALUE = re.compile(r"^(.* value )(-?[0-9.]+(?:E-?[0-9]+)?|NaN|-?Infinity)( in column '.*)$")


# aggr_matches_dataset's messages carry two such metrics (the checked and the reference's).
UPSTREAM_VALUES = re.compile(r"^(.* value )(\S*)( in column '.*' limit: )(\S*)$")


# has_no_aggr_outliers' current value, baseline, deviation and delta.
OUTLIER_NUMBERS = re.compile(r"((?:current|baseline|stddev|delta)=)([^,\s]+)")


def rounded(text):
    if "." in text or "E" in text:
        try:
            return f"{float(text):.12g}"
        except ValueError:
            pass
    return text


def canonical_message(e):
    m = e.get("message")
    fn = e.get("function") or ""
    if m and fn.startswith("is_aggr_"):
        g = AGGR_VALUE.match(m)
        if g and ("." in g.group(2) or "E" in g.group(2)):
            return f"{g.group(1)}{float(g.group(2)):.12g}{g.group(3)}"
    if m and fn == "has_no_aggr_outliers":
        return OUTLIER_NUMBERS.sub(lambda g: g.group(1) + rounded(g.group(2)), m)
    if m and fn == "compare_datasets":
        # The changed columns come in the order of DQX's working DataFrame, which earlier
        # checks reorder (compare_datasets itself puts its key and compared columns first);
        # medallion lists them in the input's order. Compared as a set.
        try:
            d = json.loads(m)
        except ValueError:
            return m
        return json.dumps(d, sort_keys=True)
    if m and fn == "aggr_matches_dataset":
        g = UPSTREAM_VALUES.match(m)
        if g:
            return f"{g.group(1)}{rounded(g.group(2))}{g.group(3)}{rounded(g.group(4))}"
    return m


def entry_key(e):
    return (e.get("name"), canonical_message(e), tuple(e.get("columns") or []),
            e.get("function"), e.get("filter"))


def cell(entries):
    return sorted((entry_key(e) for e in (entries or [])), key=repr)


# compare_datasets pairs rows of one key in the order of their compared values; rows that tie
# there are interchangeable, and Spark breaks the tie by the order earlier checks' joins left
# the rows in, so which of them gets a message is arbitrary. Such a check's entries are
# compared per (key, compared values) group: equal counts there make the rows' cells equal.
def compare_specs(checks):
    """Per compare_datasets check name: its key columns and compared columns (none when two
    checks of one name compare different columns)."""
    specs = {}
    for c in checks:
        if c["check"]["function"] != "compare_datasets":
            continue
        a = c["check"]["arguments"]
        name = c.get("name") or (f"datasets_diff_pk_{'_'.join(a['columns'])}"
                                 f"_ref_{'_'.join(a['ref_columns'])}")
        compared = tuple(x for x in ("f", "t") if x not in a.get("exclude_columns", []))
        prev = specs.get(name)
        specs[name] = (tuple(a["columns"]), compared if prev in (None, compared) else ())
    return specs


def tie_group(row, spec):
    return tuple(json.dumps(row.get(c), default=spark_text) for c in spec[0] + spec[1])


def tie_moves(rows, cells, specs):
    """The compare_datasets entries whose counts agree within their tie groups."""
    from collections import Counter
    counts = [Counter(), Counter()]
    for r, pair in enumerate(cells):
        for a_b in pair:
            for side, entries in enumerate(a_b):
                for k in entries:
                    if k[3] == "compare_datasets" and k[0] in specs:
                        counts[side][(k, tie_group(rows[r], specs[k[0]]))] += 1
    return {k for k in counts[0] | counts[1] if counts[0][k] == counts[1][k]}


def without_ties(entries, tied, row, specs):
    """The entries less the compare_datasets ones whose tie group agrees."""
    return [k for k in entries
            if not (k[3] == "compare_datasets" and k[0] in specs
                    and (k, tie_group(row, specs[k[0]])) in tied)]


def spark_text(v):
    """A date or timestamp as Spark's cast to string writes it (UTC)."""
    text = v.isoformat(sep=" ") if hasattr(v, "hour") else v.isoformat()
    return text.replace("+00:00", "")


def run_medallion(binary, rows_path, checks_path, refs_path):
    p = subprocess.run([binary, "check", "--checks", str(checks_path), "--input", str(rows_path),
                        "--ref", f"refs={refs_path}", "--schema", TIME_SCHEMA,
                        "--now", NOW.replace("+00:00", "Z")],
                       capture_output=True, text=True)
    if p.returncode not in (0,):
        return None, p.stderr.strip()
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()], None


def fix_clock():
    """DQX's time-series checks take "now" from current_timestamp() (a check file cannot give
    their curr_timestamp column); pin it to NOW, as medallion's --now pins its clock."""
    from datetime import datetime
    from pyspark.sql import functions as F
    now = datetime.fromisoformat(NOW)
    F.current_timestamp = lambda: F.lit(now)
    F.current_date = lambda: F.lit(now.date())


def spark_session():
    from pyspark.sql import SparkSession
    return (SparkSession.builder.master("local[1]").appName("dqx-diff")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "1")
            # 50 checks a seed make large plans: Spark's default 1 GiB ran out of aggregation
            # memory on two seeds of the long run.
            .config("spark.driver.memory", "4g")
            .getOrCreate())


def run_dqx(spark, rows, checks, refs):
    from unittest.mock import MagicMock
    from pyspark.sql import functions as F
    from databricks.labs.dqx.engine import DQEngineCore
    from databricks.labs.dqx.config import ExtraParams
    types = {**COLUMNS, **TIME_COLUMNS}
    schema = ", ".join(f"`{c}` {t}" for c, t in types.items())
    df = spark.createDataFrame([tuple(r.get(c) for c in types) for r in rows], schema)
    df = df.withColumn("_row", F.monotonically_increasing_id())
    engine = DQEngineCore(MagicMock(), spark, ExtraParams(run_time_overwrite=NOW))
    try:
        ref_schema = ", ".join(f"`{c}` {t}" for c, t in REF_COLUMNS.items())
        ref_df = spark.createDataFrame([tuple(r.get(c) for c in REF_COLUMNS) for r in refs],
                                       ref_schema)
        ref_df.createOrReplaceTempView("refs")  # what `ref_table: refs` reads
        out = engine.apply_checks_by_metadata(df, checks, ref_dfs={"refs": ref_df})
        got = out.orderBy("_row").select(
            F.to_json(F.struct("_errors", "_warnings")).alias("r")).collect()
    except Exception as e:  # a check file DQX refuses, or a query Spark fails
        return None, f"{type(e).__name__}: {str(e).splitlines()[0]}"
    return [json.loads(r["r"]) for r in got], None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--rows", type=int, default=200)
    ap.add_argument("--checks", type=int, default=40)
    ap.add_argument("--show", type=int, default=20)
    ap.add_argument("--bin", default=str(ROOT / "target/release/medallion"))
    ap.add_argument("--json")
    ap.add_argument("--keep", help="write each seed's rows.jsonl and checks.json under this directory")
    args = ap.parse_args()
    lo, _, hi = args.seeds.partition("-")
    seeds = range(int(lo), int(hi or lo) + 1)
    spark = spark_session()
    spark.sparkContext.setLogLevel("ERROR")
    fix_clock()
    total = equal = 0
    shown = 0
    by_function = {}
    fired = {}  # DQX's entries per function: what the comparison covered
    report = []
    for seed in seeds:
        rng = random.Random(seed)
        rows = [{c: rand_value(rng, c) for c in COLUMNS} for _ in range(args.rows)]
        checks = rand_checks(rng, args.checks)
        refs = rand_refs(rng)
        trng = random.Random(seed + 1_000_003)
        for r, t in zip(rows, rand_times(trng, len(rows))):
            r.update(t)
        for r in refs:
            r["f"] = rand_value(trng, "f")
        checks += rand_series_checks(trng, max(1, args.checks // 4))
        with tempfile.TemporaryDirectory() as tmp:
            if args.keep:
                tmp = Path(args.keep, f"seed-{seed}")
                tmp.mkdir(parents=True, exist_ok=True)
            rp, cp = Path(tmp, "rows.jsonl"), Path(tmp, "checks.json")
            rp.write_text("".join(json.dumps(r, default=spark_text) + "\n" for r in rows))
            fp = Path(tmp, "refs.jsonl")
            fp.write_text("".join(json.dumps(r) + "\n" for r in refs))
            cp.write_text(json.dumps(checks, indent=1))
            mine, merr = run_medallion(args.bin, rp, cp, fp)
        theirs, terr = run_dqx(spark, rows, checks, refs)
        if mine is None or theirs is None:
            print(f"seed {seed}: medallion: {merr or 'ok'} | DQX: {terr or 'ok'}")
            report.append({"seed": seed, "medallion_error": merr, "dqx_error": terr})
            total += 2 * args.rows
            continue
        seed_equal = 0
        specs = compare_specs(checks)
        cells = [[(cell(m.get(col)), cell(t.get(col))) for col in ("_errors", "_warnings")]
                 for m, t in zip(mine, theirs)]
        tied = tie_moves(rows, cells, specs)
        for r, (m, t) in enumerate(zip(mine, theirs)):
            for c_i, col in enumerate(("_errors", "_warnings")):
                a, b = cells[r][c_i]
                for k in b:
                    fired[k[3]] = fired.get(k[3], 0) + 1
                a = without_ties(a, tied, rows[r], specs)
                b = without_ties(b, tied, rows[r], specs)
                total += 1
                if a == b:
                    equal += 1
                    seed_equal += 1
                    continue
                for k in set(a) ^ set(b):
                    by_function[k[3]] = by_function.get(k[3], 0) + 1
                if shown < args.show:
                    shown += 1
                    print(f"seed {seed} row {r} {col}: {json.dumps(rows[r], default=spark_text)}")
                    for k in sorted(set(a) - set(b), key=str):
                        print(f"   medallion only: {k}")
                    for k in sorted(set(b) - set(a), key=str):
                        print(f"   DQX only:       {k}")
        print(f"seed {seed}: {seed_equal} of {2 * len(rows)} cells equal")
        report.append({"seed": seed, "cells": 2 * len(rows), "equal": seed_equal})
    print(f"all seeds: {equal} of {total} cells equal ({100.0 * equal / max(total, 1):.1f}%)")
    print("DQX's entries by function: " +
          ", ".join(f"{k}: {v}" for k, v in sorted(fired.items(), key=lambda kv: -kv[1])))
    if by_function:
        print("differing entries by function: " +
              ", ".join(f"{k}: {v}" for k, v in sorted(by_function.items(), key=lambda kv: -kv[1])))
    if args.json:
        Path(args.json).write_text(json.dumps({"seeds": report, "equal": equal, "total": total,
                                               "by_function": by_function, "fired": fired},
                                              indent=1))
    sys.exit(0 if equal == total else 1)


if __name__ == "__main__":
    main()
