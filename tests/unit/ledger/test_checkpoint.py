"""Tests for sentinelle.ledger.checkpoint: C2SP tlog-checkpoint and signed-note, Ed25519."""

from __future__ import annotations

import base64
import hashlib
import os
import pickle
import re
import stat
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sentinelle import ledger
from sentinelle.errors import ConfigError, Error, IntegrityError
from sentinelle.ledger import Checkpoint, SigningKey, Verifier, parse_note

ROOT = hashlib.sha256(b"root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()
ORIGIN = "example.com/shop-ledger"
EM_DASH = "\u2014"
URLSAFE = base64.urlsafe_b64encode(b"\xfb" * 32).decode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ZERO_ID = b64(b"\x00" * 4 + bytes(64))


def key_file_text(name: str, seed: bytes) -> str:
    """A Go note.GenerateKey private key, built here independently of the module."""
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    encoded = b64(b"\x01" + seed)
    return f"PRIVATE+KEY+{name}+{key_id.hex()}+{encoded}\n"


def write_key(path, text: str, mode: int = 0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


# --- Checkpoint body ------------------------------------------------------------------------


def test_body_is_exact():
    cp = Checkpoint(origin=ORIGIN, size=1024, root=ROOT)
    assert cp.body() == f"{ORIGIN}\n1024\n{ROOT_B64}\n"
    assert Checkpoint(origin="o", size=0, root=ROOT).body() == f"o\n0\n{ROOT_B64}\n"
    assert Checkpoint.from_body(cp.body()) == cp


def test_from_body_keeps_extension_lines():
    text = f"{ORIGIN}\n7\n{ROOT_B64}\nextension one\nextension two\n"
    cp = Checkpoint.from_body(text)
    assert (cp.origin, cp.size, cp.root) == (ORIGIN, 7, ROOT)
    assert cp.extensions == ("extension one", "extension two")
    assert cp.body() == text  # written back byte for byte: a cosignature on it verifies


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        f"{ORIGIN}\n7\n",  # no root line
        f"{ORIGIN}\n{ROOT_B64}\n",
        f"{ORIGIN}\n7\n{ROOT_B64}",  # no final newline
        f"{ORIGIN}\n7\n{ROOT_B64}\n\n",  # empty extra line
        f"{ORIGIN}\n7\n{ROOT_B64}\n\nx\n",
        f"\n7\n{ROOT_B64}\n",  # empty origin
        f"{ORIGIN}\n\n{ROOT_B64}\n",
        f"{ORIGIN}\n07\n{ROOT_B64}\n",  # non-canonical sizes
        f"{ORIGIN}\n00\n{ROOT_B64}\n",
        f"{ORIGIN}\n-1\n{ROOT_B64}\n",
        f"{ORIGIN}\n+7\n{ROOT_B64}\n",
        f"{ORIGIN}\n 7\n{ROOT_B64}\n",
        f"{ORIGIN}\n7 \n{ROOT_B64}\n",
        f"{ORIGIN}\n1_000\n{ROOT_B64}\n",
        f"{ORIGIN}\n\uff17\n{ROOT_B64}\n",  # FULLWIDTH DIGIT SEVEN
        f"{ORIGIN}\n0x7\n{ROOT_B64}\n",
        f"{ORIGIN}\n{2**63}\n{ROOT_B64}\n",  # beyond int64
        f"{ORIGIN}\n7\n{ROOT_B64.rstrip('=')}\n",  # padding missing
        f"{ORIGIN}\n7\n{ROOT_B64[:-2]}B=\n",  # stray bits in the last character
        f"{ORIGIN}\n7\n{URLSAFE}\n",  # base64url
        f"{ORIGIN}\n7\n{b64(ROOT[:31])}\n",  # 31-byte root
        f"{ORIGIN}\n7\n{b64(ROOT + b'x')}\n",
        f"{ORIGIN}\n7\n{ROOT_B64} \n",
        f"{ORIGIN}\r\n7\n{ROOT_B64}\n",  # control characters
        f"{ORIGIN}\t\n7\n{ROOT_B64}\n",
        f"{ORIGIN}\n7\n{ROOT_B64}\next\x00\n",
    ],
)
def test_from_body_is_strict(text):
    with pytest.raises(IntegrityError):
        Checkpoint.from_body(text)


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [
        ("", 1, ROOT),
        ("a\nb", 1, ROOT),
        ("a\tb", 1, ROOT),
        ("\ud800", 1, ROOT),  # lone surrogate: not UTF-8
        (ORIGIN, -1, ROOT),
        (ORIGIN, 2**63, ROOT),
        (ORIGIN, True, ROOT),
        (ORIGIN, 1, ROOT[:31]),
    ],
)
def test_checkpoint_refuses_bad_fields(origin, size, root):
    with pytest.raises(IntegrityError):
        Checkpoint(origin=origin, size=size, root=root)


