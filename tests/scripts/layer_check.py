#!/usr/bin/python3
"""Checks the layering of popguard's own code (ctest layer_check).

Usage: layer_check.py SOURCE_DIR

Fails, naming file and line, on
  - an #include of one of our layers that the including layer may not reach
    (an upward or sideways include, see LAYERS);
  - an #include of service/... or storage/... that names no existing file
    (e.g. an old flat path such as service/reason.h), in service/, storage/,
    tests/, bench/ and fuzz/;
  - an external library included outside the layer that owns it (EXTERNAL);
  - a file(GLOB in any CMakeLists.txt: every library lists its files;
  - a file directly in service/ other than CMakeLists.txt.
"""

import os
import re
import sys

# The layer order, written once: each layer and the layers directly below it.
# A layer may include its own files and, transitively, everything below.
# storage/ sits at the top level of the repository and depends on nothing of ours.
LAYERS = {
    "service/common": [],
    "storage": [],
    "service/crypto": ["service/common"],
    "service/jose": ["service/crypto"],
    "service/config": ["service/common"],
    "service/keys": ["service/jose", "service/config"],
    "service/authn": ["service/keys", "storage"],
    "service/ops": ["service/authn"],
    "service/server": ["service/ops"],
    # The CLI, the minting library and the load generator: never linked into
    # the server, never reaching into it.
    "service/tools": ["service/authn"],
}

# Outside our layers, which folders a layer may include (none today: the tools
# mint with service/tools/mint, not with bench/).
EXTRA = {}

# External headers and the only layers that may include them.
EXTERNAL = [
    (re.compile(r"^(grpc|grpcpp)/"), ["service/server", "service/tools"]),
    (re.compile(r"^(popguard/v1|envoy|google/rpc)/"), ["service/server", "service/tools"]),
    # popguard-cli probe is an HTTP client too.
    (re.compile(r"^curl/"), ["service/keys", "service/tools"]),
    (re.compile(r"^yaml-cpp/"), ["service/config"]),
    (re.compile(r"^httplib\.h$"), ["service/ops"]),
    (re.compile(r"^hiredis/"), ["storage"]),
]

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
SOURCE_EXT = (".h", ".cc")
SKIP_DIRS = {".git", "build", "node_modules"}


def Reachable(layer):
    seen, todo = set(), [layer]
    while todo:
        cur = todo.pop()
        if cur in seen:
            continue
        seen.add(cur)
        todo.extend(LAYERS[cur])
    return seen


def LayerOf(path):
    for layer in sorted(LAYERS, key=len, reverse=True):
        if path == layer or path.startswith(layer + "/"):
            return layer
    return None


def Walk(root, top):
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS
                             and not d.startswith("build"))
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            yield os.path.relpath(full, root)


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    root = argv[1]
    errors = []

    for rel in Walk(root, "service"):
        if os.path.dirname(rel) == "service" and os.path.basename(rel) != "CMakeLists.txt":
            errors.append(f"{rel}: service/ holds only layer folders and CMakeLists.txt")

    for top in ("service", "storage", "tests", "bench", "fuzz"):
        for rel in Walk(root, top):
            if not rel.endswith(SOURCE_EXT):
                continue
            layer = LayerOf(rel)
            allowed = Reachable(layer) if layer else None
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    quote, inc = m.group(1), m.group(2)
                    where = f"{rel}:{lineno}: #include {inc}"
                    target = LayerOf(inc) if quote == '"' else None
                    if quote == '"' and (inc.startswith("service/") or inc.startswith("storage/")):
                        if not os.path.isfile(os.path.join(root, inc)):
                            errors.append(f"{where}: no such file in a layer folder")
                            continue
                        if target is None:
                            errors.append(f"{where}: not in a layer folder")
                            continue
                    if layer is None:
                        continue  # tests, bench, fuzz may include any layer
                    if target is not None:
                        if target not in allowed:
                            errors.append(f"{where}: {layer} may not include {target} "
                                          f"(may reach: {', '.join(sorted(allowed))})")
                        continue
                    if quote == '"' and inc.split("/")[0] in ("tests", "bench", "fuzz"):
                        if inc.split("/")[0] not in EXTRA.get(layer, []):
                            errors.append(f"{where}: {layer} may not include {inc.split('/')[0]}/")
                        continue
                    for pattern, owners in EXTERNAL:
                        if pattern.search(inc) and layer not in owners:
                            errors.append(f"{where}: only {', '.join(owners)} may include it")

    for rel in Walk(root, "."):
        rel = os.path.normpath(rel)
        if os.path.basename(rel) != "CMakeLists.txt" and not rel.endswith(".cmake"):
            continue
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                code = line.split("#", 1)[0]  # comments may name it
                if re.search(r"file\s*\(\s*GLOB", code, re.IGNORECASE):
                    errors.append(f"{rel}:{lineno}: file(GLOB: list the files explicitly")

    for e in errors:
        print(e)
    if errors:
        print(f"layer_check: {len(errors)} violation(s)")
        return 1
    print("layer_check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
