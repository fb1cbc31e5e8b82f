#!/usr/bin/env bash
# Deploy one image tag of binance-svc on this host; roll back to the last good tag on failure.
#
#   deploy.sh sha-<commit sha>   pull ghcr.io/$GHCR_OWNER/binance-svc:sha-..., start it, check it
#   deploy.sh <commit sha>       the same (the "sha-" prefix is added)
#   deploy.sh --rollback         deploy the previous good tag (the one before the last good)
#   deploy.sh --status           print the running, last good and previous tags
#
# Run as the deploy user (member of the docker group). CI uploads each commit's deploy/ and
# nginx/ to $DEPLOY_ROOT/releases/sha-.../ and runs that copy of this script, so the compose
# and NGINX files always match the image. Layout of $DEPLOY_ROOT (default /opt/binance-svc):
#
#   binance-svc.env       settings (deploy/binance-svc.env.example); IMAGE_TAG is rewritten here
#   app.env               the app's environment (deploy/app.env.example)
#   ghcr-token            read-only registry token (classic PAT, read:packages), mode 600
#   releases/<tag>/       deploy/ and nginx/ of that commit
#   current -> releases/<tag>
#   state/last-good-tag   the last tag that passed its health checks
#   state/previous-good-tag, state/history.log, state/deploy.lock
#
# Exit status: 0 deployed; 1 failed and rolled back (or nothing to roll back to);
# 2 failed and the rollback failed too; 64 usage.
set -euo pipefail

DEPLOY_ROOT=${DEPLOY_ROOT:-/opt/binance-svc}
ENV_FILE=${ENV_FILE:-$DEPLOY_ROOT/binance-svc.env}
STATE_DIR=$DEPLOY_ROOT/state
RELEASES_DIR=$DEPLOY_ROOT/releases
PROJECT=binance-svc
REGISTRY=ghcr.io
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
TAG_RE='^(sha-[0-9a-f]{7,40}|latest)$'

