#!/usr/bin/env bash
# Builds griddock-demo-pebble:latest FROM scratch with Debian's pebble binary (and the
# libraries it links), its configuration and a listener certificate for "pebble" that
# griddock trusts via compose/demo/pebble/cert.pem. No registry needed.
set -euo pipefail
cd "$(dirname "$0")"
command -v pebble >/dev/null || { echo "build-pebble.sh: apt-get install pebble" >&2; exit 1; }
engine="$(command -v docker || command -v podman)"
mkdir -p pebble
if [ ! -s pebble/cert.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=pebble \
    -addext "subjectAltName=DNS:pebble,DNS:localhost" -addext "basicConstraints=critical,CA:FALSE" \
    -keyout pebble/key.pem -out pebble/cert.pem 2>/dev/null
fi
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/etc/pebble"
cp "$(command -v pebble)" "$ctx/rootfs/usr/bin/pebble"
for lib in $(ldd "$(command -v pebble)" | grep -o '/[^ ]*'); do
  mkdir -p "$ctx/rootfs$(dirname "$lib")"
  cp -L "$lib" "$ctx/rootfs$lib"
done
cp pebble/cert.pem pebble/key.pem "$ctx/rootfs/etc/pebble/"
# A throw-away demo key, readable by the unprivileged user pebble runs as.
chmod 0644 "$ctx/rootfs/etc/pebble/key.pem"
cat > "$ctx/rootfs/etc/pebble/pebble.json" <<J
{"pebble": {"listenAddress": "0.0.0.0:14000", "managementListenAddress": "0.0.0.0:15000",
 "certificate": "/etc/pebble/cert.pem", "privateKey": "/etc/pebble/key.pem",
 "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
J
cat > "$ctx/Containerfile" <<'C'
FROM scratch
COPY rootfs/ /
USER 65534:65534
EXPOSE 14000 15000
ENTRYPOINT ["/usr/bin/pebble", "-config", "/etc/pebble/pebble.json"]
C
"$engine" build -f "$ctx/Containerfile" -t griddock-demo-pebble:latest "$ctx"
