"""tests/compose/pinned_images.py, the nightly check that every pinned image exists for linux/amd64 and
linux/arm64: the images it finds in the resolved model, how it judges a manifest, and its exit
statuses with a stand-in `docker` (the registry cannot be reached from the tests)."""
import json
import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def pinned(tools):
    return tools._load_module("pinned_images", tools.HERE / "pinned_images.py")


def expected_images(pins):
    flink = f"flink:{pins['FLINK_VERSION']}-{pins['FLINK_SCALA_JAVA_TAG']}"
    return sorted({f"postgres:{pins['POSTGRES_VERSION']}", f"apache/kafka:{pins['KAFKA_VERSION']}",
                   f"quay.io/debezium/connect:{pins['DEBEZIUM_VERSION']}", flink,
                   f"maven:{pins['MAVEN_IMAGE_TAG']}", f"python:{pins['PYTHON_IMAGE_TAG']}",
                   f"prom/prometheus:{pins['PROMETHEUS_VERSION']}",
                   f"quay.io/prometheuscommunity/postgres-exporter:{pins['POSTGRES_EXPORTER_VERSION']}",
                   f"grafana/grafana:{pins['GRAFANA_VERSION']}"})


def test_finds_every_pulled_image_and_the_generators_base(pinned, resolved, env_pins):
    assert pinned.pinned_images(resolved) == expected_images(env_pins)


def test_dockerfile_bases_follow_args_and_skip_stages(pinned, tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("ARG BASE=python:3.11-slim\nARG TOOL\nFROM --platform=$BUILDPLATFORM ${TOOL} AS tools\n"
                          "FROM $BASE\nCOPY --from=tools /x /x\nFROM tools AS again\nFROM scratch\n")
    assert pinned.dockerfile_bases(dockerfile, {"TOOL": "golang:1.25"}) == ["golang:1.25", "python:3.11-slim"]


INDEX = {"manifests": [
    {"platform": {"os": "linux", "architecture": "amd64"}},
    {"platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
    {"platform": {"os": "unknown", "architecture": "unknown"}},   # an attestation
]}


def test_judges_manifests(pinned):
    assert pinned.platform_problems("a:1", INDEX) == []
    assert pinned.platform_problems("a:1", {"schemaVersion": 2, "config": {}, "layers": []})  # single-arch
    only_amd64 = {"manifests": INDEX["manifests"][:1]}
    assert pinned.platform_problems("a:1", only_amd64) == ["a:1: no linux/arm64 image (it has linux/amd64)"]


def _fake_docker(tmp_path, manifests):
    """A `docker` that answers `buildx imagetools inspect --raw IMAGE` from `manifests` (absent: error)."""
    tmp_path.mkdir()
    (tmp_path / "manifests.json").write_text(json.dumps(manifests))
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(f"""#!{sys.executable}
import json, sys
manifests = json.load(open({str(tmp_path / 'manifests.json')!r}))
assert sys.argv[1:5] == ["buildx", "imagetools", "inspect", "--raw"], sys.argv
if sys.argv[5] not in manifests:
    sys.exit("ERROR: " + sys.argv[5] + ": not found")
print(json.dumps(manifests[sys.argv[5]]))
""")
    fake.chmod(0o755)
    return dict(os.environ, PATH=f"{fake.parent}{os.pathsep}{os.environ['PATH']}", PINNED_IMAGES_ATTEMPTS="1")


def _run(tools, model_path, env):
    return subprocess.run([sys.executable, str(tools.HERE / "pinned_images.py"), str(model_path)],
                          env=env, capture_output=True, text=True, timeout=120)


def test_exit_status_says_whether_every_image_is_there(resolved, env_pins, tools, tmp_path):
    model_path = tmp_path / "model.json"
    model_path.write_text(json.dumps(resolved))
    images = expected_images(env_pins)

    good = _run(tools, model_path, _fake_docker(tmp_path / "good", {i: INDEX for i in images}))
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"all {len(images)} pinned images exist" in good.stdout

    broken = {i: INDEX for i in images}
    broken[images[0]] = {"manifests": INDEX["manifests"][:1]}   # single-arch now
    del broken[images[1]]                                        # tag deleted
    bad = _run(tools, model_path, _fake_docker(tmp_path / "bad", broken))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"FAIL {images[0]}" in bad.stdout and f"FAIL {images[1]}" in bad.stdout
    assert "not found" in bad.stdout and "pinned_images: error: 2 problem(s)" in bad.stderr


def test_unreadable_model_exits_2(tools, tmp_path):
    out = _run(tools, tmp_path / "missing.json", dict(os.environ))
    assert out.returncode == 2 and out.stderr.startswith("pinned_images: error:")
