"""Class-data sharing and the JMX exporter agent: a JVM with a Java agent refuses to start when asked to
record a class archive unless the launcher allows it (this broke Kafka and Connect at the second `up` on a
machine, the first start after the one that downloaded the jars). Runs the stack's Java with the real agent."""
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stackctl(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    monkeypatch.setenv("THELOOK_CACHE_DIR", str(tmp_path / "cache"))
    for name in [m for m in sys.modules if m.startswith("stackctl")]:
        sys.modules.pop(name)
    import stackctl.artifacts
    import stackctl.cds
    import stackctl.settings
    monkeypatch.setattr(stackctl.artifacts, "fetched", False)
    return SimpleNamespace(cds=stackctl.cds, settings=stackctl.settings)


def agent_jar(pins):
    cache = Path.home() / ".cache" / "thelook-cdc" / "jvm"
    found = sorted(cache.glob(f"*/metrics/jmx-exporter/jmx_prometheus_javaagent-{pins['JMX_EXPORTER_VERSION']}.jar"))
    if not found:
        pytest.skip("no JMX exporter agent in the artifact cache yet (scripts/stack up fetches it)")
    return found[-1]


def test_a_jvm_with_the_agent_records_an_archive(stackctl, tmp_path):
    pins = stackctl.settings.read_pins()
    java = shutil.which("java", path=f"/usr/lib/jvm/java-{pins['JAVA_MAJOR']}-openjdk-amd64/bin") or shutil.which("java")
    lay = SimpleNamespace(java=Path("/j"), jars=Path("/jars"), flink=Path("/flink"), data=tmp_path / "data")
    flags = stackctl.cds.jvm_flags(lay, "kafka", ["-Xmx64m"], java_agent=True)
    assert any(f.startswith("-XX:ArchiveClassesAtExit=") for f in flags), flags
    agent = f"-javaagent:{agent_jar(pins)}=127.0.0.1:0:{ROOT / 'observability' / 'jmx-exporter' / 'kafka.yml'}"
    out = subprocess.run([java, "-Xmx64m", *flags, agent, "-version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    archive = Path(next(f for f in flags if f.startswith("-XX:ArchiveClassesAtExit=")).split("=", 1)[1])
    assert archive.stat().st_size > 0
    # without the switch the same JVM does not start: the test would catch its loss
    bare = [f for f in flags if "AllowArchivingWithJavaAgent" not in f and "UnlockDiagnostic" not in f]
    archive.unlink()
    out = subprocess.run([java, "-Xmx64m", *bare, agent, "-version"], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "AllowArchivingWithJavaAgent" in out.stdout + out.stderr
