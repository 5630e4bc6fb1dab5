# shellcheck shell=bash
# Podman on these machines (see ENVIRONMENT.md, "Container image, without a Docker engine"):
# vfs storage in a private dir, runc (crun fails on hybrid cgroups), explicit ulimits, host
# or no network. Sourced by the hack/ scripts; `podman_env` points podman at a private
# storage and config dir so nothing touches the machine's own podman setup.
#
#   MIRRORSHADE_PODMAN_DIR   where images live (default ~/.cache/mirrorshade-podman); the
#                            image scripts share it, so build once, run many times.
#   MIRRORSHADE_IMAGE        the image tag (default mirrorshade:dev)

MIRRORSHADE_IMAGE=${MIRRORSHADE_IMAGE:-mirrorshade:dev}
BASE_IMAGE=${BASE_IMAGE:-docker.io/library/debian:bookworm-slim}

# The flags every `podman run` needs here.
# shellcheck disable=SC2034 # used by the scripts that source this file
PODMAN_RUN_FLAGS=(--runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096)

# Host dirs podman creates even with private storage; removed again by podman_cleanup_host
# when they did not exist before (a machine with its own podman keeps its dirs).
_podman_host_dirs=(/run/libpod /run/containers /var/lib/containers/cache /var/lib/containers)
_podman_host_new=()

podman_env() {
  local dir=${MIRRORSHADE_PODMAN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mirrorshade-podman}
  command -v podman >/dev/null || {
    echo "podman is not installed (apt-get install -y podman runc)" >&2
    return 1
  }
  mkdir -p "$dir"/{graph,run,tmp}
  dir=$(cd "$dir" && pwd)
  # shellcheck disable=SC2034 # used by the scripts that source this file
  PODMAN_DIR=$dir
  cat >"$dir/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$dir/graph"
runroot = "$dir/run"
CONF
  cat >"$dir/containers.conf" <<CONF
[containers]
netns = "host"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
tmp_dir = "$dir/tmp"
image_copy_tmp_dir = "$dir/tmp"
CONF
  export CONTAINERS_STORAGE_CONF="$dir/storage.conf" CONTAINERS_CONF="$dir/containers.conf"
  local d
  for d in "${_podman_host_dirs[@]}"; do [ -e "$d" ] || _podman_host_new+=("$d"); done
}

podman_cleanup_host() {
  local d
  for d in "${_podman_host_new[@]}"; do rm -rf "$d"; done
}
