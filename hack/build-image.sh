#!/usr/bin/env bash
# Build the container image with podman: the single binary, the base image (made locally
# by hack/base-image.sh when no registry has it), then `podman build`.
#
#   hack/build-image.sh                 # -> mirrorshade:dev
#   MIRRORSHADE_IMAGE=mirrorshade:x hack/build-image.sh
#   SKIP_BINARY=1 hack/build-image.sh   # reuse dist/mirrorshade
#
# Podman runs here with the workarounds of hack/lib/podman.sh (vfs storage in
# MIRRORSHADE_PODMAN_DIR, runc, host network for apt during the build).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib/podman.sh

if [ "${SKIP_BINARY:-}" != 1 ] || [ ! -x dist/mirrorshade ]; then
  npm run --silent build:binary
fi

podman_env
trap podman_cleanup_host EXIT
bash hack/base-image.sh

version=$(node -p 'require("./package.json").version' 2>/dev/null || sed -n 's/^ *"version": *"\(.*\)",*$/\1/p' package.json | head -n1)
revision=$(git rev-parse HEAD 2>/dev/null || true)
source_url=$(git remote get-url origin 2>/dev/null | sed 's#^git@\([^:]*\):#https://\1/#; s#\.git$##' || true)

# --network host: apt inside the build reaches the mirror without CNI. --ulimit: podman's
# defaults exceed what this machine lets a container set. --layers=false: vfs copies
# every layer in full, so intermediate images only cost disk and time.
podman build \
  --network host \
  --runtime runc \
  --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
  --layers=false \
  --format oci \
  --build-arg BASE_IMAGE="$BASE_IMAGE" \
  --build-arg VERSION="$version" \
  --build-arg REVISION="$revision" \
  --build-arg SOURCE="$source_url" \
  --tag "$MIRRORSHADE_IMAGE" \
  --file Dockerfile \
  .
echo "built $MIRRORSHADE_IMAGE ($(podman image inspect --format '{{.Size}}' "$MIRRORSHADE_IMAGE") bytes) in $PODMAN_DIR"
