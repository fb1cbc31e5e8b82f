"""deploy/deploy.sh's decisions without Docker: `docker`, `curl` and `sleep` are fakes on PATH
that record their calls and fail on cue. The real switch (real NGINX, two real gunicorns,
requests flowing) is test_zero_downtime.py; this file covers every branch of the script
cheaply: which colour starts, when NGINX is touched, what is recorded, what happens on each
kind of failure, offline rollbacks, digests, tokens, pruning and locking."""
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
DIGEST = "sha256:" + "5" * 64
BLUE, GREEN = "10.9.0.11:8000", "10.9.0.12:8000"
NGINX = "nginxinc/nginx-unprivileged:1.28-alpine@sha256:" + "1" * 64
NEWER_NGINX = "nginxinc/nginx-unprivileged:1.28-alpine@sha256:" + "2" * 64

FAKE_DOCKER = r"""#!/usr/bin/env bash
# Records each call (with the colours' images). State in $FAKE: on-disk (images present),
# running-<colour> (its image), nginx-running, nginx-color (what NGINX serves after reload),
# nginx-image (what the NGINX container was created from), edge-image (what the compose file
# names; default NGINX_NAMED). Failures on cue: bad-pull, bad-up (images), bad-nginx-test,
# reload-noop, bad-edge-pull (files).
printf '%s\n' "BLUE=${APP_BLUE_IMAGE:-} GREEN=${APP_GREEN_IMAGE:-} $*" >> "$FAKE/calls"
last=${*: -1}
case "$1" in
  login) cat > "$FAKE/login-stdin" ;;
  logout) ;;
  pull)
    grep -qxF "$last" "$FAKE/bad-pull" 2>/dev/null && exit 1
    printf '%s\n' "$last" >> "$FAKE/on-disk" ;;
  inspect) [[ $last == nginx-container-id ]] && cat "$FAKE/nginx-image" ;;
  image)
    case "$2" in
      inspect) grep -qxF "$last" "$FAKE/on-disk" 2>/dev/null || exit 1 ;;
      ls) cat "$FAKE/images" 2>/dev/null ;;
    esac ;;
  compose)
    case " $* " in
      *" config --images nginx"*) cat "$FAKE/edge-image" 2>/dev/null || echo "$NGINX_NAMED" ;;
      *" pull "*) [[ -e $FAKE/bad-edge-pull ]] && exit 1 ;;
      *" up "*" nginx"*) touch "$FAKE/nginx-running"
        cat "$FAKE/edge-image" 2>/dev/null > "$FAKE/nginx-image" || echo "$NGINX_NAMED" > "$FAKE/nginx-image"
        sed -n 's/^ *default \(.*\);$/\1/p' "$NGINX_LIVE_DIR/upstream.conf" > "$FAKE/nginx-color" ;;
      *" up "*" app-"*)
        color=${last#app-}
        var=APP_${color^^}_IMAGE
        grep -qxF "${!var}" "$FAKE/bad-up" 2>/dev/null && exit 1
        printf '%s\n' "${!var}" > "$FAKE/running-$color" ;;
      *" ps "*) [[ -e $FAKE/nginx-running ]] && echo nginx-container-id ;;
      *" exec "*" nginx -t "*) [[ -e $FAKE/bad-nginx-test ]] && exit 1 ;;
      *" exec "*" nginx -s reload"*)
        [[ -e $FAKE/reload-noop ]] ||
          sed -n 's/^ *default \(.*\);$/\1/p' "$NGINX_LIVE_DIR/upstream.conf" > "$FAKE/nginx-color" ;;
      *" stop "*) rm -f "$FAKE/running-${last#app-}" ;;
    esac ;;
esac
exit 0
"""

