"""The token value format (SPEC section 3): property tests over the pure functions."""

from __future__ import annotations

import base64
import os
import re
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apitokens import secrets as s

FORMAT = re.compile(r"^idt:TKN-\d{4}-\d{4}:[A-Za-z0-9]{64}$")
token_ids = st.builds(
    lambda a, b: f"TKN-{a:04d}-{b:04d}", st.integers(0, 9999), st.integers(0, 9999)
)


def fresh_keys(*kids: str) -> dict[str, bytes]:
    return {kid: os.urandom(32) for kid in kids}


@given(token_ids)
def test_it_generates_values_in_the_platform_format_with_a_valid_checksum(token_id):
    value = s.generate_value(token_id)
    assert FORMAT.match(value)
    assert value.split(":")[1] == token_id
    parsed = s.parse_value(value)
    assert parsed is not None
    assert parsed.token_id == token_id


def test_it_draws_at_least_320_random_bits():
    import math

    assert s.RANDOM_LENGTH * math.log2(62) >= 320
    values = {s.generate_value("TKN-0000-0000") for _ in range(200)}
    assert len(values) == 200


@settings(max_examples=300)
@given(token_ids, st.data())
def test_it_refuses_every_single_character_change(token_id, data):
    value = s.generate_value(token_id)
    position = data.draw(st.integers(0, len(value) - 1))
    replacement = data.draw(st.characters(codec="ascii").filter(lambda c: c != value[position]))
    changed = value[:position] + replacement + value[position + 1 :]
    assert s.parse_value(changed) is None


def test_it_refuses_every_single_character_change_exhaustively_for_one_value():
    value = s.generate_value("TKN-1234-5678")
    alphabet = s.BASE62 + ":-_ "
    for position in range(len(value)):
        for replacement in alphabet:
            if replacement == value[position]:
                continue
            changed = value[:position] + replacement + value[position + 1 :]
            assert s.parse_value(changed) is None, (position, replacement)


@given(st.one_of(st.text(), st.binary(), st.integers(), st.none(), st.lists(st.text())))
def test_parsing_never_raises_on_arbitrary_input(raw):
    assert s.parse_value(raw) is None


@given(st.text(alphabet=s.BASE62, min_size=64, max_size=64), token_ids)
def test_it_refuses_well_shaped_values_whose_checksum_is_wrong(body, token_id):
    candidate = f"idt:{token_id}:{body}"
    expected = s.checksum(candidate[:-6]) == candidate[-6:]
    assert (s.parse_value(candidate) is not None) is expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "idt:TKN-1234-5678:",
        "IDT:TKN-1234-5678:" + "a" * 64,
        "idt:TKN-123-5678:" + "a" * 65,
        "idt:TKN-1234-5678:" + "a" * 63,
        " idt:TKN-1234-5678:" + "a" * 63,
        "idt:ACC-1234-5678:" + "a" * 64,
        "idt:TKN-1234-5678:" + "é" * 64,
        "idt:TKN-١٢٣٤-5678:" + "a" * 64,  # Arabic-Indic digits are \d in Python
    ],
)
def test_it_refuses_malformed_values(raw):
    assert s.parse_value(raw) is None


def test_digest_is_keyed_with_the_pepper_and_verifies_in_constant_time():
    value = s.generate_value("TKN-1111-2222")
    pepper = os.urandom(32)
    stored = s.digest(value, pepper)
    assert len(stored) == 64
    assert s.verify(value, stored, pepper)
    assert not s.verify(value, stored, os.urandom(32))
    assert not s.verify(s.generate_value("TKN-1111-2222"), stored, pepper)


def test_it_encrypts_with_the_newest_key_and_decrypts_with_any():
    value = s.generate_value("TKN-1111-2222")
    old = fresh_keys("k1")
    sealed_old = s.encrypt(value, old, aad="TKN-1111-2222")
    rotated = {**fresh_keys("k2"), **old}
    sealed_new = s.encrypt(value, rotated, aad="TKN-1111-2222")
    assert s.key_id_of(sealed_old) == "k1"
    assert s.key_id_of(sealed_new) == "k2"
    assert value not in sealed_new
    assert s.decrypt(sealed_old, rotated, aad="TKN-1111-2222") == value
    assert s.decrypt(sealed_new, rotated, aad="TKN-1111-2222") == value
    # Same value, fresh nonce: ciphertexts never repeat.
    assert s.encrypt(value, rotated, aad="TKN-1111-2222") != sealed_new


def test_it_binds_the_ciphertext_to_its_token_id():
    keys = fresh_keys("k1")
    sealed = s.encrypt(s.generate_value("TKN-1111-2222"), keys, aad="TKN-1111-2222")
    with pytest.raises(s.SecretError):
        s.decrypt(sealed, keys, aad="TKN-9999-9999")


@pytest.mark.parametrize("mangle", ["unknown-key", "bad-base64", "flipped-bit", "no-colon"])
def test_it_refuses_damaged_ciphertexts(mangle):
    keys = fresh_keys("k1")
    sealed = s.encrypt(s.generate_value("TKN-1111-2222"), keys, aad="TKN-1111-2222")
    kid, _, body = sealed.partition(":")
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 1
    damaged = {
        "unknown-key": "k9:" + body,
        "bad-base64": kid + ":***",
        "flipped-bit": kid + ":" + base64.b64encode(bytes(raw)).decode(),
        "no-colon": body,
    }[mangle]
    with pytest.raises(s.SecretError):
        s.decrypt(damaged, keys, aad="TKN-1111-2222")


def test_the_mask_is_the_id_and_a_fixed_run_of_stars_whatever_the_secret():
    assert s.mask("TKN-1111-2222") == "idt:TKN-1111-2222:" + "*" * 16
    masked = s.mask("TKN-1111-2222")
    assert s.parse_value(masked) is None  # never mistaken for a value
    assert s.find_values(masked) == []


def test_the_mask_refuses_anything_but_a_token_id():
    with pytest.raises(ValueError, match="TKN-NNNN-NNNN"):
        s.mask(s.generate_value("TKN-1111-2222"))


def test_it_finds_values_in_text_and_ignores_near_misses():
    good = s.generate_value("TKN-1111-2222")
    bad = good[:-1] + ("A" if good[-1] != "A" else "B")
    text = f"x={good}\nbroken={bad}\nglued=a{good}\n"
    assert s.find_values(text) == [good]


def test_a_checksum_that_only_matches_modulo_two_to_the_32_is_refused():
    value = s.generate_value("TKN-1234-5678")
    crc = zlib.crc32(value[:-6].encode("ascii"))
    wrapped = s.base62(crc + 2**32, 6)  # 62**6 > 2**33: still six characters
    assert len(wrapped) == 6
    assert s.parse_value(value[:-6] + wrapped) is None
    assert s.parse_value(value) == s.ParsedValue("TKN-1234-5678", value)
