"""deploy/deploy.sh without Docker: `docker`, `curl` and `sleep` are fakes on PATH that record
their calls and fail on cue, so the script's decisions (pull, start, record, roll back, prune)
are checked here; only Docker itself is left for the host."""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess

import pytest

from deploy_support import REPO

OWNER = "someone"
IMAGE = f"ghcr.io/{OWNER}/binance-svc"
A, B, C, D = (f"sha-{c * 40}" for c in "abcd")

FAKE_DOCKER = r"""#!/usr/bin/env bash
# Records each call; `compose up` fails for tags listed in $FAKE/bad-up, and remembers the
# running tag for the fake curl; `image ls` prints $FAKE/images.
printf '%s\n' "IMAGE_TAG=${IMAGE_TAG:-} $*" >> "$FAKE/calls"
case "$1" in
  login) cat > /dev/null ;;
  pull) grep -qxF "${@: -1}" "$FAKE/bad-pull" 2>/dev/null && exit 1 ;;
  compose)
    if [[ " $* " == *" up "* ]]; then
      grep -qxF "$IMAGE_TAG" "$FAKE/bad-up" 2>/dev/null && exit 1
      printf '%s\n' "$IMAGE_TAG" > "$FAKE/running"
    fi ;;
  image)
    if [[ $2 == ls ]]; then cat "$FAKE/images" 2>/dev/null; fi ;;
esac
exit 0
"""

FAKE_CURL = r"""#!/usr/bin/env bash
printf '%s\n' "curl $*" >> "$FAKE/calls"
grep -qxF "$(cat "$FAKE/running" 2>/dev/null)" "$FAKE/bad-health" 2>/dev/null && exit 7
exit 0
"""


@pytest.fixture
def host(tmp_path):
    fake = tmp_path / "fake"
    bin_dir = fake / "bin"
    bin_dir.mkdir(parents=True)
    for name, body in (("docker", FAKE_DOCKER), ("curl", FAKE_CURL),
                       ("sleep", "#!/usr/bin/env bash\nexit 0\n")):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    root = tmp_path / "opt"
    root.mkdir()
    example = (REPO / "deploy" / "binance-svc.env.example").read_text()
    env_file = root / "binance-svc.env"
    env_file.write_text(example.replace("GHCR_OWNER=your-github-user", f"GHCR_OWNER={OWNER}")
                        .replace("GHCR_TOKEN_FILE=/opt/binance-svc/ghcr-token",
                                 f"GHCR_TOKEN_FILE={root}/ghcr-token"))
    (root / "ghcr-token").write_text("ghp_readonly\n")

    class Host:
        def __init__(self):
            self.root, self.fake, self.env_file = root, fake, env_file

        def release(self, tag):
            """What CI uploads for a tag: that commit's deploy/ and nginx/."""
            for d in ("deploy", "nginx"):
                shutil.copytree(REPO / d, root / "releases" / tag / d, dirs_exist_ok=True)

        def fail(self, what, *tags):
            with open(fake / what, "a") as f:
                f.write("".join(f"{t}\n" for t in tags))

        def run(self, *args, script=None):
            script = script or REPO / "deploy" / "deploy.sh"
            env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE": str(fake),
                   "DEPLOY_ROOT": str(root), "HOME": str(tmp_path)}
            return subprocess.run(["bash", str(script), *args], env=env, capture_output=True,
                                  text=True, timeout=60)

        def calls(self):
            path = fake / "calls"
            return path.read_text().splitlines() if path.exists() else []

        def ups(self):
            return [c.split()[0].split("=", 1)[1] for c in self.calls()
                    if " compose " in c and " up " in c]

        def state(self, name):
            path = root / "state" / name
            return path.read_text().strip() if path.exists() else None

        def env_tag(self):
            return next(line.split("=", 1)[1] for line in env_file.read_text().splitlines()
                        if line.startswith("IMAGE_TAG="))

    return Host()