FAKE_CURL = r"""#!/usr/bin/env bash
# Direct /health/ready of a colour: fails when its image is listed in $FAKE/bad-ready.
# /health through NGINX: 200 with X-Upstream-Color of the colour NGINX serves.
printf '%s\n' "curl $*" >> "$FAKE/calls"
url=${*: -1}
case $url in
  http://$APP_BLUE_UPSTREAM/*|http://$APP_GREEN_UPSTREAM/*)
    [[ $url == http://$APP_BLUE_UPSTREAM/* ]] && color=blue || color=green
    [[ -e $FAKE/running-$color ]] || exit 7
    if [[ $url == */health/ready ]] && grep -qxF "$(cat "$FAKE/running-$color")" "$FAKE/bad-ready" 2>/dev/null; then
      exit 22
    fi ;;
  http://127.0.0.1:*/health)
    [[ -e $FAKE/nginx-running ]] || exit 7
    color=$(cat "$FAKE/nginx-color")
    [[ -e $FAKE/running-$color ]] || exit 22
    printf 'HTTP/1.1 200 OK\r\nX-Upstream-Color: %s\r\n\r\n' "$color" ;;
esac
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
    env_file.write_text(
        example.replace("GHCR_OWNER=your-github-user", f"GHCR_OWNER={OWNER}")
        .replace("GHCR_USER=\n", "GHCR_USER=reader\n")
        .replace("GHCR_TOKEN_FILE=/opt/binance-svc/ghcr-token",
                 f"GHCR_TOKEN_FILE={root}/ghcr-token")
        .replace("/opt/binance-svc/nginx", f"{root}/nginx")
        + f"APP_BLUE_UPSTREAM={BLUE}\nAPP_GREEN_UPSTREAM={GREEN}\n")
    (root / "ghcr-token").write_text("ghp_readonly\n")

    class Host:
        def __init__(self):
            self.root, self.fake, self.env_file = root, fake, env_file

        def release(self, tag):
            """What CI uploads for a tag: that commit's deploy/ and nginx/."""
            for d in ("deploy", "nginx"):
                shutil.copytree(REPO / d, root / "releases" / tag / d, dirs_exist_ok=True)

        def fail(self, what, *items):
            with open(fake / what, "a") as f:
                f.write("".join(f"{t}\n" for t in items))

        def run(self, *args, script=None, stdin=None):
            script = script or REPO / "deploy" / "deploy.sh"
            env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE": str(fake), "NGINX_NAMED": NGINX,
                   "DEPLOY_ROOT": str(root), "HOME": str(tmp_path)}
            return subprocess.run(["bash", str(script), *args], env=env, capture_output=True,
                                  text=True, timeout=60, input=stdin)

        def calls(self):
            path = fake / "calls"
            return path.read_text().splitlines() if path.exists() else []

        def ups(self):
            """(colour, image) of each `compose up app-...`."""
            out = []
            for c in self.calls():
                if " compose " in c and " up " in c and " app-" in c:
                    color = c.rsplit("app-", 1)[1]
                    images = dict(w.split("=", 1) for w in c.split()[:2])
                    out.append((color, images[color.upper()]))
            return out

        def index(self, needle):
            return next(i for i, c in enumerate(self.calls()) if needle in c)

        def running(self):
            return {p.name[len("running-"):]: p.read_text().strip()
                    for p in fake.glob("running-*")}

        def state(self, name):
            path = root / "state" / name
            return path.read_text().strip() if path.exists() else None

        def serving(self):
            return (fake / "nginx-color").read_text().strip()

        def upstream(self):
            return (root / "nginx-live" / "upstream.conf").read_text()

        def env_tag(self):
            return next(line.split("=", 1)[1] for line in env_file.read_text().splitlines()
                        if line.startswith("IMAGE_TAG="))

    return Host()


