#!/usr/bin/env bash
# The forced command of the CI deploy key (~deploy/.ssh/authorized_keys, written by
# bootstrap-ec2.sh):
#
#   command="/opt/binance-svc/installed/deploy/ssh-command.sh",restrict ssh-ed25519 AAAA... ci
#
# Whatever the client asks to run arrives in SSH_ORIGINAL_COMMAND; only these are carried out:
#
#   deploy sha-<40 hex>[@sha256:<64 hex>] [--token-stdin]   deploy.sh with that image
#   rollback                                                 deploy.sh --rollback
#   status                                                   deploy.sh --status
#   update-edge                                              deploy.sh --update-edge
#   upload sha-<40 hex>   a tar of deploy/ and nginx/ on stdin -> releases/<tag>/, only when
#                         CI_MAY_UPLOAD=true in binance-svc.env (see docs/deploy.md)
#
# Everything else is refused (exit 64), and so is any shell, forwarding or pty (restrict).
# deploy.sh is the root-owned copy beside this script, not one CI uploaded: without
# CI_MAY_UPLOAD the key can choose an image and nothing else, and the compose and NGINX files
# that decide how that image runs (read-only, no capabilities, no published port) are the ones
# the operator installed.
set -euo pipefail

DEPLOY_ROOT=${DEPLOY_ROOT:-/opt/binance-svc}
ENV_FILE=${ENV_FILE:-$DEPLOY_ROOT/binance-svc.env}
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
DEPLOY_SH=$HERE/deploy.sh
TAG='sha-[0-9a-f]{40}'
DIGEST='sha256:[0-9a-f]{64}'

refuse() { printf 'ssh-command: refused: %s\n' "$*" >&2; exit 64; }

# Word-split on spaces only; no globbing, no quotes, no shell: anything unusual is refused.
command=${SSH_ORIGINAL_COMMAND:-}
[[ $command =~ ^[a-z0-9:@\ -]{1,200}$ ]] || refuse "unexpected characters in '$command'"
read -r -a words <<<"$command"

case "${words[0]:-} ${#words[@]}" in
    "deploy 2" | "deploy 3")
        [[ ${words[1]} =~ ^${TAG}(@${DIGEST})?$ ]] || refuse "not an image: ${words[1]}"
        if [[ ${#words[@]} -eq 3 ]]; then
            [[ ${words[2]} == --token-stdin ]] || refuse "unknown option ${words[2]}"
            exec "$DEPLOY_SH" --token-stdin "${words[1]}"
        fi
        exec "$DEPLOY_SH" "${words[1]}" </dev/null
        ;;
    "rollback 1") exec "$DEPLOY_SH" --rollback </dev/null ;;
    "status 1") exec "$DEPLOY_SH" --status </dev/null ;;
    "update-edge 1") exec "$DEPLOY_SH" --update-edge </dev/null ;;
    "upload 2")
        [[ ${words[1]} =~ ^${TAG}$ ]] || refuse "not a tag: ${words[1]}"
        allowed=$(sed -n 's/^CI_MAY_UPLOAD=//p' "$ENV_FILE" 2>/dev/null | tail -n 1)
        [[ $allowed == true ]] || refuse "uploads are off (CI_MAY_UPLOAD=true in $ENV_FILE turns them on)"
        dest=$DEPLOY_ROOT/releases/${words[1]}
        rm -rf -- "$dest.tmp"
        mkdir -p -- "$dest.tmp"
        # Only deploy/ and nginx/, no absolute paths or "..", no links, no owners from the tar.
        tar -xzf - -C "$dest.tmp" --no-same-owner --no-same-permissions \
            --exclude='*..*' --exclude='/*' deploy nginx
        if find "$dest.tmp" -type l | grep -q .; then
            rm -rf -- "$dest.tmp"
            refuse "links in the upload"
        fi
        rm -rf -- "$dest"
        mv -- "$dest.tmp" "$dest"
        printf 'ssh-command: uploaded %s\n' "${words[1]}"
        ;;
    *) refuse "'$command' (allowed: deploy <tag>[@<digest>] [--token-stdin], rollback, status, update-edge, upload <tag>)" ;;
esac
