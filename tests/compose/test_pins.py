"""One place pins the versions: .env. compose.yaml, the Maven pom and the local launcher only refer to it."""
import importlib.util
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

IMAGE_TAG_ONLY_VARS = re.compile(r"^(?:\$\{[A-Z][A-Z0-9_]*\}[-._]?)+$")
# The images compose runs and the .env keys their tags must be made of (the forms the issue asks for).
PINNED_IMAGES = {
    "postgres": "${POSTGRES_VERSION}",
    "apache/kafka": "${KAFKA_VERSION}",
    "quay.io/debezium/connect": "${DEBEZIUM_VERSION}",
    "flink": "${FLINK_VERSION}-${FLINK_SCALA_JAVA_TAG}",
    "maven": "${MAVEN_IMAGE_TAG}",
    "prom/prometheus": "${PROMETHEUS_VERSION}",
    "quay.io/prometheuscommunity/postgres-exporter": "${POSTGRES_EXPORTER_VERSION}",
    "grafana/grafana": "${GRAFANA_VERSION}",
}
# Dependencies whose versions .env pins (the pom must take them as -D properties).
PINNED_GROUPS = ("org.apache.kafka", "io.debezium", "org.apache.flink", "org.apache.logging.log4j")
# x.y.z, or x.y followed by a qualifier (2.12-java17, 3.6.Final); a bare 0.2 (a fraction) is no version.
VERSION_LITERAL = re.compile(r"(?<![\w.])v?\d+\.\d+(?:(?:\.\d+)+(?:[-.][\w.]+)?|[-.][A-Za-z][\w.]*)")
IPV4 = re.compile(r"^(?:\d{1,3}\.){3}\d{1,3}$")
POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def split_image(image):
    name, sep, tag = image.rpartition(":")
    return (name, tag) if sep and "/" not in tag else (image, "")


def test_every_image_tag_is_a_pin_from_env(services, env_pins, tools):
    seen = {}
    for name, svc in services.items():
        if "image" not in svc:
            continue
        repo, tag = split_image(svc["image"])
        if "build" in svc:
            # built here from the repo (generator/Dockerfile), not pulled
            assert not VERSION_LITERAL.search(tag), f"{name}: local image {svc['image']} carries a version"
            continue
        assert IMAGE_TAG_ONLY_VARS.match(tag), f"{name}: image {svc['image']} has a tag that is not only ${{VAR}}s"
        for var, _op in tools.VAR_REF.findall(tag):
            assert env_pins.get(var), f"{name}: image tag variable {var} is not set in .env"
        assert tag == PINNED_IMAGES.get(repo, tag), f"{name}: {repo} should be tagged {PINNED_IMAGES[repo]}"
        seen[repo] = tag
    assert set(seen) == set(PINNED_IMAGES), f"compose.yaml should run exactly the pinned images {sorted(PINNED_IMAGES)}"


def strip_refs_and_comments(text, tools):
    lines = []
    for line in text.splitlines():
        line = tools.VAR_REF.sub("", line)
        lines.append(re.sub(r"(^|\s)#.*$", "", line))
    return "\n".join(lines)


def version_literals(text, tools):
    body = strip_refs_and_comments(text, tools)
    return [m for m in VERSION_LITERAL.findall(body) if not IPV4.match(m)]


@pytest.mark.parametrize("name", ["compose.yaml", "compose.cluster.yaml"])
def test_compose_file_has_no_version_literal(tools, name):
    found = version_literals((tools.ROOT / name).read_text(), tools)
    assert found == [], f"version-like literals in {name} (pin them in .env): {found}"


def test_version_literal_check_would_catch_a_hard_coded_tag(tools):
    assert version_literals('    image: apache/kafka:4.3.1\n', tools) == ["4.3.1"]
    assert version_literals('    image: flink:2.2-scala_2.12-java17\n', tools)
    assert version_literals('    -Dflink.kafka.connector.version=5.0.0-2.2\n', tools) == ["5.0.0-2.2"]
    assert version_literals('    taskmanager.memory.managed.fraction: 0.2\n', tools) == []
    assert version_literals('    image: quay.io/debezium/connect:${DEBEZIUM_VERSION}  # 127.0.0.1\n', tools) == []


