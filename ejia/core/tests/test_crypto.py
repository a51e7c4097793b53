import contextlib
import hashlib
import io

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ejia.core import crypto


def test_ciphertext_round_trips_and_hides_the_plaintext():
    token = crypto.encrypt("37160219800101001X", purpose="person.id_number")
    assert "37160219800101001X" not in token
    assert token.startswith("k1:")
    assert crypto.decrypt(token, purpose="person.id_number") == "37160219800101001X"


def test_a_ciphertext_moved_to_another_purpose_does_not_decrypt():
    token = crypto.encrypt("6222020200112233445", purpose="household.account")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, purpose="person.id_number")


def test_old_keys_still_decrypt_after_rotation(settings):
    old = crypto.encrypt("secret", purpose="p")
    settings.EJIA_FIELD_KEYS = settings.EJIA_FIELD_KEYS + ",k2:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
    settings.EJIA_FIELD_KEY_ID = "k2"
    new = crypto.encrypt("secret", purpose="p")
    assert crypto.key_id_of(new) == "k2"
    assert crypto.decrypt(old, purpose="p") == crypto.decrypt(new, purpose="p") == "secret"


def test_blind_index_is_stable_and_keyed(settings):
    a = crypto.blind_index("37160219800101001X")
    assert a == crypto.blind_index("37160219800101001X")
    settings.EJIA_BLIND_INDEX_KEY = "another"
    assert crypto.blind_index("37160219800101001X") != a


def test_sealing_many_values_equals_sealing_each():
    numbers = ["37160219800101001X", "371602198001010022"]
    indexes, ciphertexts = crypto.seal_many(numbers, purpose="source.id_number")
    assert indexes == [crypto.blind_index(n) for n in numbers]
    assert [crypto.decrypt(c, purpose="source.id_number") for c in ciphertexts] == numbers
    assert len(set(ciphertexts)) == 2 and all(c.startswith("k1:") for c in ciphertexts)


# ---------------------------------------------------------------- sealed files


PURPOSE = "test.sealed"


def _seal(chunks, purpose=PURPOSE) -> tuple[bytes, crypto.SealedWriter]:
    out = io.BytesIO()
    writer = crypto.SealedWriter(out, purpose=purpose)
    for chunk in chunks:
        writer.write(chunk)
    writer.close()
    return out.getvalue(), writer


def _open(data: bytes, purpose=PURPOSE) -> bytes:
    return b"".join(crypto.sealed_chunks(io.BytesIO(data), purpose=purpose))


@contextlib.contextmanager
def small_frames():
    """Frames of 16 bytes, so that short inputs span many frames."""
    saved = crypto.SEALED_FRAME
    crypto.SEALED_FRAME = 16
    try:
        yield
    finally:
        crypto.SEALED_FRAME = saved


@hsettings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=12))
def test_a_sealed_file_reads_back_exactly_however_it_was_written(chunks):
    with small_frames():
        data, writer = _seal(chunks)
        assert _open(data) == b"".join(chunks)
    assert writer.size == len(b"".join(chunks))
    assert writer.sha256 == hashlib.sha256(b"".join(chunks)).hexdigest()


def _frames(data: bytes) -> tuple[bytes, list[bytes]]:
    """Split a sealed file into its header and its frames (as stored)."""
    id_len = data[len(crypto.SEALED_MAGIC)]
    pos = len(crypto.SEALED_MAGIC) + 1 + id_len + 16
    header, frames = data[:pos], []
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 4 + 1 + 12 + length
        frames.append(data[pos:end])
        pos = end
    return header, frames


def test_the_plaintext_is_not_in_the_file_and_any_change_is_refused(tmp_path):
    secret = "身份证号370102198001011234，姓名张大山".encode() * 3
    with small_frames():
        data, _ = _seal([secret])
        other, _ = _seal([secret])
    assert b"370102198001011234" not in data and "张大山".encode() not in data
    header, frames = _frames(data)
    assert len(frames) > 3
    flipped = bytearray(data)
    flipped[-5] ^= 1
    changes = {
        "a flipped bit": bytes(flipped),
        "the last frame dropped": header + b"".join(frames[:-1]),
        "cut off mid-frame": data[:-7],
        "two frames swapped": header + frames[1] + frames[0] + b"".join(frames[2:]),
        "data appended": data + b"x",
        "a frame from another file": header + _frames(other)[1][0] + b"".join(frames[1:]),
    }
    for what, changed in changes.items():
        with pytest.raises(crypto.DecryptionError), small_frames():
            _open(changed)
            pytest.fail(f"{what} was not noticed")
    with pytest.raises(crypto.DecryptionError), small_frames():
        _open(data, purpose="another.purpose")
    (tmp_path / "sealed").write_bytes(data)
    (tmp_path / "plain").write_bytes(secret)
    assert crypto.is_sealed(tmp_path / "sealed") and not crypto.is_sealed(tmp_path / "plain")


def test_a_file_sealed_before_a_key_rotation_still_opens(settings):
    data, _ = _seal([b"before rotation"])
    settings.EJIA_FIELD_KEYS = settings.EJIA_FIELD_KEYS + ",k2:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
    settings.EJIA_FIELD_KEY_ID = "k2"
    assert _open(data) == b"before rotation"
    newer, _ = _seal([b"after"])
    assert b"k2" in newer[:40] and _open(newer) == b"after"