# --- Keys -------------------------------------------------------------------------------------


def test_key_hash_and_verifier_key_format():
    key = SigningKey.generate(ORIGIN)
    vkey = key.verifier_key()
    m = re.fullmatch(r"([^+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)", vkey)
    assert m is not None
    assert m.group(1) == ORIGIN
    raw = base64.b64decode(m.group(3))
    assert len(raw) == 33 and raw[0] == 1
    expected = hashlib.sha256(ORIGIN.encode() + b"\n" + b"\x01" + raw[1:]).digest()[:4]
    assert key.key_hash == expected
    assert m.group(2) == expected.hex()
    assert key.name == ORIGIN
    verifier = Verifier.from_verifier_key(vkey)
    assert verifier.verifier_key() == vkey
    assert verifier.name == ORIGIN and verifier.key_hash == key.key_hash
    assert Verifier.from_verifier_key(vkey + "\n").verifier_key() == vkey


def test_go_known_answer(tmp_path):
    """Keys and a note from the documentation of golang.org/x/mod/sumdb/note."""
    skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    text = (
        "If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n"
    )
    sig = (
        "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
        "qdngotpRZb6KE6RyyBwJnAM="
    )
    key = SigningKey.load_or_create(write_key(tmp_path / "go.key", skey + "\n"), "PeterNeumann")
    assert key.verifier_key() == vkey
    assert key.key_hash == bytes.fromhex("c74f20a3")

    body, signatures = parse_note(f"{text}\n{EM_DASH} PeterNeumann {sig}\n")
    assert body == text
    assert signatures == [("PeterNeumann", base64.b64decode(sig))]
    raw = signatures[0][1]
    assert raw[:4] == key.key_hash
    public = base64.b64decode(vkey.split("+", 2)[2])[1:]
    Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], text.encode())


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "name",
        "name+c74f20a3",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # uppercase hex
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key ID
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW+x",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # bad base64
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX",  # non-canonical
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # other algorithm
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # length
    ],
)
def test_verifier_key_parsing_is_strict(vkey):
    with pytest.raises(ConfigError):
        Verifier.from_verifier_key(vkey)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\nb", "a\u00a0b", "a\x00b"])
def test_invalid_key_names(name):
    with pytest.raises(ConfigError):
        SigningKey.generate(name)


def test_private_key_never_shown(tmp_path):
    path = tmp_path / "k"
    key = SigningKey.load_or_create(path, ORIGIN)
    seed_b64 = path.read_text().split("+", 4)[4].strip()
    seed = base64.b64decode(seed_b64)[1:]
    for text in (repr(key), str(key), f"{key}", f"{key!r}"):
        assert ORIGIN in text
        assert seed_b64 not in text and seed.hex() not in text and b64(seed) not in text
    with pytest.raises(TypeError):
        pickle.dumps(key)


# --- Key file -------------------------------------------------------------------------------


def test_key_file_created_0600_and_reloaded(tmp_path):
    path = tmp_path / "keys" / "ledger.key"
    old = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        key = SigningKey.load_or_create(path, ORIGIN)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith(f"PRIVATE+KEY+{ORIGIN}+{key.key_hash.hex()}+")
    assert path.read_text().endswith("\n")
    again = SigningKey.load_or_create(path, ORIGIN)
    assert again.verifier_key() == key.verifier_key()
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.key"]  # no temp file left


