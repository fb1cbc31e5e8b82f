#!/usr/bin/env bash
# Smoke test of a running binance-svc through NGINX: every resource in every format the index
# page links (GET /), each answered 200 with its media type, plus the security headers, the
# proxy cache header and the health endpoints.
#
#   deploy/smoke-test.sh http://127.0.0.1:8080      (the URL NGINX answers on)
#
# Used by CI on pull requests (the image just built, behind the real NGINX image) and after
# every production deploy (a failure there rolls back). Requests are paced below NGINX's
# per-client rate (10 r/s) so the test never meets its own 429s.
set -euo pipefail

BASE=${1:?usage: smoke-test.sh BASE_URL}
BASE=${BASE%/}
PACE=${SMOKE_PACE:-0.15}
MIN_LINKS=${SMOKE_MIN_LINKS:-20}
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

fail() { printf 'smoke-test: FAIL %s\n' "$*" >&2; exit 1; }
fetch() { # path -> headers in $work/h, body in $work/b; prints the status
    curl -sS --max-time 60 -D "$work/h" -o "$work/b" -w '%{http_code}' "$BASE$1"
}
header() { tr -d '\r' <"$work/h" | grep -i "^$1:" | head -n 1 | cut -d: -f2- | sed 's/^ *//'; }

status=$(curl -sS --retry 10 --retry-delay 3 --retry-all-errors --max-time 10 -o "$work/b" \
    -w '%{http_code}' "$BASE/health") || fail "/health unreachable"
[[ $status == 200 ]] || fail "/health answered $status"
grep -q '"status"' "$work/b" || fail "/health is not the app's JSON"

status=$(fetch /)
[[ $status == 200 ]] || fail "/ answered $status"
for name in content-security-policy x-content-type-options x-frame-options referrer-policy; do
    [[ -n $(header "$name") ]] || fail "/ lacks the $name header"
done
mapfile -t links < <(grep -o 'href="[^"]*[?&]format=[a-z]*"' "$work/b" | sed 's/^href="//; s/"$//; s/&amp;/\&/g' | sort -u)
[[ ${#links[@]} -ge $MIN_LINKS ]] || fail "the index links ${#links[@]} resource formats, expected at least $MIN_LINKS"

checked=0
for link in "${links[@]}"; do
    [[ $link == /* ]] || continue
    sleep "$PACE"
    status=$(fetch "$link")
    [[ $status == 200 ]] || fail "$link answered $status: $(head -c 300 "$work/b")"
    type=$(header content-type)
    case ${link##*format=} in
        json) expected=application/json ;;
        html) expected=text/html ;;
        csv) expected=text/csv ;;
        xml) expected=application/xml ;;
        png) expected=image/png ;;
        *) expected= ;;
    esac
    [[ -z $expected || $type == "$expected"* ]] || fail "$link is $type, expected $expected"
    [[ $(header x-content-type-options) == nosniff ]] || fail "$link lacks X-Content-Type-Options"
    [[ -n $(header content-security-policy) ]] || fail "$link lacks Content-Security-Policy"
    [[ -n $(header x-cache-status) ]] || fail "$link lacks X-Cache-Status (the NGINX cache)"
    [[ -s $work/b ]] || fail "$link is empty"
    checked=$((checked + 1))
done

sleep "$PACE"
status=$(fetch /health/ready)
[[ $status == 200 ]] || fail "/health/ready answered $status: $(head -c 300 "$work/b")"
printf 'smoke-test: %s resource formats, the headers and health of %s passed\n' "$checked" "$BASE"
