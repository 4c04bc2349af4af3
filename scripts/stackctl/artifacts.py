"""Everything `up` needs on disk: Java, PostgreSQL (Maven), JVM jars (Maven), Flink (PyPI), psql (Debian).

Jars and the Flink distribution are assembled once per set of versions under the cache dir
(THELOOK_CACHE_DIR, default ~/.cache/thelook-cdc); a later `up` finds them there and downloads nothing.
"""
import fcntl
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

from .settings import ROOT, StackError, cache_dir
from .ui import say

COMPLETE = ".complete"
# set when this process had to download something: a first start on a machine records no JVM class
# archives (see cds.py), so that one-off runs such as CI do not pay for writing them at `down`
fetched = False


@contextmanager
def locked(path):
    """Several stack instances may share the cache: one fills it, the others wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another `up` that is filling {path.parent}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def apt_install(*packages):
    if os.geteuid() != 0:
        raise StackError(f"missing {' '.join(packages)}: run `sudo apt-get install {' '.join(packages)}`")
    say(f"installing {' '.join(packages)} from Debian's archive (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *packages]):
        if subprocess.run(cmd, env=env).returncode != 0:
            raise StackError(f"`{' '.join(cmd)}` failed")


def java_home(major):
    """JAVA_HOME of a Java `major` (Flink's scripts break on newer Javas), installed with apt if missing."""
    def candidates():
        if os.environ.get("THELOOK_JAVA_HOME"):
            yield Path(os.environ["THELOOK_JAVA_HOME"])
        yield from sorted(Path("/usr/lib/jvm").glob(f"java-{major}-openjdk-*"))
        yield from sorted(Path("/usr/lib/jvm").glob("*"))

    def major_of(home):
        release = home / "release"
        if not (home / "bin" / "java").exists() or not release.exists():
            return None
        match = re.search(r'JAVA_VERSION="(\d+)', release.read_text())
        return match.group(1) if match else None

    for attempt in range(2):
        for home in candidates():
            if major_of(home) == str(major):
                return home
        if attempt == 0:
            apt_install(f"openjdk-{major}-jdk-headless")
    raise StackError(f"no Java {major} found under /usr/lib/jvm (set THELOOK_JAVA_HOME)")


# the architectures Maven Central has PostgreSQL builds for (zonky's artifact suffix), by platform.machine()
PG_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64v8", "arm64": "arm64v8"}


def postgres_dist(version, java):
    """A PostgreSQL `version` (MAJOR.MINOR) server distribution (bin/, lib/, share/), from Maven Central's
    io.zonky.test.postgres:embedded-postgres-binaries-linux-<arch> (artifact version MAJOR.MINOR.0), resolved
    by scripts/maven/pom.xml (profile postgres) and unpacked once into the cache."""
    arch = PG_ARCHES.get(platform.machine())
    if not arch:
        raise StackError(f"no PostgreSQL build on Maven Central for this machine ({platform.machine()}; "
                         "there are amd64 and arm64v8 ones)")
    out = cache_dir() / "postgres" / f"postgres-{version}-{arch}"
    if (out / COMPLETE).exists():
        return out
    with locked(cache_dir() / "postgres" / ".lock"):
        if (out / COMPLETE).exists():
            return out
        mvn = _mvn()
        tmp = out.with_name(out.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [mvn, "-B", "-Dstyle.color=never", "-f", str(ROOT / "scripts" / "maven" / "pom.xml"), "-P", "postgres",
               f"-Doutput.dir={tmp}", f"-Dpostgres.version={version}.0", f"-Dpostgres.arch={arch}", "package"]
        if os.environ.get("THELOOK_MAVEN_REPO"):
            cmd.insert(1, f"-Dmaven.repo.local={os.environ['THELOOK_MAVEN_REPO']}")
        global fetched
        fetched = True
        say(f"fetching PostgreSQL {version} ({arch}) with Maven (Maven Central)")
        log = out.with_name(out.name + ".maven.log")
        _run_maven(cmd, log, dict(os.environ, JAVA_HOME=str(java)), what=f"PostgreSQL {version} for {arch}")
        archives = list((tmp / "postgres").glob("*.txz"))
        if not archives:
            raise StackError(f"the PostgreSQL {version} artifact holds no .txz archive", log=log)
        with tarfile.open(archives[0], "r:xz") as archive:
            # the "tar" filter (no absolute paths, no links out of tmp) where Python has it (3.11.4+; Debian 12: 3.11.2)
            archive.extractall(tmp, **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))
        shutil.rmtree(tmp / "postgres")
        shutil.rmtree(tmp / ".maven-build", ignore_errors=True)
        for needed in ("bin/initdb", "bin/postgres", "lib/postgresql/pgoutput.so"):
            if not (tmp / needed).exists():
                raise StackError(f"the PostgreSQL {version} archive lacks {needed}")
        (tmp / COMPLETE).write_text("")
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
        return out


def pg_client(name):
    """psql or pg_isready: the archive has none, Debian's postgresql-client has both (any major talks to any server)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/lib/postgresql/bin")
    if not found:
        apt_install("postgresql-client")
        found = shutil.which(name)
    if not found:
        raise StackError(f"{name} missing after apt-get install postgresql-client")
    return found


def _mvn():
    mvn = shutil.which("mvn")
    if not mvn:
        apt_install("maven")
        mvn = shutil.which("mvn") or "mvn"
    return mvn


def _maven_key(pins):
    """Versions plus a digest of the poms: editing either assembles a fresh folder."""
    digest = hashlib.sha1()
    for pom in sorted((ROOT / "scripts" / "maven").rglob("pom.xml")):
        if pom.parent.name != "postgres":   # PostgreSQL has its own folder (postgres_dist)
            digest.update(pom.read_bytes())
    return (f"kafka-{pins['KAFKA_VERSION']}_debezium-{pins['DEBEZIUM_VERSION']}"
            f"_flink-{pins['FLINK_VERSION']}_kafka-sql-{pins['FLINK_KAFKA_CONNECTOR_VERSION']}"
            f"_jmx-{pins['JMX_EXPORTER_VERSION']}_{digest.hexdigest()[:8]}")


def maven_jars(pins, java):
    """Kafka+Connect classpath, Debezium plugin dir and Flink extra jars, via scripts/maven/pom.xml."""
    out = cache_dir() / "jvm" / _maven_key(pins)
    if (out / COMPLETE).exists():
        return out
    with locked(cache_dir() / "jvm" / ".lock"):
        if (out / COMPLETE).exists():
            return out
        mvn = _mvn()
        shutil.rmtree(out, ignore_errors=True)
        tmp = out.with_name(out.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [mvn, "-B", "-Dstyle.color=never", "-f", str(ROOT / "scripts" / "maven" / "pom.xml"),
               f"-Doutput.dir={tmp}", f"-Dkafka.version={pins['KAFKA_VERSION']}",
               f"-Dscala.binary.version={pins['SCALA_BINARY_VERSION']}",
               f"-Ddebezium.version={pins['DEBEZIUM_VERSION']}", f"-Dflink.version={pins['FLINK_VERSION']}",
               f"-Dflink.kafka.connector.version={pins['FLINK_KAFKA_CONNECTOR_VERSION']}",
               f"-Dlog4j.version={pins['LOG4J_VERSION']}", f"-Djmx.exporter.version={pins['JMX_EXPORTER_VERSION']}",
               "package"]
        if os.environ.get("THELOOK_MAVEN_REPO"):
            cmd.insert(1, f"-Dmaven.repo.local={os.environ['THELOOK_MAVEN_REPO']}")
        global fetched
        fetched = True
        say("fetching Kafka, Kafka Connect, Debezium, Flink jars and the metrics agents with Maven (Maven Central)")
        log = out.with_name(out.name + ".maven.log")
        _run_maven(cmd, log, dict(os.environ, JAVA_HOME=str(java)))
        (tmp / ".maven-build").exists() and shutil.rmtree(tmp / ".maven-build")
        (tmp / COMPLETE).write_text("")
        tmp.rename(out)
        return out


def _run_maven(cmd, log, env, what="the stack's jars"):
    count, size = 0, 0.0
    with open(log, "w") as sink:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for line in proc.stdout:
            sink.write(line)
            done = re.match(r"\[INFO\] Downloaded from \S+: \S+/([^/]+\.jar) \(([\d.]+) (kB|MB|B)", line)
            if done:
                count += 1
                size += float(done.group(2)) * {"B": 1e-6, "kB": 1e-3, "MB": 1}[done.group(3)]
                say(f"  maven: {count:3d} jars, {size:6.1f} MB  {done.group(1)}")
            elif line.startswith("[ERROR]"):
                sys.stderr.write(line)
        if proc.wait() != 0:
            raise StackError(f"Maven could not fetch {what}", log=log)
    say(f"  maven: done ({count} jars downloaded, {size:.1f} MB; log {log})")


def flink_dist(pins, extra_jars):
    """A Flink distribution (bin/, conf/, lib/ with flink-dist) from the PyPI apache-flink wheels."""
    version = pins["FLINK_VERSION"]
    dist = cache_dir() / "flink" / f"flink-{version}_kafka-sql-{pins['FLINK_KAFKA_CONNECTOR_VERSION']}"
    if (dist / COMPLETE).exists():
        return dist
    with locked(cache_dir() / "flink" / ".lock"):
        if (dist / COMPLETE).exists():
            return dist
        wheels = cache_dir() / "pip"
        found = _flink_wheels(wheels, version)
        if len(found) < 2:
            global fetched
            fetched = True
            say(f"fetching Flink {version} (apache-flink, apache-flink-libraries) with pip (PyPI)")
            # the bash launch scripts are the same in every platform wheel: pin one so any host works
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--progress-bar", "on", "--python-version", "3.11", "--platform", "manylinux2014_x86_64",
                   "--implementation", "cp", "--abi", "cp311", "-d", str(wheels),
                   f"apache-flink=={version}", f"apache-flink-libraries=={version}"]
            if subprocess.run(cmd, stdout=sys.stderr).returncode != 0:
                raise StackError(f"pip could not download apache-flink {version}")
            found = _flink_wheels(wheels, version)
        say(f"unpacking Flink {version} into {dist}")
        tmp = dist.with_name(dist.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(dist, ignore_errors=True)
        for wheel in found:
            _unpack_pyflink(wheel, tmp)
        for script in (tmp / "bin").iterdir():
            if script.suffix in (".sh", "") and script.is_file():
                script.chmod(0o755)
        for jar in (extra_jars / "flink-lib").glob("*.jar"):
            # sql-gateway.sh looks for its jar in opt/; connectors belong in lib/
            target = tmp / ("opt" if jar.name.startswith("flink-sql-gateway") else "lib")
            shutil.copy2(jar, target / jar.name)
        if not (tmp / "bin" / "jobmanager.sh").exists() or not list((tmp / "lib").glob("flink-dist-*.jar")):
            raise StackError(f"the apache-flink {version} wheels hold no Flink distribution")
        (tmp / COMPLETE).write_text("")
        tmp.rename(dist)
        return dist


def _flink_wheels(folder, version):
    if not folder.exists():
        return []
    return sorted(list(folder.glob(f"apache_flink-{version}-*.whl"))[:1]
                  + list(folder.glob(f"apache_flink_libraries-{version}-*.whl"))[:1])


def _unpack_pyflink(wheel, target):
    keep = ("bin/", "conf/", "lib/", "opt/", "plugins/", "licenses/", "log/", "README.txt")
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if not member.startswith("pyflink/"):
                continue
            rel = member[len("pyflink/"):]
            if not rel.startswith(keep) or rel.endswith("/") or rel.startswith(("bin/__", "conf/__")):
                continue
            if rel.endswith(".py") or rel.endswith(".pyc"):
                continue
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst)