def test_key_file_matches_independent_encoding(tmp_path):
    seed = bytes(range(32))
    path = write_key(tmp_path / "k", key_file_text(ORIGIN, seed))
    key = SigningKey.load_or_create(path, ORIGIN)
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    assert key.verifier_key().endswith("+" + b64(b"\x01" + public))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o700 | 0o044])
def test_readable_key_file_is_refused(tmp_path, mode):
    path = write_key(tmp_path / "k", key_file_text(ORIGIN, bytes(32)), mode)
    with pytest.raises(ConfigError) as info:
        SigningKey.load_or_create(path, ORIGIN)
    message = info.value.diagnostics()
    assert str(path) in message
    assert f"chmod 600 {path}" in message
    assert stat.S_IMODE(path.stat().st_mode) == mode  # never silently "fixed"


def test_key_file_0400_is_accepted(tmp_path):
    path = write_key(tmp_path / "k", key_file_text(ORIGIN, bytes(32)), 0o400)
    SigningKey.load_or_create(path, ORIGIN)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage\n",
        key_file_text(ORIGIN, bytes(32)).replace("PRIVATE+KEY", "PUBLIC+KEY"),
        key_file_text(ORIGIN, bytes(32))[:-5] + "\n",
        key_file_text(ORIGIN, bytes(32)).replace("+AQ", "+Ag"),  # algorithm byte 2
        key_file_text(ORIGIN, bytes(32)) + "extra\n",
        "\xff\xfe",
    ],
)
def test_malformed_key_file_is_refused(tmp_path, text):
    path = tmp_path / "k"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    path.chmod(0o600)
    with pytest.raises(ConfigError):
        SigningKey.load_or_create(path, ORIGIN)


def test_key_file_with_wrong_key_id_is_refused(tmp_path):
    text = key_file_text(ORIGIN, bytes(32))
    wrong = text.split("+", 4)
    wrong[3] = "00000000"
    with pytest.raises(ConfigError, match="does not match"):
        SigningKey.load_or_create(write_key(tmp_path / "k", "+".join(wrong)), ORIGIN)


def test_key_file_for_another_name_is_refused(tmp_path):
    path = write_key(tmp_path / "k", key_file_text("other.example/log", bytes(32)))
    with pytest.raises(ConfigError, match="other.example/log"):
        SigningKey.load_or_create(path, ORIGIN)


def test_concurrent_creation_yields_one_key(tmp_path):
    path = tmp_path / "k"
    keys: list[str] = []
    errors: list[BaseException] = []

    def create():
        try:
            keys.append(SigningKey.load_or_create(path, ORIGIN).verifier_key())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(keys) == 8 and len(set(keys)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["k"]


# --- Signing and verifying --------------------------------------------------------------------


def test_signed_note_format():
    key = SigningKey.generate(ORIGIN)
    cp = Checkpoint(origin=ORIGIN, size=42, root=ROOT)
    note = key.sign(cp)
    body, sep, sig_line = note.partition("\n\n")
    assert body + "\n" == cp.body()
    assert sep == "\n\n"
    assert sig_line.startswith(f"\u2014 {ORIGIN} ")
    assert sig_line.endswith("\n") and sig_line.count("\n") == 1
    raw = base64.b64decode(sig_line[len(f"\u2014 {ORIGIN} ") : -1], validate=True)
    assert len(raw) == 4 + 64
    assert raw[:4] == key.key_hash
    public = base64.b64decode(key.verifier_key().split("+", 2)[2])[1:]
    Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], cp.body().encode())
    assert key.verifier().verify(note) == cp
    assert Verifier.from_verifier_key(key.verifier_key()).verify(note, origin=ORIGIN) == cp


def test_signature_from_another_key_is_refused():
    cp = Checkpoint(origin=ORIGIN, size=42, root=ROOT)
    ours = Verifier.from_verifier_key(SigningKey.generate(ORIGIN).verifier_key())
    for other in (SigningKey.generate(ORIGIN), SigningKey.generate("other.example/log")):
        with pytest.raises(IntegrityError, match="no signature"):
            ours.verify(other.sign(cp))


def _signed_by_seed(seed: bytes, name: str, body: str) -> str:
    """Sign any text as a note, independently of the module."""
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public = private.public_key().public_bytes_raw()
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    return f"{body}\n{EM_DASH} {name} {b64(key_id + private.sign(body.encode()))}\n"


