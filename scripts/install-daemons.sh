#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo start (the daemons, nginx, the proxies;
# zsh, for btclient's completion), when missing.
set -euo pipefail

declare -A packages=(
    [transmission-daemon]=transmission-daemon
    [qbittorrent-nox]=qbittorrent-nox
    [deluged]=deluged
    [rtorrent]=rtorrent
    [nginx]=nginx-light
    [openssl]=openssl
    [zsh]=zsh
    [microsocks]=microsocks
    [tinyproxy]=tinyproxy
    [danted]=dante-server
)
missing=()
for binary in "${!packages[@]}"; do
    command -v "$binary" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin" command -v "$binary" >/dev/null 2>&1 \
        || missing+=("${packages[$binary]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "Missing: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "Installing ${missing[*]}" >&2
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts some of these as system services; the tests start their own.
for service in transmission-daemon nginx tinyproxy danted; do
    systemctl disable --now "$service" >/dev/null 2>&1 || service "$service" stop >/dev/null 2>&1 || true
done
