#!/usr/bin/env bash
# Build the genops collector (otelcol-genops) from builder-config.yaml.
#
#   collector-config/build.sh [OUTPUT_DIR]     # default: <repo>/.cache/otelcol
#
# Produces OUTPUT_DIR/otelcol-genops (plus the generated Go sources beside it)
# and OUTPUT_DIR/bin/builder. Idempotent: when the binary exists and was built
# from the same manifest by the same builder version, nothing is done.
# Needs Go (>= 1.26) and the Go module proxy; ~1-3 minutes on 2 cores when
# the Go caches are cold, seconds when they are warm.
#
# Then check a config with:
#   OUTPUT_DIR/otelcol-genops validate --config collector-config/gateway.yaml
set -euo pipefail

# Must match the collector release pinned in builder-config.yaml.
BUILDER_VERSION="v0.161.0"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/.." && pwd)"
manifest="$here/builder-config.yaml"

out="${1:-$repo_root/.cache/otelcol}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
binary="$out/otelcol-genops"
stamp="$out/.build-stamp"

command -v go >/dev/null || { echo "build.sh: go not found on PATH" >&2; exit 1; }

want_stamp="builder=$BUILDER_VERSION manifest=$(sha256sum "$manifest" | cut -d' ' -f1)"
if [[ -x "$binary" && -f "$stamp" && "$(cat "$stamp")" == "$want_stamp" ]]; then
    echo "build.sh: $binary is up to date"
    exit 0
fi

# The builder resolves modules itself; -mod=mod lets it update go.mod/go.sum
# even when the caller's environment sets GOFLAGS=-mod=readonly.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"

# Install the builder into the output directory: no PATH or GOBIN assumptions.
if [[ ! -x "$out/bin/builder" ]] || ! "$out/bin/builder" version 2>/dev/null | grep -q "$BUILDER_VERSION"; then
    echo "build.sh: installing builder $BUILDER_VERSION"
    GOBIN="$out/bin" go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION"
fi

# Same manifest, output_path pointed at $out (the committed one names /tmp).
tmp_manifest="$(mktemp "${TMPDIR:-/tmp}/otelcol-builder.XXXXXX.yaml")"
trap 'rm -f "$tmp_manifest"' EXIT
sed "s|^\([[:space:]]*output_path:\).*|\1 $out|" "$manifest" > "$tmp_manifest"
grep -q "output_path: $out\$" "$tmp_manifest" || {
    echo "build.sh: could not set output_path in $manifest" >&2
    exit 1
}

echo "build.sh: building $binary"
start=$SECONDS
"$out/bin/builder" --config "$tmp_manifest"
echo "$want_stamp" > "$stamp"
echo "build.sh: built $binary in $((SECONDS - start))s"
"$binary" --version
