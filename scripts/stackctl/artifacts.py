"""Everything `up` needs on disk: Java, PostgreSQL binaries (Debian), JVM jars (Maven), Flink (PyPI).

Jars and the Flink distribution are assembled once per set of versions under the cache dir
(THELOOK_CACHE_DIR, default ~/.cache/thelook-cdc); a later `up` finds them there and downloads nothing.
"""
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
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


def postgres_bin(major):
    bindir = Path(f"/usr/lib/postgresql/{major}/bin")
    if not (bindir / "postgres").exists():
        # keep Debian's package from creating and starting its own cluster on 5432
        apt_install("postgresql-common")
        conf = Path("/etc/postgresql-common/createcluster.conf")
        if conf.exists():
            text = re.sub(r"^#?\s*create_main_cluster\s*=.*$", "create_main_cluster = false",
                          conf.read_text(), flags=re.M)
            conf.write_text(text)
        apt_install(f"postgresql-{major}")
    if not (bindir / "postgres").exists():
        raise StackError(f"PostgreSQL {major} binaries missing in {bindir} after apt-get install")
    return bindir


def _maven_key(pins):
    """Versions plus a digest of the poms: editing either assembles a fresh folder."""
    digest = hashlib.sha1()
    for pom in sorted((ROOT / "scripts" / "maven").rglob("pom.xml")):
        digest.update(pom.read_bytes())
    return (f"kafka-{pins['KAFKA_VERSION']}_debezium-{pins['DEBEZIUM_VERSION']}"
            f"_flink-{pins['FLINK_VERSION']}_kafka-sql-{pins['FLINK_KAFKA_CONNECTOR_VERSION']}"
            f"_{digest.hexdigest()[:8]}")


def maven_jars(pins, java):
    """Kafka+Connect classpath, Debezium plugin dir and Flink extra jars, via scripts/maven/pom.xml."""
    out = cache_dir() / "jvm" / _maven_key(pins)
    if (out / COMPLETE).exists():
        return out
    with locked(cache_dir() / "jvm" / ".lock"):
        if (out / COMPLETE).exists():
            return out
        mvn = shutil.which("mvn")
        if not mvn:
            apt_install("maven")
            mvn = shutil.which("mvn") or "mvn"
        shutil.rmtree(out, ignore_errors=True)
        tmp = out.with_name(out.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [mvn, "-B", "-Dstyle.color=never", "-f", str(ROOT / "scripts" / "maven" / "pom.xml"),
               f"-Doutput.dir={tmp}", f"-Dkafka.version={pins['KAFKA_VERSION']}",
               f"-Dscala.binary.version={pins['SCALA_BINARY_VERSION']}",
               f"-Ddebezium.version={pins['DEBEZIUM_VERSION']}", f"-Dflink.version={pins['FLINK_VERSION']}",
               f"-Dflink.kafka.connector.version={pins['FLINK_KAFKA_CONNECTOR_VERSION']}",
               f"-Dlog4j.version={pins['LOG4J_VERSION']}", "package"]
        if os.environ.get("THELOOK_MAVEN_REPO"):
            cmd.insert(1, f"-Dmaven.repo.local={os.environ['THELOOK_MAVEN_REPO']}")
        global fetched
        fetched = True
        say("fetching Kafka, Kafka Connect, Debezium and Flink jars with Maven (Maven Central)")
        log = out.with_name(out.name + ".maven.log")
        _run_maven(cmd, log, dict(os.environ, JAVA_HOME=str(java)))
        (tmp / ".maven-build").exists() and shutil.rmtree(tmp / ".maven-build")
        (tmp / COMPLETE).write_text("")
        tmp.rename(out)
        return out


def _run_maven(cmd, log, env):
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
            raise StackError("Maven could not fetch the stack's jars", log=log)
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
