#!/usr/bin/env python3
"""Writes assets/codes/*.txt: the ISO code lists of the DQX code checks (is_valid_country_code,
is_valid_currency_code, is_valid_subdivision_code, is_valid_language_code), one code a line,
sorted. Source: pycountry (which packages Debian's iso-codes data). DQX 0.17 reconciles its lists
with the registration authorities; they equal pycountry 26.2.16's except ISO 639-3 (SIL's
registry), where DQX has seven codes pycountry lacks and lacks three it has (below), taken over
here so that both engines agree.

    python3 -m pip install pycountry && python3 scripts/gen-iso-codes.py
"""
import os
import sys

import pycountry

# ISO 639-3 codes where pycountry 26.2.16 and DQX 0.17 (reconciled with
# https://iso639-3.sil.org/) differ: new codes pycountry lacks, retired ones it still has.
ISO_639_3_ADDED = {"dyl", "lfb", "olb", "osd", "scz", "tvg", "zhk"}
ISO_639_3_RETIRED = {"mrd", "shl", "yol"}

LISTS = {
    "iso_3166_1_alpha_2": {c.alpha_2 for c in pycountry.countries},
    "iso_3166_1_alpha_3": {c.alpha_3 for c in pycountry.countries},
    "iso_3166_1_numeric": {c.numeric for c in pycountry.countries},
    "iso_3166_2": {s.code for s in pycountry.subdivisions},
    "iso_4217_alphabetic": {c.alpha_3 for c in pycountry.currencies},
    "iso_4217_numeric": {c.numeric for c in pycountry.currencies},
    "iso_639_1_alpha_2": {l.alpha_2 for l in pycountry.languages if hasattr(l, "alpha_2")},
    "iso_639_3_alpha_3": ({l.alpha_3 for l in pycountry.languages} | ISO_639_3_ADDED)
    - ISO_639_3_RETIRED,
}


def main() -> int:
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "codes")
    os.makedirs(out, exist_ok=True)
    for name, codes in LISTS.items():
        with open(os.path.join(out, f"{name}.txt"), "w", encoding="utf-8") as f:
            f.write("".join(f"{c}\n" for c in sorted(codes)))
        print(f"{name}: {len(codes)} codes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
