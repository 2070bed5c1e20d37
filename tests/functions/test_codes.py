"""The code format: check symbol, forgiving input, display and masking (property-tested)."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from fccodes import codes

symbols = st.sampled_from(codes.ALPHABET)
prefixes = st.text(codes.ALPHABET, min_size=0, max_size=codes.MAX_PREFIX_LENGTH)
lengths = st.integers(codes.MIN_BODY_LENGTH, codes.MAX_BODY_LENGTH)


@st.composite
def keys(draw):
    prefix = draw(prefixes)
    body = draw(st.text(codes.ALPHABET, min_size=draw(lengths), max_size=codes.MAX_BODY_LENGTH))
    head = (prefix + body)[: codes.MAX_KEY_LENGTH - 1]
    return head + codes.check_symbol(head), len(prefix)


@given(keys())
def test_every_made_key_is_valid_and_survives_display_and_sloppy_typing(key_and_prefix):
    key, prefix_length = key_and_prefix
    assert codes.is_valid_key(key)
    shown = codes.display(key, prefix_length)
    assert codes.normalize(shown) == key
    sloppy = shown.lower().replace("-", " _ ").replace("0", "o").replace("1", "l")
    assert codes.normalize(sloppy) == key
    assert codes.normalize(" " + shown.replace("1", "I") + "\t") == key


@settings(max_examples=200)
@given(keys())
def test_every_single_substitution_is_caught(key_and_prefix):
    key, _ = key_and_prefix
    for position, original in enumerate(key):
        for other in codes.ALPHABET:
            if other != original:
                changed = key[:position] + other + key[position + 1 :]
                assert not codes.is_valid_key(changed), (key, position, other)


@settings(max_examples=200)
@given(keys())
def test_every_adjacent_transposition_is_caught_including_the_check_symbol(key_and_prefix):
    key, _ = key_and_prefix
    for position in range(len(key) - 1):
        a, b = key[position], key[position + 1]
        if a != b:
            swapped = key[:position] + b + a + key[position + 2 :]
            assert not codes.is_valid_key(swapped), (key, position)


def test_the_algebra_exhaustively_every_position_and_symbol_pair():
    """The property tests' claim, for every case at once: the checksum changes by a nonzero amount.

    Both errors change sum(alpha^k * s_k) by a single term, because GF(32) addition is
    linear: a substitution at k by (a ^ b) * alpha^k, a transposition at k, k+1 by
    (a ^ b) * alpha^k * (1 + alpha). Evaluated on two-symbol keys at every offset it covers
    every (position, a, b) there is.
    """
    weighted = codes._weighted_sum
    for k in range(codes.MAX_KEY_LENGTH - 1):
        for a, b in itertools.permutations(range(32), 2):
            padding = [0] * k
            substitution = weighted([*padding, a]) ^ weighted([*padding, b])
            transposition = weighted([*padding, a, b]) ^ weighted([*padding, b, a])
            assert substitution != 0
            assert transposition != 0


def test_normalize_rejects_foreign_symbols_bad_lengths_and_bad_checks():
    good = "7K3M-Q9XD-2FHN-W4TX"
    assert codes.normalize(good) == "7K3MQ9XD2FHNW4TX"
    assert codes.normalize("7K3M-Q9XD-2FHN-W4TU") is None  # U is not in the alphabet
    assert codes.normalize("7K3M-Q9XD-2FHN-W4T*") is None
    assert codes.normalize("7K3M.Q9XD.2FHN.W4TX") is None  # only space, - and _ are separators
    assert codes.normalize("7K3M-Q9XD-2FHN-W4TA") is None  # wrong check symbol
    assert codes.normalize("") is None
    short = "ABCDEFGHJ"  # 9 symbols + check: below the minimum of 10 random symbols
    assert codes.normalize(short + codes.check_symbol(short)) is None
    longest = "A" * (codes.MAX_KEY_LENGTH - 1)
    assert codes.normalize(longest + codes.check_symbol(longest)) == longest + codes.check_symbol(
        longest
    )
    too_long = "A" * codes.MAX_KEY_LENGTH
    assert codes.normalize(too_long + codes.check_symbol(too_long)) is None


def test_letters_that_upper_case_onto_the_alphabet_are_still_foreign():
    # "ss".upper() == "SS", but "\u00df".upper() is "SS" too, and "\u0131".upper() is "I" (-> 1):
    # either would let a symbol outside the documented pattern make a valid code.
    body = "7K3MQ9XD2FHNW4"
    for word in ("SS", "I"):
        key = body + word
        assert codes.normalize(key + codes.check_symbol(key.replace("I", "1")))
    assert codes.normalize(body + "\u00df" + codes.check_symbol(body + "SS")) is None
    assert codes.normalize(body + "\u0131" + codes.check_symbol(body + "1")) is None
    assert codes.normalize_prefix("\u00dfA") is None  # would be "SSA"
    assert codes.normalize("7K3M\u00a0Q9XD\u2003 2FHN-W4TX") == "7K3MQ9XD2FHNW4TX"  # any space


def test_make_key_uses_five_bits_per_byte_and_appends_the_check_symbol():
    key = codes.make_key("BETA", lambda n: bytes(bytearray(range(32, 32 + n))), 15)
    assert key[:4] == "BETA"
    assert key[4:19] == codes.ALPHABET[:15]  # byte & 31: 32 -> 0, 33 -> 1 ...
    assert codes.is_valid_key(key)


def test_display_puts_the_prefix_in_its_own_group_then_groups_of_four():
    assert codes.display("7K3MQ9XD2FHNW4TX") == "7K3M-Q9XD-2FHN-W4TX"
    assert codes.display("VIP7K3MQ9XD2FHNW4TX", 3) == "VIP-7K3M-Q9XD-2FHN-W4TX"
    assert codes.display("ABCDEFGHJKM", 0) == "ABCD-EFGH-JKM"


def test_normalize_prefix():
    assert codes.normalize_prefix("beta") == "BETA"
    assert codes.normalize_prefix("v-x_p") == "VXP"
    assert codes.normalize_prefix("VIP") is None  # no I, L, O, U: never silently V1P
    assert codes.normalize_prefix("TOOLONGXY") is None
    assert codes.normalize_prefix("") is None
    assert codes.normalize_prefix("B*") is None


@given(keys())
def test_mask_hides_at_least_half_of_any_code(key_and_prefix):
    key, _ = key_and_prefix
    masked = codes.mask(key)
    visible = masked.replace("-****-****-", "")
    assert len(visible) * 2 <= len(key)
    assert masked.startswith(key[: len(visible) // 2])
    assert masked.endswith(key[len(key) - len(visible) // 2 :])


def test_mask_shape():
    assert codes.mask("7K3M-Q9XD-2FHN-W4TX") == "7K3M-****-****-W4TX"
    assert codes.mask("abc") == "****"
    assert codes.mask(None) == "****"
