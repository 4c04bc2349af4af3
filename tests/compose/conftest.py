"""Fixtures for the static checks of compose.yaml and of its cluster overlay compose.cluster.yaml (no Docker
engine, no stack; the Go tools are built once from the Go module proxy into a cache folder, see gotools.py)."""
import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
COMPOSE_FILE = ROOT / "compose.yaml"
# the cluster mode's overlay: `docker compose -f compose.yaml -f compose.cluster.yaml`
CLUSTER_FILE = ROOT / "compose.cluster.yaml"
CLUSTER_FILES = (COMPOSE_FILE, CLUSTER_FILE)
ENV_FILE = ROOT / ".env"
VAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])[^}]*)?\}")


def read_env_file(path=ENV_FILE):
    """KEY=VALUE lines of an env file, as compose reads them (comments and blank lines skipped)."""
    values = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def clean_env():
    """An environment without the caller's variables, so that only .env feeds the interpolation."""
    return {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}


@functools.lru_cache(maxsize=None)
def offline_prefix():
    """`unshare -n` when this process may create a network namespace: the command then has no network."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return (unshare, "-n")
    return ()


class ComposeTag:
    """A value under one of Compose's merge tags (`!override`, `!reset`), kept with its tag so that a file
    read with ComposeLoader is written back by ComposeDumper as it was."""

    def __init__(self, tag, value):
        self.tag, self.value = tag, value

    def __repr__(self):
        return f"{self.tag} {self.value!r}"


class ComposeLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus Compose's merge tags (plain YAML loaders refuse them)."""


