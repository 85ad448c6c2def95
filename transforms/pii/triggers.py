"""What every match of a screened entity type must contain: the triggers of the PII screen
(screen.py, which says why the results cannot differ), and the digit chains phone numbers
and the digit triggers lie in. Beam-free."""

from __future__ import annotations

import re
from types import MappingProxyType

from transforms.pii.once import built_once


def phone_punctuation() -> str:
    from phonenumbers import phonenumberutil

    return phonenumberutil._VALID_PUNCTUATION


def phone_min_digits() -> int:
    """Fewest digits a phone number presidio or our recognizer finds can have.

    libphonenumber accepts a number as valid only if its national significant number has one
    of the lengths in the region's metadata; presidio's PhoneRecognizer matches with its
    default regions, and an international number adds its country code's digits.
    """
    import phonenumbers
    from phonenumbers import PhoneMetadata
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    def shortest(md):
        lengths = [n for n in md.general_desc.possible_length if n > 0]
        return min(lengths) if lengths else 1

    national = min(
        shortest(PhoneMetadata.metadata_for_region(r))
        for r in PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS
    )
    metadata = [PhoneMetadata.metadata_for_region(r) for r in phonenumbers.SUPPORTED_REGIONS]
    metadata += [
        PhoneMetadata.metadata_for_nongeo_region(c)
        for c in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
    ]
    international = min(len(str(md.country_code)) + shortest(md) for md in metadata)
    # Our ContextPhoneRecognizer needs 7 digits before any extension.
    return min(national, international, 7)


# Regular-expression triggers, any one of which occurs in every match of the type;
# PHONE_NUMBER is checked by `_phone_possible` instead. Each starts with a plain character
# or class so that Python's regex engine can skip ahead quickly.
TRIGGERS = MappingProxyType(
    {
        "EMAIL_ADDRESS": (r"@",),
        # IPv4: d.d{1,3}.d; IPv6: "::" or at least six "hex:" groups (the full 8-group form and
        # the IPv4-embedded form); letters and digits stand in for hex (IGNORECASE folding).
        "IP_ADDRESS": (r"::", r"\d\.\d{1,3}\.\d", r":(?<=[^\W_]:)(?:[^\W_]{1,4}:){5}"),
        # Two letters, then two digits (presidio matches [A-Z] ignoring case).
        "IBAN_CODE": (r"\d(?<=[^\W\d_]{2}\d)\d",),
        "US_SSN": (r"\d{3}[- .]?\d{2}",),
        "CREDIT_CARD": (r"\d(?:[ -]?\d){11}",),
    }
)
SCREENED = (*TRIGGERS, "PHONE_NUMBER")
# The triggers whose every match is a digit chain (`digit_components`): digits, each pair of
# neighbours split by at most 4 of libphonenumber's punctuation characters (".", " ", "-" are
# among them), so each match lies inside one component, and the screen looks for them only
# there (one scan of the text for all of them and the phone chains, not one per type and line).
DIGIT_TRIGGERS = frozenset(
    {r"\d\.\d{1,3}\.\d", r"\d(?<=[^\W\d_]{2}\d)\d", r"\d{3}[- .]?\d{2}", r"\d(?:[ -]?\d){11}"}
)


# `phone_min_digits()` as computed with (phonenumbers version, PhoneRecognizer's regions):
# computing it loads the metadata of every region (~70 ms per worker). With another version
# or other regions it is computed. tests/transforms/pii checks the shipped value.
SHIPPED_MIN_DIGITS = (("9.0.43", ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR"), 4),)


@built_once
def phone_min_digits_cached() -> int:
    import phonenumbers
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    key = (phonenumbers.__version__, tuple(PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS))
    for version, regions, digits in SHIPPED_MIN_DIGITS:
        if (version, regions) == key:
            return digits
    return phone_min_digits()


@built_once
def phone_chain():
    """Digit chains: digits split by at most 4 of libphonenumber's punctuation characters
    (its candidate pattern), at least `phone_min_digits()` digits long."""
    punct = re.escape(phone_punctuation())
    k = phone_min_digits_cached()
    return re.compile(rf"\d(?:[{punct}]{{0,4}}\d){{{k - 1},}}"), k


@built_once
def digit_components():
    """Maximal digit chains of 2+ digits: digits split by at most 4 of libphonenumber's
    punctuation characters. The pattern's repetition can only end where the chain does (no
    punctuation character is a digit), so each match is a whole chain; those with at least
    `phone_min_digits()` digits are exactly the matches of `phone_chain`."""
    punct = re.escape(phone_punctuation())
    return re.compile(rf"\d(?:[{punct}]{{0,4}}\d)+")