def distinctive_pins(env_pins):
    """The pinned values that cannot occur by chance (a bare '17' could): dotted or dashed versions."""
    return {k: v for k, v in env_pins.items()
            if (k.endswith("_VERSION") or k.endswith("_TAG")) and re.search(r"\d[.\-_]\w", v)}


def files_that_must_not_pin(root):
    yield root / "compose.yaml"
    yield root / "compose.cluster.yaml"
    for path in sorted((root / "scripts").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path


def test_no_file_but_env_writes_a_pinned_version(env_pins, tools):
    pins = distinctive_pins(env_pins)
    assert {"KAFKA_VERSION", "DEBEZIUM_VERSION", "FLINK_VERSION", "FLINK_KAFKA_CONNECTOR_VERSION"} <= set(pins)
    offenders = []
    for path in files_that_must_not_pin(tools.ROOT):
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for key, value in pins.items():
            if re.search(rf"(?<![\w.]){re.escape(value)}(?![\w])", text):
                offenders.append(f"{path.relative_to(tools.ROOT)} writes {key}'s value {value}")
    assert offenders == [], "\n".join(offenders)


def _poms(root):
    return sorted((root / "scripts" / "maven").rglob("pom.xml"))


def _pom_properties(pom):
    tree = ET.parse(pom)
    props = tree.getroot().find("m:properties", POM_NS)
    return {child.tag.split("}", 1)[1]: (child.text or "") for child in (props if props is not None else [])}


def _pinned_dependency_versions(pom):
    for dep in ET.parse(pom).getroot().iter(f"{{{POM_NS['m']}}}dependency"):
        group = dep.findtext("m:groupId", "", POM_NS)
        if group in PINNED_GROUPS:
            yield group, dep.findtext("m:artifactId", "", POM_NS), dep.findtext("m:version", "", POM_NS)


def pom_version_properties(root):
    """The -D properties the poms take the pinned versions from: {property: [artifact, ...]}."""
    defined = {}
    for pom in _poms(root):
        defined.update(_pom_properties(pom))
    used = {}
    for pom in _poms(root):
        for group, artifact, version in _pinned_dependency_versions(pom):
            m = re.fullmatch(r"\$\{([\w.\-]+)\}", version.strip())
            assert m, f"{pom.relative_to(root)}: {group}:{artifact} has version {version!r}, not a -D property"
            assert m.group(1) not in defined, \
                f"{pom.relative_to(root)}: property {m.group(1)} is given a value in a pom; it must come from .env"
            used.setdefault(m.group(1), []).append(f"{group}:{artifact}")
    return used


def test_poms_take_pinned_versions_as_properties(tools):
    if not _poms(tools.ROOT):
        pytest.fail("scripts/maven/pom.xml is missing (the launcher's and compose's Maven pom)")
    used = pom_version_properties(tools.ROOT)
    assert "flink.kafka.connector.version" in used


def launcher_property_sources(root):
    """-Dprop={pins['KEY']} arguments the launcher passes to Maven: {prop: KEY}."""
    sources = {}
    for path in sorted((root / "scripts" / "stackctl").glob("*.py")):
        for prop, key in re.findall(r"-D([\w.\-]+)=\{pins\[['\"](\w+)['\"]\]\}", path.read_text()):
            sources[prop] = key
    return sources


def test_launcher_and_compose_feed_the_pom_from_the_same_pins(services, env_pins, tools):
    used = pom_version_properties(tools.ROOT)
    launcher = launcher_property_sources(tools.ROOT)
    for prop in used:
        assert prop in launcher, f"the local launcher never passes -D{prop}=... to Maven"
        assert env_pins.get(launcher[prop]), f"the launcher takes -D{prop} from {launcher[prop]}, absent from .env"
    command = " ".join(services["flink-jars"]["command"])
    compose_props = dict(re.findall(r"-D([\w.\-]+)=\$\{(\w+)\}", command))
    assert compose_props.get("flink.kafka.connector.version") == launcher["flink.kafka.connector.version"]
    for prop, key in compose_props.items():
        if prop in used:
            assert launcher.get(prop) == key, f"compose passes -D{prop} from {key}, the launcher from {launcher.get(prop)}"


def test_launcher_reads_its_pins_from_env(env_pins, tools):
    """The launcher's own reader returns .env's values (behaviour, not a grep)."""
    settings_py = tools.ROOT / "scripts" / "stackctl" / "settings.py"
    spec = importlib.util.spec_from_file_location("stackctl_settings_under_test", settings_py)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    try:
        spec.loader.exec_module(module)
        pins = module.read_pins()
    finally:
        sys.modules.pop(spec.name, None)
    assert Path(module.ROOT).resolve() == tools.ROOT
    for key in ("KAFKA_VERSION", "DEBEZIUM_VERSION", "FLINK_VERSION", "FLINK_KAFKA_CONNECTOR_VERSION",
                "POSTGRES_VERSION", "JAVA_MAJOR"):
        assert pins.get(key) == env_pins[key], f"launcher pin {key}={pins.get(key)!r}, .env says {env_pins[key]!r}"


def test_one_postgres_pin_drives_compose_and_the_local_stack(services, env_pins, tools):
    """POSTGRES_VERSION (MAJOR.MINOR) is the image tag and, plus .0, the Maven artifact of the local stack."""
    version = env_pins["POSTGRES_VERSION"]
    assert re.fullmatch(r"\d{2,}\.\d+", version), f"POSTGRES_VERSION={version!r} is not MAJOR.MINOR"
    assert services["postgres"]["image"] == "postgres:${POSTGRES_VERSION}"
    assert not [k for k in env_pins if k.startswith("POSTGRES_") and k not in ("POSTGRES_VERSION",
                                                                                "POSTGRES_SECOND_VERSION",
                                                                                "POSTGRES_EXPORTER_VERSION")]
    pom = tools.ROOT / "scripts" / "maven" / "postgres" / "pom.xml"
    dep = ET.parse(pom).getroot().find("m:dependencies/m:dependency", POM_NS)
    assert dep.findtext("m:groupId", "", POM_NS) == "io.zonky.test.postgres"
    assert dep.findtext("m:artifactId", "", POM_NS) == "embedded-postgres-binaries-linux-${postgres.arch}"
    assert dep.findtext("m:version", "", POM_NS) == "${postgres.version}"
    artifacts = (tools.ROOT / "scripts" / "stackctl" / "artifacts.py").read_text()
    assert '-Dpostgres.version={version}.0' in artifacts
    second = env_pins["POSTGRES_SECOND_VERSION"]
    assert re.fullmatch(r"\d{2,}\.\d+", second) and second.split(".")[0] != version.split(".")[0], \
        "the second PostgreSQL the tests run must be another major"


def test_postgres_volume_is_mounted_where_the_pinned_major_keeps_its_data(services, env_pins):
    """The postgres image keeps PGDATA in /var/lib/postgresql/data up to 17 and in /var/lib/postgresql/<major>/docker
    from 18 on, expecting the volume at /var/lib/postgresql; a volume mounted at the old place would hold
    nothing and the data would live in the container only."""
    major = int(env_pins["POSTGRES_VERSION"].split(".")[0])
    targets = [v.split(":", 1)[1] if isinstance(v, str) else v["target"] for v in services["postgres"]["volumes"]]
    expected = "/var/lib/postgresql" if major >= 18 else "/var/lib/postgresql/data"
    assert targets == [expected], f"PostgreSQL {major}: mount the data volume at {expected}, not {targets}"


def test_postgres_is_not_restarted_forever(services):
    """The image exits when the volume holds another major's data: a bounded restart policy lets `up` fail
    with that message instead of a crash loop."""
    policy = str(services["postgres"].get("restart", "no"))
    assert policy == "no" or re.fullmatch(r"on-failure:[1-5]", policy), policy
