"""The code format: Crockford base32 symbols, a check symbol, forgiving input, display, masking.

A code is `prefix + body + check`: an optional prefix of 1..8 symbols chosen per batch, a random
body of `CODE_LENGTH` symbols (5 bits each, from `secrets`) and one check symbol. The stored key
is that string without separators; people see it in groups of 4 with the prefix as its own group
(`BETA-7K3M-Q9XD-2FHN-W4TC`).

The check symbol treats symbols as elements of GF(32) (polynomial x^5 + x^2 + 1, alpha = x,
primitive, so alpha^0..alpha^30 are distinct) and is chosen so that sum(alpha^k * s_k) = 0 over
all positions k. A single substitution a -> b at position k changes the sum by
(a - b) * alpha^k != 0; swapping neighbours a, b at positions k, k+1 changes it by
(a - b) * alpha^k * (1 + alpha) != 0 (alpha != 1). Both are therefore always detected, including
when the check symbol itself is involved. Keys are at most 31 symbols long, within alpha's order.
"""

import re

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}

MIN_BODY_LENGTH = 10  # 50 random bits: the least the contract allows
MAX_PREFIX_LENGTH = 8
MAX_KEY_LENGTH = 31  # the order of alpha: every position gets a distinct weight
MAX_BODY_LENGTH = MAX_KEY_LENGTH - MAX_PREFIX_LENGTH - 1
MIN_KEY_LENGTH = MIN_BODY_LENGTH + 1
GROUP = 4
# Imported and migrated codes keep the text they were issued with (any 1-64 printable ASCII
# characters, case-sensitive, no check symbol). Their stored key is that text after LITERAL, a
# character no generated key contains, so the two kinds can never collide.
LITERAL = "="
MAX_LITERAL_LENGTH = 64
_PRINTABLE_ASCII = re.compile(r"^[ -~]*$")

# Forgiving input: case-insensitive, separators ignored, look-alike letters mapped to digits.
_SEPARATORS = re.compile(r"[\s_-]+")
_LOOKALIKES = {ord("O"): "0", ord("I"): "1", ord("L"): "1"}
_PREFIX_RE = re.compile(r"^[%s]{1,%d}$" % (ALPHABET, MAX_PREFIX_LENGTH))
# Letters are upper-cased only when they are ASCII: str.upper() maps some others onto the
# alphabet ("ß" -> "SS", "ı" -> "I"), which would make foreign symbols a valid code.
_ASCII_ALNUM = re.compile(r"^[0-9A-Za-z]*$")

# GF(32) arithmetic by exponent and logarithm tables.
_POLY = 0b100101  # x^5 + x^2 + 1
_EXP = [0] * 62
_LOG = [0] * 32
_x = 1
for _i in range(31):
    _EXP[_i] = _EXP[_i + 31] = _x
    _LOG[_x] = _i
    _x <<= 1
    if _x & 0b100000:
        _x ^= _POLY
del _x, _i


# alpha^k * v for every position k and symbol value v: one lookup and one XOR per symbol
# (a generate call computes 10,000 check symbols).
_TERMS = [[_EXP[_LOG[v] + k] if v else 0 for v in range(32)] for k in range(MAX_KEY_LENGTH)]
# byte -> the symbol of its low 5 bits, for bytes.translate.
_SYMBOL_OF_BYTE = bytes(bytearray(ord(ALPHABET[b & 31]) for b in range(256)))


def _weighted_sum(values):
    """sum(alpha^k * v_k) in GF(32) (addition is XOR); at most MAX_KEY_LENGTH values."""
    total = 0
    for terms, value in zip(_TERMS, values):
        total ^= terms[value]
    return total


def check_symbol(head):
    """The check symbol that makes `head + check` a valid key (`head` is prefix + body)."""
    last = len(head)  # the position of the check symbol
    total = _weighted_sum(map(VALUE.__getitem__, head))
    if not total:
        return ALPHABET[0]
    # c * alpha^last = total  =>  c = total * alpha^(31 - last)
    return ALPHABET[_EXP[_LOG[total] + (31 - last) % 31]]


def is_valid_key(key):
    """True when `key` (normalized) has a valid length, alphabet and check symbol."""
    if not MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH:
        return False
    try:
        return _weighted_sum(map(VALUE.__getitem__, key)) == 0
    except KeyError:
        return False


def normalize(text):
    """The stored key for what a person typed, or None if it cannot be a code.

    Case-insensitive; spaces, `-` and `_` are ignored; O -> 0 and I, L -> 1. The result must
    consist of alphabet symbols, have a possible length and a correct check symbol.
    """
    stripped = _SEPARATORS.sub("", text)
    if not _ASCII_ALNUM.match(stripped):
        return None
    key = stripped.upper().translate(_LOOKALIKES)
    return key if is_valid_key(key) else None


def literal_key(text):
    """The stored key of a code kept exactly as written, or None if `text` cannot be one
    (empty, over MAX_LITERAL_LENGTH characters, or with a character that is not printable
    ASCII). ASCII only: other scripts have several encodings of the same visible text (é is one
    code point or two), so "exactly as written" would depend on the keyboard."""
    if not 1 <= len(text) <= MAX_LITERAL_LENGTH or not _PRINTABLE_ASCII.match(text):
        return None
    return LITERAL + text


def is_literal(key):
    """True for the stored key of an imported or migrated code (see `literal_key`)."""
    return key.startswith(LITERAL)


def normalize_prefix(text):
    """A batch prefix in stored form, or None if invalid.

    Case-insensitive and separators are ignored, but unlike codes typed by people, I, L, O and
    U are refused rather than mapped: an admin asking for `VIP` should not silently get `V1P`.
    """
    stripped = _SEPARATORS.sub("", text)
    if not _ASCII_ALNUM.match(stripped):
        return None
    prefix = stripped.upper()
    return prefix if _PREFIX_RE.match(prefix) else None


def make_key(prefix, random_bytes, body_length):
    """A new key: prefix + `body_length` random symbols + check symbol.

    `random_bytes(n)` returns n random bytes (`secrets.token_bytes` in production); each byte
    gives one symbol through its low 5 bits, which is unbiased because 256 is a multiple of 32.
    """
    body = bytes(random_bytes(body_length)).translate(_SYMBOL_OF_BYTE).decode("ascii")
    head = prefix + body
    return head + check_symbol(head)


def display(key, prefix_length=0):
    """`key` for people: the prefix as its own group, then groups of 4 (`BETA-XXXX-...`); an
    imported code exactly as it was written."""
    if key.startswith(LITERAL):
        return key[len(LITERAL) :]
    groups = [key[:prefix_length]] if prefix_length else []
    rest = key[prefix_length:]
    groups.extend(rest[i : i + GROUP] for i in range(0, len(rest), GROUP))
    return "-".join(groups)


def mask(text):
    """A code as logs may show it: at most a quarter of it at each end (`ABCD-****-****-WXYZ`).

    At least half of the symbols stay hidden whatever the length, so a log reader can tell codes
    apart but cannot reconstruct one.
    """
    key = _SEPARATORS.sub("", text or "").upper()
    shown = min(GROUP, len(key) // 4)
    if not shown:
        return "****"
    return "%s-****-****-%s" % (key[:shown], key[-shown:])