def test_first_deploy_records_the_good_tag(host):
    host.release(A)
    out = host.run(A, script=host.root / "releases" / A / "deploy" / "deploy.sh")
    assert out.returncode == 0, out.stderr
    calls = host.calls()
    assert any(c.endswith("login ghcr.io --username your-github-user --password-stdin")
               for c in calls)
    assert any(c.endswith(f"pull --quiet {IMAGE}:{A}") for c in calls)
    up = next(c for c in calls if " up " in c)
    assert up.startswith(f"IMAGE_TAG={A} compose -p binance-svc --env-file {host.env_file}")
    assert f"-f {host.root}/releases/{A}/deploy/docker-compose.prod.yml" in up
    assert "up -d --wait --wait-timeout 180 --remove-orphans" in up
    assert "docker-compose.tls.yml" not in up
    assert any("curl" in c and "http://127.0.0.1:80/health" in c for c in calls)
    assert host.state("last-good-tag") == A
    assert host.env_tag() == A
    assert os.readlink(host.root / "current") == str(host.root / "releases" / A)
    assert (host.env_file.stat().st_mode & 0o777) == 0o600


def test_failed_start_rolls_back_to_the_last_good_tag(host):
    assert host.run(A).returncode == 0
    host.fail("bad-up", B)
    out = host.run(B)
    assert out.returncode == 1
    assert "rolled back to " + A in out.stderr
    assert host.ups() == [A, B, A]
    assert host.state("last-good-tag") == A
    assert host.env_tag() == A


def test_failed_health_through_nginx_rolls_back(host):
    assert host.run(A).returncode == 0
    host.fail("bad-health", C)
    out = host.run(C)
    assert out.returncode == 1, out.stderr
    assert host.ups() == [A, C, A]
    assert host.state("last-good-tag") == A
    assert sum("curl" in c for c in host.calls()) >= 10  # retried before giving up


def test_failed_rollback_exits_2(host):
    assert host.run(A).returncode == 0
    host.fail("bad-up", B, A)
    assert host.run(B).returncode == 2


def test_first_deploy_failing_has_nothing_to_roll_back_to(host):
    host.fail("bad-up", A)
    out = host.run(A)
    assert out.returncode == 1
    assert "no other good tag" in out.stderr
    assert host.ups() == [A]
    assert host.state("last-good-tag") is None


def test_failed_pull_changes_nothing(host):
    assert host.run(A).returncode == 0
    host.fail("bad-pull", f"{IMAGE}:{B}")
    out = host.run(B)
    assert out.returncode == 1 and "nothing changed" in out.stderr
    assert host.ups() == [A]


def test_rollback_deploys_the_previous_good_tag(host):
    assert host.run(A).returncode == 0
    assert host.run(D).returncode == 0
    assert (host.state("last-good-tag"), host.state("previous-good-tag")) == (D, A)
    out = host.run("--rollback")
    assert out.returncode == 0, out.stderr
    assert host.ups()[-1] == A
    assert host.state("last-good-tag") == A and host.env_tag() == A


def test_bare_sha_gets_the_prefix_and_bad_tags_are_refused(host):
    assert host.run("a" * 40).returncode == 0
    assert host.state("last-good-tag") == A
    for bad in ("sha-XYZ", "latest;rm -rf /", "../../etc", "v1.0"):
        out = host.run(bad)
        assert out.returncode == 64, bad
    assert host.ups() == [A]


def test_tls_override_when_enabled(host):
    host.env_file.write_text(host.env_file.read_text().replace("ENABLE_TLS=false",
                                                               "ENABLE_TLS=true"))
    assert host.run(A).returncode == 0
    up = next(c for c in host.calls() if " up " in c)
    assert "-f " in up and up.count(" -f ") == 2 and "docker-compose.tls.yml" in up


def test_prune_keeps_the_running_previous_and_newest_images(host):
    assert host.run(A).returncode == 0
    old = [f"sha-{i:040x}" for i in range(1, 7)]
    host.release(old[-1])
    # `docker image ls` lists newest first.
    (host.fake / "images").write_text("\n".join([D, A, *old, "<none>", "latest"]) + "\n")
    assert host.run(D).returncode == 0
    removed = [c.split()[-1] for c in host.calls() if " image rm " in c]
    kept = {D, A}
    assert removed and not kept & {r.split(":")[-1] for r in removed}
    assert all(r.startswith(f"{IMAGE}:sha-") for r in removed)
    assert f"{IMAGE}:latest" not in removed
    assert not (host.root / "releases" / old[-1]).exists()


def test_one_deploy_at_a_time(host):
    (host.root / "state").mkdir()
    with open(host.root / "state" / "deploy.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        out = host.run(A)
    assert out.returncode == 1 and "another deploy" in out.stderr
    assert host.ups() == []


def test_status(host):
    assert host.run(A).returncode == 0
    out = host.run("--status")
    assert out.returncode == 0 and f"last good: {A}" in out.stdout
