import base64

from shadow_optic.stack.kafka_broker import _random_cluster_id


def test_cluster_ids_never_start_with_a_dash_and_decode_to_a_uuid():
    ids = {_random_cluster_id() for _ in range(5000)}  # a leading "-" has a 1/64 chance per draw
    assert len(ids) == 5000
    assert not any(cluster_id.startswith("-") for cluster_id in ids)
    assert all(len(base64.urlsafe_b64decode(cluster_id + "==")) == 16 for cluster_id in ids)
