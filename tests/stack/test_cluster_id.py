"""The KRaft cluster id the launcher generates: kafka-storage must never read it as an option."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cluster_ids_never_start_with_a_dash(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    sys.modules.pop("stackctl.services", None)
    from stackctl.services import kafka_cluster_id
    ids = [kafka_cluster_id() for _ in range(5000)]
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids)
    # without the guard about 1 in 64 would start with '-': 5000 draws would have met ~78 of them
    assert any("-" in i for i in ids)
