"""Class-data sharing archives: the JVMs of the stack start with roughly half the CPU once one exists.

The first run of a service (after the one that downloaded the artifacts) records the classes it loaded (-XX:ArchiveClassesAtExit, written when it stops)
into the instance's data dir; `down` publishes it to the cache, keyed by Java and the jar folders, where every
later start of any instance maps it (-XX:SharedArchiveFile). A stale or unusable archive only costs the speed-up:
the JVM then starts without it.
"""
import hashlib
import os
import shutil

from . import artifacts
from .settings import cache_dir


def _name(lay, service, jvm_options):
    # an archive only maps into a JVM started with the same class path and compatible options
    key = hashlib.sha1(f"{lay.java}|{lay.jars}|{lay.flink}|{service}|{' '.join(jvm_options)}".encode())
    key = key.hexdigest()[:10]
    return f"{service}-{key}.jsa"


def jvm_flags(lay, service, jvm_options=(), java_agent=False, record=True):
    """Flags that map the service's archive, or (record) that write one at exit when there is none yet."""
    # the JVM's cds log lines (classes it skips while dumping) are noise in the service logs
    shared = cache_dir() / "cds" / _name(lay, service, jvm_options)
    if shared.exists():
        return [f"-XX:SharedArchiveFile={shared}", "-Xlog:cds*=off"]
    if not record or artifacts.fetched or (cache_dir() / "cds" / (_name(lay, service, jvm_options) + ".failed")).exists():
        return []
    local = lay.data / "cds" / _name(lay, service, jvm_options)
    local.parent.mkdir(parents=True, exist_ok=True)
    # A JVM with a Java agent (the JMX exporter in Kafka and Connect) refuses to start when asked to dump an
    # archive unless this diagnostic switch allows it. The JMX exporter changes no classes; the JVMs that map
    # the archive later print one warning line at start ("created with AllowArchivingWithJavaAgent").
    agent = ["-XX:+UnlockDiagnosticVMOptions", "-XX:+AllowArchivingWithJavaAgent"] if java_agent else []
    return [f"-XX:ArchiveClassesAtExit={local}", *agent, "-Xlog:cds*=off"]


def discard(data, service):
    """A JVM killed while writing its archive (a very busy machine): do not try again for this service."""
    for archive in (data / "cds").glob(f"{service}-*.jsa") if (data / "cds").exists() else ():
        failed = cache_dir() / "cds" / (archive.name + ".failed")
        failed.parent.mkdir(parents=True, exist_ok=True)
        failed.touch()
        archive.unlink()


def publish(data):
    """Moves archives written by stopped JVMs into the shared cache (atomically; first one wins)."""
    for archive in (data / "cds").glob("*.jsa") if (data / "cds").exists() else ():
        target = cache_dir() / "cds" / archive.name
        if not target.exists() and archive.stat().st_size > 0:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            shutil.copyfile(archive, tmp)
            os.replace(tmp, target)
        archive.unlink()
