"""Which 4- and 5-digit strings libphonenumber accepts as a valid phone number.

Beam-free. presidio's PhoneRecognizer asks libphonenumber for valid numbers in eight regions;
in Germany a few 4- and 5-digit numbers are valid (164x, 0164x, 30xxx, ...), so a bare year
could in principle be one. The screen (screen.py) needs to know exactly which short digit
strings can be phone numbers so that years and prices do not send a line to presidio. The
list is computed from libphonenumber's metadata (about 30 s) and shipped in
`short_phone_numbers.txt`, stamped with the phonenumbers version it came from; with another
version installed the screen treats every 4-5 digit string as a possible phone number
(always correct, only slower). `tests/transforms/pii` recomputes the list.
"""

from __future__ import annotations

import os

from transforms.pii.once import built_once

DATA_FILE = os.path.join(os.path.dirname(__file__), "short_phone_numbers.txt")
SHORT_LENGTHS = (4, 5)


def compute_short_valid_numbers(regions=None) -> set[str]:
    """Every 4- and 5-digit string that parses as a valid number in one of `regions`
    (default: presidio PhoneRecognizer's regions)."""
    from phonenumbers import NumberParseException, is_valid_number, parse
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    regions = regions or PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS
    valid = set()
    for n in SHORT_LENGTHS:
        for x in range(10**n):
            s = str(x).zfill(n)
            for region in regions:
                try:
                    if is_valid_number(parse(s, region)):
                        valid.add(s)
                        break
                except NumberParseException:
                    pass
    return valid


@built_once
def short_valid_numbers() -> frozenset[str] | None:
    """The shipped list, or None when it is missing or made with another phonenumbers."""
    import phonenumbers

    if not os.path.exists(DATA_FILE):
        return None
    with open(DATA_FILE, encoding="utf-8") as f:
        header = f.readline().split()
        if header[-1:] != [phonenumbers.__version__]:
            return None
        return frozenset(line.strip() for line in f if line.strip())
