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
/// (nested calls restore the outer token).
pub fn enter(token: u64) -> Within {
    Within(TOKEN.try_with(|t| t.replace(token)).unwrap_or(0))
}

pub struct Within(u64);

impl Drop for Within {
    fn drop(&mut self) {
        let outer = self.0;
        let _ = TOKEN.try_with(|t| t.set(outer));
    }
}
