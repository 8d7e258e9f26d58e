"""Salesforce record ids: 3-character key prefix, 12 characters of base62, and the case-safe suffix.

The 15-character id is case-sensitive; the 3-character suffix encodes which of its characters are
upper case, so the 18-character form survives case-insensitive systems (Excel, NetSuite fields).
"""

from __future__ import annotations

import re
import string

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX_ALPHABET = string.ascii_uppercase + "012345"
_POD = "5Hs"  # instance/pod characters, constant for the sandbox org
_ID_SHAPE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-5]{3})?$")


def case_safe_suffix(id15: str) -> str:
    """The three characters that make a 15-character id case-insensitive."""
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]) if char.isupper())
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def make_id(key_prefix: str, sequence: int) -> str:
    """The 18-character id of the ``sequence``-th record with this key prefix."""
    digits = ""
    value = sequence
    while value:
        value, remainder = divmod(value, 62)
        digits = _BASE62[remainder] + digits
    body = digits.rjust(9, "0")
    if len(body) > 9:
        raise OverflowError("id space exhausted")
    id15 = f"{key_prefix}{_POD}{body}"
    return id15 + case_safe_suffix(id15)


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None if ``value`` is not id-shaped.

    An 18-character id whose suffix does not match its first 15 characters is not an id either.
    """
    if not isinstance(value, str) or not _ID_SHAPE.match(value):
        return None
    if len(value) == 18:
        # Salesforce accepts an 18-character id typed in any case: restore the case from the suffix.
        return _restore_case(value)
    return value + case_safe_suffix(value)


def _restore_case(id18: str) -> str | None:
    chars = list(id18[:15])
    for chunk in range(3):
        bits = _SUFFIX_ALPHABET.find(id18[15 + chunk].upper())
        if bits < 0:
            return None
        for i in range(5):
            index = chunk * 5 + i
            upper = bool(bits & (1 << i))
            if upper and not chars[index].isalpha():
                return None
            chars[index] = chars[index].upper() if upper else chars[index].lower()
    id15 = "".join(chars)
    return id15 + case_safe_suffix(id15)
