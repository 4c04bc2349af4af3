"""The flink-jars one-shot's own command, run here with the local Maven instead of the maven image:
it must leave exactly the pinned Kafka SQL connector (kafka and upsert-kafka) in the jars folder.

Only the container paths differ (they are environment variables of the service). Maven resolves from
Maven Central into the user's Maven cache; later runs download nothing.
"""
import re
import shutil
import subprocess
import zipfile

import pytest

FACTORIES = "META-INF/services/org.apache.flink.table.factories.Factory"


def compose_interpolate(text, env_pins, tools):
    """What compose does to a string: ${VAR} from .env, $$ to $."""
    def value(m):
        assert m.group(1) in env_pins, f"{m.group(1)} is not in .env"
        return env_pins[m.group(1)]
    text = re.sub(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}", value, text)
    return text.replace("$$", "$")


@pytest.fixture(scope="module")
def flink_jars_script(services, env_pins, tools):
    svc = services["flink-jars"]
    command = svc["command"]
    assert command[:2] == ["sh", "-ec"], "flink-jars should run one sh script"
    return compose_interpolate(command[2], env_pins, tools), svc["environment"]


def run_script(script, tmp_path, tools, jars_dir, service_env=None):
    if not shutil.which("mvn"):
        pytest.fail("Maven (mvn) is not installed; the local stack needs it too")
    # the service's own Maven heap (its memory limit), so the build is known to fit in it
    env = dict(tools.clean_env(), **{k: v for k, v in (service_env or {}).items() if k == "MAVEN_OPTS"},
               POM=str(tools.ROOT / "scripts" / "maven" / "pom.xml"),
               JARS_DIR=str(jars_dir), BUILD_DIR=str(tmp_path / "build"))
    out = subprocess.run(["sh", "-ec", script], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"flink-jars script failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.mark.slow
def test_flink_jars_leaves_exactly_the_pinned_connector(flink_jars_script, env_pins, tools, tmp_path):
    script, service_env = flink_jars_script
    assert set(service_env) - {"MAVEN_OPTS"} == {"POM", "JARS_DIR", "BUILD_DIR"}, "the test replaces exactly these paths"
    jars = tmp_path / "jars"
    jars.mkdir()
    stale = jars / "flink-sql-connector-kafka-0.0.1-1.0.jar"
    stale.write_bytes(b"a connector of an older pin")
    run_script(script, tmp_path, tools, jars, service_env)

    wanted = f"flink-sql-connector-kafka-{env_pins['FLINK_KAFKA_CONNECTOR_VERSION']}.jar"
    assert sorted(p.name for p in jars.iterdir()) == [wanted]
    with zipfile.ZipFile(jars / wanted) as jar:
        factories = jar.read(FACTORIES).decode()
    assert "KafkaDynamicTableFactory" in factories and "UpsertKafkaDynamicTableFactory" in factories

    # a second run (every `docker compose up`) leaves the jar Flink has open untouched
    before = (jars / wanted).stat().st_mtime_ns
    run_script(script, tmp_path, tools, jars, service_env)
    assert (jars / wanted).stat().st_mtime_ns == before
