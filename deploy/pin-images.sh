#!/usr/bin/env bash
# Pin the images the project runs by digest: the Dockerfile's base (every FROM line) and the
# images written out in the production compose file (NGINX, Redis). Each image:tag is
# resolved to the digest of its current multi-arch index and written as image:tag@sha256:...
# The tag stays for people to read; the digest is what Docker pulls. Dependabot
# (.github/dependabot.yml: docker, docker-compose) then moves the digests in pull requests.
#
#   deploy/pin-images.sh [file...]          pin (or move the pin of) every image in the files
#   deploy/pin-images.sh --check [file...]  list the images without a digest; 1 if any (offline)
#   deploy/pin-images.sh --print [file...]  print every image reference as written (offline)
#
# Files default to the repository's Dockerfile and deploy/docker-compose.prod.yml. Pinning
# needs Docker with buildx and access to the registries (a workstation, or the pin-images
# workflow in GitHub Actions, which opens a pull request). Every digest is checked for its
# form before anything is written. References holding a variable (${...}) are left alone.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
MODE=pin
case ${1:-} in
    --check | --print) MODE=${1#--}; shift ;;
    -h | --help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
FILES=("$@")
[[ ${#FILES[@]} -gt 0 ]] || FILES=("$ROOT/Dockerfile" "$ROOT/deploy/docker-compose.prod.yml")

die() { printf 'pin-images: %s\n' "$*" >&2; exit 1; }

# The regular expressions (sed -E) of a line naming an image, by kind of file:
# \1 what comes before the reference, \2 the reference without digest, \3 the digest if any.
pattern_of() {
    case ${1##*/} in
        Dockerfile* | *.Dockerfile) printf '%s' '^(FROM[[:space:]]+)([^[:space:]@$]+)(@sha256:[0-9a-f]*)?([[:space:]].*)?$' ;;
        *.yml | *.yaml) printf '%s' '^([[:space:]]*image:[[:space:]]*)([^[:space:]@$#"'"'"']+)(@sha256:[0-9a-f]*)?([[:space:]].*)?$' ;;
        *) die "not a Dockerfile or a compose file: $1" ;;
    esac
}

references() { # file -> one "reference[@digest]" per line, in order
    sed -nE "s/$(pattern_of "$1")/\\2\\3/p" "$1"
}

missing=0
for file in "${FILES[@]}"; do
    [[ -f $file ]] || die "no such file: $file"
    mapfile -t refs < <(references "$file")
    [[ ${#refs[@]} -gt 0 ]] || die "no image reference in $file"
    case $MODE in
        print) printf '%s\n' "${refs[@]}"; continue ;;
        check)
            for ref in $(printf '%s\n' "${refs[@]}" | sort -u); do
                if [[ $ref != *@sha256:* ]]; then
                    printf 'pin-images: not pinned by digest in %s: %s\n' "${file#"$ROOT"/}" "$ref" >&2
                    missing=1
                fi
            done
            continue ;;
    esac
    mapfile -t images < <(printf '%s\n' "${refs[@]%@*}" | sort -u)
    pattern=$(pattern_of "$file")
    tmp=$(mktemp "$file.XXXXXX")
    cp -- "$file" "$tmp"
    for image in "${images[@]}"; do
        [[ $image =~ ^[a-z0-9._/-]+:[A-Za-z0-9._-]+$ ]] || { rm -f -- "$tmp"; die "not an image:tag reference: $image"; }
        digest=$(docker buildx imagetools inspect "$image" --format '{{.Manifest.Digest}}') ||
            { rm -f -- "$tmp"; die "could not resolve $image (docker buildx imagetools inspect failed)"; }
        [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || { rm -f -- "$tmp"; die "unexpected digest for $image: $digest"; }
        # Rewrite only the lines naming this image; anything after the reference stays.
        sed -Ei "/$pattern/{s#^(FROM[[:space:]]+|[[:space:]]*image:[[:space:]]*)${image//./\\.}(@sha256:[0-9a-f]*)?([[:space:]]|\$)#\\1${image}@${digest}\\3#}" "$tmp"
        printf 'pinned %s@%s in %s\n' "$image" "$digest" "${file#"$ROOT"/}"
    done
    chmod --reference="$file" "$tmp"
    mv -f -- "$tmp" "$file"
done
exit "$missing"
