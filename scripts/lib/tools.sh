# Cargo-installed dev tools (cargo-fuzz, cargo-machete), pinned, into .tools/ of the
# repository (nothing outside it). Sourced by the scripts that use them.
#
# Both are built on CI's clock from a fresh clone, so they share one target directory
# (.tools/target: clap, serde and the rest are compiled once for both) and a lighter release
# profile than their default (opt-level 3, 16 codegen units): opt-level 1 builds in about
# half the time, and neither tool is on a hot path (machete reads ~300 files, cargo-fuzz only
# drives cargo and the fuzzer).

# tool_path NAME VERSION: installs NAME at VERSION unless .tools/bin has it; prints its path.
tool_path() {
  local name="$1" version="$2" root="$PWD/.tools"
  if ! "$root/bin/$name" --version 2>/dev/null | grep -qF "$version"; then
    echo "== installing $name $version into .tools/" >&2
    CARGO_TARGET_DIR="$root/target" CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
      CARGO_PROFILE_RELEASE_DEBUG=false \
      cargo install --locked --quiet --root "$root" "$name@$version" >&2
  fi
  echo "$root/bin/$name"
}
