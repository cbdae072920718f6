# Sourced by scripts/test and scripts/run: one build configuration for everything, so the
# DuckDB C++ library (≈25 minutes on 2 cores) is compiled as rarely as possible.
#
# - The target directory lives outside the clone, so builds stay incremental across clones.
# - Cargo resolves features per invocation; every script builds with the same flags
#   (`--workspace --all-targets`) so one resolution, one DuckDB build, serves them all.
# - ccache, when present, sits under the C/C++ compiler: a changed dependency graph that makes
#   cargo rebuild DuckDB then costs cache hits instead of a full compile.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spyglass-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
if ! command -v ccache >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq ccache) >/dev/null 2>&1 || true
fi
if command -v ccache >/dev/null 2>&1; then
    export CC="ccache cc" CXX="ccache c++"
    export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}" CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
fi
CARGO_FLAGS=(--release --workspace --all-targets)
