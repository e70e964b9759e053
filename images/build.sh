#!/usr/bin/env bash
# Builds the griddock container image: images/build.sh [TAG]   (default griddock:latest)
#
# With the Rust builder image available locally (or GRIDDOCK_BUILD=container) it runs the
# multi-stage images/Containerfile. Otherwise — no registry needed at all — it builds a
# static-pie binary on the host (RUSTFLAGS=-C target-feature=+crt-static) and puts it in a
# FROM scratch image (images/Containerfile.prebuilt). Uses docker, or podman if that is
# what exists.
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-griddock:latest}"
engine="$(command -v docker || command -v podman || true)"
[ -n "$engine" ] || { echo "build.sh: neither docker nor podman found" >&2; exit 1; }
builder="docker.io/library/rust:1-bookworm"

if [ "${GRIDDOCK_BUILD:-}" = container ] || "$engine" image inspect "$builder" >/dev/null 2>&1; then
  exec "$engine" build -f images/Containerfile -t "$tag" .
fi

target=x86_64-unknown-linux-gnu
echo "build.sh: building a static griddock on the host (no builder image needed)"
CARGO_PROFILE_RELEASE_STRIP=symbols CARGO_PROFILE_RELEASE_DEBUG=false \
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$target" \
  --target-dir target/static
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc/griddock" "$root/etc/ssl/certs" "$ctx/volumes/data" "$ctx/volumes/var/lib/griddock"
cp "target/static/$target/release/griddock" "$root/usr/local/bin/griddock"
cp config/container.toml "$root/etc/griddock/griddock.toml"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
cp images/Containerfile.prebuilt "$ctx/Containerfile"
"$engine" build -f "$ctx/Containerfile" -t "$tag" "$ctx"
echo "build.sh: built $tag ($("$engine" image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1/1e6}'))"
