"""deploy/ssh-command.sh, the CI key's forced command: what SSH_ORIGINAL_COMMAND may ask for,
and that nothing else runs. deploy.sh is replaced by a recorder beside a copy of the script
(ssh-command.sh runs the deploy.sh next to it, the root-owned installed copy)."""
from __future__ import annotations

import io
import shutil
import subprocess
import tarfile

import pytest

from deploy_support import REPO

TAG = "sha-" + "a" * 40
DIGEST = "sha256:" + "b" * 64


@pytest.fixture
def forced(tmp_path):
    installed = tmp_path / "installed" / "deploy"
    installed.mkdir(parents=True)
    shutil.copy(REPO / "deploy" / "ssh-command.sh", installed / "ssh-command.sh")
    recorder = installed / "deploy.sh"
    recorder.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> "$DEPLOY_ROOT/ran"\n'
                        'cat >> "$DEPLOY_ROOT/stdin"\n')
    recorder.chmod(0o755)
    root = tmp_path / "opt"
    (root / "releases").mkdir(parents=True)
    env_file = root / "binance-svc.env"
    env_file.write_text("GHCR_OWNER=someone\nCI_MAY_UPLOAD=false\n")

    def run(command, stdin=b""):
        out = subprocess.run(["bash", str(installed / "ssh-command.sh")], input=stdin,
                             capture_output=True, timeout=30,
                             env={"PATH": "/usr/bin:/bin", "DEPLOY_ROOT": str(root),
                                  "SSH_ORIGINAL_COMMAND": command})
        ran = (root / "ran").read_text().splitlines() if (root / "ran").exists() else []
        return out, ran

    run.root, run.env_file = root, env_file
    return run


@pytest.mark.parametrize("command,expected", [
    (f"deploy {TAG}", TAG),
    (f"deploy {TAG}@{DIGEST}", f"{TAG}@{DIGEST}"),
    (f"deploy {TAG}@{DIGEST} --token-stdin", f"--token-stdin {TAG}@{DIGEST}"),
    ("rollback", "--rollback"),
    ("status", "--status"),
    ("update-edge", "--update-edge"),
])
def test_allowed_commands_run_the_installed_deploy_sh(forced, command, expected):
    out, ran = forced(command, stdin=b"ghs_token\nsomeone\n")
    assert out.returncode == 0, out.stderr
    assert ran == [expected]
    stdin = (forced.root / "stdin").read_bytes()
    # Only --token-stdin passes stdin on; otherwise deploy.sh reads nothing from the client.
    assert stdin == (b"ghs_token\nsomeone\n" if "--token-stdin" in command else b"")


@pytest.mark.parametrize("command", [
    "", "bash", "sh -c id", f"deploy {TAG}; id", f"deploy {TAG} && id", "deploy $(id)",
    f"deploy {TAG} | sh", "deploy latest", f"deploy {TAG[:-1]}", f"deploy {TAG}@sha256:short",
    f"deploy {TAG} --rollback", f"deploy {TAG} --token-stdin extra", "rollback now",
    "status --all", "update-edge nginx", "scp -t /opt", f"upload ../{TAG}", "deploy\t" + TAG,
])
def test_everything_else_is_refused(forced, command):
    out, ran = forced(command)
    assert out.returncode == 64, (command, out.stderr)
    assert b"refused" in out.stderr
    assert ran == []


def _tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def test_upload_is_off_unless_the_host_allows_it(forced):
    out, _ = forced(f"upload {TAG}", stdin=_tar({"deploy/deploy.sh": b"x"}))
    assert out.returncode == 64 and b"CI_MAY_UPLOAD" in out.stderr
    assert not (forced.root / "releases" / TAG).exists()


def test_upload_takes_only_deploy_and_nginx(forced):
    forced.env_file.write_text("GHCR_OWNER=someone\nCI_MAY_UPLOAD=true\n")
    archive = _tar({"deploy/deploy.sh": b"#!/bin/sh\n", "nginx/nginx.conf": b"events {}\n",
                    "elsewhere/file": b"no", "../escape": b"no"})
    out, _ = forced(f"upload {TAG}", stdin=archive)
    release = forced.root / "releases" / TAG
    assert out.returncode == 0, out.stderr
    assert sorted(p.relative_to(release).as_posix() for p in release.rglob("*")) == [
        "deploy", "deploy/deploy.sh", "nginx", "nginx/nginx.conf"]
    assert not (forced.root / "releases" / "escape").exists()
    assert not (forced.root / "escape").exists()


def test_upload_with_a_link_is_refused(forced):
    forced.env_file.write_text("GHCR_OWNER=someone\nCI_MAY_UPLOAD=true\n")
    archive = _tar({"deploy/deploy.sh": b"x"}, links={"nginx/nginx.conf": "/etc/shadow"})
    out, _ = forced(f"upload {TAG}", stdin=archive)
    assert out.returncode == 64 and b"links" in out.stderr
    assert not (forced.root / "releases" / TAG).exists()
