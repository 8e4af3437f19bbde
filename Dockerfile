# popguard container image: the `popguard` server (ENTRYPOINT) and `popguard-cli`.
#
#   docker build -t registry.example.com/popguard:0.1.0 .
#   docker run --rm -v "$PWD/examples/quickstart:/etc/popguard/config:ro" -p 9001:9001 \
#     registry.example.com/popguard:0.1.0 --config=/etc/popguard/config/popguard.yaml --listen=0.0.0.0:9001
#
# The Helm chart (helm/popguard) runs this image with its ConfigMap mounted at
# /etc/popguard/config and `--config=/etc/popguard/config/popguard.yaml`.
#
# NOT BUILT OR RUN HERE: the machines this repository is developed and tested
# on have no container runtime, so this file has never been built. What was
# checked instead: the build stage runs the same scripts/install-deps.sh and
# CMake commands as `make build`, which `make test` exercises; the runtime
# package names below were checked with `apt-cache policy` on Debian 12
# (bookworm), and the build stage compares them with what the binaries link
# (ldd + dpkg -S) and fails if one is missing, so a new library dependency
# breaks the build instead of the container.
#
# Stage 1 (build): debian:12 with the build dependencies, Release build.
# Stage 2 (runtime): debian:12-slim with only the shared libraries the two
# binaries load, running as the unprivileged user 65532 (the chart's
# runAsUser); nothing in the image needs to be writable, so the chart runs it
# with a read-only root filesystem.

FROM debian:12 AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
# Dependencies first, so editing the sources does not re-run apt.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DPOPGUARD_BUILD_TESTS=OFF -DPOPGUARD_BUILD_BENCH=OFF \
 && cmake --build /build -j"$(nproc)" --target popguard popguard-cli \
 && strip /build/popguard /build/popguard-cli
# The runtime packages (keep in sync with the runtime stage): every shared
# library the binaries load must come from one of them.
RUN printf '%s\n' libc6 libgcc-s1 libstdc++6 zlib1g libssl3 libabsl20220623 libprotobuf32 \
      libgrpc29 'libgrpc++1.51' libre2-9 libc-ares2 libyaml-cpp0.7 libcurl4 libhiredis0.14 \
      libcpp-httplib0.11 libbrotli1 \
      | sort -u >/runtime-packages \
 && for lib in $(ldd /build/popguard /build/popguard-cli | awk '$3 ~ /^\// {print $3}' | sort -u); do \
      pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib"); \
      pkg=${pkg%%:*}; \
      grep -qxF "$pkg" /runtime-packages || { echo "runtime stage lacks $pkg (for $lib)"; exit 1; }; \
    done

FROM debian:12-slim AS runtime
ENV DEBIAN_FRONTEND=noninteractive
# Runtime libraries only (no compilers, no -dev packages); ca-certificates for
# fetching issuers' JWKS over HTTPS.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      ca-certificates libstdc++6 libgcc-s1 libssl3 libabsl20220623 libprotobuf32 libgrpc29 'libgrpc++1.51' libre2-9 \
      libc-ares2 libyaml-cpp0.7 libcurl4 libhiredis0.14 zlib1g libcpp-httplib0.11 libbrotli1 \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 65532 popguard \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin popguard
COPY --from=build /build/popguard /build/popguard-cli /usr/local/bin/
USER 65532:65532
# 9001: gRPC (ext_authz, Verify, health). 9090: HTTP metrics and health, when
# the config sets metrics.listen.
EXPOSE 9001 9090
# No config is baked in (and no CMD): the image must be given one, e.g. by
# the Helm chart. Shipping the quick-start config would mean trusting the
# demo issuer, whose signing key is public.
ENTRYPOINT ["/usr/local/bin/popguard"]
