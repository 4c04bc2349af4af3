"""One supervisord per stack instance: its config, socket, pidfile and logs live in the data dir."""
import os
import shlex
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport
from thelook_datagen.ops.procs import is_zombie, start_time, tree

from .settings import StackError

FAILED_STATES = ("EXITED", "FATAL", "BACKOFF", "STOPPED", "UNKNOWN")
# set in every service's environment (inherited by its children) so that `down` can find them
# even if supervisord itself has died
MARKER = "THELOOK_SUPERVISED_BY"


def conf_path(data):
    return data / "run" / "supervisord.conf"


def socket_path(data):
    return data / "run" / "supervisor.sock"


def proxy(data):
    """An XML-RPC client of this instance's supervisord, or None if it is not running."""
    sock = socket_path(data)
    if not sock.exists():
        return None
    server = xmlrpc.client.ServerProxy(
        "http://127.0.0.1", transport=SupervisorTransport(None, None, f"unix://{sock}"))
    try:
        if server.supervisor.getState()["statename"] == "RUNNING":
            return server.supervisor
    except (OSError, xmlrpc.client.Error):
        pass
    return None


def _quote(value):
    return str(value).replace("%", "%%")


def write_conf(data, services, base_path):
    run, logs = data / "run", data / "logs"
    lines = [
        "[unix_http_server]", f"file={_quote(socket_path(data))}", "chmod=0700", "",
        "[supervisord]", f"pidfile={_quote(run / 'supervisord.pid')}", f"logfile={_quote(logs / 'supervisord.log')}",
        "logfile_maxbytes=5MB", "logfile_backups=1", f"childlogdir={_quote(logs)}",
        f"directory={_quote(data)}", f"identifier=thelook-stack:{_quote(data)}", "nodaemon=false",
    ]
    if os.geteuid() == 0:
        lines.append("user=root")
    lines += ["", "[rpcinterface:supervisor]",
              "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
              "[supervisorctl]", f"serverurl=unix://{_quote(socket_path(data))}", ""]
    for svc in services:
        env = {"PATH": base_path, "LANG": "C.UTF-8", MARKER: str(data), **svc.env}
        lines += [
            f"[program:{svc.name}]", f"command={_quote(shlex.join(svc.command))}", f"directory={_quote(data)}",
            "autostart=false", "autorestart=false", "startsecs=2", "startretries=0",
            # a JVM writing its class archive at exit (cds.py) may need a while on a busy machine
            f"stopsignal={svc.stopsignal}", "stopwaitsecs=90", "stopasgroup=true", "killasgroup=true",
            "exitcodes=0,143",
            "redirect_stderr=true", f"stdout_logfile={_quote(logs / (svc.name + '.log'))}",
            "stdout_logfile_maxbytes=50MB", "stdout_logfile_backups=2",
            "environment=" + ",".join(f'{k}="{_quote(v)}"' for k, v in env.items()),
        ]
        if svc.user:
            lines.append(f"user={svc.user}")
        lines.append("")
    path = conf_path(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def start_supervisord(data, base_path):
    (data / "logs").mkdir(parents=True, exist_ok=True)
    stale = socket_path(data)
    if stale.exists():
        stale.unlink()
    out_file = data / "logs" / "supervisord.start.log"
    # a clean environment: the services see only what their program sections give them
    env = {"PATH": base_path, "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
    with open(out_file, "w") as out:
        code = subprocess.run([sys.executable, "-m", "supervisor.supervisord", "-c", str(conf_path(data))],
                              stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                              cwd=data).returncode
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        server = proxy(data)
        if server:
            return server
        time.sleep(0.2)
    raise StackError(f"supervisord did not start (exit {code})", log=out_file)


def supervisord_pid(data):
    try:
        return int((data / "run" / "supervisord.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is gone for our purposes (and so is one that ended since)
    return start_time(pid) is not None and not is_zombie(pid)


def orphans(data):
    """{pid: start_time} of processes left from a supervisord that died (they carry its marker variable)."""
    marker = f"{MARKER}={data}".encode() + b"\0"
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ and int(entry.name) not in found:
            found.update(tree(int(entry.name)))
    return found


def still_running(procs):
    """The processes of a tree() snapshot that are still alive (same pid, same start time, not a zombie)."""
    return [pid for pid, started in procs.items() if start_time(pid) == started and pid_alive(pid)]


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
