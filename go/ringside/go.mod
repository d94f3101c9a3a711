// The Go binding of ringside's C ABI (include/ringside.h). No dependencies
// besides the C library, found through pkg-config (scripts/install-c-abi.sh).
module ringside/go/ringside

go 1.19