def test_first_deploy_starts_blue_then_nginx(host):
    host.release(A)
    out = host.run(A, script=host.root / "releases" / A / "deploy" / "deploy.sh")
    assert out.returncode == 0, out.stderr
    calls = host.calls()
    login = next(c for c in calls if " login " in c)
    assert login.endswith("login ghcr.io --username reader --password-stdin")
    assert (host.fake / "login-stdin").read_text() == "ghp_readonly\n"
    assert any(c.endswith(f"pull --quiet {IMAGE}:{A}") for c in calls)
    up = next(c for c in calls if " up " in c)
    assert f"compose -p binance-svc --env-file {host.env_file}" in up
    assert f"-f {host.root}/releases/{A}/deploy/docker-compose.prod.yml" in up
    assert up.endswith("up -d --no-deps --wait --wait-timeout 180 app-blue")
    assert "docker-compose.tls.yml" not in up
    assert any(f"http://{BLUE}/health/ready" in c for c in calls)
    # NGINX is started once, after the app is ready, never with --force-recreate.
    nginx_up = host.index("up -d --no-recreate")
    assert nginx_up > host.index(f"http://{BLUE}/health/ready")
    assert calls[nginx_up].endswith(" nginx") and "recreate" not in calls[nginx_up].replace(
        "--no-recreate", "")
    assert f"server {BLUE};" in host.upstream() and "default blue;" in host.upstream()
    assert host.serving() == "blue"
    assert host.state("live-color") == "blue"
    assert host.state("last-good-tag") == A and host.state("last-good-image") == f"{IMAGE}:{A}"
    assert host.env_tag() == A
    assert os.readlink(host.root / "current") == str(host.root / "releases" / A)
    assert (host.env_file.stat().st_mode & 0o777) == 0o600
    # The release's nginx/ is what NGINX runs, from the stable path.
    assert (host.root / "nginx" / "nginx.conf").read_text() == (
        REPO / "nginx" / "nginx.conf").read_text()


def test_second_deploy_switches_to_green_then_stops_blue(host):
    assert host.run(A).returncode == 0
    out = host.run(B)
    assert out.returncode == 0, out.stderr
    assert host.ups() == [("blue", f"{IMAGE}:{A}"), ("green", f"{IMAGE}:{B}")]
    test, reload = host.index("nginx -t"), host.index("nginx -s reload")
    ready = host.index(f"http://{GREEN}/health/ready")
    stop = host.index("stop -t 30 app-blue")
    assert ready < test < reload < stop
    assert not any(" up " in c and "nginx" in c for c in host.calls()[reload:])
    assert host.serving() == "green" and host.running() == {"green": f"{IMAGE}:{B}"}
    assert host.state("live-color") == "green"
    assert (host.state("last-good-tag"), host.state("previous-good-tag")) == (B, A)
    assert host.state("previous-good-image") == f"{IMAGE}:{A}"


@pytest.mark.parametrize("failure", ["bad-up", "bad-ready"])
def test_new_colour_failing_leaves_the_old_one_serving(host, failure):
    assert host.run(A).returncode == 0
    host.fail(failure, f"{IMAGE}:{B}")
    out = host.run(B)
    assert out.returncode == 1, out.stderr
    assert "live colour is unchanged" in out.stderr
    assert not any("nginx -s reload" in c or "nginx -t" in c for c in host.calls())
    assert host.running() == {"blue": f"{IMAGE}:{A}"}     # green stopped, blue untouched
    assert host.serving() == "blue" and "default blue;" in host.upstream()
    assert host.state("live-color") == "blue" and host.state("last-good-tag") == A
    assert host.env_tag() == A


def test_rejected_nginx_config_restores_the_upstream(host):
    assert host.run(A).returncode == 0
    (host.fake / "bad-nginx-test").touch()
    out = host.run(B)
    assert out.returncode == 1
    assert not any("nginx -s reload" in c for c in host.calls())
    assert "default blue;" in host.upstream() and host.serving() == "blue"
    assert host.running() == {"blue": f"{IMAGE}:{A}"}


def test_switch_that_does_not_take_effect_goes_back(host):
    assert host.run(A).returncode == 0
    (host.fake / "reload-noop").touch()      # NGINX keeps answering from blue
    out = host.run(B)
    assert out.returncode == 1, out.stderr
    assert "did not take effect" in out.stderr
    assert "default blue;" in host.upstream()
    assert host.running() == {"blue": f"{IMAGE}:{A}"}
    assert host.state("live-color") == "blue"


