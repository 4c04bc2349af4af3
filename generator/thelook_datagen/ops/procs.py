"""Processes by /proc (Linux): whose child each one is, and when it started.

Shared by the launcher (scripts/stackctl/supervise.py: a service's whole tree is stopped, and a process is
named by its pid and start time, as pids are reused) and the node-failure scenario (a node's whole tree is
killed, as a crash would). Fields of /proc/PID/stat are read after the last ")": the command name before it
may itself hold spaces and parentheses."""
from pathlib import Path


def _stat(pid):
    """The fields of /proc/PID/stat after the command name (state first), or None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def parent(pid):
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def start_time(pid):
    """Process start time (clock ticks since boot): with pid reuse, (pid, start_time) names a process."""
    fields = _stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def is_zombie(pid):
    fields = _stat(pid)
    return bool(fields) and fields[0] == "Z"


def tree(root_pid):
    """{pid: start_time} of root_pid and every process below it that is still there (one walk of /proc)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = {}, [root_pid]
    while todo:
        pid = todo.pop()
        started = start_time(pid)
        if started is not None:
            found[pid] = started
            todo += children.get(pid, [])
    return found
