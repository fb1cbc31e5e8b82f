#!/usr/bin/env bash
# Pin the Dockerfile's base image by digest: resolve the tag in its FROM lines to the digest
# of its current multi-arch index and write image:tag@sha256:... into every FROM naming it.
#
#   deploy/pin-base-image.sh [Dockerfile]        (default: the repository's Dockerfile)
#
# Needs Docker with buildx and access to Docker Hub; run it on a workstation or in CI, commit
# the result. Afterwards Dependabot (.github/dependabot.yml, package-ecosystem docker) opens a
# pull request whenever the tag points to a new digest. Running it again re-resolves the tag
# (to move the pin by hand). The digest is checked for its form before anything is written.
set -euo pipefail

DOCKERFILE=${1:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)/Dockerfile}

die() { printf 'pin-base-image: %s\n' "$*" >&2; exit 1; }

[[ -f $DOCKERFILE ]] || die "no Dockerfile at $DOCKERFILE"
# The image references of the FROM lines, without a digest; all stages must use one base.
mapfile -t bases < <(sed -n 's/^FROM[[:space:]]\{1,\}\([^[:space:]@]*\)\(@sha256:[0-9a-f]*\)\{0,1\}[[:space:]].*$/\1/p' "$DOCKERFILE" | sort -u)
[[ ${#bases[@]} -eq 1 ]] || die "expected one base image in the FROM lines, found: ${bases[*]:-none}"
base=${bases[0]}
[[ $base =~ ^[a-z0-9._/-]+:[A-Za-z0-9._-]+$ ]] || die "not an image:tag reference: $base"

digest=$(docker buildx imagetools inspect "$base" --format '{{.Manifest.Digest}}') ||
    die "could not resolve $base (docker buildx imagetools inspect failed)"
[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || die "unexpected digest for $base: $digest"

tmp=$(mktemp "$DOCKERFILE.XXXXXX")
sed "s#^\(FROM[[:space:]]\{1,\}\)${base}\(@sha256:[0-9a-f]*\)\{0,1\}\([[:space:]]\)#\1${base}@${digest}\3#" \
    "$DOCKERFILE" >"$tmp"
chmod --reference="$DOCKERFILE" "$tmp"
mv -f "$tmp" "$DOCKERFILE"
printf 'pinned %s@%s in %s\n' "$base" "$digest" "$DOCKERFILE"
