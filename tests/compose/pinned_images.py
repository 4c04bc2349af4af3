"""Every image the compose project pulls exists at its pinned tag for linux/amd64 and linux/arm64.

The images are read from the project as Docker Compose v2 resolves it (`docker compose config
--format json`, or tests/compose/composemodel): the image of every service that is not built here,
plus the base images (FROM) of the Dockerfiles it builds, with their build arguments applied (the
generator's python:${PYTHON_IMAGE_TAG}). Each is inspected in its registry with
`docker buildx imagetools inspect --raw`, which reads the manifest without pulling anything.

Usage (the nightly workflow .github/workflows/image-pins.yml):
  docker compose config --format json > model.json
  python3 tests/compose/pinned_images.py model.json           # inspect every image
  python3 tests/compose/pinned_images.py --list model.json    # only print them

Exit status 0 when every image is there for both platforms, 1 when one is missing, single-arch or
lacks a platform, 2 when it could not run. Standard library only: the workflow runs it with the
runner's python3.
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

PLATFORMS = ("linux/amd64", "linux/arm64")
ARG_REF = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def dockerfile_bases(dockerfile, build_args):
    """The images the FROM lines of a Dockerfile pull, with ARG defaults and build arguments applied
    (stages named by an earlier FROM ... AS and `scratch` pull nothing)."""
    args, stages, bases = {}, set(), []
    for line in Path(dockerfile).read_text().splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        keyword = words[0].upper()
        if keyword == "ARG" and len(words) > 1:
            name, _, default = words[1].partition("=")
            args[name] = build_args.get(name, default)
        elif keyword == "FROM":
            words = [w for w in words[1:] if not w.startswith("--")]
            image = ARG_REF.sub(lambda m: args.get(m.group(1) or m.group(2), ""), words[0])
            if image != "scratch" and image not in stages:
                bases.append(image)
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2])
    return bases


def pinned_images(model):
    """Sorted images the project pulls: services' images and the base images of what it builds."""
    images = set()
    for svc in model["services"].values():
        build = svc.get("build")
        if not build:
            images.add(svc["image"])
            continue
        dockerfile = Path(build["context"]) / build.get("dockerfile", "Dockerfile")
        images.update(dockerfile_bases(dockerfile, build.get("args") or {}))
    return sorted(images)


def platform_problems(image, manifest):
    """Problems of one image's raw manifest (an index listing platforms, or a single manifest)."""
    entries = manifest.get("manifests")
    if entries is None:
        return [f"{image}: a single-platform manifest, not an index of {' and '.join(PLATFORMS)}"]
    found = set()
    for entry in entries:
        platform = entry.get("platform") or {}
        found.add(f"{platform.get('os')}/{platform.get('architecture')}")
    missing = [p for p in PLATFORMS if p not in found]
    return [f"{image}: no {p} image (it has {', '.join(sorted(found - {'unknown/unknown'})) or 'none'})"
            for p in missing]


def inspect(image):
    """The raw manifest of `image` from its registry (a few tries, PINNED_IMAGES_ATTEMPTS, default 3:
    registries have bad moments)."""
    attempts = max(1, int(os.environ.get("PINNED_IMAGES_ATTEMPTS", "3")))
    for attempt in range(1, attempts + 1):
        proc = subprocess.run(["docker", "buildx", "imagetools", "inspect", "--raw", image],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode == 0:
            return json.loads(proc.stdout), None
        error = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        if attempt < attempts:
            time.sleep(5 * attempt)
    return None, f"{image}: cannot be inspected: {error[0]}"


def main(argv):
    listing = argv[:1] == ["--list"]
    if listing:
        argv = argv[1:]
    if len(argv) != 1:
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    try:
        images = pinned_images(json.loads(Path(argv[0]).read_text()))
    except (OSError, ValueError, KeyError) as err:
        print(f"pinned_images: error: cannot read the compose model {argv[0]}: {err}", file=sys.stderr)
        return 2
    if listing:
        print("\n".join(images))
        return 0
    problems = []
    for image in images:
        manifest, error = inspect(image)
        found = [error] if error else platform_problems(image, manifest)
        print(f"{'FAIL' if found else 'ok  '} {image}" + "".join(f"\n     {p}" for p in found), flush=True)
        problems += found
    if problems:
        print(f"pinned_images: error: {len(problems)} problem(s) with the pinned images (see above)", file=sys.stderr)
        return 1
    print(f"all {len(images)} pinned images exist for {' and '.join(PLATFORMS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