class ComposeDumper(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True   # values shared through merge keys are written out in full, not as &id001 anchors


def _construct_tagged(loader, node):
    if isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        value = loader.construct_scalar(node)
    return ComposeTag(node.tag, value)


def _represent_tagged(dumper, data):
    if isinstance(data.value, list):
        return dumper.represent_sequence(data.tag, data.value)
    if isinstance(data.value, dict):
        return dumper.represent_mapping(data.tag, data.value)
    return dumper.represent_scalar(data.tag, str(data.value))


for _tag in ("!override", "!reset"):
    ComposeLoader.add_constructor(_tag, _construct_tagged)
ComposeDumper.add_representer(ComposeTag, _represent_tagged)


def load_compose_yaml(text):
    """A compose file's data, merge tags kept as ComposeTag."""
    return yaml.load(text, Loader=ComposeLoader)


def dump_compose_yaml(data):
    return yaml.dump(data, Dumper=ComposeDumper, sort_keys=False)


def untagged(data):
    """The data with each ComposeTag replaced by its value (what a plain YAML tool should see)."""
    if isinstance(data, ComposeTag):
        return untagged(data.value)
    if isinstance(data, dict):
        return {k: untagged(v) for k, v in data.items()}
    if isinstance(data, list):
        return [untagged(v) for v in data]
    return data


@pytest.fixture(scope="session")
def compose():
    """compose.yaml as written (no interpolation)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="session")
def cluster_compose():
    """compose.cluster.yaml as written (no interpolation; YAML anchors and merge keys resolved, Compose's
    merge tags kept as ComposeTag)."""
    return load_compose_yaml(CLUSTER_FILE.read_text())


@pytest.fixture(scope="session")
def services(compose):
    return compose["services"]


@pytest.fixture(scope="session")
def env_pins():
    return read_env_file()


def _load_module(name, path):
    """A helper module of this folder, imported once under its own name (importlib mode gives this
    folder no import path; a -p plugin of the same name may have imported it already)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


gotools = _load_module("gotools", HERE / "gotools.py")
compose_project = _load_module("compose_project", HERE / "compose_project.py")


@pytest.fixture(scope="session")
def compose_restore():
    """Steps that put the compose project back as the tests found it (the generator service started
    again, the Flink jobs resubmitted), run at the end of the session: tests/flink needs the
    TaskManager's slots in between."""
    steps = []
    yield steps
    for step in reversed(steps):
        try:
            step()
        except Exception as err:  # one failed step must not keep the others from running
            print(f"[compose-project] restoring the project: {err}", file=sys.stderr)


def _printer(config):
    """Prints a line on the terminal's stderr at once, even while pytest captures output (the first
    Go build takes a minute and should not look like a hang)."""
    capture = config.pluginmanager.getplugin("capturemanager")

    def say(line):
        with capture.global_and_fixture_disabled():
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
    return say


def pytest_collection_modifyitems(config, items):
    """Builds the Go tools the selected tests need before the first test starts, so that a first
    build (a minute or more on a busy machine) is not counted in any test's timeout. A failure is
    left to the fixture, which reports it in the test."""
    if config.option.collectonly:
        return
    needed = {name for item in items for name in ("composemodel", "actionlint")
              if name in getattr(item, "fixturenames", ())}
    say = _printer(config)
    try:
        if "composemodel" in needed:
            gotools.composemodel(say)
        if "actionlint" in needed:
            gotools.actionlint(read_env_file().get("ACTIONLINT_VERSION", ""), say)
    except gotools.GoToolError:
        pass


@pytest.fixture(scope="session")
def progress(request):
    return _printer(request.config)


@pytest.fixture(scope="session")
def composemodel(progress):
    """Path of the compose-go loader program (tests/compose/composemodel), built once into the cache."""
    try:
        return gotools.composemodel(progress)
    except gotools.GoToolError as err:
        pytest.fail(str(err))


class ModelLoad:
    """The result of loading a compose project with compose-go: `model` (dict) when it loaded, else
    `error` (compose-go's message)."""

    def __init__(self, proc):
        self.returncode = proc.returncode
        self.error = proc.stderr.strip()
        self.model = json.loads(proc.stdout) if proc.returncode == 0 else None


# compose.yaml's optional profiles: the tests check their services too (docker compose --profile observability)
PROFILES = ("observability",)


def load_model(binary, compose_file=None, env_file=None, name="thelook", env=None, profiles=PROFILES):
    """compose.yaml (or `compose_file`: one path, or a list of them merged in order like `docker compose -f a
    -f b`) as Docker Compose v2 resolves it, with the repository as the project directory (relative paths
    resolve as for the real file) and only `env_file` (default .env) plus `env` for interpolation; the
    services of `profiles` included."""
    files = compose_file or COMPOSE_FILE
    files = list(files) if isinstance(files, (list, tuple)) else [files]
    cmd = [str(binary), "-project-directory", str(ROOT)]
    for path in files:
        cmd += ["-f", str(path)]
    cmd += ["-env-file", str(env_file or ENV_FILE)]
    for profile in profiles:
        cmd += ["-profile", profile]
    if name:
        cmd += ["-p", name]
    proc = subprocess.run([*offline_prefix(), *cmd], env=dict(clean_env(), **(env or {})),
                          capture_output=True, text=True, timeout=120)
    return ModelLoad(proc)


def project_copy(tmp_path, mutate=None, env_text=None):
    """compose.yaml and .env copied to tmp_path (the compose data changed by `mutate`, the .env text
    replaced by `env_text`); returns (compose file, env file) for load_model."""
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    if mutate:
        mutate(data)
    compose_file, env_file = tmp_path / "compose.yaml", tmp_path / ".env"
    compose_file.write_text(yaml.safe_dump(data, sort_keys=False))
    env_file.write_text(env_text if env_text is not None else ENV_FILE.read_text())
    return compose_file, env_file


def cluster_copy(tmp_path, mutate=None, env_text=None):
    """compose.yaml, compose.cluster.yaml and .env copied to tmp_path (the overlay's data changed by `mutate`,
    the .env text replaced by `env_text`); returns ([compose file, overlay], env file) for load_model. The
    overlay keeps its merge tags (!override); its `extends` reads the copy of compose.yaml next to it."""
    base, env_file = project_copy(tmp_path, env_text=env_text)
    data = load_compose_yaml(CLUSTER_FILE.read_text())
    if mutate:
        mutate(data)
    overlay = tmp_path / CLUSTER_FILE.name
    overlay.write_text(dump_compose_yaml(data))
    return [base, overlay], env_file


@pytest.fixture(scope="session")
def resolved(composemodel):
    """compose.yaml as Docker Compose v2 resolves it (compose-go): .env interpolated, schema-validated,
    paths absolute, syntax normalised (ports and volumes in their long form)."""
    load = load_model(composemodel)
    assert load.returncode == 0, f"compose-go rejected compose.yaml: {load.error}"
    return load.model


@pytest.fixture(scope="session")
def cluster_resolved(composemodel):
    """compose.yaml merged with compose.cluster.yaml as Docker Compose v2 resolves them (`docker compose -f
    compose.yaml -f compose.cluster.yaml config`): extends applied, .env interpolated, schema-validated."""
    load = load_model(composemodel, CLUSTER_FILES)
    assert load.returncode == 0, f"compose-go rejected compose.yaml + compose.cluster.yaml: {load.error}"
    return load.model


def one_shot(service):
    """A service that runs once to completion (others depend on it having completed)."""
    return str(service.get("restart", "no")) == "no"


@pytest.fixture(scope="session")
def tools():
    """This module's helpers, for the test files (importlib mode gives them no import path to it)."""
    import sys
    return sys.modules[__name__]
