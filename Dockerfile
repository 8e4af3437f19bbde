# popguard container image: the `popguard` server (ENTRYPOINT) and `popguard-cli`.
#
#   docker build -t registry.example.com/popguard:0.1.0 .
#   docker run --rm -v "$PWD/examples/quickstart:/etc/popguard/config:ro" -p 9001:9001 \
#     registry.example.com/popguard:0.1.0 --config=/etc/popguard/config/popguard.yaml --listen=0.0.0.0:9001
#
# The Helm chart (helm/popguard) runs this image with its ConfigMap mounted at
# /etc/popguard/config and `--config=/etc/popguard/config/popguard.yaml`.
#
# What is built and run here: no container runtime works on the machines this
# repository is developed on (podman installs, but `podman run` fails in crun:
# setrlimit RLIMIT_NPROC is not permitted and hybrid cgroups are not
# supported). `make image` (scripts/image-rootfs.py) therefore builds the
# runtime stage below from Debian packages with mmdebstrap, executing this
# file's runtime-stage instructions itself (it refuses any instruction it does
# not know, so this file and the rootfs cannot drift apart), and
# `make image-test` runs the ENTRYPOINT as USER in that rootfs with
# unshare + chroot: gRPC health SERVING, one ALLOW, one DENY. The build stage
# is replaced there by the local `make build`.
#
# Stage 1 (build): debian:12 with the build dependencies, Release build.
# Stage 2 (runtime): debian:12-slim with only the packages listed in
# scripts/image-runtime-packages, running as the unprivileged user 65532 (the
# chart's runAsUser); nothing in the image needs to be writable, so the chart
# runs it with a read-only root filesystem.

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
# Every library the binaries name directly (ELF NEEDED) must come from a
# runtime package; the libraries those load come with them through apt.
RUN sh scripts/image-check-libs.sh needed scripts/image-runtime-packages /build/popguard /build/popguard-cli

FROM debian:12-slim AS runtime
# The runtime packages (no compilers, no -dev packages; ca-certificates for
# fetching issuers' JWKS over HTTPS) and the user 65532.
COPY scripts/image-runtime-packages scripts/image-runtime-setup.sh scripts/image-check-libs.sh /usr/local/share/popguard-image/
RUN sh /usr/local/share/popguard-image/image-runtime-setup.sh /usr/local/share/popguard-image/image-runtime-packages
COPY --from=build /build/popguard /build/popguard-cli /usr/local/bin/
# Fails the build when a library, direct or indirect, is missing.
RUN sh /usr/local/share/popguard-image/image-check-libs.sh resolved /usr/local/bin/popguard /usr/local/bin/popguard-cli
USER 65532:65532
# 9001: gRPC (ext_authz, Verify, health). 9090: HTTP metrics and health, when
# the config sets metrics.listen.
EXPOSE 9001 9090
# No config is baked in (and no CMD): the image must be given one, e.g. by
# the Helm chart. Shipping the quick-start config would mean trusting the
# demo issuer, whose signing key is public.
ENTRYPOINT ["/usr/local/bin/popguard"]
