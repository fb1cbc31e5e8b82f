"""The lock files are in step with pyproject.toml (offline: no index is asked).

requirements.lock      what the image installs (`pip install --require-hashes`)
requirements-test.lock what CI installs: the runtime lock plus the [test] extra

Regenerate both with `make lock` after changing dependencies in pyproject.toml.
"""
from __future__ import annotations

import re
import tomllib

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from deploy_support import REPO

# The image's interpreter and platforms; a developer or CI on 3.11 x86_64 Linux matches too.
TARGETS = [
    {"python_version": "3.11", "python_full_version": "3.11.9", "sys_platform": "linux",
     "platform_system": "Linux", "platform_machine": machine, "os_name": "posix",
     "implementation_name": "cpython", "platform_python_implementation": "CPython",
     "extra": ""}
    for machine in ("x86_64", "aarch64")
]


def parse_lock(name: str) -> list[tuple[str, Version, Marker | None, list[str]]]:
    """(name, version, marker, hashes) of each pin; continuation lines joined."""
    text = (REPO / name).read_text()
    entries = []
    for block in re.split(r"\n(?=\S)", text):
        lines = [line.split("#", 1)[0].strip().rstrip("\\").strip() for line in block.splitlines()]
        head, *rest = [line for line in lines if line] or [""]
        if not head or head.startswith("-"):
            continue
        spec, _, marker = head.partition(";")
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s]+)", spec.strip())
        assert m, f"{name}: not an exact pin: {head!r}"
        hashes = [h.split(":", 1)[1] for line in rest for h in line.split()
                  if h.startswith("--hash=sha256:")]
        entries.append((canonicalize_name(m.group(1)), Version(m.group(2)),
                        Marker(marker) if marker.strip() else None, hashes))
    return entries


def pins_for(entries, env) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for name, version, marker, _ in entries:
        if marker is None or marker.evaluate(env):
            assert name not in pins, f"{name} pinned twice for {env['platform_machine']}"
            pins[name] = version
    return pins


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


LOCKS = {
    "requirements.lock": lambda p: p["dependencies"],
    "requirements-test.lock": lambda p: p["dependencies"] + p["optional-dependencies"]["test"],
}


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_is_exact_and_hashed(lock):
    entries = parse_lock(lock)
    assert len(entries) > 10
    for name, version, _, hashes in entries:
        assert hashes, f"{lock}: {name}=={version} has no --hash (pip --require-hashes fails)"
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), name


@pytest.mark.parametrize("env", TARGETS, ids=lambda e: e["platform_machine"])
@pytest.mark.parametrize("lock", LOCKS)
def test_lock_satisfies_pyproject(lock, env):
    pins = pins_for(parse_lock(lock), env)
    missing, wrong = [], []
    for text in LOCKS[lock](project()):
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        if name not in pins:
            missing.append(text)
        elif not req.specifier.contains(pins[name], prereleases=True):
            wrong.append(f"{text} but the lock pins {pins[name]}")
    assert not missing and not wrong, (
        f"{lock} is out of step with pyproject.toml (run `make lock`): "
        f"missing {missing}, wrong {wrong}")


def test_test_lock_ships_what_the_image_ships():
    """CI tests the exact versions the image runs."""
    runtime = {name: version for name, version, marker, _ in parse_lock("requirements.lock")
               if marker is None or marker.evaluate(TARGETS[0])}
    test = pins_for(parse_lock("requirements-test.lock"), TARGETS[0])
    differ = {n: (v, test.get(n)) for n, v in runtime.items() if test.get(n) != v}
    assert not differ, f"runtime and test locks disagree (run `make lock`): {differ}"


def test_lock_has_no_project_itself_or_editable_lines():
    for lock in LOCKS:
        text = (REPO / lock).read_text()
        assert not re.search(r"^-e\s", text, re.M), lock
        assert not re.search(r"^binance-svc\b", text, re.M), lock
