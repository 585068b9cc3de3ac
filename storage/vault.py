"""The PII vault: AES-GCM encryption at rest and keyed HMAC blind indexes.

One master secret; separate keys are derived from it (HKDF) for encryption, the blind index and
link tokens, so that a leak of one use does not compromise another. Ciphertexts are bound to
their purpose ("accounts.name", "quarantine", ...) through the AEAD associated data, so a value
copied into another column does not decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.domain.identity import InvalidPhone, normalize_id_number, normalize_phone

_FORMAT_V1 = b"\x01"
_NONCE = 12


class VaultError(Exception):
    """A ciphertext that does not decrypt under this key and purpose."""


def _derive(master: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"swbot/v1", info=label).derive(master)


@dataclass(frozen=True)
class Keys:
    encryption: bytes
    blind_index: bytes
    link_token: bytes
    api_signing: bytes

    @classmethod
    def derive(cls, master: bytes) -> Keys:
        return cls(
            encryption=_derive(master, b"encryption"),
            blind_index=_derive(master, b"blind-index"),
            link_token=_derive(master, b"link-token"),
            api_signing=_derive(master, b"api-signing"),
        )


class Vault:
    def __init__(self, keys: Keys) -> None:
        self._aead = AESGCM(keys.encryption)
        self._bidx = keys.blind_index
        self._link = keys.link_token

    # -- encryption ------------------------------------------------------------------------------

    def encrypt_bytes(self, data: bytes, purpose: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return _FORMAT_V1 + nonce + self._aead.encrypt(nonce, data, purpose.encode())

    def decrypt_bytes(self, blob: bytes, purpose: str) -> bytes:
        if len(blob) < 1 + _NONCE + 16 or blob[:1] != _FORMAT_V1:
            raise VaultError("unknown ciphertext format")
        try:
            return self._aead.decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], purpose.encode())
        except InvalidTag:
            raise VaultError("ciphertext does not decrypt") from None

    def encrypt(self, value: str, purpose: str) -> bytes:
        return self.encrypt_bytes(value.encode(), purpose)

    def decrypt(self, blob: bytes, purpose: str) -> str:
        return self.decrypt_bytes(blob, purpose).decode()

    # -- blind indexes ---------------------------------------------------------------------------

    def _index(self, kind: str, value: str) -> bytes:
        return hmac.new(self._bidx, f"{kind}\x00{value}".encode(), hashlib.sha256).digest()

    def identity_index(self, id_type: str, id_number: str) -> bytes:
        """Equality key of a person: ID type + normalized ID number (records link through it)."""
        return self._index("identity", f"{id_type.strip()}:{normalize_id_number(id_number)}")

    def phone_index(self, phone: str) -> bytes:
        try:
            value = normalize_phone(phone)
        except InvalidPhone:
            # Still a stable key (it just never equals a valid account phone's key).
            value = "raw:" + "".join(phone.split())
        return self._index("phone", value)

    def address_index(self, address: str) -> bytes:
        return self._index("address", " ".join(address.split()))

    # -- link tokens -----------------------------------------------------------------------------

    def token_hash(self, token: str) -> bytes:
        return hmac.new(self._link, token.encode(), hashlib.sha256).digest()
