"""Tests for sentinelle.ledger.cosignature: C2SP tlog-cosignature cosignature/v1 (Ed25519).

The expected bytes are built here from the spec's text with ``cryptography`` and ``struct``,
not with the module: key ID over ``name || 0x0A || 0x04 || key``, the line's payload
``key ID || u64 big-endian time || signature``, the signed message
``"cosignature/v1\\ntime <t>\\n" || checkpoint body``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from sentinelle.errors import ConfigError, IntegrityError
from sentinelle.ledger import Checkpoint, SigningKey
from sentinelle.ledger.cosignature import CosignatureVerifier, Cosigner

ORIGIN = "example.com/shop-ledger"
NAME = "witness.example/w1"
SEED = bytes(range(32))
CHECKPOINT = Checkpoint(origin=ORIGIN, size=20852163, root=hashlib.sha256(b"r").digest())
EM_DASH = "\u2014"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def spec_key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]


def spec_line(seed: bytes, name: str, body: str, t: int) -> str:
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public = private.public_key().public_bytes_raw()
    signature = private.sign(f"cosignature/v1\ntime {t}\n".encode() + body.encode())
    return f"{EM_DASH} {name} {b64(spec_key_id(name, public) + struct.pack('>Q', t) + signature)}\n"


@pytest.fixture
def cosigner() -> Cosigner:
    return Cosigner(SigningKey(name=NAME, seed=SEED))


def test_a_cosignature_is_the_specs_bytes(cosigner: Cosigner) -> None:
    line = cosigner.cosign(CHECKPOINT.body(), timestamp=1679315147)
    assert line == spec_line(SEED, NAME, CHECKPOINT.body(), 1679315147)  # Ed25519 is deterministic
    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes_raw()
    encoded = b64(b"\x04" + public)
    assert cosigner.verifier_key() == f"{NAME}+{spec_key_id(NAME, public).hex()}+{encoded}"
    # The log's own key ID (0x01) is another one: the same key cannot be mistaken for the other.
    log_id = hashlib.sha256(NAME.encode() + b"\n\x01" + public).digest()[:4]
    assert cosigner.verifier().key_hash != log_id


def test_verify_finds_the_witness_line_among_others(cosigner: Cosigner) -> None:
    log = SigningKey.generate(ORIGIN)
    other = Cosigner.generate("witness.example/w2")
    note = (
        log.sign(CHECKPOINT)
        + other.cosign(CHECKPOINT.body(), timestamp=5)
        + cosigner.cosign(CHECKPOINT.body(), timestamp=7)
    )
    got = cosigner.verifier().verify(note)
    assert (got.checkpoint, got.timestamp) == (CHECKPOINT, 7)
    assert got.line == cosigner.cosign(CHECKPOINT.body(), timestamp=7)
    assert other.verifier().verify(note).timestamp == 5
    # The log's signature still verifies with several signature lines after it.
    assert log.verifier().verify(note) == CHECKPOINT


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda line: line, None),
        # another time, same signature
        (
            lambda line: _payload(line, lambda raw: raw[:4] + struct.pack(">Q", 1) + raw[12:]),
            "does not verify",
        ),
        # a flipped signature bit
        (
            lambda line: _payload(line, lambda raw: raw[:-1] + bytes([raw[-1] ^ 1])),
            "does not verify",
        ),
        # an Ed25519 note signature where a cosignature belongs (no timestamp)
        (lambda line: _payload(line, lambda raw: raw[:4] + raw[12:]), "is not a cosignature/v1"),
        # a time beyond 2^63 - 1
        (
            lambda line: _payload(line, lambda raw: raw[:4] + b"\xff" * 8 + raw[12:]),
            "impossible time",
        ),
        # another key ID: not this witness's line at all
        (lambda line: _payload(line, lambda raw: b"\0\0\0\0" + raw[4:]), "has no cosignature"),
    ],
)
def test_verify_refuses_tampering(cosigner: Cosigner, tamper, message) -> None:
    line = tamper(cosigner.cosign(CHECKPOINT.body(), timestamp=1700000000))
    if message is None:
        assert cosigner.verifier().verify_line(CHECKPOINT, line).timestamp == 1700000000
        return
    with pytest.raises(IntegrityError, match=message):
        cosigner.verifier().verify_line(CHECKPOINT, line)


def test_a_cosignature_is_on_one_checkpoint(cosigner: Cosigner) -> None:
    line = cosigner.cosign(CHECKPOINT.body(), timestamp=9)
    other = Checkpoint(origin=ORIGIN, size=CHECKPOINT.size + 1, root=CHECKPOINT.root)
    with pytest.raises(IntegrityError, match="size 20852164 does not verify"):
        cosigner.verifier().verify_line(other, line)


def _payload(line: str, change) -> str:
    name, encoded = line[2:].split(" ")
    return f"{EM_DASH} {name} {b64(change(base64.b64decode(encoded)))}\n"


@given(
    size=st.integers(0, (1 << 63) - 1),
    root=st.binary(min_size=32, max_size=32),
    t=st.integers(0, (1 << 63) - 1),
    origin=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x2FFF), min_size=1),
)
def test_cosign_verify_round_trip(size: int, root: bytes, t: int, origin: str) -> None:
    cosigner = Cosigner(SigningKey(name=NAME, seed=SEED))
    cp = Checkpoint(origin=origin, size=size, root=root)
    got = cosigner.verifier().verify_line(cp, cosigner.cosign(cp.body(), timestamp=t))
    assert (got.checkpoint, got.timestamp) == (cp, t)
    again = CosignatureVerifier.from_verifier_key(cosigner.verifier_key())
    assert again.verifier_key() == cosigner.verifier_key()


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (SigningKey(name=NAME, seed=SEED).verifier_key(), r"is a log's signing key \(0x01\)"),
        ("nothing", "must be <name>"),
        (f"{NAME}+0000000+AQ==", "8 lowercase hex"),
        (f"{NAME}+00000000+" + b64(b"\x04" + bytes(32)), "does not match"),
        (f"{NAME}+00000000+" + b64(b"\x04" + bytes(31)), "not Ed25519"),
    ],
)
def test_bad_witness_keys_are_refused(key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CosignatureVerifier.from_verifier_key(key)


def test_the_key_file_is_private_and_keeps_its_name(tmp_path) -> None:
    path = tmp_path / "w" / "witness.key"
    with pytest.raises(ConfigError, match="give its name"):
        Cosigner.load_or_create(path)
    assert not path.exists()
    made = Cosigner.load_or_create(path, NAME)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # A standard note signer key (0x01), as transparency-dev's NewSignerForCosignatureV1 reads.
    assert path.read_text().startswith(f"PRIVATE+KEY+{NAME}+")
    assert base64.b64decode(path.read_text().split("+", 4)[4])[0] == 1
    assert Cosigner.load_or_create(path).verifier_key() == made.verifier_key()
    with pytest.raises(ConfigError, match="expected 'other'"):
        Cosigner.load_or_create(path, "other")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="accessible by group or others"):
        Cosigner.load_or_create(path)
    assert "PRIVATE" not in repr(made)