def test_other_signatures_are_ignored(tmp_path):
    seed = os.urandom(32)
    key = SigningKey.load_or_create(write_key(tmp_path / "k", key_file_text(ORIGIN, seed)), ORIGIN)
    cp = Checkpoint(origin=ORIGIN, size=9, root=ROOT)
    ours = key.sign(cp).split("\n\n")[1]
    witness = SigningKey.generate("witness.example/w1").sign(cp).split("\n\n")[1]
    same_id_other_name = f"{EM_DASH} someone.else {b64(key.key_hash + bytes(64))}\n"
    same_name_other_id = f"{EM_DASH} {ORIGIN} {ZERO_ID}\n"
    short_other = f"{EM_DASH} pq.example/k {b64(b'abcdef')}\n"
    for extra in (witness, same_id_other_name, same_name_other_id, short_other):
        note = cp.body() + "\n" + extra + ours
        assert key.verifier().verify(note) == cp
        note = cp.body() + "\n" + ours + extra
        assert key.verifier().verify(note) == cp
    # Extension lines are signed like the rest, and kept by the parsed checkpoint.
    extended = _signed_by_seed(seed, ORIGIN, cp.body() + "ext\n")
    assert key.verifier().verify(extended) == Checkpoint(
        origin=ORIGIN, size=9, root=ROOT, extensions=("ext",)
    )


def test_forged_signature_of_our_key_is_refused():
    key = SigningKey.generate(ORIGIN)
    cp = Checkpoint(origin=ORIGIN, size=9, root=ROOT)
    good = key.sign(cp)
    forged = f"{EM_DASH} {ORIGIN} {b64(key.key_hash + bytes(64))}\n"
    # One bad signature from a known key rejects the note, even next to a good one.
    for note in (cp.body() + "\n" + forged, good + forged):
        with pytest.raises(IntegrityError, match="does not verify"):
            key.verifier().verify(note)
    short = f"{EM_DASH} {ORIGIN} {b64(key.key_hash + bytes(63))}\n"
    with pytest.raises(IntegrityError, match="not an Ed25519 signature"):
        key.verifier().verify(good + short)
    # A genuine signature moved onto another checkpoint.
    other = Checkpoint(origin=ORIGIN, size=10, root=ROOT)
    with pytest.raises(IntegrityError):
        key.verifier().verify(other.body() + "\n" + good.split("\n\n")[1])


def test_wrong_origin_is_refused():
    key = SigningKey.generate("shared-key")
    note = key.sign(Checkpoint(origin="log-a", size=1, root=ROOT))
    assert key.verifier().verify(note, origin="log-a").origin == "log-a"
    with pytest.raises(IntegrityError, match="log-a"):
        key.verifier().verify(note, origin="log-b")


def test_signed_non_checkpoint_is_refused():
    seed = os.urandom(32)
    verifier = SigningKey(name=ORIGIN, seed=seed).verifier()
    with pytest.raises(IntegrityError, match="checkpoint"):
        verifier.verify(_signed_by_seed(seed, ORIGIN, f"{ORIGIN}\n01\n{ROOT_B64}\n"))


def _note_variants(note: str) -> list[str]:
    body, sig = note.split("\n\n")
    line = sig[:-1]
    return [
        note[:-1],  # no final newline
        body + "\n" + sig,  # no blank line
        body + "\n\n\n" + sig,  # an empty signature line
        body + "\n\n",  # no signature
        note.replace(EM_DASH, "-"),
        note.replace(EM_DASH + " ", EM_DASH),
        note.replace(EM_DASH + " ", EM_DASH + "  "),
        note.replace("\n\n", "\n\r\n"),
        note.replace("\n", "\r\n"),
        note + "trailing",
        note + "\n",
        note.replace(line, line + " "),
        note.replace(line, line.rstrip("=")),
        note.replace(line, line[:-3] + "B" + line[-2:]),
        body + "\n\n" + (line + "\n") * 101,  # too many signatures
    ]


