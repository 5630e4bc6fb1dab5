#!/usr/bin/env bash
# Build the Dockerfile's base image locally when no registry is reachable: a minimal
# Debian bookworm made with debootstrap from the machine's own Debian mirror, trimmed like
# the official -slim image, imported into podman under the name the Dockerfile's FROM
# uses. Skipped when that image exists already.
#
#   hack/base-image.sh            # MIRRORSHADE_PODMAN_DIR, BASE_IMAGE: see hack/lib/podman.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib/podman.sh

podman_env
trap podman_cleanup_host EXIT

if podman image exists "$BASE_IMAGE"; then
  echo "base image $BASE_IMAGE exists"
  exit 0
fi
command -v debootstrap >/dev/null || {
  echo "debootstrap is not installed (apt-get install -y debootstrap)" >&2
  exit 1
}

# The Debian mirror this machine's apt uses for bookworm itself (not -security, -updates or
# third-party repos), from one-line (`deb URL bookworm main`) or deb822 (`URIs:`/`Suites:`)
# sources.
suite=bookworm
mirror=
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  mirror=$(
    awk -v suite="$suite" '
      function flush() { if (uris != "" && found) { print uris; done = 1; exit } uris = ""; found = 0 }
      /^deb[ \t]/ {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; done = 1; exit }
      }
      /^URIs:/ { uris = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) found = 1 }
      /^[ \t]*$/ { flush() }
      END { if (!done) flush() }
    ' "$f"
  )
  [ -n "$mirror" ] && break
done
mirror=${mirror:-http://deb.debian.org/debian}
echo "debootstrap $suite from $mirror"

work=$(mktemp -d "${TMPDIR:-/tmp}/mirrorshade-rootfs.XXXXXX")
trap 'rm -rf "$work"; podman_cleanup_host' EXIT
rootfs=$work/rootfs
keyring=()
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
debootstrap --variant=minbase "${keyring[@]}" "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}

# What debian:bookworm-slim does: no docs, man pages or locales from later installs, no apt
# caches kept in image layers.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'CONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
CONF
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CONF
echo 'APT::Install-Recommends "false";' >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
find "$rootfs/usr/share/doc" -mindepth 2 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/{man,info,groff,lintian,linda}/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
  "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +

tar -C "$rootfs" --numeric-owner -c . | podman import --quiet \
  --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --message "debootstrap --variant=minbase $suite" - "$BASE_IMAGE" >/dev/null
echo "imported $BASE_IMAGE ($(podman image inspect --format '{{.Size}}' "$BASE_IMAGE") bytes)"
