#!/usr/bin/env bash
# A local demo: mirrorshade watches ./demo and saves to a bare repo in .demo/remote.git,
# while a notebook-like writer rewrites demo/notebook.ipynb in place every second (as
# Jupyter's autosave does: truncate, then write; always valid JSON once written). Ctrl-C
# stops the writer, lets mirrorshade make its final save, and shows the remote's log.
#
#   hack/demo.sh                        # or: npm run demo
#   MIRRORSHADE_CLI=dist/mirrorshade hack/demo.sh   # the single binary instead of the bundle
#   DEMO_DIR=/tmp/d DEMO_HOME=/tmp/h DEMO_PORT=9000 hack/demo.sh   # elsewhere (the tests do)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${DEMO_DIR:-demo}
home=${DEMO_HOME:-.demo} # the demo remote and mirrorshade's state
remote=$home/remote.git
state=$home/state
port=${DEMO_PORT:-8787}
[ -f dist/mirrorshade.cjs ] || npm run --silent build
cli=${MIRRORSHADE_CLI:-./bin/mirrorshade}
mkdir -p "$dir" "$home"

# Background jobs in their own process groups: Ctrl-C reaches this script only, which then
# stops each one itself (mirrorshade must get exactly one signal: a second one means "exit
# now, skip the final save").
set -m
watch_pid=
writer_pid=
cleanup() {
  trap - INT TERM EXIT
  if [ -n "$writer_pid" ]; then
    kill "$writer_pid" 2>/dev/null || true
    wait "$writer_pid" 2>/dev/null || true
  fi
  local status=0
  if [ -n "$watch_pid" ]; then
    echo
    echo "stopping mirrorshade (final save)…"
    kill -TERM "$watch_pid" 2>/dev/null || true
    kill -CONT "$watch_pid" 2>/dev/null || true # a stopped job acts on SIGTERM only once continued
    wait "$watch_pid" || status=$?
    echo "mirrorshade exited with $status"
  fi
  if git -C "$remote" rev-parse -q --verify HEAD >/dev/null 2>&1; then
    echo
    echo "the remote ($remote), newest first:"
    git -C "$remote" log --format='  %h %ad %s' --date=format:%H:%M:%S -n 10
    echo "  ($(git -C "$remote" rev-list --count HEAD) commits; see them all: git -C $remote log --stat)"
  fi
  exit "$status"
}
trap cleanup INT TERM EXIT

listen=()
"$cli" watch --help 2>/dev/null | grep -q -- --listen && listen=(--listen "127.0.0.1:$port")
rm -f "$state/ready"
"$cli" watch "$dir" --remote "$remote" --create --state-dir "$state" \
  --debounce 1s --max-delay 5s --log-format text "${listen[@]}" &
watch_pid=$!

# Ready when the restore finished (the marker a Kubernetes startup probe tests).
for _ in $(seq 300); do
  [ -f "$state/ready" ] && break
  kill -0 "$watch_pid" 2>/dev/null || { watch_pid= && echo "mirrorshade did not start" >&2 && exit 1; }
  sleep 0.1
done
# Alive is not enough (a stopped job is alive too): never say "demo running" unless it is.
[ -f "$state/ready" ] || { echo "mirrorshade did not finish its restore in 30 s" >&2 && exit 1; }

writer() {
  local n=0
  while :; do
    n=$((n + 1))
    # In place, like Jupyter: the file is truncated, then written.
    printf '{\n "cells": [\n  {"cell_type": "code", "execution_count": %d, "metadata": {}, "outputs": [], "source": ["print(%d)"]}\n ],\n "metadata": {"saved": "%s"},\n "nbformat": 4,\n "nbformat_minor": 5\n}\n' \
      "$n" "$n" "$(date +%T)" >"$dir/notebook.ipynb"
    sleep 1
  done
}
writer &
writer_pid=$!

cat <<INFO

  demo running: $dir/notebook.ipynb is rewritten every second; write your own files into $dir/ too.
  Saves land a second after a pause (--debounce 1s), at least every 5 s (--max-delay) while the writer never stops.
  Look at the remote:   git -C $remote log --stat
  Ask mirrorshade:      $cli status $dir --state-dir $state
INFO
[ ${#listen[@]} -gt 0 ] && echo "  Health and metrics:   curl -s http://127.0.0.1:$port/metrics"
echo "  Ctrl-C to stop (mirrorshade saves what is left first)."
echo
wait "$watch_pid" || true
watch_pid=
