"""Structural tests of the container files: the Dockerfile and the hash-pinned requirements.

Fast and engine-free: they parse files only. The image itself is built and run by
scripts/container-check (podman/buildah), see docs/container.md.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

dockerfile_parse = pytest.importorskip("dockerfile_parse")

ROOT = Path(__file__).resolve().parents[1]
DIGEST_REF = re.compile(r"^[a-z0-9][a-z0-9._/-]*:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def dockerfile():
    parser = dockerfile_parse.DockerfileParser(path=str(ROOT / "Dockerfile"))
    return parser


def _instructions(dockerfile, name):
    return [i for i in dockerfile.structure if i["instruction"] == name]


def _arg_defaults(dockerfile):
    defaults = {}
    for instr in _instructions(dockerfile, "ARG"):
        name, _, value = instr["value"].partition("=")
        if value:
            defaults[name.strip()] = value.strip().strip('"')
    return defaults


def test_base_image_is_a_build_arg_pinned_by_digest(dockerfile):
    froms = _instructions(dockerfile, "FROM")
    assert len(froms) == 1, "one stage: the image a user builds"
    match = re.fullmatch(r"\$\{?(\w+)\}?(\s+AS\s+\w+)?", froms[0]["value"], re.IGNORECASE)
    assert match, f"FROM must use a build ARG, got {froms[0]['value']!r}"
    default = _arg_defaults(dockerfile).get(match.group(1))
    assert default, f"ARG {match.group(1)} needs a default"
    assert DIGEST_REF.match(default), f"{default!r} is not NAME:TAG@sha256:<64 hex>"
    assert default.startswith("debian:bookworm-slim@"), (
        "the stand-in of container-check is bookworm"
    )
    # The ARG is declared before FROM (global scope) so that FROM can use it.
    first_arg = _instructions(dockerfile, "ARG")[0]
    assert first_arg["startline"] < froms[0]["startline"]


def test_dependencies_installed_with_require_hashes(dockerfile):
    runs = " ".join(i["value"] for i in _instructions(dockerfile, "RUN"))
    assert "--require-hashes" in runs
    assert re.search(r"-r\s+\S*requirements\.txt", runs)
    assert "--extra-index-url" in runs and "TORCH_INDEX_URL" in runs
    assert (
        _arg_defaults(dockerfile).get("TORCH_INDEX_URL") == "https://download.pytorch.org/whl/cpu"
    )
    # No bare `pip install NAME` outside the lock files.
    for cmd in re.split(r"&&|;", runs):
        if "pip install" in cmd:
            assert "--require-hashes" in cmd and "-r " in cmd, cmd


def test_runs_as_non_root_user(dockerfile):
    users = _instructions(dockerfile, "USER")
    assert users, "no USER instruction"
    last = users[-1]["value"].split(":")[0].strip()
    assert last not in ("root", "0"), "the image must not run as root"
    assert users[-1]["startline"] > max(i["startline"] for i in _instructions(dockerfile, "RUN"))


def test_entrypoint_and_its_script(dockerfile):
    entry = _instructions(dockerfile, "ENTRYPOINT")
    assert entry, "no ENTRYPOINT"
    assert entry[-1]["value"].lstrip().startswith("["), "exec form, so signals reach the process"
    script = ROOT / "docker" / "entrypoint.sh"
    text = script.read_text()
    assert script.stat().st_mode & stat.S_IXUSR
    for needle in (
        "verify",
        "dvc repro",
        "safe.directory",
        "python -m reinforce.io.verify",
        'exec "$@"',
    ):
        assert needle in text, needle


def test_environment_and_labels(dockerfile):
    env = dockerfile.envs
    assert env.get("PYTHONHASHSEED") == "0"
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert "REINFORCE_IMAGE_BASE" in env and "REINFORCE_IMAGE_REVISION" in env
    labels = " ".join(i["value"] for i in _instructions(dockerfile, "LABEL"))
    for key in ("source", "revision", "description"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def test_dockerignore_keeps_heavy_and_private_things_out():
    entries = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in (".git", ".dvc/cache", "runs", "logs", ".venv", "venv"):
        assert needed in entries, needed
    for kept in ("dvc.lock", "params.yaml", "dvc.yaml", "reports"):
        assert kept not in entries, kept


# --- requirements ---------------------------------------------------------------------------------

TORCH_LINKS = "--find-links https://download.pytorch.org/whl/cpu/torch/"


def _locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a pip-compile --generate-hashes file; every entry must be ==."""
    text = path.read_text()
    logical = re.sub(r"\\\n", " ", text)
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in logical.splitlines():
        hashed = line.lstrip().startswith("--hash")
        line = line.strip() if hashed else line.split("#", 1)[0].strip()
        if not line or line == TORCH_LINKS:
            continue
        assert not line.startswith("-"), f"{path.name}: unexpected option line {line!r}"
        spec, *options = line.split(" --hash=")
        req = Requirement(spec.strip())
        assert len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==", (
            f"{path.name}: {spec!r} is not ==-pinned"
        )
        hashes = [h.strip() for h in options]
        assert hashes, f"{path.name}: {req.name} has no --hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), (
            f"{path.name}: {req.name}"
        )
        pins[canonicalize_name(req.name)] = (next(iter(req.specifier)).version, hashes)
    return pins


