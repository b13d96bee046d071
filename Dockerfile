# syntax=docker/dockerfile:1
#
# reinforce: the pinned image that reruns the DVC pipeline (train -> evaluate -> aggregate -> plot)
# and reproduces the committed dvc.lock bit for bit.  Usage and what was verified: docs/container.md
#
#   docker build -t reinforce .
#   docker run --rm -v "$PWD":/work --user "$(id -u):$(id -g)" reinforce   # dvc repro on your checkout
#   docker run --rm reinforce verify                                        # rerun the baked-in results, compare dvc.lock
#   docker run --rm reinforce pytest                                        # any other command runs as is
#
# Base image: debian:bookworm-slim, pinned by the digest below.  Why this base and not python:3.11-slim:
# with Debian's own python3 (3.11) and python3-venv, the image is the same distribution and the same
# Python build as a `debootstrap --variant=minbase bookworm` tree, so scripts/container-check can build
# this very Dockerfile on a machine with no registry access from a faithful local stand-in
# (--build-arg BASE_IMAGE=...).  python:3.11-slim compiles its own CPython, which no stand-in here matches.
# Where the digest comes from: it is the index digest that Docker BuildKit resolved for
# docker.io/library/debian:bookworm-slim in a published 2026-09 build log
# ("FROM docker.io/library/debian:bookworm-slim@sha256:3783cc01...") and that several public GitHub
# Dockerfiles of 2026 pin as debian:bookworm-slim@sha256:3783cc01... (found with code search).  It was not
# pulled here (no registry is reachable); a machine with Docker confirms it with
#   docker buildx imagetools inspect debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251
ARG BASE_IMAGE=debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251

FROM ${BASE_IMAGE}

ARG BASE_IMAGE
# torch comes from the PyTorch CPU wheel index (the hash in requirements.txt pins the exact file), so no
# CUDA build can be downloaded.  Everything else comes from PyPI, hash-checked as well.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

LABEL org.opencontainers.image.title="reinforce" \
      org.opencontainers.image.description="REINFORCE agents on Gymnasium across seeds: runs the DVC pipeline and reproduces the committed dvc.lock exactly" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# PYTHONHASHSEED fixes str hashing (set/dict order); PYTHONDONTWRITEBYTECODE keeps .pyc files out of the
# mounted repository and outputs.  REINFORCE_IMAGE_* let the library record the image's identity (to logs/).
# SHELL: dvc runs stage commands through $SHELL, which a host's login sets and a container lacks
# (dash would run them then, and report an interrupted stage differently).
ENV LANG=C.UTF-8 \
    SHELL=/bin/bash \
    PYTHONHASHSEED=0 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    DVC_NO_ANALYTICS=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:${PATH} \
    REINFORCE_IMAGE_BASE=${BASE_IMAGE} \
    REINFORCE_IMAGE_REQUIREMENTS_DIR=/opt/reinforce

# Debian's python3 (3.11) and venv; git because dvc needs a git repository and `verify` diffs dvc.lock.
# DL3008 (apt versions not pinned) is ignored on purpose: pinning exact Debian revisions breaks the build
# as soon as bookworm ships a security update and the old revision leaves the mirror.  The numbers depend
# on the Python packages, which requirements.txt pins by hash, and on Python 3.11, which bookworm fixes;
# the outputs' environment record names the Python and library versions, so a drift cannot pass silently.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv git \
    && rm -rf /var/lib/apt/lists/*

# Python dependencies, every file checked against its hash: the runtime stack is requirements.txt alone;
# requirements-dev.txt (the same pins, -c requirements.txt) then adds only the test tools, so that
# `docker run --rm IMAGE pytest` works.
COPY requirements.txt requirements-dev.txt /opt/reinforce/
RUN python3 -m venv /opt/venv \
    && python -m pip install --no-cache-dir --require-hashes \
        --extra-index-url "${TORCH_INDEX_URL}" \
        -r /opt/reinforce/requirements.txt \
    && python -m pip install --no-cache-dir --require-hashes \
        --extra-index-url "${TORCH_INDEX_URL}" \
        -r /opt/reinforce/requirements-dev.txt \
    && python -m pip check \
    && python -c "import torch; assert torch.version.cuda is None, torch.version.cuda"

# The git commit the image is built from: docker build --build-arg REVISION="$(git rev-parse HEAD)" .
# Declared only here, after the dependency layers, so that a new commit rebuilds from this point on
# and reuses the apt and pip layers.
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}"
ENV REINFORCE_IMAGE_REVISION=${REVISION}

# The repository itself (code, params.yaml, dvc.yaml, dvc.lock, reports/), read-only for the runtime user,
# so `verify` can rerun the committed results from scratch.  .dockerignore keeps caches, runs/ and .git out.
COPY . /opt/reinforce
COPY docker/entrypoint.sh /usr/local/bin/reinforce-entrypoint
# Numba's kernels compiled once, here: their cache is keyed by reinforce/sim/_kernels.py's bytes
# (reinforce/internals.py, numba_cache), so a `docker run` on a checkout with the same kernels loads them and
# compiles nothing.  Writable by any user: a checkout with other kernels (or another --user) adds its own.
ENV XDG_CACHE_HOME=/opt/cache
WORKDIR /opt/reinforce
RUN python -m reinforce.agent.warm_up \
    && chmod -R a+rwX /opt/cache
RUN chmod 0755 /usr/local/bin/reinforce-entrypoint \
    && chmod -R a+rX /opt/reinforce \
    && useradd --create-home --uid 10001 --user-group --shell /bin/bash reinforce \
    && mkdir -p /work \
    && chown reinforce:reinforce /work

USER 10001:10001
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/reinforce-entrypoint"]
CMD []
