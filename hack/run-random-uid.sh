#!/usr/bin/env bash
# Run the image the way OpenShift does: a random UID in group 0 with no passwd entry
# (`--passwd=false`: podman would otherwise add one and hide the problem), a read-only root
# filesystem with /tmp writable (an emptyDir in a pod), the work dir and a local git remote
# bind-mounted.
#
#   hack/run-random-uid.sh                     # watch a temp work dir, saving to a temp bare repo
#   hack/run-random-uid.sh --version           # any mirrorshade arguments (default: watch)
#   WORK_DIR=~/nb REMOTE=~/nb.git hack/run-random-uid.sh
#       (a local REMOTE and the WORK_DIR are chowned to the UID: the container must write
#       them; as root on the host, read the repo with `git -c safe.directory='*' …`)
#   SSH_SECRET_DIR=dir REMOTE=ssh://git@host/x.git hack/run-random-uid.sh
#       (a dir holding ssh-privatekey and known_hosts, mounted read-only like a Secret)
#
# Env: RUN_UID (default 1000650000), MIRRORSHADE_IMAGE, MIRRORSHADE_PODMAN_DIR (see
# hack/lib/podman.sh), NETWORK (host or none; default host). Build the image first with
# hack/build-image.sh. Temp dirs it made are removed at exit; WORK_DIR and REMOTE are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib/podman.sh

run_uid=${RUN_UID:-1000650000}
podman_env
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mirrorshade-run.XXXXXX")
cleanup() {
  rm -rf "$scratch"
  podman_cleanup_host
}
trap cleanup EXIT

podman image exists "$MIRRORSHADE_IMAGE" || {
  echo "no image $MIRRORSHADE_IMAGE in $PODMAN_DIR: run hack/build-image.sh first" >&2
  exit 1
}

# /tmp of the container: what an emptyDir gives a pod (world-writable, sticky).
install -d -m 1777 "$scratch/tmp"

work=${WORK_DIR:-$scratch/work}
mkdir -p "$work"
# The random UID must write the work dir (in a pod: an emptyDir, or fsGroup).
chown "$run_uid:0" "$work"
chmod 0775 "$work"

mounts=(-v "$scratch/tmp:/tmp" -v "$(cd "$work" && pwd):/work")
remote=${REMOTE:-}
if [ -z "$remote" ]; then
  remote=$scratch/remote.git
  git init -q --bare -b main "$remote"
fi
case "$remote" in
  *://* | *@*:*) container_remote=$remote ;; # ssh or https: reached over the network
  *)
    # A local bare repo: mounted at the same path, writable by the UID.
    [ -d "$remote" ] || git init -q --bare -b main "$remote"
    remote=$(cd "$remote" && pwd)
    chown -R "$run_uid:0" "$remote"
    mounts+=(-v "$remote:$remote")
    container_remote=$remote
    ;;
esac
env=(-e "MIRRORSHADE_REMOTE=$container_remote")
if [ -n "${SSH_SECRET_DIR:-}" ]; then
  mounts+=(-v "$(cd "$SSH_SECRET_DIR" && pwd):/etc/mirrorshade/ssh:ro")
  env+=(-e MIRRORSHADE_SSH_KEY_FILE=/etc/mirrorshade/ssh/ssh-privatekey
    -e MIRRORSHADE_SSH_KNOWN_HOSTS_FILE=/etc/mirrorshade/ssh/known_hosts)
fi
tty=()
[ -t 0 ] && [ -t 1 ] && tty=(-it)

echo "running $MIRRORSHADE_IMAGE as uid $run_uid:0; work dir $work, remote $container_remote" >&2
status=0
podman run --rm "${tty[@]}" "${PODMAN_RUN_FLAGS[@]}" \
  --network "${NETWORK:-host}" \
  --user "$run_uid:0" --passwd=false \
  --read-only \
  "${mounts[@]}" "${env[@]}" \
  "$MIRRORSHADE_IMAGE" "$@" || status=$?
if [ -z "${REMOTE:-}" ] && git -C "$remote" rev-parse -q --verify HEAD >/dev/null 2>&1; then
  echo "the temp remote's log (removed now):" >&2
  git -C "$remote" log --stat --format='%h %s' -n 5 >&2
fi
exit "$status"
