#!/usr/bin/env python3
"""Builds the popguard image's root filesystem without a container runtime.

The runtime stage of the Dockerfile is the only description of the image:
this script executes it. Its `FROM debian:12-slim` becomes an mmdebstrap
minbase bookworm root filesystem (with the packages of
scripts/image-runtime-packages, so its RUN steps need no network); COPY and
RUN are carried out in that tree (RUN with chroot); ENV, USER, EXPOSE,
ENTRYPOINT and CMD are written to image-config.json. Any other instruction,
another base image or a COPY --from of a stage other than `build` stops the
script, so a change to the Dockerfile cannot silently leave the rootfs behind.
The build stage is replaced by the local build directory (its /build/X is
BUILD_DIR/X, stripped as the build stage strips it).

Output (OUT_DIR): rootfs/ (the tree), popguard-rootfs.tar (for `podman
import` or `docker import` with the config's USER and ENTRYPOINT) and
image-config.json. The mmdebstrap base is cached in OUT_DIR/base-<hash>.tar,
keyed by the base image and the package list.

Usage: image-rootfs.py --source SRC --build-dir BUILD --out OUT_DIR [--check]
(--check only parses and checks the Dockerfile; `make test` runs it.)
"""
import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile

BASES = {"debian:12-slim": ("bookworm", "minbase")}


def parse_dockerfile(path):
    """Returns the stages as [(name, base, [(instruction, args)])]."""
    lines, cur = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not cur and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.endswith("\\"):
                cur += line[:-1] + " "
                continue
            lines.append(cur + line)
            cur = ""
    stages = []
    for line in lines:
        instr, _, args = line.strip().partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append((name, words[0], []))
        else:
            stages[-1][2].append((instr, args.strip()))
    return stages


def fail(msg):
    sys.exit(f"image-rootfs: {msg}")


def parse_copy(args):
    """Returns (from_stage or None, sources, destination) of a COPY, or fails."""
    words = shlex.split(args)
    frm = None
    if words and words[0].startswith("--from="):
        frm = words.pop(0)[len("--from="):]
    if frm not in (None, "build") or len(words) < 2 or any(w.startswith("--") for w in words):
        fail(f"unsupported COPY {args}")
    *srcs, dest = words
    if len(srcs) > 1 and not dest.endswith("/"):
        fail(f"COPY of several files needs a directory destination: {args}")
    if frm == "build" and not all(s.startswith("/build/") for s in srcs):
        fail(f"COPY --from=build of {srcs}: only /build/ outputs are known")
    return frm, srcs, dest


def packages(source):
    with open(os.path.join(source, "scripts/image-runtime-packages")) as f:
        return [w for line in f for w in line.split("#")[0].split()]


def base_tar(out, suite, variant, pkgs):
    key = hashlib.sha256(json.dumps([suite, variant, pkgs]).encode()).hexdigest()[:16]
    tar = os.path.join(out, f"base-{key}.tar")
    if os.path.exists(tar):
        return tar
    for old in os.listdir(out):
        if old.startswith("base-") and old.endswith(".tar"):
            os.remove(os.path.join(out, old))
    tmp = tar + ".partial"
    # The default mirror of mmdebstrap for a stable suite, plus its updates and
    # security suites, like the debian:12 images.
    cmd = ["mmdebstrap", "--quiet", "--format=tar", f"--variant={variant}", "--include=" + ",".join(pkgs), suite, tmp]
    print("image-rootfs:", " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True)
    os.replace(tmp, tar)
    return tar


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", required=True)
    p.add_argument("--build-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--check", action="store_true",
                   help="only check that the Dockerfile's runtime stage can be reproduced; build nothing")
    a = p.parse_args()
    source, build, out = (os.path.abspath(x) for x in (a.source, a.build_dir, a.out))
    stages = parse_dockerfile(os.path.join(source, "Dockerfile"))
    if len(stages) != 2 or stages[0][0] != "build":
        fail("expected two stages, `build` then the runtime stage")
    _, base, steps = stages[-1]
    if base not in BASES:
        fail(f"runtime base {base} has no mmdebstrap equivalent here (known: {', '.join(BASES)})")
    suite, variant = BASES[base]
    known = {"COPY", "RUN", "ENV", "USER", "EXPOSE", "ENTRYPOINT", "CMD"}
    for instr, args in steps:  # before any work, so a drift is reported at once
        if instr not in known:
            fail(f"instruction {instr} in the runtime stage is not supported by this script")
        if instr == "COPY":
            parse_copy(args)
    if a.check:
        print(f"image-rootfs: the runtime stage ({base}, {len(steps)} instructions) can be reproduced")
        return
    os.makedirs(out, exist_ok=True)
    tar = base_tar(out, suite, variant, packages(source))

    root = os.path.join(out, "rootfs")
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    with tarfile.open(tar) as t:
        t.extractall(root, numeric_owner=True)

    config = {"Env": [], "User": "0", "ExposedPorts": [], "Entrypoint": [], "Cmd": []}
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    staged = os.path.join(out, "stage")
    for instr, args in steps:
        if instr == "COPY":
            frm, srcs, dest = parse_copy(args)
            target = os.path.join(root, dest.lstrip("/"))
            os.makedirs(target if dest.endswith("/") else os.path.dirname(target), exist_ok=True)
            for s in srcs:
                if frm == "build":
                    os.makedirs(staged, exist_ok=True)
                    src = os.path.join(staged, os.path.basename(s))
                    shutil.copy2(os.path.join(build, s[len("/build/"):]), src)
                    subprocess.run(["strip", src], check=True)
                else:
                    src = os.path.join(source, s)
                dst = os.path.join(target, os.path.basename(s)) if dest.endswith("/") else target
                shutil.copy2(src, dst)
                os.chown(dst, 0, 0)
        elif instr == "RUN":
            print(f"image-rootfs: RUN {args}", flush=True)
            subprocess.run(["chroot", root, "/bin/sh", "-c", args], check=True, env=env)
        elif instr == "ENV":
            k, _, v = args.partition("=")
            env[k] = v
            config["Env"].append(f"{k}={v}")
        elif instr == "USER":
            config["User"] = args
        elif instr == "EXPOSE":
            config["ExposedPorts"] += args.split()
        elif instr in ("ENTRYPOINT", "CMD"):
            config["Entrypoint" if instr == "ENTRYPOINT" else "Cmd"] = json.loads(args)
        else:
            raise AssertionError(instr)  # refused above
    shutil.rmtree(staged, ignore_errors=True)
    with open(os.path.join(out, "image-config.json"), "w") as f:
        json.dump(config, f, indent=2)
    subprocess.run(["tar", "--numeric-owner", "-C", root, "-cf", os.path.join(out, "popguard-rootfs.tar"), "."],
                   check=True)
    print(f"image-rootfs: {root} (user {config['User']}, entrypoint {config['Entrypoint']})")


if __name__ == "__main__":
    main()
