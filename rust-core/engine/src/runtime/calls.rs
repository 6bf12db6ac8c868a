//! The host's token for the call a thread is in: a host call into Python
//! (a check run, an invoked function) carries a number the host picked, and
//! a host function Python calls meanwhile gets it back, so the host can tie
//! the two (its `context.Context`: cancelled when the calling run is).

use std::cell::Cell;

thread_local! {
    static TOKEN: Cell<u64> = const { Cell::new(0) };
}

/// The token of the host call this thread is in (0: none).
#[inline]
pub fn current() -> u64 {
    TOKEN.try_with(Cell::get).unwrap_or(0)
}

/// Marks this thread as inside host call `token` until the guard drops
/// (nested calls restore the outer token). Token 0 marks nothing: a call
/// without a token of its own stays inside the one it is nested in.
#[inline]
pub fn enter(token: u64) -> Within {
    if token == 0 {
        return Within(None);
    }
    Within(TOKEN.try_with(|t| t.replace(token)).ok())
}

pub struct Within(Option<u64>);

impl Drop for Within {
    #[inline]
    fn drop(&mut self) {
        if let Some(outer) = self.0 {
            let _ = TOKEN.try_with(|t| t.set(outer));
        }
    }
}
