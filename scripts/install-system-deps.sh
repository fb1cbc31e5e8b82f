#!/usr/bin/env bash
# Install the Debian/Ubuntu tools the slow tests use, when they are missing: nginx (the real
# NGINX in front of gunicorn), chromium + chromium-driver (browser tests), redis-server
# (RedisCache tests), shellcheck (deploy script lint), openssl (the TLS server test).
#
# Called by `make test` before pytest. Never fails the build: as root (or with passwordless
# sudo) and with apt-get it installs quietly, bounded in time; otherwise, or when a package
# cannot be had, it says what is missing and the tests that need it skip with that reason.
#
#   SYSTEM_DEPS_TIMEOUT   seconds for each apt-get call (default 300)
#   SKIP_SYSTEM_DEPS=1    do nothing
set -uo pipefail

TIMEOUT=${SYSTEM_DEPS_TIMEOUT:-300}

say() { printf 'install-system-deps: %s\n' "$*" >&2; }

if [[ ${SKIP_SYSTEM_DEPS:-0} == 1 ]]; then
    say "SKIP_SYSTEM_DEPS=1: not installing anything"
    exit 0
fi

# tool on PATH (or in /usr/sbin) -> Debian package(s)
declare -A PACKAGE_OF=(
    [nginx]=nginx
    [chromium]=chromium
    [chromedriver]=chromium-driver
    [redis-server]=redis-server
    [shellcheck]=shellcheck
    [openssl]=openssl
)
TOOLS=(nginx chromium chromedriver redis-server shellcheck openssl)

have() { command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 || -x /usr/bin/$1 ]]; }

missing=()
for tool in "${TOOLS[@]}"; do
    if [[ $tool == chromium ]] && (have chromium || have chromium-browser || have google-chrome); then
        continue
    fi
    have "$tool" || missing+=("$tool")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    say "all present: ${TOOLS[*]}"
    exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        SUDO=(sudo -n)
    else
        say "not root and no passwordless sudo: cannot install ${missing[*]} (tests needing them will skip)"
        exit 0
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    say "no apt-get: cannot install ${missing[*]} (tests needing them will skip)"
    exit 0
fi

apt_get() {
    timeout "$TIMEOUT" "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get -q -y -o Dpkg::Use-Pty=0 -o APT::Install-Recommends=false "$@"
}

# Refresh the package lists only when they are missing or older than a day.
if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1) ]]; then
    say "apt-get update"
    apt_get update >/dev/null 2>&1 || say "apt-get update failed (continuing with the lists there are)"
fi

failed=()
for tool in "${missing[@]}"; do
    pkg=${PACKAGE_OF[$tool]}
    say "installing $pkg (for $tool)"
    if ! apt_get install "$pkg" >/dev/null 2>&1; then
        failed+=("$pkg")
    fi
done

# Debian's nginx package starts a server on port 80 as it installs; the tests run their own.
if [[ " ${missing[*]} " == *" nginx "* ]] && command -v service >/dev/null 2>&1; then
    "${SUDO[@]}" service nginx stop >/dev/null 2>&1 || true
fi
if [[ " ${missing[*]} " == *" redis-server "* ]] && command -v service >/dev/null 2>&1; then
    "${SUDO[@]}" service redis-server stop >/dev/null 2>&1 || true
fi

if [[ ${#failed[@]} -gt 0 ]]; then
    say "could not install: ${failed[*]} (tests needing them will skip)"
else
    say "installed: ${missing[*]}"
fi
exit 0
