//! The `rs_context_*` functions fed bad arguments: NULL pointers, invalid
//! contexts, text that is not UTF-8, malformed or too long headers and binary
//! forms, buffers too small. Each gets its own code; nothing is written to a
//! buffer on error, and a failed extraction leaves an invalid context.

mod c_abi_args;

use std::ffi::{CStr, c_char};
use std::ptr::{null, null_mut};

use c_abi_args::{BAD_UTF8, c, some_context, zero_context};
use ringside::ffi::*;

#[test]
fn context_functions_refuse_bad_arguments() {
    let good = some_context();
    let zero = zero_context();
    let tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut out = good;
    let mut tp_buf = [0x55 as c_char; RS_TRACEPARENT_LEN + 1];
    let mut ts_buf = [0 as c_char; RS_TRACESTATE_MAX + 1];
    let mut n = 0usize;
    let mut bin = [0u8; RS_BINARY_LEN + 2 + RS_TRACESTATE_MAX];
    // SAFETY: every pointer given is NULL or valid for the length given; the
    // bad arguments are NULLs, lengths, contents and states, never wild memory.
    unsafe {
        assert!(!rs_context_is_valid(null()));
        assert!(!rs_context_is_valid(&zero));
        assert!(rs_context_is_valid(&good));

        // inject
        let inject =
            |ctx, tp: *mut c_char, cap| rs_context_inject(ctx, tp, cap, null_mut(), 0, null_mut());
        assert_eq!(
            inject(null(), tp_buf.as_mut_ptr(), tp_buf.len()),
            RS_ERR_NULL
        );
        assert_eq!(
            inject(&zero, tp_buf.as_mut_ptr(), tp_buf.len()),
            RS_ERR_INVALID
        );
        assert_eq!(inject(&good, null_mut(), tp_buf.len()), RS_ERR_NULL);
        assert_eq!(
            inject(&good, tp_buf.as_mut_ptr(), RS_TRACEPARENT_LEN),
            RS_ERR_BUFFER
        );
        assert_eq!(
            rs_context_inject(
                &good,
                tp_buf.as_mut_ptr(),
                tp_buf.len(),
                ts_buf.as_mut_ptr(),
                3,
                &mut n
            ),
            RS_ERR_BUFFER
        );
        assert!(
            tp_buf.iter().all(|&b| b == 0x55),
            "nothing written on error"
        );
        assert_eq!(
            rs_context_inject(
                &good,
                tp_buf.as_mut_ptr(),
                tp_buf.len(),
                ts_buf.as_mut_ptr(),
                4,
                &mut n
            ),
            RS_OK
        );
        assert_eq!(CStr::from_ptr(tp_buf.as_ptr()).to_bytes(), tp);
        assert_eq!(
            (CStr::from_ptr(ts_buf.as_ptr()).to_bytes(), n),
            (&b"k=v"[..], 3)
        );

        // extract: every failure leaves an invalid (zeroed) context behind.
        let extract = |p: *const c_char, len, out| rs_context_extract(p, len, null(), 0, out);
        assert_eq!(extract(c(tp), tp.len(), null_mut()), RS_ERR_NULL);
        for (p, len, code) in [
            (null(), 5, RS_ERR_NULL),
            (c(BAD_UTF8), BAD_UTF8.len(), RS_ERR_UTF8),
            (c(b"00-nonsense"), 11, RS_ERR_NO_CONTEXT),
            (c(&tp[..54]), 54, RS_ERR_NO_CONTEXT),
            (
                c(&vec![b'0'; RS_MAX_STRING + 1]),
                RS_MAX_STRING + 1,
                RS_ERR_TOO_LONG,
            ),
        ] {
            out = good;
            assert_eq!(extract(p, len, &mut out), code);
            assert!(!rs_context_is_valid(&out));
        }
        // A bad tracestate is dropped, not an error.
        assert_eq!(
            rs_context_extract(c(tp), tp.len(), c(BAD_UTF8), BAD_UTF8.len(), &mut out),
            RS_OK
        );
        assert!(rs_context_is_valid(&out) && out.is_remote == 1);
        assert_eq!(out.trace_state_len, 0);

        // binary
        assert_eq!(
            rs_context_to_binary(null(), bin.as_mut_ptr(), bin.len()),
            RS_ERR_NULL
        );
        assert_eq!(
            rs_context_to_binary(&zero, bin.as_mut_ptr(), bin.len()),
            RS_ERR_INVALID
        );
        assert_eq!(
            rs_context_to_binary(&good, null_mut(), bin.len()),
            RS_ERR_NULL
        );
        assert_eq!(
            rs_context_to_binary(&good, bin.as_mut_ptr(), RS_BINARY_LEN - 1),
            RS_ERR_BUFFER
        );
        assert_eq!(
            rs_context_to_binary_with_state(&good, bin.as_mut_ptr(), RS_BINARY_LEN + 4, &mut n),
            RS_ERR_BUFFER
        );
        assert_eq!(
            rs_context_to_binary_with_state(&zero, bin.as_mut_ptr(), bin.len(), &mut n),
            RS_ERR_INVALID
        );
        assert_eq!(
            rs_context_to_binary_with_state(&good, bin.as_mut_ptr(), bin.len(), &mut n),
            RS_OK
        );
        assert_eq!(n, RS_BINARY_LEN + 2 + 3);

        assert_eq!(
            rs_context_from_binary(bin.as_ptr(), RS_BINARY_LEN, null_mut()),
            RS_ERR_NULL
        );
        for (bytes, len, code) in [
            (null(), RS_BINARY_LEN, RS_ERR_NULL),
            (bin.as_ptr(), RS_BINARY_LEN - 1, RS_ERR_NO_CONTEXT),
            (
                [0xffu8; RS_BINARY_LEN].as_ptr(),
                RS_BINARY_LEN,
                RS_ERR_NO_CONTEXT,
            ),
        ] {
            out = good;
            assert_eq!(rs_context_from_binary(bytes, len, &mut out), code);
            assert!(!rs_context_is_valid(&out));
        }
        let mut used = 0usize;
        out = good;
        assert_eq!(
            rs_context_from_binary_with_state(bin.as_ptr(), n - 1, &mut out, &mut used),
            RS_ERR_NO_CONTEXT
        );
        assert!(!rs_context_is_valid(&out));
        assert_eq!(
            rs_context_from_binary_with_state(bin.as_ptr(), bin.len(), &mut out, &mut used),
            RS_OK
        );
        assert_eq!(used, n);
        assert_eq!((out.span_id, out.trace_state_len), (good.span_id, 3));
    }
}
