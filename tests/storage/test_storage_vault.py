"""storage.vault: AES-GCM round trips bound to a purpose, keyed blind indexes, token hashes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.vault import Keys, Vault, VaultError
from tests.conftest import TEST_SECRET

ID = "11010519491231002X"


def test_round_trip(vault: Vault) -> None:
    for value in ("王小明", ID, "13800138000", "", "a" * 10_000):
        blob = vault.encrypt(value, "accounts.name")
        assert vault.decrypt(blob, "accounts.name") == value
        assert value.encode() not in blob or value == ""


@settings(max_examples=200)
@given(st.binary(max_size=512), st.text(min_size=1, max_size=20))
def test_round_trip_bytes_property(data: bytes, purpose: str) -> None:
    vault = Vault(Keys.derive(TEST_SECRET))
    assert vault.decrypt_bytes(vault.encrypt_bytes(data, purpose), purpose) == data


def test_encryption_is_randomised(vault: Vault) -> None:
    """Same plaintext twice → different ciphertexts (a fresh nonce each time)."""
    a, b = vault.encrypt(ID, "accounts.id_number"), vault.encrypt(ID, "accounts.id_number")
    assert a != b
    assert a[1:13] != b[1:13]


def test_wrong_purpose_fails(vault: Vault) -> None:
    blob = vault.encrypt("王小明", "accounts.name")
    with pytest.raises(VaultError):
        vault.decrypt(blob, "accounts.phone")


@pytest.mark.parametrize("position", [0, 1, 12, 13, -1])
def test_tampered_ciphertext_fails(vault: Vault, position: int) -> None:
    blob = bytearray(vault.encrypt(ID, "accounts.id_number"))
    blob[position] ^= 0x01
    with pytest.raises(VaultError):
        vault.decrypt(bytes(blob), "accounts.id_number")


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01" + b"\x00" * 28, b"\x02" + b"\x00" * 40])
def test_truncated_or_unknown_format_fails(vault: Vault, blob: bytes) -> None:
    with pytest.raises(VaultError):
        vault.decrypt_bytes(blob, "quarantine")


def test_other_master_key_cannot_decrypt(vault: Vault) -> None:
    other = Vault(Keys.derive(b"another-master-secret-0123456789-abcdefghij"))
    with pytest.raises(VaultError):
        other.decrypt(vault.encrypt(ID, "accounts.id_number"), "accounts.id_number")


def test_vault_error_never_quotes_data(vault: Vault) -> None:
    blob = bytearray(vault.encrypt(ID, "x"))
    blob[-1] ^= 1
    with pytest.raises(VaultError) as info:
        vault.decrypt(bytes(blob), "x")
    assert ID not in str(info.value)


def test_blind_index_is_stable_and_keyed(vault: Vault, keys: Keys) -> None:
    again = Vault(keys)
    assert vault.identity_index("1", ID) == again.identity_index("1", ID)
    assert len(vault.identity_index("1", ID)) == 32
    other = Vault(Keys.derive(b"another-master-secret-0123456789-abcdefghij"))
    assert other.identity_index("1", ID) != vault.identity_index("1", ID)
    assert other.phone_index("13800138000") != vault.phone_index("13800138000")


def test_blind_index_separates_type_and_kind(vault: Vault) -> None:
    assert vault.identity_index("1", ID) != vault.identity_index("2", ID)
    assert vault.identity_index("1", ID) != vault.identity_index("1", "110105194912310029")
    # the same digits as a phone and as an identity never collide
    assert vault.phone_index("13800138000") != vault.address_index("13800138000")


@pytest.mark.parametrize("spelling", ["11010519491231002x", " 110105 19491231 002X ", "110105-19491231-002X"])
def test_id_normalisation_gives_the_same_index(vault: Vault, spelling: str) -> None:
    assert vault.identity_index("1", spelling) == vault.identity_index("1", ID)
    assert vault.identity_index(" 1 ", ID) == vault.identity_index("1", ID)


@pytest.mark.parametrize(
    "spelling", ["13800138000", "+86 138 0013 8000", "8613800138000", "138-0013-8000", "0086 13800138000"]
)
def test_phone_index_normalises(vault: Vault, spelling: str) -> None:
    assert vault.phone_index(spelling) == vault.phone_index("13800138000")


def test_phone_index_of_junk_is_stable_but_distinct(vault: Vault) -> None:
    assert vault.phone_index("not a phone") == vault.phone_index("not a phone")
    assert vault.phone_index("not a phone") != vault.phone_index("13800138000")


def test_token_hash_is_keyed(vault: Vault, keys: Keys) -> None:
    assert vault.token_hash("tok") == Vault(keys).token_hash("tok")
    assert vault.token_hash("tok") != vault.token_hash("tok2")
    other = Vault(Keys.derive(b"another-master-secret-0123456789-abcdefghij"))
    assert other.token_hash("tok") != vault.token_hash("tok")


def test_derived_keys_are_separate(keys: Keys) -> None:
    values = {keys.encryption, keys.blind_index, keys.link_token, keys.api_signing}
    assert len(values) == 4
    assert TEST_SECRET not in values
