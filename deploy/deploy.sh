#!/usr/bin/env bash
# Deploy one image of binance-svc on this host without dropping a request (blue/green).
#
#   deploy.sh sha-<commit>[@sha256:<digest>]  deploy that image (by digest when given)
#   deploy.sh <commit>                       the same (the "sha-" prefix is added)
#   deploy.sh --rollback                     deploy the previous good image again
#   deploy.sh --status                       print the live colour, its image, last good, previous
#   deploy.sh --update-edge                  pull the NGINX (and Redis) images the compose file
#                                            names and recreate those containers (a gap of a
#                                            few seconds: see docs/deploy.md)
#   --token-stdin (before the image)         read a registry token (line 1) and user (line 2)
#                                            from stdin, used only if a pull is needed (CI
#                                            passes its short-lived GITHUB_TOKEN)
#
# Two app services, app-blue and app-green, take turns; NGINX sends traffic to the one named
# in $NGINX_LIVE_DIR/upstream.conf. A deploy:
#   1. finds the image on disk, or logs in and pulls it (by digest when given);
#   2. installs a changed nginx/ of the release into $NGINX_DIR, checked and reloaded in place;
#   3. starts the idle colour with the image (docker compose up --wait: the container is
#      healthy), warms it and waits for /health/ready on its own address;
#   4. writes upstream.conf for it, `nginx -t`, `nginx -s reload`, and checks through NGINX
#      that the new colour answers (X-Upstream-Color on /health);
#   5. lets the old colour drain (DRAIN_SECONDS), then stops it (gunicorn finishes what is in
#      flight) and records the new image as the last good one.
# The NGINX container is never recreated by a deploy; when the compose file names another
# NGINX or Redis image than the one running (a digest Dependabot moved), the deploy says so
# and --update-edge applies it. Until step 5 the old colour is running
# and, until step 4 succeeds, serving: any failure before stops the new colour and leaves
# the old one as it was.
#
# Run as the deploy user (member of the docker group), directly or through
# deploy/ssh-command.sh (the CI key's forced command). CI uploads each commit's deploy/ and
# nginx/ to $DEPLOY_ROOT/releases/sha-.../. Layout of $DEPLOY_ROOT (default /opt/binance-svc):
#
#   binance-svc.env       settings (deploy/binance-svc.env.example); IMAGE_TAG is rewritten here
#   app.env               the app's environment (deploy/app.env.example)
#   ghcr-token            optional read-only registry token (see docs/deploy.md)
#   releases/<tag>/       deploy/ and nginx/ of that commit
#   current -> releases/<tag>
#   nginx/                the NGINX configuration NGINX runs (a stable path it mounts)
#   nginx-live/upstream.conf   the live colour's address, rewritten on each switch
#   state/live-color, state/{blue,green}-image, state/last-good-{tag,image},
#   state/previous-good-{tag,image}, state/history.log, state/deploy.lock
#
# Exit status: 0 deployed; 1 failed, the old colour still serves; 2 failed and NGINX could not
# be put back (look at it now); 64 usage.
set -euo pipefail

DEPLOY_ROOT=${DEPLOY_ROOT:-/opt/binance-svc}
ENV_FILE=${ENV_FILE:-$DEPLOY_ROOT/binance-svc.env}
STATE_DIR=$DEPLOY_ROOT/state
RELEASES_DIR=$DEPLOY_ROOT/releases
PROJECT=binance-svc
REGISTRY=ghcr.io
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
TAG_RE='^(sha-[0-9a-f]{7,40}|latest)$'
DIGEST_RE='^sha256:[0-9a-f]{64}$'
TOKEN=
TOKEN_USER=

