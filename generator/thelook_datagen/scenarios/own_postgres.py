"""A PostgreSQL instance of a scenario's own, next to the running stack: `scripts/stack up --only postgres` with
its own data dir (THELOOK_STACK_DIR under /tmp, enterable by the postgres OS user), a free port, and a
max_slot_wal_keep_size of the scenario's choosing (THELOOK_PG_MAX_SLOT_WAL_KEEP_SIZE): that setting is
server-wide, so a scenario that lets PostgreSQL invalidate a slot must never lower it on the stack's own
server. Stopped and wiped by `wipe()`, whatever happened."""
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from . import ScenarioError

ROOT = Path(__file__).resolve().parents[3]
STACK = ROOT / "scripts" / "stack"
# what the instance inherits of the caller's THELOOK_* variables: where the binaries are cached, nothing that
# would point it at the stack's own data dir or ports
KEPT = ("THELOOK_CACHE_DIR", "THELOOK_MAVEN_REPO", "THELOOK_JAVA_HOME")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def socket_dir(data):
    """The instance's unix socket dir, as scripts/stackctl lays it out (a socket path may not exceed 107 bytes)."""
    sock = Path(data) / "run" / "pg"
    return sock if len(str(sock)) < 80 else Path("/tmp") / f"thelook-pg-{hashlib.sha1(bytes(Path(data))).hexdigest()[:10]}"


class OwnPostgres:
    def __init__(self, limit_mb):
        if not STACK.exists():
            raise ScenarioError(f"this scenario starts a PostgreSQL of its own with {STACK}, which is not there",
                                "run it from the repository (scripts/scenario)")
        self.data = Path(tempfile.mkdtemp(prefix="thelook-slotinv-", dir="/tmp"))
        # the postgres OS user (the server refuses to run as root) must be able to enter it
        self.data.chmod(0o755)
        self.port = free_port()
        self.limit_mb = limit_mb
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("THELOOK_") or k in KEPT}
        self.env.update(THELOOK_STACK_DIR=str(self.data), THELOOK_PG_PORT=str(self.port),
                        THELOOK_PG_MAX_SLOT_WAL_KEEP_SIZE=f"{limit_mb}MB")
        self.pg = None          # PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE of the instance
        self.started = False

    def stack(self, *args, timeout=300):
        return subprocess.run([str(STACK), *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def start(self):
        self.started = True
        res = self.stack("up", "--only", "postgres")
        if res.returncode != 0:
            last = ([ln for ln in (res.stderr + res.stdout).splitlines() if ln.strip()] or ["no output"])[-1]
            raise ScenarioError(f"the scenario's own PostgreSQL did not start: {last}")
        out = self.stack("env").stdout
        self.pg = {line.split("=", 1)[0][len("export "):]: line.split("=", 1)[1].strip("'")
                   for line in out.splitlines() if line.startswith("export PG")}
        if "PGPORT" not in self.pg:
            raise ScenarioError(f"scripts/stack env of the scenario's PostgreSQL gave no PGPORT: {out.strip()[:200]}")

    def conn_kw(self):
        return {"host": self.pg["PGHOST"], "port": int(self.pg["PGPORT"]), "user": self.pg["PGUSER"],
                "password": self.pg["PGPASSWORD"], "dbname": self.pg["PGDATABASE"], "connect_timeout": 10,
                "application_name": "thelook-scenario"}

    def superuser(self):
        """An autocommit connection as the instance's superuser, through its private unix socket (local trust):
        pg_switch_wal() and CHECKPOINT need it; the demo role is no superuser."""
        import psycopg2
        try:
            conn = psycopg2.connect(host=str(socket_dir(self.data)), port=self.port, user="postgres",
                                    dbname=self.pg["PGDATABASE"], connect_timeout=10)
        except psycopg2.OperationalError as err:
            first = (str(err).strip().splitlines() or ["connection failed"])[0]
            raise ScenarioError(f"cannot connect as superuser to the scenario's own PostgreSQL: {first}") from None
        conn.autocommit = True
        return conn

    def status(self):
        """`scripts/stack status` of the instance: (exit status, its lines)."""
        res = self.stack("status", timeout=60)
        return res.returncode, [ln for ln in res.stdout.splitlines() if ln.strip()]

    def wipe(self):
        """Stops the instance and deletes its data dir; returns None, or why it could not."""
        problem = None
        if self.started:
            try:
                res = self.stack("down", "--wipe", timeout=300)
                if res.returncode != 0:
                    problem = ([ln for ln in res.stderr.splitlines() if ln.strip()] or ["scripts/stack down failed"])[-1]
            except subprocess.TimeoutExpired:
                problem = "scripts/stack down --wipe did not finish within 300 s"
        shutil.rmtree(self.data, ignore_errors=True)
        return problem
