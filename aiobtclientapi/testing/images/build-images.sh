#!/bin/sh
# Build the client images for the container tests, from Debian packages.
#
#   python -m aiobtclientapi.testing.images [SUITE...]     (default: trixie forky)
#
# Each image starts from a debootstrap'ed rootfs imported as
# aiobtclientapi-base:SUITE (no registry is needed), and the Dockerfile beside
# this script installs the four clients on top of it:
#
#   aiobtclientapi-clients:trixie   Debian 13
#   aiobtclientapi-clients:forky    Debian testing
#
# Needs a Docker engine, root and debootstrap. An existing tag is reused
# (delete it with `docker rmi` to rebuild). The Debian mirror is the one this
# machine's apt uses.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPOSITORY=aiobtclientapi-clients
BASE_REPOSITORY=aiobtclientapi-base
PACKAGES="transmission-daemon qbittorrent-nox deluged rtorrent"
SOURCES=/etc/apt/sources.list.d/debian.sources
# Read by aiobtclientapi/testing/_containers.py.
VERSIONS_LABEL=org.aiobtclientapi.versions

die() {
    echo "build-images.sh: $*" >&2
    exit 1
}

say() {
    echo "build-images.sh: $*"
}

case "${1:-}" in
-h | --help)
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac

docker info >/dev/null 2>&1 || die "no Docker engine answers; start one first (scripts/docker-engine.sh in the aiobtclientapi source)"

mirror() {
    # First non-security URI of this machine's apt sources (deb822 or one-line format).
    uri=""
    if [ -r "$SOURCES" ]; then
        uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "$SOURCES" | grep -v -- '-security' | head -n 1)
    fi
    if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' \
            /etc/apt/sources.list | grep -v -- '-security' | head -n 1)
    fi
    [ -n "$uri" ] || die "no Debian mirror found in $SOURCES or /etc/apt/sources.list"
    echo "$uri"
}

image_exists() {
    docker image inspect "$1" >/dev/null 2>&1
}

build_base() {
    suite=$1
    base=$BASE_REPOSITORY:$suite
    if image_exists "$base"; then
        say "$base exists, reusing it"
        return
    fi
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing; install it (apt-get install debootstrap)"
    [ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
    # debootstrap ships no script for "forky" (or any suite newer than it): testing
    # suites use the sid script.
    script=""
    [ -e "/usr/share/debootstrap/scripts/$suite" ] || script=/usr/share/debootstrap/scripts/sid
    rootfs=$(mktemp -d "/var/tmp/btc-rootfs-$suite.XXXXXX")
    # shellcheck disable=SC2064  # expand $rootfs now
    trap "rm -rf '$rootfs'" EXIT INT TERM
    url=$(mirror)
    say "debootstrap --variant=minbase $suite $rootfs $url $script"
    started=$(date +%s)
    # shellcheck disable=SC2086  # $script is empty or one path
    debootstrap --variant=minbase "$suite" "$rootfs" "$url" $script >"$rootfs.log" 2>&1 \
        || { tail -n 30 "$rootfs.log" >&2; die "debootstrap $suite failed (log: $rootfs.log)"; }
    say "debootstrap $suite took $(( $(date +%s) - started ))s"
    tar -C "$rootfs" -c . | docker import - "$base" >/dev/null
    rm -rf "$rootfs" "$rootfs.log"
    trap - EXIT INT TERM
    say "imported $base"
}

build_clients() {
    suite=$1
    image=$REPOSITORY:$suite
    if image_exists "$image"; then
        say "$image exists, reusing it"
        return
    fi
    build_base "$suite"
    say "building $image"
    started=$(date +%s)
    docker build --network host --quiet \
        --build-arg "BASE=$BASE_REPOSITORY:$suite" \
        --build-arg "PACKAGES=$PACKAGES" \
        --label "org.aiobtclientapi.suite=$suite" \
        -t "$image" -f "$HERE/Dockerfile" "$HERE" >/dev/null \
        || die "docker build $image failed"
    say "docker build $image took $(( $(date +%s) - started ))s"
}

installed_versions() {
    # shellcheck disable=SC2086  # one argument per package
    docker run --rm --network host "$1" dpkg-query -W -f '${Package}=${Version} ' $PACKAGES
}

label_versions() {
    # Record the installed versions as an image label, so tests can name their
    # targets (e.g. "qbittorrent-5.1.0-trixie") without starting a container.
    image=$REPOSITORY:$1
    label=$(docker image inspect --format "{{index .Config.Labels \"$VERSIONS_LABEL\"}}" "$image" 2>/dev/null || true)
    [ -z "$label" ] || return 0
    versions=$(installed_versions "$image")
    [ -n "$versions" ] || die "could not read the package versions in $image"
    # A FROM-only build adds the label without a new layer.
    printf 'FROM %s\n' "$image" | docker build --quiet --label "$VERSIONS_LABEL=$versions" -t "$image" - >/dev/null \
        || die "labelling $image failed"
}

suites=${*:-trixie forky}
for suite in $suites; do
    build_clients "$suite"
    label_versions "$suite"
done

for suite in $suites; do
    echo "== $REPOSITORY:$suite"
    # shellcheck disable=SC2086  # one argument per package
    docker run --rm --network host "$REPOSITORY:$suite" \
        dpkg-query -W -f '${Package} ${Version}\n' $PACKAGES
done