def test_first_deploy_failing_leaves_nothing_half_started(host):
    host.fail("bad-ready", f"{IMAGE}:{A}")
    out = host.run(A)
    assert out.returncode == 1
    assert host.running() == {} and not (host.fake / "nginx-running").exists()
    assert host.state("last-good-tag") is None


def test_failed_pull_changes_nothing(host):
    assert host.run(A).returncode == 0
    host.fail("bad-pull", f"{IMAGE}:{B}")
    out = host.run(B)
    assert out.returncode == 1 and "nothing changed" in out.stderr
    assert host.ups() == [("blue", f"{IMAGE}:{A}")]


def test_rollback_is_offline_when_the_image_is_on_disk(host):
    assert host.run(A).returncode == 0
    assert host.run(D).returncode == 0
    assert (host.state("last-good-tag"), host.state("previous-good-tag")) == (D, A)
    # GHCR down and the token gone: a rollback must not need them.
    host.fail("bad-pull", f"{IMAGE}:{A}")
    (host.root / "ghcr-token").write_text("")
    before = len(host.calls())
    out = host.run("--rollback")
    assert out.returncode == 0, out.stderr
    new_calls = host.calls()[before:]
    assert not any(" login " in c or " pull " in c for c in new_calls)
    assert host.ups()[-1] == ("blue", f"{IMAGE}:{A}")
    assert host.state("last-good-tag") == A and host.env_tag() == A
    assert host.serving() == "blue"


def test_deploy_by_digest(host):
    out = host.run(f"{A}@{DIGEST}")
    assert out.returncode == 0, out.stderr
    assert any(c.endswith(f"pull --quiet {IMAGE}@{DIGEST}") for c in host.calls())
    assert host.ups() == [("blue", f"{IMAGE}@{DIGEST}")]
    assert host.state("last-good-image") == f"{IMAGE}@{DIGEST}"
    assert host.state("last-good-tag") == A
    assert host.run(B).returncode == 0
    assert host.run("--rollback").returncode == 0
    assert host.ups()[-1] == ("blue", f"{IMAGE}@{DIGEST}")   # by digest again
    for bad in (f"{A}@sha256:short", f"{A}@md5:" + "0" * 32, f"{A}@{DIGEST};id"):
        assert host.run(bad).returncode == 64, bad


def test_token_on_stdin_is_used_for_the_pull_and_logged_out(host):
    (host.root / "ghcr-token").write_text("")
    out = host.run("--token-stdin", A, stdin="ghs_shortlived\n")
    assert out.returncode == 0, out.stderr
    assert (host.fake / "login-stdin").read_text() == "ghs_shortlived\n"
    calls = host.calls()
    assert host.index(" login ") < host.index(" pull ") < host.index(" logout ")
    assert not any("ghs_shortlived" in c for c in calls)   # never on a command line
    assert host.run("--token-stdin", B, stdin="").returncode == 64


def test_bare_sha_gets_the_prefix_and_bad_tags_are_refused(host):
    assert host.run("a" * 40).returncode == 0
    assert host.state("last-good-tag") == A
    for bad in ("sha-XYZ", "latest;rm -rf /", "../../etc", "v1.0"):
        out = host.run(bad)
        assert out.returncode == 64, bad
    assert len(host.ups()) == 1


def test_tls_override_when_enabled(host):
    host.env_file.write_text(host.env_file.read_text().replace("ENABLE_TLS=false",
                                                               "ENABLE_TLS=true"))
    assert host.run(A).returncode == 0
    up = next(c for c in host.calls() if " up " in c)
    assert up.count(" -f ") == 2 and "docker-compose.tls.yml" in up


