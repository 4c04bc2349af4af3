"""Runs a command and samples its resident memory (VmRSS from /proc/<pid>/status) while it runs."""
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
