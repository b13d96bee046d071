#!/bin/bash
# Entrypoint of the reinforce image (see docs/container.md).
#
#   (no arguments) | repro [ARGS]   dvc repro [ARGS] on the repository mounted at /work
#   verify [ARGS]                   copy the repository baked into the image to a temporary folder,
#                                   run `dvc repro --force [ARGS]` there, and fail unless dvc.lock is
#                                   byte-identical to the committed one; on a mismatch it says which
#                                   outputs and which environment fields differ (reinforce/io/verify.py)
#   anything else                   executed as is (e.g. `pytest`, `bash`, `dvc metrics show`)
#   -- COMMAND [ARGS]               COMMAND executed as is, even one named repro or verify
set -euo pipefail

BAKED=/opt/reinforce
WORK=/work

say() { printf 'reinforce-image: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# `docker run --user UID:GID` may name a user with no passwd entry, whose HOME is `/` (not writable).
# git (safe.directory), dvc and matplotlib all want a writable HOME: give them a private one.
ensure_writable_home() {
    if [ -z "${HOME:-}" ] || [ "${HOME}" = / ] || [ ! -d "${HOME}" ] || [ ! -w "${HOME}" ]; then
        HOME="$(mktemp -d /tmp/home.XXXXXX)"
        export HOME
    fi
    export MPLCONFIGDIR="${MPLCONFIGDIR:-${HOME}/.config/matplotlib}"
    # Such a uid has no user name either: Python's getpass.getuser() (used by dvc) reads these
    # variables before it falls back to the passwd database, which would fail.
    if [ -z "${USER:-}" ]; then
        # (`id -un` prints the bare number, and fails, for a uid with no name.)
        if ! USER="$(id -un 2>/dev/null)"; then USER="uid$(id -u)"; fi
        export USER
    fi
    export LOGNAME="${LOGNAME:-${USER}}"
}

# The mounted checkout belongs to the caller, not necessarily to the uid git runs as here.
trust_repository() {
    if ! git config --global --get-all safe.directory 2>/dev/null | grep -qxF "$1"; then
        git config --global --add safe.directory "$1"
    fi
}

repro() {
    [ -f "${WORK}/dvc.yaml" ] || die "no dvc.yaml in ${WORK}: mount the repository, e.g. docker run --rm -v \"\$PWD\":/work --user \"\$(id -u):\$(id -g)\" IMAGE"
    [ -w "${WORK}" ] || die "${WORK} is not writable by uid $(id -u): pass --user \"\$(id -u):\$(id -g)\""
    cd "${WORK}"
    trust_repository "${WORK}"
    exec dvc repro "$@"
}

verify() {
    [ -f "${BAKED}/dvc.lock" ] || die "this image has no committed dvc.lock to reproduce"
    local tmp
    tmp="$(mktemp -d /tmp/verify.XXXXXX)"
    cp -a "${BAKED}/." "${tmp}/"
    chmod -R u+w "${tmp}"
    cd "${tmp}"
    if [ ! -d .git ]; then
        # The build context leaves .git out: make a repository of the baked files, so dvc has
        # its git repository.
        git init -q
        git add -A
        git -c user.name=reinforce-verify -c user.email=verify@localhost commit -q -m "results baked into the image"
    else
        trust_repository "${tmp}"
    fi
    say "reproducing the committed results in ${tmp} (dvc repro --force $*)"
    local start=${SECONDS}
    dvc repro --force "$@"
    say "rerun took $((SECONDS - start)) s; comparing with the committed run"
    # Exit 0 only if dvc.lock is byte-identical; otherwise it names the outputs and the
    # environment fingerprint fields that differ (reinforce/io/verify.py).
    exec python -m reinforce.io.verify "${BAKED}" "${tmp}"
}

ensure_writable_home

USAGE="usage: IMAGE [repro [ARGS] | verify [ARGS] | [--] COMMAND [ARGS]] (docs/container.md)"

if [ "$#" -eq 0 ]; then
    repro
fi
as_is=no
if [ "$1" = "--" ]; then
    shift
    # `exec` with nothing to run would end this script with status 0, having done nothing
    [ "$#" -gt 0 ] || { say "ERROR: nothing to run after '--'; ${USAGE}"; exit 2; }
    as_is=yes
fi
case "${as_is}:$1" in
    no:repro) shift; repro "$@" ;;
    no:verify) shift; verify "$@" ;;
    *)
        # With nothing mounted at /work, run in a writable copy of the baked-in repository, so that
        # `docker run --rm IMAGE pytest` tests the code the image carries (and may write caches).
        if [ "${PWD}" = "${WORK}" ] && [ ! -e "${WORK}/dvc.yaml" ]; then
            copy="$(mktemp -d /tmp/reinforce.XXXXXX)"
            cp -a "${BAKED}/." "${copy}/"
            chmod -R u+w "${copy}"
            cd "${copy}"
        fi
        if [ -e "${PWD}/.git" ]; then trust_repository "${PWD}"; fi
        exec "$@"
        ;;
esac
