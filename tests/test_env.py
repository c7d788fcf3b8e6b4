"""The strict environment parsers: every bad value stops start-up with a message naming it."""

from __future__ import annotations

import base64

import pytest
from django.core.exceptions import ImproperlyConfigured

from tokens_admin.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
    parse_encryption_keys,
)

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
OTHER_KEY = base64.urlsafe_b64encode(bytes(range(32, 64))).decode()


def test_it_reads_strings_and_treats_blank_as_unset():
    assert env_str("NAME", "fallback", environ={}) == "fallback"
    assert env_str("NAME", "fallback", environ={"NAME": "   "}) == "fallback"
    assert env_str("NAME", environ={"NAME": "  value  "}) == "value"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("On", True),
        ("TRUE", True),
        ("0", False),
        ("false", False),
        ("off", False),
        (" OFF ", False),
    ],
)
def test_it_reads_booleans(raw, expected):
    assert env_bool("FLAG", default=not expected, environ={"FLAG": raw}) is expected


def test_it_uses_the_boolean_default_when_unset():
    assert env_bool("FLAG", default=True, environ={}) is True
    assert env_bool("FLAG", default=False, environ={"FLAG": ""}) is False


@pytest.mark.parametrize("raw", ["yes", "no", "2", "enabled", "tru", "-1"])
def test_it_refuses_yes_ish_booleans(raw):
    with pytest.raises(ImproperlyConfigured, match=r"^FLAG must be one of 1/0, true/false"):
        env_bool("FLAG", default=False, environ={"FLAG": raw})


def test_it_reads_integers_within_bounds():
    assert env_int("N", 5, environ={}) == 5
    assert env_int("N", 5, minimum=1, maximum=10, environ={"N": "10"}) == 10
    assert env_int("N", 5, minimum=1, environ={"N": " 1 "}) == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("ten", r"^N must be a whole number; got 'ten'$"),
        ("1.5", r"^N must be a whole number"),
        ("0x10", r"^N must be a whole number"),
        ("0", r"^N must be at least 1; got 0$"),
        ("11", r"^N must be at most 10; got 11$"),
    ],
)
def test_it_refuses_bad_integers(raw, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        env_int("N", 5, minimum=1, maximum=10, environ={"N": raw})


def test_it_reads_choices():
    choices = ("json", "text")
    assert env_choice("LOG_FORMAT", "text", choices, environ={}) == "text"
    assert env_choice("LOG_FORMAT", "text", choices, environ={"LOG_FORMAT": "json"}) == "json"


@pytest.mark.parametrize("raw", ["JSON", "xml", "json,text"])
def test_it_refuses_unknown_choices_case_sensitively(raw):
    with pytest.raises(ImproperlyConfigured, match=r"^LOG_FORMAT must be one of json, text"):
        env_choice("LOG_FORMAT", "text", ("json", "text"), environ={"LOG_FORMAT": raw})


def test_it_reads_lists():
    assert env_list("HOSTS", ["a"], environ={}) == ["a"]
    assert env_list("HOSTS", [], environ={"HOSTS": "a.test, b.test"}) == ["a.test", "b.test"]


def test_it_returns_a_copy_of_the_list_default():
    default = ["a"]
    env_list("HOSTS", default, environ={}).append("b")
    assert default == ["a"]


@pytest.mark.parametrize("raw", ["a.test,,b.test", "a.test,", ",a.test"])
def test_it_refuses_lists_with_empty_items(raw):
    with pytest.raises(ImproperlyConfigured, match=r"^HOSTS must be a comma-separated list"):
        env_list("HOSTS", [], environ={"HOSTS": raw})


def test_it_parses_encryption_keys_newest_first():
    keys = parse_encryption_keys("KEYS", f"k2:{OTHER_KEY}, k1:{KEY}")
    assert list(keys) == ["k2", "k1"]
    assert keys["k1"] == bytes(range(32))


def test_it_accepts_keys_without_padding_and_in_either_base64_alphabet():
    raw = bytes([0xFB, 0xEF, 0xFF] * 10 + [0xFF, 0xFE])
    url_safe, standard = base64.urlsafe_b64encode(raw).decode(), base64.b64encode(raw).decode()
    assert "_" in url_safe
    assert "/" in standard
    for encoded in (url_safe.rstrip("="), standard):
        assert parse_encryption_keys("KEYS", f"k1:{encoded}")["k1"] == raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("nocolon", r"^KEYS must be a comma-separated list of KEY_ID:BASE64_KEY entries$"),
        (f":{KEY}", r"^KEYS must be a comma-separated list"),
        ("k1:", r"^KEYS must be a comma-separated list"),
        (f"k-1:{KEY}", r"^KEYS: key id 'k-1' must be 1-16 letters or digits$"),
        (f"{'k' * 17}:{KEY}", r"must be 1-16 letters or digits"),
        (f"k1:{KEY},k1:{OTHER_KEY}", r"^KEYS: key id 'k1' appears twice$"),
        ("k1:not*base64!", r"^KEYS: key 'k1' is not valid base64$"),
        # Four stray characters keep the length a multiple of four: still refused.
        (f"k1:{KEY[:8]}****{KEY[8:]}", r"^KEYS: key 'k1' is not valid base64$"),
        ("k1:c2hvcnQ", r"^KEYS: key 'k1' must decode to 32 bytes, got 5$"),
    ],
)
def test_it_refuses_malformed_encryption_keys(raw, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_encryption_keys("KEYS", raw)