log() { printf '%s deploy: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "error: $*"; exit "${2:-1}"; }

usage() {
    sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 64
}

load_env() {
    [[ -r $ENV_FILE ]] || die "cannot read $ENV_FILE (copy deploy/binance-svc.env.example there)"
    set -a
    # shellcheck source=/dev/null
    . "$ENV_FILE"
    set +a
    : "${GHCR_OWNER:?set GHCR_OWNER in $ENV_FILE}"
    GHCR_OWNER=${GHCR_OWNER,,}
    export GHCR_OWNER
    HTTP_PORT=${HTTP_PORT:-80}
    DEPLOY_WAIT_TIMEOUT=${DEPLOY_WAIT_TIMEOUT:-180}
    KEEP_IMAGES=${KEEP_IMAGES:-3}
    IMAGE_REPO=$REGISTRY/$GHCR_OWNER/binance-svc
}

read_state() { # name -> value or empty
    local file=$STATE_DIR/$1
    if [[ -s $file ]]; then tr -d '[:space:]' <"$file"; fi
}

write_state() { # name value
    local tmp
    tmp=$(mktemp "$STATE_DIR/.$1.XXXXXX")
    printf '%s\n' "$2" >"$tmp"
    mv -f "$tmp" "$STATE_DIR/$1"
}

set_env_image_tag() { # tag: rewrite IMAGE_TAG= in the env file, atomically
    local tmp
    tmp=$(mktemp "$ENV_FILE.XXXXXX")
    if grep -q '^IMAGE_TAG=' "$ENV_FILE"; then
        sed "s/^IMAGE_TAG=.*/IMAGE_TAG=$1/" "$ENV_FILE" >"$tmp"
    else
        cat "$ENV_FILE" >"$tmp"
        printf 'IMAGE_TAG=%s\n' "$1" >>"$tmp"
    fi
    chmod 600 "$tmp"
    mv -f "$tmp" "$ENV_FILE"
}

registry_login() {
    local token_file=${GHCR_TOKEN_FILE:-$DEPLOY_ROOT/ghcr-token}
    if [[ -z ${GHCR_USER:-} ]]; then
        log "GHCR_USER empty: pulling anonymously (public package)"
        return 0
    fi
    [[ -r $token_file ]] || die "GHCR_USER is set but $token_file is not readable"
    docker login "$REGISTRY" --username "$GHCR_USER" --password-stdin <"$token_file" >/dev/null
}

release_dir_for() { # tag -> directory holding deploy/ and nginx/ for that tag
    if [[ -f $RELEASES_DIR/$1/deploy/docker-compose.prod.yml ]]; then
        printf '%s\n' "$RELEASES_DIR/$1"
    else
        dirname -- "$SCRIPT_DIR"
    fi
}

compose() { # release_dir tag compose-args...
    local dir=$1 tag=$2
    shift 2
    local files=(-f "$dir/deploy/docker-compose.prod.yml")
    if [[ ${ENABLE_TLS:-false} == true ]]; then
        files+=(-f "$dir/deploy/docker-compose.tls.yml")
    fi
    IMAGE_TAG=$tag docker compose -p "$PROJECT" --env-file "$ENV_FILE" "${files[@]}" "$@"
}

healthy_through_nginx() {
    local url="http://127.0.0.1:$HTTP_PORT/health" i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        if curl -fsS --max-time 5 -o /dev/null "$url"; then
            return 0
        fi
        log "health check $i/10 of $url failed; retrying"
        sleep 3
    done
    return 1
}

start_tag() { # tag -> 0 when up and healthy
    local tag=$1 dir
    dir=$(release_dir_for "$tag")
    log "starting $IMAGE_REPO:$tag with $dir"
    if ! compose "$dir" "$tag" up -d --wait --wait-timeout "$DEPLOY_WAIT_TIMEOUT" --remove-orphans; then
        log "docker compose up --wait failed for $tag"
        compose "$dir" "$tag" ps >&2 || true
        compose "$dir" "$tag" logs --no-color --tail 80 >&2 || true
        return 1
    fi
    if ! healthy_through_nginx; then
        log "$tag is up but /health through NGINX fails"
        compose "$dir" "$tag" logs --no-color --tail 80 >&2 || true
        return 1
    fi
}

record_good() { # tag
    local tag=$1 last
    last=$(read_state last-good-tag)
    if [[ -n $last && $last != "$tag" ]]; then
        write_state previous-good-tag "$last"
    fi
    write_state last-good-tag "$tag"
    set_env_image_tag "$tag"
    if [[ -d $RELEASES_DIR/$tag ]]; then
        ln -sfn "$RELEASES_DIR/$tag" "$DEPLOY_ROOT/current.tmp"
        mv -Tf "$DEPLOY_ROOT/current.tmp" "$DEPLOY_ROOT/current"
    fi
    printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$tag" >>"$STATE_DIR/history.log"
}

prune() { # keep the running and last good tags plus the $KEEP_IMAGES newest images
    local keep=() tag n=0 t wanted
    keep+=("$(read_state last-good-tag)" "$(read_state previous-good-tag)")
    while read -r tag; do
        [[ -z $tag || $tag == "<none>" ]] && continue
        n=$((n + 1))
        wanted=false
        for t in "${keep[@]}"; do [[ $t == "$tag" ]] && wanted=true; done
        if [[ $wanted == false && $n -gt $KEEP_IMAGES && $tag != latest ]]; then
            log "removing old image $IMAGE_REPO:$tag"
            docker image rm "$IMAGE_REPO:$tag" >/dev/null 2>&1 || true
            if [[ $tag =~ $TAG_RE && -d $RELEASES_DIR/$tag ]]; then
                rm -rf -- "${RELEASES_DIR:?}/$tag"
            fi
        fi
    done < <(docker image ls --format '{{.Tag}}' "$IMAGE_REPO")
    docker image prune -f >/dev/null || true
}

deploy() { # tag
    local tag=$1 last
    last=$(read_state last-good-tag)
    registry_login
    log "pulling $IMAGE_REPO:$tag"
    docker pull --quiet "$IMAGE_REPO:$tag" >/dev/null || die "pull of $IMAGE_REPO:$tag failed; nothing changed"
    if start_tag "$tag"; then
        record_good "$tag"
        log "deployed $tag"
        prune
        return 0
    fi
    if [[ -z $last || $last == "$tag" ]]; then
        die "deploy of $tag failed and there is no other good tag to roll back to" 1
    fi
    log "rolling back to $last"
    if start_tag "$last"; then
        set_env_image_tag "$last"
        printf '%s %s rolled back from %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$last" "$tag" >>"$STATE_DIR/history.log"
        die "deploy of $tag failed; rolled back to $last" 1
    fi
    die "deploy of $tag failed and the rollback to $last failed too" 2
}

main() {
    [[ $# -eq 1 ]] || usage
    local arg=$1 tag
    case $arg in
        -h | --help) usage ;;
        --status | --rollback) ;;
        *)
            tag=${arg,,}
            [[ $tag =~ ^[0-9a-f]{7,40}$ ]] && tag=sha-$tag
            [[ $tag =~ $TAG_RE ]] || die "not an image tag: $arg (expected sha-<hex> or latest)" 64
            ;;
    esac
    command -v docker >/dev/null || die "docker is not installed"
    mkdir -p "$STATE_DIR" "$RELEASES_DIR"
    load_env
    if [[ $arg == --status ]]; then
        printf 'running:  %s\nlast good: %s\nprevious: %s\n' "${IMAGE_TAG:-?}" \
            "$(read_state last-good-tag)" "$(read_state previous-good-tag)"
        return 0
    fi
    exec 9>"$STATE_DIR/deploy.lock"
    flock -n 9 || die "another deploy is running ($STATE_DIR/deploy.lock)"
    if [[ $arg == --rollback ]]; then
        tag=$(read_state previous-good-tag)
        [[ -n $tag ]] || die "no previous good tag recorded yet"
        log "rolling back to the previous good tag $tag"
    fi
    deploy "$tag"
}

main "$@"