def test_changed_nginx_config_is_installed_in_place_and_reloaded(host):
    host.release(A)
    assert host.run(A, script=host.root / "releases" / A / "deploy" / "deploy.sh").returncode == 0
    inode = (host.root / "nginx" / "nginx.conf").stat().st_ino
    host.release(B)
    conf = host.root / "releases" / B / "nginx" / "nginx.conf"
    conf.write_text(conf.read_text() + "# changed\n")
    out = host.run(B)
    assert out.returncode == 0, out.stderr
    installed = host.root / "nginx" / "nginx.conf"
    assert installed.read_text().endswith("# changed\n")
    assert installed.stat().st_ino == inode      # written in place: file binds see it
    render = host.index("20-envsubst-on-templates.sh")
    assert render < host.index("nginx -s reload") < host.index("up -d --no-deps --wait "
                                                                "--wait-timeout 180 app-green")


def test_rejected_nginx_config_is_restored_and_nothing_deployed(host):
    host.release(A)
    assert host.run(A, script=host.root / "releases" / A / "deploy" / "deploy.sh").returncode == 0
    host.release(B)
    conf = host.root / "releases" / B / "nginx" / "nginx.conf"
    conf.write_text(conf.read_text() + "# broken\n")
    (host.fake / "bad-nginx-test").touch()
    out = host.run(B)
    assert out.returncode == 1 and "rejected" in out.stderr
    assert not (host.root / "nginx" / "nginx.conf").read_text().endswith("# broken\n")
    assert host.ups() == [("blue", f"{IMAGE}:{A}")]


def test_prune_keeps_the_live_previous_and_newest_images(host):
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
    assert out.returncode == 0
    assert "live:      blue" in out.stdout and f"last good: {A}" in out.stdout


# --- the edge (NGINX, Redis): a moved digest is reported by a deploy, applied on request ---

def test_deploy_reports_an_nginx_image_the_compose_file_no_longer_names(host):
    assert host.run(A).returncode == 0
    assert (host.fake / "nginx-image").read_text().strip() == NGINX
    quiet = host.run(B)
    assert quiet.returncode == 0 and "--update-edge" not in quiet.stderr
    (host.fake / "edge-image").write_text(NEWER_NGINX + "\n")    # Dependabot moved the digest
    out = host.run(C)
    assert out.returncode == 0, out.stderr
    assert f"nginx runs {NGINX} but the compose file names {NEWER_NGINX}" in out.stderr
    assert "deploy.sh --update-edge" in out.stderr
    # The app deploy itself never touches NGINX's container.
    assert sum(" up " in c and c.endswith(" nginx") for c in host.calls()) == 1
    assert "--update-edge" in host.run("--status").stderr


def test_update_edge_pulls_first_then_recreates_nginx_and_checks_it(host):
    assert host.run(A).returncode == 0
    (host.fake / "edge-image").write_text(NEWER_NGINX + "\n")
    out = host.run("--update-edge")
    assert out.returncode == 0, out.stderr
    calls = host.calls()
    pull = host.index(" pull --quiet nginx")
    ups = [i for i, c in enumerate(calls) if " up " in c and i > pull]
    health = max(i for i, c in enumerate(calls) if c.startswith("curl") and "/health" in c)
    assert len(ups) == 1 and pull < ups[0] < health
    assert calls[ups[0]].endswith("up -d --no-deps --wait --wait-timeout 180 nginx")  # no app
    assert (host.fake / "nginx-image").read_text().strip() == NEWER_NGINX
    assert "edge " + NEWER_NGINX in (host.root / "state" / "history.log").read_text()
    assert "--update-edge" not in host.run(B).stderr           # no drift reported any more


def test_update_edge_with_a_failed_pull_changes_nothing(host):
    assert host.run(A).returncode == 0
    (host.fake / "edge-image").write_text(NEWER_NGINX + "\n")
    host.fail("bad-edge-pull")
    before = len(host.calls())
    out = host.run("--update-edge")
    assert out.returncode == 1 and "nothing changed" in out.stderr
    assert not any(" up " in c for c in host.calls()[before:])
    assert (host.fake / "nginx-image").read_text().strip() == NGINX


def test_update_edge_before_any_deploy_is_refused(host):
    out = host.run("--update-edge")
    assert out.returncode == 1 and "nothing is deployed yet" in out.stderr
