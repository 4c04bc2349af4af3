"""Runs a command and samples its resident memory (VmRSS from /proc/<pid>/status) while it runs."""
import os
import signal
import subprocess
import threading
import time


def vm_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class WatchedProcess:
    """A child process whose RSS is sampled every `interval` seconds into `samples` [(t, kib)]."""

    def __init__(self, argv, env=None, interval=1.0, stdout_path=None):
        self.out = open(stdout_path, "w") if stdout_path else subprocess.DEVNULL
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, env=env, stdout=self.out, stderr=subprocess.STDOUT
                                     if stdout_path else subprocess.DEVNULL, text=True)
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval,), daemon=True)
        self._thread.start()

    def _sample(self, interval):
        while not self._stop.is_set() and self.proc.poll() is None:
            kib = vm_rss_kib(self.proc.pid)
            if kib:
                self.samples.append((time.monotonic() - self.started, kib))
            self._stop.wait(interval)

    def wait(self, timeout=None):
        """Waits for exit; after `timeout` seconds sends SIGINT (graceful stop) and waits for that."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGINT)
            try:
                rc = self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        self._stop.set()
        self._thread.join()
        if self.out is not subprocess.DEVNULL:
            self.out.close()
        return rc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout=60)

    def rss_summary(self):
        """(start, peak, end) in MiB, where start is the first sample after warm-up."""
        if not self.samples:
            return None
        kib = [k for _, k in self.samples]
        return kib[0] / 1024, max(kib) / 1024, kib[-1] / 1024


def cpu_seconds(pid):
    """utime + stime of a process from /proc (None if it is gone or not readable)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BackendCpu:
    """CPU time of the PostgreSQL backends serving `application_name`, sampled from /proc.

    Works when PostgreSQL runs on this machine and its processes are readable (root or the same
    user); otherwise `seconds` stays None. CPU used in the last `interval` before a backend exits
    is not seen, so the figure is a slight underestimate."""

    def __init__(self, conn_factory, application_name, interval=0.2):
        self.seen = {}
        self.available = None
        self._conn = conn_factory()
        self._conn.autocommit = True
        self._app = application_name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval):
        while not self._stop.is_set():
            try:
                with self._conn.cursor() as cur:
                    cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (self._app,))
                    pids = [r[0] for r in cur.fetchall()]
            except Exception:
                return
            for pid in pids:
                cpu = cpu_seconds(pid)
                if cpu is None:
                    if self.available is None:
                        self.available = False
                    continue
                self.available = True
                self.seen[pid] = max(cpu, self.seen.get(pid, 0.0))
            self._stop.wait(interval)

    def total(self):
        return sum(self.seen.values()) if self.available else None

    def stop(self):
        self._stop.set()
        self._thread.join()
        self._conn.close()
        return self.total()