def test_malformed_notes_are_refused():
    key = SigningKey.generate(ORIGIN)
    note = key.sign(Checkpoint(origin=ORIGIN, size=3, root=ROOT))
    for bad in _note_variants(note):
        assert bad != note
        with pytest.raises(IntegrityError):
            key.verifier().verify(bad)


def test_parse_note():
    text = "a\n\nb\n"  # the text may hold blank lines: the last one separates
    note = f"{text}\n{EM_DASH} k1 {b64(b'12345')}\n{EM_DASH} k2 {b64(b'6789ab')}\n"
    assert parse_note(note) == (text, [("k1", b"12345"), ("k2", b"6789ab")])
    for bad in (
        f"{text}\n{EM_DASH} k1 {b64(b'1234')}\n",
        f"{text}\n{EM_DASH} a+b {b64(b'12345')}\n",
    ):
        with pytest.raises(IntegrityError):
            parse_note(bad)


def test_errors_are_ours():
    assert issubclass(IntegrityError, Error) and issubclass(ConfigError, Error)


def test_package_exports():
    assert set(ledger.__all__) >= {
        "Checkpoint",
        "SigningKey",
        "Verifier",
        "parse_note",
        "EMPTY_ROOT",
        "HASH_SIZE",
        "SubtreeHash",
        "combine",
        "consistency_proof",
        "inclusion_proof",
        "leaf_hash",
        "node_hash",
        "perfect_subtrees",
        "root_from_inclusion",
        "root_hash",
        "verify_consistency",
        "verify_inclusion",
    }
    for name in ledger.__all__:
        assert hasattr(ledger, name), name


def test_keys_whose_base64_holds_a_plus(tmp_path):
    """'+' separates the fields of a key, and also occurs in base64: only the first ones split."""
    seed = next(
        bytes([i]) * 32
        for i in range(256)
        if "+" in key_file_text(ORIGIN, bytes([i]) * 32).split("+", 4)[4]
        and "+" in SigningKey(name=ORIGIN, seed=bytes([i]) * 32).verifier_key().split("+", 2)[2]
    )
    key = SigningKey.load_or_create(write_key(tmp_path / "k", key_file_text(ORIGIN, seed)), ORIGIN)
    verifier = Verifier.from_verifier_key(key.verifier_key())
    assert verifier.verifier_key() == key.verifier_key()
    cp = Checkpoint(origin=ORIGIN, size=1, root=ROOT)
    assert verifier.verify(key.sign(cp)) == cp


def test_dangling_symlink_key_file_is_refused(tmp_path):
    path = tmp_path / "k"
    path.symlink_to(tmp_path / "nowhere" / "k")
    with pytest.raises(ConfigError, match="cannot create"):
        SigningKey.load_or_create(path, ORIGIN)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]


# --- Notes of any text (key rotation statements) -------------------------------------------


def test_sign_text_and_open_note_round_trip():
    key = SigningKey.generate(ORIGIN)
    text = f"{ORIGIN} key rotation\nold a\nnew b\n"
    note = key.sign_text(text)
    assert note.startswith(text + "\n" + EM_DASH + " " + ORIGIN + " ")
    assert key.verifier().open_note(note) == text
    with pytest.raises(IntegrityError, match="does not verify"):
        key.verifier().open_note(note.replace("old a", "old c"))
    with pytest.raises(IntegrityError, match="no signature by key"):
        SigningKey.generate(ORIGIN).verifier().open_note(note)


@pytest.mark.parametrize("text", ["", "no newline", "a\n\nb\n", "\na\n", "tab\there\n"])
def test_sign_text_refuses_text_that_would_not_read_back(text: str):
    with pytest.raises(IntegrityError):
        SigningKey.generate(ORIGIN).sign_text(text)


def test_save_writes_a_0600_key_file_and_never_replaces_another(tmp_path):
    key = SigningKey.generate(ORIGIN)
    path = tmp_path / "k"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SigningKey.load_or_create(path, ORIGIN).key_hash == key.key_hash
    key.save(path)  # the same key again: nothing to do
    with pytest.raises(ConfigError, match="already holds another key"):
        SigningKey.generate(ORIGIN).save(path)
    assert SigningKey.load_or_create(path, ORIGIN).key_hash == key.key_hash
