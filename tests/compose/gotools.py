"""The Go programs the compose and workflow checks run, built with the Go toolchain into a cache folder.

- composemodel (tests/compose/composemodel, its own go.mod/go.sum): compose.yaml as Docker Compose v2
  resolves it (compose-go), printed as JSON.
- actionlint, the GitHub Actions workflow linter, installed with `go install` at the version pinned in
  .env (ACTIONLINT_VERSION).

Both come from the Go module proxy and are verified against go.sum / the checksum database. The
binaries live in $THELOOK_CACHE_DIR/go-tools (default ~/.cache/thelook-cdc/go-tools), never in the
repository: the first build downloads and compiles (about a minute, progress on stderr), later runs
find the binary. composemodel's binary is named after a digest of its sources and of the Go version,
so an edit of main.go, go.mod or go.sum builds a new one.
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
COMPOSEMODEL_SRC = HERE / "composemodel"
ACTIONLINT_PACKAGE = "github.com/rhysd/actionlint/cmd/actionlint"


class GoToolError(Exception):
    """The Go toolchain is missing or a build failed (the message says what to do)."""


def cache_dir():
    base = os.environ.get("THELOOK_CACHE_DIR")
    if base:
        root = Path(base).expanduser()
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "thelook-cdc"
    return root / "go-tools"


def go_binary():
    go = shutil.which("go")
    if not go:
        raise GoToolError("the Go toolchain (go) is not on PATH: install Go 1.25 or newer "
                          "(https://go.dev/dl/; the workflows use actions/setup-go)")
    return go


def go_env(go):
    """The Go environment for the builds: static binaries, no VCS stamping, the caller's proxy settings."""
    env = dict(os.environ, CGO_ENABLED="0")
    env["GOFLAGS"] = (env.get("GOFLAGS", "") + " -buildvcs=false").strip()
    return env


def go_version(go):
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise GoToolError(f"`go env GOVERSION` failed: {out.stderr.strip()}")
    return out.stdout.strip()


@contextmanager
def _locked(folder):
    """One build at a time per cache folder (two test runs may start together)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _run_showing_progress(cmd, cwd, env, say, what):
    """Runs a go command, passing each line it prints to `say` as it comes (downloads, packages)."""
    say(f"[go-tools] {what}: {' '.join(cmd[1:])}")
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        line = line.rstrip()
        lines.append(line)
        say(f"[go-tools]   {line}")
    if proc.wait() != 0:
        tail = "\n".join(lines[-30:])
        raise GoToolError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    say(f"[go-tools] {what}: done in {time.monotonic() - started:.0f} s")


def composemodel(say=lambda line: None):
    """Path of the composemodel binary, built first if this version of its sources has none yet."""
    go = go_binary()
    digest = hashlib.sha256(go_version(go).encode())
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update(name.encode() + b"\0" + (COMPOSEMODEL_SRC / name).read_bytes())
    folder = cache_dir()
    binary = folder / f"composemodel-{digest.hexdigest()[:16]}"
    if binary.exists():
        return binary
    with _locked(folder):
        if binary.exists():
            return binary
        say("[go-tools] building tests/compose/composemodel (compose-go, the Docker Compose v2 loader) "
            f"into {folder}; the first build downloads modules and compiles for about a minute")
        env = go_env(go)
        _run_showing_progress([go, "mod", "download", "-x"], COMPOSEMODEL_SRC, env, say, "download")
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            out = Path(tmp) / "composemodel"
            _run_showing_progress([go, "build", "-v", "-trimpath", "-o", str(out), "."],
                                  COMPOSEMODEL_SRC, env, say, "build")
            os.replace(out, binary)
    return binary


def actionlint(version, say=lambda line: None):
    """Path of actionlint `version` (e.g. v1.7.12), installed with `go install` first if missing."""
    if not version or not version.startswith("v"):
        raise GoToolError(f"ACTIONLINT_VERSION={version!r} in .env should be a module version such as v1.7.12")
    go = go_binary()
    folder = cache_dir()
    binary = folder / f"actionlint-{version}" / "actionlint"
    if binary.exists():
        return binary
    with _locked(folder):
        if binary.exists():
            return binary
        say(f"[go-tools] installing actionlint {version} with `go install` (Go module proxy) into "
            f"{binary.parent}; the first time downloads modules and compiles for about a minute")
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            env = dict(go_env(go), GOBIN=tmp)
            _run_showing_progress([go, "install", "-v", "-trimpath", f"{ACTIONLINT_PACKAGE}@{version}"],
                                  tmp, env, say, "go install")
            binary.parent.mkdir(parents=True, exist_ok=True)
            os.replace(Path(tmp) / "actionlint", binary)
    return binary