# One pair of locks per platform (scripts/lock-requirements): suffix -> the torch build it pins.
PLATFORMS = {"": "cpu", "-linux-aarch64": None, "-macos-arm64": None}
# The environment markers of each lock's platform (box2d has no Linux aarch64 wheel).
PLATFORM_MARKERS = {
    "": {"platform_machine": "x86_64", "sys_platform": "linux"},
    "-linux-aarch64": {"platform_machine": "aarch64", "sys_platform": "linux"},
    "-macos-arm64": {"platform_machine": "arm64", "sys_platform": "darwin"},
}
RUNTIME_LOCKS = [f"requirements{suffix}.txt" for suffix in PLATFORMS]
ALL_LOCKS = RUNTIME_LOCKS + [f"requirements-dev{suffix}.txt" for suffix in PLATFORMS]


def test_lock_files_are_exactly_the_platform_pairs():
    assert sorted(p.name for p in ROOT.glob("requirements*.txt")) == sorted(ALL_LOCKS)


@pytest.mark.parametrize("lock", ["requirements.txt", "requirements-dev.txt"])
def test_lock_names_where_the_cpu_torch_lives(lock):
    # The only option line: the PyTorch CPU index's torch page (torch +cpu is not on PyPI),
    # so a plain `pip install -r` works anywhere; nothing of the resolving machine leaks in.
    assert (ROOT / lock).read_text().splitlines()[0] == TORCH_LINKS


@pytest.mark.parametrize("suffix", list(PLATFORMS))
def test_every_requirement_is_pinned_with_a_hash(suffix):
    for lock in (f"requirements{suffix}.txt", f"requirements-dev{suffix}.txt"):
        pins = _locked(ROOT / lock)
        assert "torch" in pins
        version, _ = pins["torch"]
        assert Version(version).local == PLATFORMS[suffix], f"{lock}: torch {version}"
        assert Version(version).public == Version(pins_of_in()["torch"]).public
        if PLATFORMS[suffix] == "cpu":
            bad = [n for n in pins if n.startswith("nvidia") or n in ("triton", "cuda-python")]
            assert not bad, f"CUDA packages in {lock}: {bad}"
        for text in (ROOT / lock).read_text().splitlines():
            assert "/tmp" not in text and "x86_64-pins" not in text, f"{lock}: {text}"


def _in_requirements(path: Path) -> list[Requirement]:
    reqs = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            reqs.append(Requirement(line))
    return reqs


def pins_of_in() -> dict[str, str]:
    return {
        canonicalize_name(r.name): next(iter(r.specifier)).version
        for r in _in_requirements(ROOT / "requirements.in")
    }


@pytest.mark.parametrize("suffix", list(PLATFORMS))
@pytest.mark.parametrize(
    "source,lock",
    [("requirements.in", "requirements{}.txt"), ("requirements-dev.in", "requirements-dev{}.txt")],
)
def test_in_and_txt_agree(source, lock, suffix):
    lock = lock.format(suffix)
    pins = _locked(ROOT / lock)
    for req in _in_requirements(ROOT / source):
        name = canonicalize_name(req.name)
        if req.marker is not None and not req.marker.evaluate(PLATFORM_MARKERS[suffix]):
            assert name not in pins, f"{lock} pins {req.name}, whose marker excludes it there"
            continue
        assert name in pins, f"{req.name} of {source} is not in {lock}"
        version = Version(pins[name][0])
        wanted = Version(next(iter(req.specifier)).version)
        if name == "torch" and PLATFORMS[suffix] is None:
            wanted = Version(wanted.public)  # torch from PyPI: no +cpu build there
        assert version == wanted, (
            f"{lock} pins {req.name}=={version}, {source} says {req.specifier}"
        )


@pytest.mark.parametrize("suffix", list(PLATFORMS))
def test_dev_lock_repeats_the_runtime_lock(suffix):
    runtime = _locked(ROOT / f"requirements{suffix}.txt")
    dev = _locked(ROOT / f"requirements-dev{suffix}.txt")
    for name, (version, hashes) in runtime.items():
        assert name in dev and dev[name][0] == version, name
        assert set(hashes) <= set(dev[name][1]), name
    dev_in = (ROOT / "requirements-dev.in").read_text()
    assert "-c requirements.txt" in dev_in and "-r requirements.in" in dev_in


@pytest.mark.parametrize("suffix", ["-linux-aarch64", "-macos-arm64"])
def test_platforms_share_the_x86_64_versions(suffix):
    # Only torch's build and its platform-only dependencies may differ between platforms.
    x86, other = (
        _locked(ROOT / "requirements-dev.txt"),
        _locked(ROOT / f"requirements-dev{suffix}.txt"),
    )
    differ = {n for n in set(x86) & set(other) if x86[n][0] != other[n][0]}
    assert differ == {"torch"}, differ


def test_regenerate_command_is_written_down():
    for path in (
        "requirements.in",
        "requirements-dev.in",
        "docs/container.md",
        "docs/getting-started.md",
    ):
        text = (ROOT / path).read_text()
        assert "bash scripts/lock-requirements" in text, path
    script = (ROOT / "scripts/lock-requirements").read_text()
    assert "pip compile" in script and "--generate-hashes" in script
    for lock in ALL_LOCKS:
        assert "bash scripts/lock-requirements" in (ROOT / lock).read_text(), lock
