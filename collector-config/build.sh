#!/usr/bin/env bash
# Build the genops collector (otelcol-genops) from builder-config.yaml.
#
#   collector-config/build.sh [OUTPUT_DIR]     # build (or find) the binary
#   collector-config/build.sh --print-path     # where the binary is (or will be)
#
# OUTPUT_DIR defaults to a machine-wide cache OUTSIDE the repository, keyed by
# the manifest's content and the builder version:
#
#   ${GENOPS_OTELCOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/genops/otelcol}/<key>/
#
# so every clone and worktree on a machine reuses one build, and a changed
# manifest builds into a new directory. Produces OUTPUT_DIR/otelcol-genops
# (plus the generated Go sources beside it), OUTPUT_DIR/bin/builder and
# OUTPUT_DIR/build.log (the last build's output: the reason when it failed).
# Idempotent and safe to run concurrently (a lock per OUTPUT_DIR).
#
# Needs Go (>= 1.26) and the Go module proxy. Without `go` on PATH (or in
# /usr/local/go/bin) it installs Go $GO_VERSION from the Go module proxy
# (the module golang.org/toolchain, as `GOTOOLCHAIN` would) into the cache.
# A cold build (empty Go caches) takes minutes; a cached one, well under 1 s.
#
# Then check a config with:
#   "$(collector-config/build.sh --print-path)" validate --config collector-config/gateway.yaml
set -euo pipefail

# Must match the collector release pinned in builder-config.yaml.
BUILDER_VERSION="v0.161.0"
# Installed when no Go is found (the builder v0.161.0 needs Go >= 1.26).
GO_VERSION="1.26.8"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="$here/builder-config.yaml"
cache_root="${GENOPS_OTELCOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/genops/otelcol}"
key="$( (cat "$manifest"; echo "builder=$BUILDER_VERSION") | sha256sum | cut -c1-16)"

if [[ "${1:-}" == "--print-path" ]]; then
    echo "$cache_root/$key/otelcol-genops"
    exit 0
fi

out="${1:-$cache_root/$key}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
binary="$out/otelcol-genops"
stamp="$out/.build-stamp"
want_stamp="builder=$BUILDER_VERSION manifest=$(sha256sum "$manifest" | cut -d' ' -f1)"

up_to_date() { [[ -x "$binary" && -f "$stamp" && "$(cat "$stamp")" == "$want_stamp" ]]; }

if up_to_date; then
    echo "build.sh: $binary is up to date"
    exit 0
fi

# One build per output directory at a time: a second caller waits, then reuses it.
exec 9>"$out/.lock"
flock 9
if up_to_date; then
    echo "build.sh: $binary is up to date"
    exit 0
fi

ensure_go() {
    command -v go >/dev/null && return
    if [[ -x /usr/local/go/bin/go ]]; then
        export PATH="/usr/local/go/bin:$PATH"
        return
    fi
    local goroot="$cache_root/go$GO_VERSION"
    if [[ ! -x "$goroot/bin/go" ]]; then
        local arch
        case "$(uname -m)" in
            x86_64) arch=amd64 ;;
            aarch64 | arm64) arch=arm64 ;;
            *) echo "build.sh: no Go and no Go toolchain for $(uname -m)" >&2; return 1 ;;
        esac
        local proxy="${GOPROXY:-https://proxy.golang.org}"
        proxy="${proxy%%,*}"
        local url="$proxy/golang.org/toolchain/@v/v0.0.1-go$GO_VERSION.linux-$arch.zip"
        echo "build.sh: no go on PATH; installing Go $GO_VERSION from $url"
        local tmp
        tmp="$(mktemp -d "$cache_root/.go-install.XXXXXX")"
        curl -fsSL --retry 3 -o "$tmp/go.zip" "$url"
        python3 - "$tmp/go.zip" "$tmp/x" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        path = z.extract(info, sys.argv[2])
        if (info.external_attr >> 16) & 0o111 or "/bin/" in info.filename or "/pkg/tool/" in info.filename:
            os.chmod(path, 0o755)
PY
        rm -rf "$goroot"
        mv "$tmp/x/golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$arch" "$goroot"
        rm -rf "$tmp"
    fi
    export PATH="$goroot/bin:$PATH" GOTOOLCHAIN=local
}

build() {
    ensure_go
    go version

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
        return 1
    }

    echo "build.sh: building $binary"
    local start=$SECONDS
    rm -f "$stamp"
    "$out/bin/builder" --config "$tmp_manifest"
    echo "$want_stamp" > "$stamp"
    echo "build.sh: built $binary in $((SECONDS - start))s"
    "$binary" --version
}

# Everything the build prints goes to build.log as well: the tests quote it
# when the binary is missing.
build 2>&1 | tee "$out/build.log"
