#!/bin/sh
# Installs the C ABI for C and C++ programs: include/ringside.h and ringside.hpp,
# libringside.a and libringside.so (the writer crate, writer/), and lib/pkgconfig/ringside.pc made from
# include/ringside.pc.in.
#
#   cargo build --release -p ringside
#   sudo scripts/install-c-abi.sh /usr/local
#   cc app.c $(pkg-config --cflags --libs ringside)
#
# usage: scripts/install-c-abi.sh PREFIX [BUILD_DIR]
#   BUILD_DIR holds libringside.a and libringside.so (default: target/release).
set -eu
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 PREFIX [BUILD_DIR]" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=$1
from=${2:-$root/target/release}
for lib in libringside.a libringside.so; do
    if [ ! -f "$from/$lib" ]; then
        echo "$0: $from/$lib not found; build it with: cargo build --release -p ringside" >&2
        exit 1
    fi
done
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/writer/Cargo.toml" | head -n 1)
install -d "$prefix/include" "$prefix/lib/pkgconfig"
install -m 0644 "$root/include/ringside.h" "$root/include/ringside.hpp" "$prefix/include/"
install -m 0644 "$from/libringside.a" "$prefix/lib/"
install -m 0755 "$from/libringside.so" "$prefix/lib/"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" \
    "$root/include/ringside.pc.in" >"$prefix/lib/pkgconfig/ringside.pc"
echo "installed ringside $version C ABI under $prefix"
