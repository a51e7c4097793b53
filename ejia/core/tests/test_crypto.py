import pytest

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
