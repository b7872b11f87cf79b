//! Aborting a llama.cpp step in progress, so that a cancelled generation stops at once and not
//! when the step ends (a step that evaluates a long prompt lasts seconds with a 4B model on a
//! CPU).
//!
//! llama.cpp calls an abort callback between two operations of the compute graph (the CPU
//! backend; GPU backends ignore it, and cancellation then lands when the step ends). The
//! callback reads one atomic flag that [`crate::Cancel`] raises. `llama-cpp-2` does not expose
//! the callback, nor the context's raw pointer; its `Debug` output prints that pointer (the crate
//! is pinned, and `LlamaContext`'s `Debug` is written to print it), so the pointer is taken from
//! there and checked against three of the context's own figures before anything is installed.
//! Where any of it fails, nothing is installed and the engine says so in the log: cancellation
//! still works, one step later. The test `cancel_aborts_a_long_prompt_step` in
//! `tests/batching.rs` fails if a new version of the crate breaks this.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_sys_2 as sys;

/// The installed callback; uninstalled when dropped (drop it before the context).
pub(super) struct AbortHook {
    ctx: *mut sys::llama_context,
    /// Keeps the flag the callback reads alive while it is installed.
    _flag: Arc<AtomicBool>,
}

extern "C" fn raised(data: *mut c_void) -> bool {
    // SAFETY: `data` is the `AtomicBool` inside the hook's `Arc`, which lives until the hook
    // is dropped, and the hook uninstalls the callback when it is.
    #[allow(unsafe_code)]
    let flag = unsafe { &*(data as *const AtomicBool) };
    flag.load(Ordering::Relaxed)
}

/// The context's raw pointer, read from its `Debug` output (`LlamaContext { context: 0x… }`).
fn pointer_of(ctx: &LlamaContext<'_>) -> Option<usize> {
    let debug = format!("{ctx:?}");
    let hex = debug.split("context: 0x").nth(1)?;
    let hex: String = hex.chars().take_while(char::is_ascii_hexdigit).collect();
    usize::from_str_radix(&hex, 16).ok().filter(|&p| p != 0)
}

/// Make `flag` abort `ctx`'s steps. None where the context's pointer cannot be found and
/// checked (cancellation then waits for the step's end).
pub(super) fn install(ctx: &LlamaContext<'_>, flag: &Arc<AtomicBool>) -> Option<AbortHook> {
    let p = pointer_of(ctx)? as *mut sys::llama_context;
    // SAFETY: `p` is what the crate printed as this context's pointer; before it is used to
    // change anything, three figures read through it must equal what the crate's own methods
    // read from the same context. `set_abort_callback` stores the callback and its data on the
    // context (and its backends); `flag`'s allocation outlives the installation (see the hook).
    #[allow(unsafe_code)]
    unsafe {
        let same = sys::llama_n_ctx(p) == ctx.n_ctx()
            && sys::llama_n_batch(p) == ctx.n_batch()
            && sys::llama_n_ubatch(p) == ctx.n_ubatch();
        if !same {
            return None;
        }
        sys::llama_set_abort_callback(p, Some(raised), Arc::as_ptr(flag) as *mut c_void);
    }
    Some(AbortHook { ctx: p, _flag: Arc::clone(flag) })
}

impl Drop for AbortHook {
    fn drop(&mut self) {
        // SAFETY: the context is still alive (the hook is dropped before it, see the
        // scheduler's field order); this removes the callback so that the flag may go.
        #[allow(unsafe_code)]
        unsafe {
            sys::llama_set_abort_callback(self.ctx, None, std::ptr::null_mut());
        }
    }
}
