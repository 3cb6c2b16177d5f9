#!/usr/bin/env bash
# Checks a Lambda artifact (the `bootstrap` cargo-lambda builds) for the template's runtime,
# provided.al2023: an ELF executable for ARCH (arm64 | x86_64) that needs no glibc symbol newer
# than 2.34 (Amazon Linux 2023's glibc) and no shared library the runtime image lacks.
# Usage: scripts/check-artifact.sh PATH ARCH
set -euo pipefail
bin=${1:?usage: scripts/check-artifact.sh PATH ARCH}
arch=${2:?usage: scripts/check-artifact.sh PATH ARCH}
max_glibc=2.34

case $arch in
  arm64) want_machine=AArch64 ;;
  x86_64) want_machine="Advanced Micro Devices X86-64" ;;
  *) echo "unknown ARCH $arch (arm64 | x86_64)" >&2; exit 2 ;;
esac

[[ -f $bin ]] || { echo "$bin: no such file" >&2; exit 1; }
machine=$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
type=$(readelf -h "$bin" | sed -n 's/^ *Type: *//p')
[[ $machine == "$want_machine" ]] || { echo "$bin: machine '$machine', want '$want_machine' ($arch)" >&2; exit 1; }
[[ $type == EXEC* || $type == DYN* ]] || { echo "$bin: ELF type '$type' is not an executable" >&2; exit 1; }

# The newest GLIBC_x.y version any undefined symbol asks for.
newest=$(readelf --dyn-syms --wide "$bin" | grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' | sed 's/GLIBC_//' \
  | sort -V | tail -1)
if [[ -n $newest ]] && [[ $(printf '%s\n%s\n' "$newest" "$max_glibc" | sort -V | tail -1) != "$max_glibc" ]]; then
  echo "$bin: needs GLIBC_$newest, provided.al2023 has $max_glibc" >&2
  exit 1
fi

# Shared libraries: only glibc's own (the runtime image has no OpenSSL etc. we could rely on).
allowed='^(libc|libm|libdl|libpthread|librt|libgcc_s|ld-linux-aarch64|ld-linux-x86-64)\.so'
while read -r lib; do
  [[ $lib =~ $allowed ]] || { echo "$bin: needs $lib, which provided.al2023 may not have" >&2; exit 1; }
done < <(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')

size=$(stat -c %s "$bin")
echo "$bin: $machine ELF, newest glibc symbol ${newest:-none} (<= $max_glibc), $((size / 1024)) KiB"
