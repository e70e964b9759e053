#!/usr/bin/env bash
# Rebuilds the structured seed corpora from the GSI test fixtures (tests/gsi/make-fixtures.sh:
# RFC 3820 proxies made by grid-proxy-init, limited, revoked, rogue-CA and expired ones).
#   gsi_input/   chains framed as the target reads them (2-byte length + DER, up to 4)
#   delegation/  DER chains concatenated (what a client returns for delegation)
#   gridmap/     the fixtures' grid-mapfile and a few quoting forms
# Usage: fuzz/seeds/make-gsi-seeds.sh   (needs openssl and grid-proxy-init)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fx="$(mktemp -d)"
trap 'rm -rf "$fx"' EXIT
bash "$here/../../tests/gsi/make-fixtures.sh" "$fx" >/dev/null
mkdir -p "$here/gsi_input" "$here/delegation" "$here/gridmap"
for p in user limited revoked rogue unmapped expired; do
  # Every certificate of the proxy file, as DER, in order (the key is skipped).
  python3 - "$fx/proxies/$p" "$here/gsi_input/$p" "$here/delegation/$p" <<'PY'
import base64, re, struct, sys
pem = open(sys.argv[1]).read()
ders = [base64.b64decode("".join(b.split()))
        for b in re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", pem, re.S)]
open(sys.argv[2], "wb").write(b"".join(struct.pack(">H", len(d)) + d for d in ders[:4]))
open(sys.argv[3], "wb").write(b"".join(ders))
PY
done
cp "$fx/grid-mapfile" "$here/gridmap/fixtures"
printf '"/O=Test/CN=a b" alice,bob\n# comment\n"/O=Test/CN=esc\\"aped" carol\n/O=Unquoted/CN=x dave\n"unterminated\n' >"$here/gridmap/forms"
echo "seeds written under $here"
