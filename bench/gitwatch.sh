#!/usr/bin/env bash
# A gitwatch-style loop (https://github.com/gitwatch/gitwatch), the reference mirrorshade is
# measured against: inotifywait -mr on the work tree; every event (re)starts a sleep of
# DEBOUNCE seconds, after which `git add --all`, `git commit` and `git push` run.
#
#   bench/gitwatch.sh DIR DEBOUNCE [REMOTE [BRANCH]]
#
# DIR is a git work tree with REMOTE (default origin) configured; DEBOUNCE is in seconds
# (fractions allowed). Prints "Watches established." on stderr once it watches (from
# inotifywait). Stop it by signalling its process group.
set -u
dir=${1:?usage: gitwatch.sh DIR DEBOUNCE [REMOTE [BRANCH]]}
debounce=${2:?usage: gitwatch.sh DIR DEBOUNCE [REMOTE [BRANCH]]}
remote=${3:-origin}
branch=${4:-main}
cd "$dir" || exit 2

save() {
  git add --all . &&
    git commit -q -m "gitwatch: auto-commit" &&
    git push -q "$remote" "HEAD:refs/heads/$branch"
}

timer=
inotifywait -mr -e close_write,create,delete,move,attrib --exclude '(^|/)\.git(/|$)' --format '%w%f' "$dir" |
  while read -r _; do
    # A new event cancels the pending save (gitwatch kills its sleeping subshell).
    if [ -n "$timer" ] && kill -0 "$timer" 2>/dev/null; then kill "$timer" 2>/dev/null; fi
    (sleep "$debounce" && save) &
    timer=$!
  done
