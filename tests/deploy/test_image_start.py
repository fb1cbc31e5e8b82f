"""The image's start command, run here without Docker.

The test reads the Dockerfile's final stage (ENV, WORKDIR, the COPY lines into the app
directory, CMD, HEALTHCHECK), copies exactly what it copies into a temporary directory made
read-only, and runs the same command line with the same environment; only what a container
would provide differently is swapped: the listen address (a free loopback port instead of
0.0.0.0:8000), the demo market instead of Binance, the venv instead of /opt/venv, and temporary
directories standing in for the /tmp and /dev/shm tmpfs mounts.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from deploy_support import (REPO, VENV_BIN, dockerfile_instructions, exec_form, final_stage,
                            free_port, image_env, stop, wait_for_http)

pytestmark = pytest.mark.slow


def _copy_sources(stage, workdir: str, dest: Path) -> list[str]:
    """Copy what the final stage COPYs from the build context, with Docker's rules: a
    directory's contents go into the target; files go into a target ending in "/" (or
    given several sources), else become the target."""
    copied = []
    for word, args in stage:
        if word != "COPY" or "--from=" in args:
            continue
        *sources, target = [p for p in args.split() if not p.startswith("--")]
        absolute = Path(target if target.startswith("/") else f"{workdir}/{target}")
        assert absolute.is_relative_to(workdir), f"COPY outside {workdir}: {args}"
        out = dest / absolute.relative_to(workdir)
        into_dir = target.endswith("/") or len(sources) > 1
        for source in sources:
            src = REPO / source
            assert src.exists(), f"the Dockerfile copies {source}, which does not exist"
            if src.is_dir():
                shutil.copytree(src, out, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]"))
            elif into_dir:
                out.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, out / src.name)
            else:
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, out)
            copied.append(source)
    return copied


def _make_read_only(path: Path) -> None:
    for root, dirs, files in os.walk(path):
        for name in files + dirs:
            p = Path(root) / name
            p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _read_only_wrapper(app_dir: Path) -> list[str]:
    """A prefix that runs a command with app_dir read-only even for root.

    Not root: the permission bits already do it. Root: a read-only bind mount in a private
    mount namespace (EROFS, as in a container with read_only: true); failing that, root
    without CAP_DAC_OVERRIDE, which the permission bits then bind too."""
    if os.geteuid() != 0:
        return []
    # cd after the mount: a working directory opened before it would still be writable.
    script = ('mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && cd "$0" '
              '&& exec "$@"')
    unshare = shutil.which("unshare")
    if unshare:
        probe = subprocess.run([unshare, "-m", "sh", "-c", script, str(app_dir), "true"],
                               capture_output=True, timeout=30)
        if probe.returncode == 0:
            return [unshare, "-m", "sh", "-c", script, str(app_dir)]
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, "--bounding-set=-dac_override,-fowner", "--"]
    pytest.skip("running as root without unshare or setpriv: cannot make the copy read-only")


@pytest.fixture(scope="module")
def image_like(tmp_path_factory):
    instructions = dockerfile_instructions()
    stage = final_stage(instructions)
    env = image_env(instructions)
    workdirs = [args for word, args in stage if word == "WORKDIR"]
    assert workdirs, "the final stage sets no WORKDIR"
    workdir = workdirs[-1]
    cmd = exec_form(next(args for word, args in reversed(stage) if word == "CMD"))
    health = next(args for word, args in reversed(stage) if word == "HEALTHCHECK")
    health_cmd = exec_form(health[health.index("CMD") + 3:].strip())

    tmp = tmp_path_factory.mktemp("image")
    app_dir = tmp / "app"
    app_dir.mkdir()
    copied = _copy_sources(stage, workdir, app_dir)
    tmpfs, shm, seed = tmp / "tmpfs", tmp / "shm", tmp / "fontcache-seed"
    for d in (tmpfs, shm):
        d.mkdir()
    # Build time: the font cache, as the Dockerfile's RUN builds it into MPL_FONTCACHE_SEED.
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], check=True,
                   env={**os.environ, "MPLCONFIGDIR": str(seed)}, timeout=300,
                   capture_output=True)
    _make_read_only(app_dir)

    port = free_port()
    run_env = dict(env)
    # What differs from a container, and only that:
    run_env.update({
        "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/nonexistent",
        "TMPDIR": str(tmpfs),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "MARKET_SOURCE": "demo",
        "MPLCONFIGDIR": str(tmpfs / Path(env["MPLCONFIGDIR"]).name),
        "GUNICORN_WORKER_TMP_DIR": str(shm),
        "MPL_FONTCACHE_SEED": str(seed),
        "GUNICORN_WORKERS": "2",
    })
    argv = [str(VENV_BIN / cmd[0]) if not cmd[0].startswith("/") else cmd[0], *cmd[1:]]
    wrapper = _read_only_wrapper(app_dir)
    log = tmp / "gunicorn.log"
    # Only the image's environment: os.environ is not the container's.
    proc = subprocess.Popen(wrapper + argv, cwd=app_dir, env=run_env, stdin=subprocess.DEVNULL,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", proc, timeout=90, log=log)
        yield {
            "env": env, "run_env": run_env, "cmd": cmd, "health_cmd": health_cmd,
            "url": f"http://127.0.0.1:{port}", "port": port, "app_dir": app_dir,
            "copied": copied, "wrapper": wrapper, "log": log, "proc": proc,
        }
    finally:
        stop(proc)


def test_dockerfile_defaults_are_the_production_ones(image_like):
    env = image_like["env"]
    assert env["MARKET_SOURCE"] == "binance"
    assert env["GUNICORN_BIND"] == "0.0.0.0:8000"
    assert env["MPLCONFIGDIR"].startswith("/tmp/")
    assert env["GUNICORN_WORKER_TMP_DIR"] in ("/dev/shm", "/tmp")
    assert image_like["cmd"] == ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    assert {"wsgi.py", "gunicorn.conf.py", "binance_svc"} <= set(image_like["copied"])


def test_copy_is_really_read_only(image_like):
    probe = subprocess.run(
        image_like["wrapper"] + [sys.executable, "-c", "open('written-at-runtime', 'w')"],
        cwd=image_like["app_dir"], capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0
    assert "Read-only file system" in probe.stderr or "Permission denied" in probe.stderr


def test_health_from_read_only_copy(image_like):
    with urllib.request.urlopen(image_like["url"] + "/health", timeout=10) as resp:
        assert resp.status == 200
        body = json.load(resp)
    assert body["status"] == "ok"
    assert body["source"] == "demo"


def test_app_is_imported_from_the_copy(image_like):
    out = subprocess.run(
        [sys.executable, "-c", "import binance_svc, wsgi; print(binance_svc.__file__)"],
        cwd=image_like["app_dir"], env=image_like["run_env"], capture_output=True, text=True,
        timeout=120)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).is_relative_to(image_like["app_dir"])


def test_chart_renders_with_mplconfigdir_on_tmpfs(image_like):
    url = image_like["url"] + "/api/v1/analysis/technical/BTCUSDT?format=png&width=400&height=300"
    with urllib.request.urlopen(url, timeout=60) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/png"
        assert resp.read(8) == b"\x89PNG\r\n\x1a\n"
    # gunicorn.conf.py seeded the build-time font cache into the tmpfs MPLCONFIGDIR.
    mpl = Path(image_like["run_env"]["MPLCONFIGDIR"])
    assert list(mpl.glob("fontlist-*.json")), list(mpl.iterdir()) if mpl.exists() else mpl
    # Nothing was written into the app directory.
    assert not list(image_like["app_dir"].rglob("__pycache__"))


def test_healthcheck_command(image_like):
    cmd = image_like["health_cmd"]
    assert cmd[0] == "python" and "curl" not in " ".join(cmd) and "wget" not in " ".join(cmd)
    argv = [str(VENV_BIN / "python"), *cmd[1:]]
    ok = subprocess.run(argv, env=image_like["run_env"], capture_output=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    # And it fails when nothing answers.
    dead_env = dict(image_like["run_env"], GUNICORN_BIND=f"127.0.0.1:{free_port()}")
    dead = subprocess.run(argv, env=dead_env, capture_output=True, timeout=30)
    assert dead.returncode != 0


def test_access_log_off_by_default(image_like):
    with urllib.request.urlopen(image_like["url"] + "/health", timeout=10):
        pass
    lines = image_like["log"].read_text().splitlines()
    assert not any('"logger":"gunicorn.access"' in line for line in lines)