log() { printf '%s deploy: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "error: $*"; exit "${2:-1}"; }

usage() {
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
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
    READY_TIMEOUT=${READY_TIMEOUT:-120}
    DRAIN_SECONDS=${DRAIN_SECONDS:-10}
    STOP_TIMEOUT=${STOP_TIMEOUT:-30}
    KEEP_IMAGES=${KEEP_IMAGES:-3}
    WARMUP_PATHS=${WARMUP_PATHS:-/ /api/v1/symbols?format=json /api/v1/analysis/technical/BTCUSDT?format=json}
    NGINX_DIR=${NGINX_DIR:-$DEPLOY_ROOT/nginx}
    NGINX_LIVE_DIR=${NGINX_LIVE_DIR:-$DEPLOY_ROOT/nginx-live}
    APP_BLUE_UPSTREAM=${APP_BLUE_UPSTREAM:-${APP_BLUE_IP:-172.30.80.11}:8000}
    APP_GREEN_UPSTREAM=${APP_GREEN_UPSTREAM:-${APP_GREEN_IP:-172.30.80.12}:8000}
    export NGINX_DIR NGINX_LIVE_DIR
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

history() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$STATE_DIR/history.log"; }

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

image_ref() { # tag [digest] -> what docker pulls and runs
    if [[ -n ${2:-} ]]; then
        printf '%s@%s\n' "$IMAGE_REPO" "$2"
    else
        printf '%s:%s\n' "$IMAGE_REPO" "$1"
    fi
}

registry_login() {
    local token_file=${GHCR_TOKEN_FILE:-$DEPLOY_ROOT/ghcr-token}
    if [[ -n $TOKEN ]]; then
        # CI's token for this run only: it expires with the job, nothing is stored but
        # docker's credential entry, removed again after the pull (registry_logout).
        printf '%s\n' "$TOKEN" | docker login "$REGISTRY" \
            --username "${TOKEN_USER:-${GHCR_USER:-token}}" --password-stdin >/dev/null
        return 0
    fi
    if [[ -z ${GHCR_USER:-} ]]; then
        log "GHCR_USER empty: pulling anonymously (public package)"
        return 0
    fi
    [[ -s $token_file ]] || die "GHCR_USER is set but $token_file is empty or unreadable, and no token came on stdin"
    docker login "$REGISTRY" --username "$GHCR_USER" --password-stdin <"$token_file" >/dev/null
}

registry_logout() {
    if [[ -n $TOKEN ]]; then docker logout "$REGISTRY" >/dev/null 2>&1 || true; fi
}

obtain_image() { # ref: on disk already (no registry needed: rollbacks work offline), or pulled
    local ref=$1
    if docker image inspect "$ref" >/dev/null 2>&1; then
        log "$ref is on disk: no login, no pull"
        return 0
    fi
    registry_login
    log "pulling $ref"
    if ! docker pull --quiet "$ref" >/dev/null; then
        registry_logout
        die "pull of $ref failed; nothing changed"
    fi
    registry_logout
}

release_dir_for() { # tag -> directory holding deploy/ and nginx/ for that tag
    if [[ -f $RELEASES_DIR/$1/deploy/docker-compose.prod.yml ]]; then
        printf '%s\n' "$RELEASES_DIR/$1"
    else
        dirname -- "$SCRIPT_DIR"
    fi
}

COMPOSE_DIR=
compose() { # compose-args...; the images of both colours come from the state files
    local files=(-f "$COMPOSE_DIR/deploy/docker-compose.prod.yml")
    if [[ ${ENABLE_TLS:-false} == true ]]; then
        files+=(-f "$COMPOSE_DIR/deploy/docker-compose.tls.yml")
    fi
    APP_BLUE_IMAGE=${APP_BLUE_IMAGE:-$(read_state blue-image)} \
        APP_GREEN_IMAGE=${APP_GREEN_IMAGE:-$(read_state green-image)} \
        docker compose -p "$PROJECT" --env-file "$ENV_FILE" "${files[@]}" "$@"
}

upstream_of() { # colour -> host:port of its gunicorn
    if [[ $1 == blue ]]; then printf '%s\n' "$APP_BLUE_UPSTREAM"; else printf '%s\n' "$APP_GREEN_UPSTREAM"; fi
}

other_color() { if [[ $1 == blue ]]; then echo green; else echo blue; fi; }

nginx_running() { [[ -n $(compose ps --status running --quiet nginx 2>/dev/null) ]]; }

write_upstream() { # colour: live/upstream.conf naming that colour, replaced atomically
    local color=$1 tmp
    mkdir -p "$NGINX_LIVE_DIR"
    tmp=$(mktemp "$NGINX_LIVE_DIR/.upstream.XXXXXX")
    cat >"$tmp" <<EOF
# Written by deploy.sh: NGINX sends binance-svc's traffic to the $color app.
upstream binance_svc {
    server $(upstream_of "$color");
    include snippets/upstream-keepalive.conf;
}
map \$host \$binance_svc_color {
    default $color;
}
EOF
    chmod 644 "$tmp"
    mv -f "$tmp" "$NGINX_LIVE_DIR/upstream.conf"
}

nginx_reload() { # check the configuration, then reload it (old workers finish their requests)
    compose exec -T nginx nginx -t -q && compose exec -T nginx nginx -s reload
}

nginx_serves() { # colour: true once /health through NGINX comes from that colour
    local color=$1 i
    for i in $(seq 1 20); do
        if curl -fsS --max-time 5 -o /dev/null -D - "http://127.0.0.1:$HTTP_PORT/health" 2>/dev/null |
            tr -d '\r' | grep -qix "x-upstream-color: $color"; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}

ready_direct() { # colour: warm it, then wait for /health/ready on its own address
    local base i path
    base="http://$(upstream_of "$1")"
    # The first requests of a fresh worker import and render cold; pay for them here.
    for path in $WARMUP_PATHS; do
        curl -sS --max-time 30 -o /dev/null "$base$path" || true
    done
    for ((i = 0; i < READY_TIMEOUT; i += 2)); do
        if curl -fsS --max-time 5 -o /dev/null "$base/health/ready"; then
            return 0
        fi
        sleep 2
    done
    log "$1 at $base did not become ready within ${READY_TIMEOUT}s"
    return 1
}

install_nginx_config() { # release dir: install its nginx/ into $NGINX_DIR when it changed
    local src=$1/nginx backup
    [[ -d $src ]] || return 0
    if [[ -d $NGINX_DIR ]] && diff -rq "$src" "$NGINX_DIR" >/dev/null 2>&1; then
        return 0
    fi
    if [[ ! -d $NGINX_DIR ]] || ! nginx_running; then
        mkdir -p "$NGINX_DIR"
        cp -R "$src/." "$NGINX_DIR/"
        return 0
    fi
    log "nginx/ changed: installing it into $NGINX_DIR and reloading NGINX"
    backup=$(mktemp -d "$STATE_DIR/.nginx-backup.XXXXXX")
    cp -R "$NGINX_DIR/." "$backup/"
    # cp writes into the existing files (same inode): compose binds some of them one by one,
    # and a bind mount of a file keeps showing the old inode when a file is renamed over it.
    cp -R "$src/." "$NGINX_DIR/"
    if compose exec -T nginx /docker-entrypoint.d/20-envsubst-on-templates.sh >/dev/null &&
        nginx_reload; then
        rm -rf -- "$backup"
        return 0
    fi
    log "the new NGINX configuration fails its test: restoring the previous one"
    cp -R "$backup/." "$NGINX_DIR/"
    rm -rf -- "$backup"
    compose exec -T nginx /docker-entrypoint.d/20-envsubst-on-templates.sh >/dev/null || true
    return 1
}

logs_of() { compose logs --no-color --tail 80 "$@" >&2 || true; }

record_good() { # tag image colour
    local tag=$1 image=$2 color=$3 last_image
    last_image=$(read_state last-good-image)
    if [[ -n $last_image && $last_image != "$image" ]]; then
        write_state previous-good-image "$last_image"
        write_state previous-good-tag "$(read_state last-good-tag)"
    fi
    write_state last-good-image "$image"
    write_state last-good-tag "$tag"
    write_state live-color "$color"
    set_env_image_tag "$tag"
    if [[ -d $RELEASES_DIR/$tag ]]; then
        ln -sfn "$RELEASES_DIR/$tag" "$DEPLOY_ROOT/current.tmp"
        mv -Tf "$DEPLOY_ROOT/current.tmp" "$DEPLOY_ROOT/current"
    fi
    history "$tag $image $color"
}

prune() { # keep the live and previous images plus the $KEEP_IMAGES newest ones
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

edge_services() { # the services besides the apps: NGINX, and Redis when its profile is on
    echo nginx
    if [[ ,${COMPOSE_PROFILES:-}, == *,redis,* ]]; then echo redis; fi
}

edge_drift() { # -> "service running wanted" for each edge container not on its named image
    local service want id have
    for service in $(edge_services); do
        want=$(compose config --images "$service" 2>/dev/null) || continue
        id=$(compose ps --quiet "$service" 2>/dev/null) || continue
        [[ -n $id && -n $want ]] || continue
        have=$(docker inspect --format '{{.Config.Image}}' "$id" 2>/dev/null) || continue
        if [[ $have != "$want" ]]; then printf '%s %s %s\n' "$service" "$have" "$want"; fi
    done
}

warn_edge_drift() {
    local service have want
    while read -r service have want; do
        log "warning: $service runs $have but the compose file names $want:" \
            "run 'deploy.sh --update-edge' (or the workflow's update-edge) in a quiet moment"
    done < <(edge_drift)
}

update_edge() { # pull the edge images first (a failed pull changes nothing), then recreate
    local live services
    live=$(read_state live-color)
    [[ -n $live ]] || die "nothing is deployed yet: the first deploy starts NGINX"
    COMPOSE_DIR=$(release_dir_for "$(read_state last-good-tag)")
    mapfile -t services < <(edge_services)
    log "pulling ${services[*]}"
    compose pull --quiet "${services[@]}" || die "pull of ${services[*]} failed; nothing changed"
    log "recreating ${services[*]}: new connections are refused until NGINX listens again"
    if ! compose up -d --no-deps --wait --wait-timeout "$DEPLOY_WAIT_TIMEOUT" "${services[@]}"; then
        logs_of "${services[@]}"
        die "${services[*]} did not come back healthy: look at it now" 2
    fi
    nginx_serves "$live" || die "NGINX does not answer from $live after the update: look at it now" 2
    history "edge $(compose config --images "${services[@]}" 2>/dev/null | tr '\n' ' ')"
    log "NGINX serves $live again on its new image"
}

abandon() { # colour message: stop the new colour, the old one keeps serving
    log "$2; stopping $1, the live colour is unchanged"
    logs_of "app-$1"
    compose stop -t "$STOP_TIMEOUT" "app-$1" >/dev/null 2>&1 || true
    die "$2" 1
}

deploy() { # tag digest
    local tag=$1 digest=$2 image live target
    image=$(image_ref "$tag" "$digest")
    obtain_image "$image"
    COMPOSE_DIR=$(release_dir_for "$tag")
    live=$(read_state live-color)
    target=$(other_color "${live:-green}")
    install_nginx_config "$COMPOSE_DIR" || die "NGINX configuration of $tag rejected; nothing changed"

    log "starting $image as $target (live: ${live:-none})"
    write_state "$target-image" "$image"
    if ! compose up -d --no-deps --wait --wait-timeout "$DEPLOY_WAIT_TIMEOUT" "app-$target"; then
        abandon "$target" "app-$target did not become healthy"
    fi
    ready_direct "$target" || abandon "$target" "app-$target is not ready"

    log "switching NGINX to $target"
    write_upstream "$target"
    if nginx_running; then
        if ! nginx_reload; then
            [[ -n $live ]] && write_upstream "$live"
            abandon "$target" "nginx -t or reload failed"
        fi
    elif ! compose up -d --no-recreate --wait --wait-timeout "$DEPLOY_WAIT_TIMEOUT" nginx; then
        logs_of nginx
        abandon "$target" "NGINX did not start"
    fi
    if ! nginx_serves "$target"; then
        log "NGINX does not answer from $target: switching back"
        if [[ -n $live ]]; then
            write_upstream "$live"
            if ! nginx_reload || ! nginx_serves "$live"; then
                die "NGINX serves neither colour: look at 'docker compose -p $PROJECT logs nginx'" 2
            fi
        fi
        abandon "$target" "the switch to $target did not take effect"
    fi
    record_good "$tag" "$image" "$target"
    log "deployed $tag as $target"

    if [[ -n $live ]]; then
        # NGINX's old workers finish the requests they hold on $live; gunicorn then finishes
        # whatever is still in flight before it exits (graceful_timeout < STOP_TIMEOUT).
        log "draining $live for ${DRAIN_SECONDS}s, then stopping it"
        sleep "$DRAIN_SECONDS"
        compose stop -t "$STOP_TIMEOUT" "app-$live" >/dev/null || log "stopping app-$live failed (it no longer receives traffic)"
    fi
    warn_edge_drift
    prune
}

main() {
    local arg tag digest=
    if [[ ${1:-} == --token-stdin ]]; then
        shift
        IFS= read -r TOKEN || true
        IFS= read -r TOKEN_USER || true
        [[ $TOKEN_USER =~ ^([A-Za-z0-9-]{1,39}(\[bot\])?)?$ ]] || die "--token-stdin: not a user name: $TOKEN_USER" 64
        [[ -n $TOKEN ]] || die "--token-stdin: no token on stdin" 64
    fi
    [[ $# -eq 1 ]] || usage
    arg=$1
    case $arg in
        -h | --help) usage ;;
        --status | --rollback | --update-edge) ;;
        *)
            tag=${arg%%@*}
            [[ $arg == *@* ]] && digest=${arg#*@}
            tag=${tag,,}
            [[ $tag =~ ^[0-9a-f]{7,40}$ ]] && tag=sha-$tag
            [[ $tag =~ $TAG_RE ]] || die "not an image tag: $arg (expected sha-<hex>[@sha256:<hex>] or latest)" 64
            [[ -z $digest || $digest =~ $DIGEST_RE ]] || die "not a digest: $digest (expected sha256:<64 hex>)" 64
            ;;
    esac
    command -v docker >/dev/null || die "docker is not installed"
    mkdir -p "$STATE_DIR" "$RELEASES_DIR"
    load_env
    if [[ $arg == --status ]]; then
        printf 'live:      %s %s\nlast good: %s\nprevious:  %s\n' "$(read_state live-color)" \
            "$(read_state last-good-image)" "$(read_state last-good-tag)" \
            "$(read_state previous-good-tag)"
        COMPOSE_DIR=$(release_dir_for "$(read_state last-good-tag)")
        warn_edge_drift
        return 0
    fi
    exec 9>"$STATE_DIR/deploy.lock"
    flock -n 9 || die "another deploy is running ($STATE_DIR/deploy.lock)"
    if [[ $arg == --update-edge ]]; then
        update_edge
        return 0
    fi
    if [[ $arg == --rollback ]]; then
        tag=$(read_state previous-good-tag)
        [[ -n $tag ]] || die "no previous good image recorded yet"
        local previous
        previous=$(read_state previous-good-image)
        [[ $previous == *@sha256:* ]] && digest=${previous#*@}
        log "rolling back to the previous good image $tag${digest:+@$digest}"
    fi
    deploy "$tag" "$digest"
}

main "$@"
