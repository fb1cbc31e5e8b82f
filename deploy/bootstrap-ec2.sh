#!/usr/bin/env bash
# Prepare a fresh Ubuntu (22.04 or 24.04) EC2 instance to run binance-svc. Run once, as root:
#
#   scp -r deploy nginx ubuntu@HOST:/tmp/binance-svc/
#   ssh ubuntu@HOST sudo DEPLOY_SSH_PUBKEY="ssh-ed25519 AAAA... ci" GHCR_OWNER=you \
#       bash /tmp/binance-svc/deploy/bootstrap-ec2.sh
#
# It installs Docker Engine and the compose plugin from Docker's apt repository, creates the
# deploy user (in the docker group), lays out /opt/binance-svc and installs this checkout's
# deploy/ and nginx/ as /opt/binance-svc/installed/ (owned by root: the deploy user and the CI
# key can run them, not change them). DEPLOY_SSH_PUBKEY (the public half of the EC2_SSH_KEY
# secret) may only run deploy/ssh-command.sh: a forced command that takes an image to deploy,
# "rollback" or "status", and nothing else (no shell, no forwarding, no pty).
# Run it again to install newer deploy/ and nginx/ files. It never overwrites binance-svc.env,
# app.env or ghcr-token. Next steps: docs/deploy.md.
set -euo pipefail

DEPLOY_USER=${DEPLOY_USER:-deploy}
DEPLOY_ROOT=${DEPLOY_ROOT:-/opt/binance-svc}
DEPLOY_SSH_PUBKEY=${DEPLOY_SSH_PUBKEY:-}
GHCR_OWNER=${GHCR_OWNER:-}
SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (sudo)"
[[ -r /etc/os-release ]] || die "no /etc/os-release"
# shellcheck source=/dev/null
. /etc/os-release
[[ ${ID:-} == ubuntu ]] || die "expected Ubuntu, found ${ID:-unknown}"
[[ -f $SRC_DIR/deploy/docker-compose.prod.yml && -f $SRC_DIR/nginx/nginx.conf ]] ||
    die "run this from a copy holding deploy/ and nginx/ (found $SRC_DIR)"

export DEBIAN_FRONTEND=noninteractive

install_docker() {
    if docker compose version >/dev/null 2>&1; then
        log "Docker and the compose plugin are already installed"
        return 0
    fi
    log "installing Docker Engine and the compose plugin from Docker's apt repository"
    # Ubuntu's own docker.io / podman-docker packages conflict with Docker's.
    local pkg
    for pkg in docker.io docker-doc docker-compose docker-compose-v2 podman-docker containerd runc; do
        if dpkg -s "$pkg" >/dev/null 2>&1; then apt-get remove -y "$pkg"; fi
    done
    apt-get update -q
    apt-get install -y -q ca-certificates curl
    install -m 0755 -d /etc/apt/keyrings
    curl -fsSL https://download.docker.com/linux/ubuntu/gpg -o /etc/apt/keyrings/docker.asc
    chmod a+r /etc/apt/keyrings/docker.asc
    local arch codename
    arch=$(dpkg --print-architecture)
    codename=${UBUNTU_CODENAME:-$VERSION_CODENAME}
    printf 'deb [arch=%s signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/ubuntu %s stable\n' \
        "$arch" "$codename" >/etc/apt/sources.list.d/docker.list
    apt-get update -q
    apt-get install -y -q docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin
}

configure_docker() {
    # Rotate container logs (the default json-file grows without bound) and keep containers
    # running while dockerd itself restarts for an upgrade.
    if [[ ! -f /etc/docker/daemon.json ]]; then
        install -m 0755 -d /etc/docker
        cat >/etc/docker/daemon.json <<'JSON'
{
  "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "5"},
  "live-restore": true,
  "no-new-privileges": true
}
JSON
    fi
    systemctl enable docker >/dev/null
    systemctl restart docker
    docker compose version
}

