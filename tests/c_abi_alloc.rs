//! The C ABI's write path allocates nothing: with a counting global allocator,
//! whole requests through the `rs_*` functions (spans on the stack, storage
//! helpers, attributes, events, links, context inject/extract and the binary
//! form, end) make no allocation once the ring exists. Extracting a non-empty
//! `tracestate` is left out: parsing it allocates, as in the Rust API.

use std::ffi::c_char;
use std::ptr::null;

use ringside::ffi::*;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{Counting, allocations_during, alone};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn s(text: &str) -> (*const c_char, usize) {
    (text.as_ptr().cast(), text.len())
}

/// One request as a C daemon writes it; every call must succeed.
///
/// # Safety
/// `t` is a live tracer.
unsafe fn one_request(t: *const rs_tracer_t, i: u64) {
    let ok = |code| assert_eq!(code, RS_OK);
    let span = || rs_span_t {
        opaque: [0; RS_SPAN_WORDS],
    };
    let (mut file, mut data, mut tr) = (span(), span(), span());
    let mut ctx = std::mem::MaybeUninit::<rs_span_context_t>::zeroed();
    let mut tp = [0 as c_char; RS_TRACEPARENT_LEN + 1];
    let mut ts = [0 as c_char; RS_TRACESTATE_MAX + 1];
    let mut bin = [0u8; RS_BINARY_LEN];
    let mut ts_len = 0usize;
    let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (path, path_len) = s("/vol/a/b");
    // SAFETY: a live tracer (caller); every buffer lives on this stack and is
    // passed with its true length.
    unsafe {
        let ctx = ctx.as_mut_ptr();
        // Without a tracestate: parsing one allocates (in the propagation
        // module, shared with the Rust API), so it stays out of this loop.
        ok(rs_context_extract(
            s(header).0,
            header.len(),
            null(),
            0,
            ctx,
        ));
        ok(rs_storage_file_start(
            t,
            &mut file,
            ctx,
            RS_FILE_READ,
            path,
            path_len,
            i,
            s("c").0,
            1,
        ));
        ok(rs_span_set_i64(&mut file, s("n").0, 1, i as i64));
        ok(rs_span_set_f64(&mut file, s("f").0, 1, 0.5));
        ok(rs_span_context(&file, ctx));
        ok(rs_storage_data_start(
            t,
            &mut data,
            ctx,
            RS_DATA_READ,
            s("c-1").0,
            3,
            4096,
            1,
            0,
        ));
        let attr = rs_attr_t {
            key: rs_str_t {
                ptr: s("a").0,
                len: 1,
            },
            kind: RS_VALUE_I64,
            value: rs_value_t { as_i64: 2 },
        };
        ok(rs_span_add_event(&mut data, s("retry").0, 5, &attr, 1));
        ok(rs_span_add_link(&mut data, ctx, null(), 0));
        ok(rs_span_record_error(
            &mut data,
            s("EIO").0,
            3,
            s("bad").0,
            3,
        ));
        ok(rs_storage_transfer_start(
            t,
            &mut tr,
            ctx,
            s("d/Read").0,
            6,
            s("::1").0,
            3,
            7,
        ));
        ok(rs_context_inject(
            ctx,
            tp.as_mut_ptr(),
            tp.len(),
            ts.as_mut_ptr(),
            ts.len(),
            &mut ts_len,
        ));
        ok(rs_context_to_binary(ctx, bin.as_mut_ptr(), bin.len()));
        ok(rs_context_from_binary(bin.as_ptr(), RS_BINARY_LEN, ctx));
        ok(rs_storage_transfer_end(
            &mut tr,
            10,
            20,
            null(),
            0,
            null(),
            0,
        ));
        ok(rs_span_end(&mut data));
        ok(rs_span_set_status(&mut file, RS_STATUS_OK, null(), 0));
        ok(rs_span_end(&mut file));
    }
}

#[test]
fn c_abi_write_path_allocates_nothing() {
    let _alone = alone();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("c-abi-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir_c = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    let mut status = -1;
    // SAFETY: NUL-terminated strings and a status to write.
    let t = unsafe { rs_tracer_new(c"alloc".as_ptr(), dir_c.as_ptr(), &mut status) };
    assert_eq!(status, RS_OK);
    // SAFETY: the live tracer just made.
    unsafe {
        assert_eq!(rs_tracer_open(t), RS_OK);
        one_request(t, 0); // warm-up: thread-locals, random state
    }
    let allocations = allocations_during(|| {
        for i in 1..1000 {
            // SAFETY: the live tracer just made.
            unsafe { one_request(t, i) };
        }
    });
    assert_eq!(allocations, 0, "allocations on the C write path");
    let mut stats = rs_ring_stats_t::default();
    // SAFETY: live tracer; freed once, after its spans ended.
    unsafe {
        assert_eq!(rs_tracer_stats(t, &mut stats), RS_OK);
        rs_tracer_free(t);
    }
    assert_eq!(stats.written, 3000, "three spans per request, all written");
    std::fs::remove_dir_all(&dir).unwrap();
}
