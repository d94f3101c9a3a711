package ringside

/*
#include <ringside.h>
*/
import "C"

// cgoCall is the cheapest call into the C library (a NULL check), for the
// benchmark that states what one cgo crossing costs; test files cannot use
// cgo themselves.
func cgoCall() bool {
	return bool(C.rs_context_is_valid(nil))
}