create_user() {
    if ! id "$DEPLOY_USER" >/dev/null 2>&1; then
        log "creating user $DEPLOY_USER"
        useradd --create-home --shell /bin/bash "$DEPLOY_USER"
    fi
    usermod -aG docker "$DEPLOY_USER"
    local home ssh_dir
    home=$(getent passwd "$DEPLOY_USER" | cut -d: -f6)
    ssh_dir=$home/.ssh
    install -d -m 0700 -o "$DEPLOY_USER" -g "$DEPLOY_USER" "$ssh_dir"
    touch "$ssh_dir/authorized_keys"
    if [[ -n $DEPLOY_SSH_PUBKEY ]]; then
        # One line for the CI key, restricted to the forced command; an earlier line for the
        # same key (e.g. without the command) is replaced.
        local key_body line tmp
        key_body=$(awk '{print $2}' <<<"$DEPLOY_SSH_PUBKEY")
        line="command=\"$DEPLOY_ROOT/installed/deploy/ssh-command.sh\",restrict $DEPLOY_SSH_PUBKEY"
        tmp=$(mktemp)
        grep -vF -- "$key_body" "$ssh_dir/authorized_keys" >"$tmp" || true
        printf '%s\n' "$line" >>"$tmp"
        cat "$tmp" >"$ssh_dir/authorized_keys"
        rm -f -- "$tmp"
        log "the CI key in $ssh_dir/authorized_keys may only run ssh-command.sh"
    else
        log "DEPLOY_SSH_PUBKEY not given: add the CI key yourself, as command=\"$DEPLOY_ROOT/installed/deploy/ssh-command.sh\",restrict <key>"
    fi
    chown "$DEPLOY_USER:$DEPLOY_USER" "$ssh_dir/authorized_keys"
    chmod 600 "$ssh_dir/authorized_keys"
}

lay_out() {
    log "laying out $DEPLOY_ROOT"
    install -d -m 0750 -o "$DEPLOY_USER" -g "$DEPLOY_USER" \
        "$DEPLOY_ROOT" "$DEPLOY_ROOT/releases" "$DEPLOY_ROOT/state"
    # Read by the unprivileged NGINX (uid 101) inside its container.
    install -d -m 0755 -o "$DEPLOY_USER" -g "$DEPLOY_USER" "$DEPLOY_ROOT/acme"
    install -d -m 0750 -o "$DEPLOY_USER" -g 101 "$DEPLOY_ROOT/tls"

    # The scripts and files the CI key runs: root's, readable by everyone, changed only here.
    local installed=$DEPLOY_ROOT/installed
    rm -rf -- "$installed.new"
    install -d -m 0755 -o root -g root "$installed.new"
    cp -R "$SRC_DIR/deploy" "$SRC_DIR/nginx" "$installed.new/"
    chown -R root:root "$installed.new"
    chmod -R go-w,a+rX "$installed.new"
    rm -rf -- "$installed"
    mv -- "$installed.new" "$installed"
    # NGINX's configuration and the live colour: the deploy user rewrites them at deploys.
    install -d -m 0755 -o "$DEPLOY_USER" -g "$DEPLOY_USER" "$DEPLOY_ROOT/nginx" "$DEPLOY_ROOT/nginx-live"
    if [[ ! -e $DEPLOY_ROOT/current ]]; then
        ln -s "$installed" "$DEPLOY_ROOT/current"
        chown -h "$DEPLOY_USER:$DEPLOY_USER" "$DEPLOY_ROOT/current"
    fi

    if [[ ! -f $DEPLOY_ROOT/binance-svc.env ]]; then
        install -m 0600 -o "$DEPLOY_USER" -g "$DEPLOY_USER" \
            "$SRC_DIR/deploy/binance-svc.env.example" "$DEPLOY_ROOT/binance-svc.env"
        if [[ -n $GHCR_OWNER ]]; then
            sed -i "s/^GHCR_OWNER=.*/GHCR_OWNER=${GHCR_OWNER,,}/" "$DEPLOY_ROOT/binance-svc.env"
        fi
        log "wrote $DEPLOY_ROOT/binance-svc.env: check GHCR_OWNER"
    fi
    if [[ ! -f $DEPLOY_ROOT/app.env ]]; then
        install -m 0600 -o "$DEPLOY_USER" -g "$DEPLOY_USER" \
            "$SRC_DIR/deploy/app.env.example" "$DEPLOY_ROOT/app.env"
    fi
    if [[ ! -f $DEPLOY_ROOT/ghcr-token ]]; then
        install -m 0600 -o "$DEPLOY_USER" -g "$DEPLOY_USER" /dev/null "$DEPLOY_ROOT/ghcr-token"
        log "a private package needs GHCR_USER and a read:packages token here, or CI's token (docs/deploy.md)"
    fi
}

enable_updates() {
    apt-get install -y -q unattended-upgrades
    dpkg-reconfigure -f noninteractive unattended-upgrades
}

install_docker
configure_docker
create_user
lay_out
enable_updates
log "done. Host key for the EC2_HOST_KEY secret (from a machine you trust: compare fingerprints):"
if [[ -r /etc/ssh/ssh_host_ed25519_key.pub ]]; then
    ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub
fi
log "next: docs/deploy.md, step 'First deploy'"
