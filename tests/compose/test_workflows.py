"""The GitHub Actions workflows (.github/workflows): actionlint accepts them, and each does what the
project relies on it for. None can run here (no Docker engine, no runner): these checks are what can
be known before GitHub runs them.

actionlint is installed with `go install` at the version pinned in .env (ACTIONLINT_VERSION) into the
Go tools cache (tests/compose/gotools.py); the first run downloads and compiles it (progress on stderr).
"""
import subprocess

import pytest
import yaml

WORKFLOWS = {"local-stack.yml", "compose-stack.yml", "image-pins.yml"}


@pytest.fixture(scope="module")
def actionlint(env_pins, progress, tools):
    try:
        return tools.gotools.actionlint(env_pins.get("ACTIONLINT_VERSION", ""), progress)
    except tools.gotools.GoToolError as err:
        pytest.fail(str(err))


@pytest.fixture(scope="module")
def workflows(tools):
    folder = tools.ROOT / ".github" / "workflows"
    return {p.name: p for p in sorted(folder.glob("*.y*ml"))}


def lint(actionlint, paths, cwd):
    # -shellcheck= and -pyflakes= switch off the optional linters, so the result does not depend on
    # what else happens to be installed on the machine
    return subprocess.run([str(actionlint), "-no-color", "-shellcheck=", "-pyflakes=", *map(str, paths)],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_actionlint_accepts_the_workflows(actionlint, workflows, tools):
    assert set(workflows) == WORKFLOWS
    out = lint(actionlint, workflows.values(), tools.ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("breakage", ["runs-on: ubuntu-latest", "uses: actions/checkout@v6\n", "${{ github.workspace }}"],
                         ids=["unknown key", "unknown action input", "undefined expression"])
def test_actionlint_catches_a_broken_workflow(actionlint, workflows, tmp_path, breakage):
    text = workflows["compose-stack.yml"].read_text()
    assert breakage in text
    if breakage.startswith("runs-on"):
        text = text.replace("runs-on: ubuntu-latest", "runs-onn: ubuntu-latest", 1)
    elif breakage.startswith("uses"):
        text = text.replace(breakage, breakage + "        with:\n          fetch-deepth: 1\n", 1)
    else:
        text = text.replace(breakage, "${{ github.workspacee }}", 1)
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "compose-stack.yml").write_text(text)
    out = lint(actionlint, [folder / "compose-stack.yml"], tmp_path)
    assert out.returncode == 1 and out.stdout.strip(), out.stdout + out.stderr


def _load(path):
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))   # YAML 1.1 reads the key `on` as true
    return data


def _runs(job):
    return [step.get("run", "") for step in job["steps"]]


def test_local_and_compose_paths_run_on_pull_requests_and_nightly(workflows):
    for name in ("local-stack.yml", "compose-stack.yml"):
        on = _load(workflows[name])["on"]
        assert "pull_request" in on and on.get("schedule"), f"{name} should run on pull requests and nightly"


def test_local_workflow_runs_scripts_test(workflows):
    job = _load(workflows["local-stack.yml"])["jobs"]["test"]
    assert "container" not in job and job["runs-on"] == "ubuntu-latest"
    assert [r for r in _runs(job) if r.strip() == "scripts/test"], "the job should run scripts/test as it is"
    uploads = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert uploads and uploads[0].get("if") == "failure()"


def test_compose_workflow_runs_the_one_command_and_keeps_the_logs(workflows):
    job = _load(workflows["compose-stack.yml"])["jobs"]["test"]
    runs = _runs(job)
    assert "scripts/test --stack=compose" in [r.strip() for r in runs]
    log_dir = job["env"]["THELOOK_COMPOSE_LOG_DIR"]
    uploads = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert uploads and uploads[0].get("if") == "failure()"
    assert log_dir.endswith(uploads[0]["with"]["path"].rstrip("/")), "the upload must take the folder the logs go to"
    last = job["steps"][-1]
    assert last.get("if") == "always()" and "docker compose down --volumes" in last["run"]


def test_image_workflow_inspects_every_pin_nightly(workflows):
    data = _load(workflows["image-pins.yml"])
    assert data["on"].get("schedule")
    runs = "\n".join(_runs(data["jobs"]["platforms"]))
    assert "docker compose config --format json" in runs and "tests/compose/pinned_images.py" in runs


def test_workflows_name_no_missing_file(workflows, tools):
    """Paths the workflows hand to tools (go.mod for setup-go, scripts) exist in the repository."""
    for name, path in workflows.items():
        text = path.read_text()
        for ref in ("tests/compose/composemodel/go.mod", "tests/compose/composemodel/go.sum",
                    "tests/compose/pinned_images.py", "scripts/test"):
            if ref in text:
                assert (tools.ROOT / ref).exists(), f"{name} refers to {ref}, which does not exist"
