//! What each plugin costs: the Python memory allocated while it runs and the
//! part of it still alive, and the clocks a run is timed with.
//!
//! Memory. When accounting is on, the interpreter starts with a wrapper
//! around CPython's `PYMEM_DOMAIN_MEM` and `PYMEM_DOMAIN_OBJ` allocators
//! (every Python object and the buffers of lists, dicts, bytes, …). Each
//! block carries a 16-byte tag in front of it: its size and its owner, the
//! plugin whose code was running on the allocating thread (a thread-local
//! set for the length of a run; 0 outside any run). A free reads the tag and
//! credits the owner back, so "retained" is exact: bytes allocated by the
//! owner's runs and not freed since, whoever frees them and whenever.
//! Freed small blocks are kept in a small per-domain cache for the next
//! allocation of their size (see `Domain`), so a block made and dropped in a
//! loop costs about what it costs without the wrapper.
//! The raw domain (`PyMem_RawMalloc`, thread states, C libraries' own
//! `malloc`) is not counted; pymalloc's own large blocks come from it, so a
//! large object is counted once, in the domain it was asked from.
//!
//! Both domains are called only with the GIL held, so the counters have one
//! writer at a time: plain relaxed loads and stores, no read-modify-write.
//! Other threads read them at any time.
//!
//! The wrapper changes the layout of every block, so it can only be
//! installed before CPython initialises: accounting is decided once per
//! process, when the interpreter starts.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

use pyo3::ffi;

/// Whose memory a block is: 0 is everything allocated outside any run.
pub type Owner = u32;
pub const OUTSIDE: Owner = 0;

const CHUNK: usize = 1024;
/// Owners past `CHUNK * CHUNKS` (about 4 million plugins made in one
/// process) are counted as outside.
const CHUNKS: usize = 4096;

#[derive(Default)]
struct Counters {
    /// Bytes allocated by the owner's runs, ever.
    allocated: AtomicU64,
    /// Bytes of the owner's blocks not freed yet.
    live: AtomicI64,
    /// Metered calls (see `MeteredCall`): how many ended, their totals, and
    /// the state `Timing` decides the CPU clock by.
    calls: AtomicU64,
    wall_ns: AtomicU64,
    cpu_ns: AtomicU64,
    gil_wait_ns: AtomicU64,
    clock: ClockState,
    /// Metered calls going on that read the CPU clock: their thread's CPU
    /// clock and its reading at their start, so a long call (a module's
    /// serve()) shows its CPU time while it runs.
    in_flight: std::sync::Mutex<Vec<(libc::clockid_t, u64)>>,
}

type Chunk = [Counters; CHUNK];

static TABLE: [AtomicPtr<Chunk>; CHUNKS] = [const { AtomicPtr::new(null_mut()) }; CHUNKS];
static NEXT_OWNER: AtomicU32 = AtomicU32::new(1);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The owner this thread's allocations go to, with its counters (NULL:
/// look them up), so an allocation does not go through the table.
#[derive(Clone, Copy)]
struct Current {
    owner: Owner,
    counters: *const Counters,
}

thread_local! {
    static CURRENT: Cell<Current> = const {
        Cell::new(Current { owner: OUTSIDE, counters: std::ptr::null() })
    };
}

#[inline]
fn chunk(index: usize) -> &'static Chunk {
    let p = TABLE[index].load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: chunks are leaked once published and never freed.
        return unsafe { &*p };
    }
    new_chunk(index)
}

/// Makes and publishes chunk `index`: out of line, so that the allocator's
/// path through `chunk` stays a load and a branch (a chunk is large, and
/// making one inline gave every caller a large stack frame to probe).
#[cold]
#[inline(never)]
fn new_chunk(index: usize) -> &'static Chunk {
    let counters: Box<[Counters]> = (0..CHUNK).map(|_| Counters::default()).collect();
    let fresh: Box<Chunk> = counters
        .try_into()
        .unwrap_or_else(|_| unreachable!("CHUNK counters"));
    let fresh = Box::into_raw(fresh);
    match TABLE[index].compare_exchange(null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: just published; never freed.
        Ok(_) => unsafe { &*fresh },
        Err(other) => {
            // SAFETY: `fresh` was never shared.
            drop(unsafe { Box::from_raw(fresh) });
            // SAFETY: published by the winner; never freed.
            unsafe { &*other }
        }
    }
}

#[inline]
fn counters(owner: Owner) -> &'static Counters {
    let owner = owner as usize;
    &chunk(owner / CHUNK)[owner % CHUNK]
}

/// A new owner for a plugin's memory (checks, modules, hook points).
/// Once all are handed out, what plugins made later is counted as outside.
pub fn new_owner() -> Owner {
    // Never past the last: the counter stays below the limit, so it cannot
    // wrap and make owners handed out earlier look unknown.
    let taken = NEXT_OWNER.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |id| {
        ((id as usize) < CHUNK * CHUNKS).then(|| id + 1)
    });
    let Ok(id) = taken else {
        return OUTSIDE;
    };
    counters(id); // its chunk exists before any block is tagged with it
    id
}

/// Whether `owner` was handed out by `new_owner` (0, outside, is not).
pub fn is_owner(owner: u64) -> bool {
    owner != 0
        && owner < u64::from(NEXT_OWNER.load(Ordering::Relaxed))
        && (owner as usize) < CHUNK * CHUNKS
}

/// An owner's memory: bytes allocated by its runs ever, and still alive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub allocated: u64,
    pub retained: u64,
}

pub fn memory(owner: Owner) -> Memory {
    let c = counters(owner);
    Memory {
        allocated: c.allocated.load(Ordering::Relaxed),
        retained: c.live.load(Ordering::Relaxed).max(0) as u64,
    }
}

/// Whether Python memory is being counted (the wrapper was installed).
pub fn counting_memory() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Attributes what this thread allocates to `owner` until dropped.
pub struct Attributing {
    previous: Current,
}

impl Attributing {
    pub fn enter(owner: Owner) -> Attributing {
        Attributing::enter_with(owner, counters(owner))
    }

    /// As `enter`, given the owner's counters.
    fn enter_with(owner: Owner, counters: &'static Counters) -> Attributing {
        let current = Current { owner, counters };
        Attributing {
            previous: CURRENT.with(|c| c.replace(current)),
        }
    }
}

impl Drop for Attributing {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

// The tag in front of each block. `magic` sits where glibc keeps a chunk's
// size (whose high half is zero below 4 GiB): a block that was never tagged,
// handed to this domain by a C extension that mixed up domains, is passed
// on untouched instead of being misread.
#[repr(C)]
struct Tag {
    size: u64,
    owner: Owner,
    magic: u32,
}

const TAG: usize = 16;
const MAGIC: u32 = 0x7079_6863; // "chyp"
const _: () = assert!(std::mem::size_of::<Tag>() == TAG);

#[inline]
fn credit_alloc(c: &Counters, size: usize) {
    let size = size as u64;
    c.allocated.store(
        c.allocated.load(Ordering::Relaxed).wrapping_add(size),
        Ordering::Relaxed,
    );
    c.live.store(
        c.live.load(Ordering::Relaxed).wrapping_add(size as i64),
        Ordering::Relaxed,
    );
}

#[inline]
fn credit_free(owner: Owner, size: u64) {
    let c = counters(owner);
    c.live.store(
        c.live.load(Ordering::Relaxed).wrapping_sub(size as i64),
        Ordering::Relaxed,
    );
}

/// # Safety
/// `block` is a fresh allocation of at least `TAG` bytes.
#[inline]
unsafe fn tag(block: *mut c_void, size: usize) -> *mut c_void {
    let Current { owner, counters: c } = CURRENT.with(Cell::get);
    // SAFETY: counters are never freed.
    let c = if c.is_null() {
        counters(owner)
    } else {
        unsafe { &*c }
    };
    // SAFETY: the block has room for the tag; allocators align to 16.
    unsafe {
        block.cast::<Tag>().write(Tag {
            size: size as u64,
            owner,
            magic: MAGIC,
        });
    }
    credit_alloc(c, size);
    // SAFETY: within the block.
    unsafe { block.cast::<u8>().add(TAG).cast() }
}

/// The tagged block `ptr` was handed out from, or None for a block that
/// was never tagged.
///
/// # Safety
/// `ptr` is non-NULL and came from this domain (or, wrongly, another one).
#[inline]
unsafe fn untag(ptr: *mut c_void) -> Option<(*mut c_void, &'static Tag)> {
    // SAFETY: the bytes before a block this domain returned are its tag;
    // before an untagged block, the allocator's own header.
    unsafe {
        let block = ptr.cast::<u8>().sub(TAG).cast::<c_void>();
        let tag = &*block.cast::<Tag>();
        (tag.magic == MAGIC).then_some((block, tag))
    }
}

/// One domain's wrapper: the allocator it wraps, and the freed small
/// blocks it keeps for the next allocation of their size.
///
/// The cache is why the wrapper costs little in Python's commonest pattern,
/// an object made and dropped in a loop (an int from `range`, a temporary
/// tuple): a free pushes the block here and the next allocation of its size
/// takes it back, with no trip through the wrapped allocator, which makes up
/// for the wrapper's own layer (as CPython's free lists do for floats).
/// Small blocks are asked of the wrapped allocator rounded up to their size
/// class, so any cached block of a class fits any request of that class.
/// Touched only with the GIL held (see the module's comment).
struct Domain {
    inner: ffi::PyMemAllocatorEx,
    cache: std::cell::UnsafeCell<Cache>,
}

/// Size classes of 16 bytes, tag included: blocks of up to
/// `CLASSES * 16` bytes are cached, at most `DEPTH` per class (a domain
/// keeps at most about 70 KB this way).
const CLASSES: usize = 16;
const DEPTH: usize = 32;

struct Cache {
    len: [u8; CLASSES],
    blocks: [[*mut c_void; DEPTH]; CLASSES],
}

/// The cached size class (1-based) of a block of `total` bytes with its
/// tag, or None for a block too large to cache.
#[inline]
fn class_of(total: u64) -> Option<usize> {
    let class = total.div_ceil(16);
    (class <= CLASSES as u64).then_some(class as usize)
}

impl Domain {
    /// A wrapper over `inner`, for the process's life.
    fn leak(inner: ffi::PyMemAllocatorEx) -> &'static mut Domain {
        Box::leak(Box::new(Domain {
            inner,
            cache: std::cell::UnsafeCell::new(Cache {
                len: [0; CLASSES],
                blocks: [[null_mut(); DEPTH]; CLASSES],
            }),
        }))
    }

    #[inline]
    fn inner(&self) -> &ffi::PyMemAllocatorEx {
        &self.inner
    }

    /// # Safety
    /// The GIL is held, and no other reference to the cache is alive.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    unsafe fn cache(&self) -> &mut Cache {
        // SAFETY: the caller holds the GIL, which serialises every use.
        unsafe { &mut *self.cache.get() }
    }

    /// A block of `total` bytes (tag included) from the cache or the
    /// wrapped allocator; NULL if the allocator has none.
    #[inline]
    fn take(&self, total: usize) -> *mut c_void {
        let inner = self.inner();
        let Some(class) = class_of(total as u64) else {
            // SAFETY: the wrapped allocator's own entry.
            return unsafe { (inner.malloc.unwrap_unchecked())(inner.ctx, total) };
        };
        // SAFETY: called from the domain's functions, with the GIL held.
        let cache = unsafe { self.cache() };
        let len = &mut cache.len[class - 1];
        if *len > 0 {
            *len -= 1;
            return cache.blocks[class - 1][usize::from(*len)];
        }
        // SAFETY: the wrapped allocator's own entry.
        unsafe { (inner.malloc.unwrap_unchecked())(inner.ctx, class * 16) }
    }

    /// Gives back a tagged `block` whose tag says `size`.
    #[inline]
    fn give(&self, block: *mut c_void, size: u64) {
        if let Some(class) = class_of(size.saturating_add(TAG as u64)) {
            // SAFETY: called from the domain's functions, with the GIL held.
            let cache = unsafe { self.cache() };
            let len = &mut cache.len[class - 1];
            if usize::from(*len) < DEPTH {
                cache.blocks[class - 1][usize::from(*len)] = block;
                *len += 1;
                return;
            }
        }
        let inner = self.inner();
        // SAFETY: `block` is what the wrapped allocator handed out.
        unsafe { (inner.free.unwrap_unchecked())(inner.ctx, block) }
    }
}

/// The size to ask the wrapped allocator for a block of `total` bytes:
/// rounded up to its class when it may be cached.
#[inline]
fn asked_size(total: usize) -> usize {
    match class_of(total as u64) {
        Some(class) => class * 16,
        None => total,
    }
}

#[inline]
fn domain(ctx: *mut c_void) -> &'static Domain {
    // SAFETY: ctx is the leaked Domain this wrapper was installed with.
    unsafe { &*ctx.cast::<Domain>() }
}

extern "C" fn tagged_malloc(ctx: *mut c_void, size: usize) -> *mut c_void {
    let Some(total) = size.checked_add(TAG) else {
        return null_mut();
    };
    let block = domain(ctx).take(total);
    if block.is_null() {
        return block;
    }
    // SAFETY: a block of at least `total` bytes, not in use.
    unsafe { tag(block, size) }
}

extern "C" fn tagged_calloc(ctx: *mut c_void, nelem: usize, elsize: usize) -> *mut c_void {
    let inner = domain(ctx).inner();
    let Some(size) = nelem.checked_mul(elsize) else {
        return null_mut();
    };
    let Some(total) = size.checked_add(TAG) else {
        return null_mut();
    };
    // SAFETY: the wrapped allocator's own entry.
    let block = unsafe { (inner.calloc.unwrap_unchecked())(inner.ctx, 1, asked_size(total)) };
    if block.is_null() {
        return block;
    }
    // SAFETY: fresh block of at least `total` bytes.
    unsafe { tag(block, size) }
}

extern "C" fn tagged_realloc(ctx: *mut c_void, ptr: *mut c_void, size: usize) -> *mut c_void {
    if ptr.is_null() {
        return tagged_malloc(ctx, size);
    }
    let inner = domain(ctx).inner();
    // SAFETY: ptr came from this domain.
    let Some((block, old)) = (unsafe { untag(ptr) }) else {
        // SAFETY: an untagged block stays untagged.
        return unsafe { (inner.realloc.unwrap_unchecked())(inner.ctx, ptr, size) };
    };
    let (old_owner, old_size) = (old.owner, old.size);
    let Some(total) = size.checked_add(TAG) else {
        return null_mut();
    };
    let old_class = class_of(old_size.saturating_add(TAG as u64));
    let moved = if old_class.is_some() && old_class == class_of(total as u64) {
        block // it fits the block it has: the size class's capacity
    } else {
        // SAFETY: `block` is what the wrapped allocator handed out.
        unsafe { (inner.realloc.unwrap_unchecked())(inner.ctx, block, asked_size(total)) }
    };
    if moved.is_null() {
        return moved; // the old block is unchanged
    }
    credit_free(old_owner, old_size);
    // SAFETY: a block of at least `total` bytes, its tag rewritten for the new size.
    unsafe { tag(moved, size) }
}

extern "C" fn tagged_free(ctx: *mut c_void, ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    let domain = domain(ctx);
    // SAFETY: ptr came from this domain.
    match unsafe { untag(ptr) } {
        Some((block, tag)) => {
            let size = tag.size;
            credit_free(tag.owner, size);
            domain.give(block, size);
        }
        None => {
            let inner = domain.inner();
            // SAFETY: passed on as it came.
            unsafe { (inner.free.unwrap_unchecked())(inner.ctx, ptr) }
        }
    }
}

/// Wraps the MEM and OBJ domains' allocators with the tagging ones.
///
/// # Safety
/// Only before CPython initialises (after that the block layout cannot
/// change), once per process.
pub unsafe fn install_allocator() {
    counters(OUTSIDE);
    for domain in [
        ffi::PyMemAllocatorDomain::PYMEM_DOMAIN_MEM,
        ffi::PyMemAllocatorDomain::PYMEM_DOMAIN_OBJ,
    ] {
        // CPython calls these with the GIL held, with the pointers its own
        // allocator handed out: the functions rely on that, though their
        // type (pyo3's) is a safe fn.
        let wrapped = Domain::leak(ffi::PyMemAllocatorEx {
            ctx: null_mut(),
            malloc: None,
            calloc: None,
            realloc: None,
            free: None,
        });
        // SAFETY: CPython fills the struct with the domain's allocator.
        unsafe { ffi::PyMem_GetAllocator(domain, &mut wrapped.inner) };
        let mut tagging = ffi::PyMemAllocatorEx {
            ctx: (wrapped as *mut Domain).cast(),
            malloc: Some(tagged_malloc),
            calloc: Some(tagged_calloc),
            realloc: Some(tagged_realloc),
            free: Some(tagged_free),
        };
        // SAFETY: before initialisation; CPython copies the struct.
        unsafe { ffi::PyMem_SetAllocator(domain, &mut tagging) };
    }
    INSTALLED.store(true, Ordering::Relaxed);
}

/// A run or metered call is timed with the run clock; its CPU time comes
/// from the thread's CPU clock, a system call costing about a quarter of a
/// trivial check run, read only when that is small beside the call: when
/// the previous call (of the same check or meter) held the GIL for at least
/// `EXACT_CPU_FROM_NS`, and on every `EXACT_CPU_EVERY`th run in any case
/// (`METERED_EXACT_CPU_EVERY`th metered call: a hook call is a tenth of a
/// trivial run, and would pay ten times as much of its time for the same
/// rate). A call timed without it counts its time holding the GIL as CPU
/// time (too high by whatever it waited on I/O, at most about
/// `EXACT_CPU_FROM_NS` for calls that stay short).
pub const EXACT_CPU_FROM_NS: u64 = 50_000;
pub const EXACT_CPU_EVERY: u32 = 128;
pub const METERED_EXACT_CPU_EVERY: u32 = 1024;

/// What `Timing` decides the CPU clock by, kept per check or meter.
pub struct ClockState {
    /// How long the previous call held the GIL (u64::MAX: none yet).
    last_ns: AtomicU64,
    /// Calls since one read the CPU clock.
    estimated: AtomicU32,
}

impl Default for ClockState {
    fn default() -> Self {
        ClockState {
            last_ns: AtomicU64::new(u64::MAX),
            estimated: AtomicU32::new(0),
        }
    }
}

/// A call being timed: started once it holds the GIL.
pub struct Timing {
    asked: u64,
    began: u64,
    cpu_began: Option<u64>,
}

/// What a call took.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timed {
    /// From asking for the GIL to the end.
    pub wall_ns: u64,
    pub cpu_ns: u64,
    /// Read from the thread's CPU clock (else the time holding the GIL).
    pub cpu_exact: bool,
    pub gil_wait_ns: u64,
}

impl Timing {
    /// A run or call that asked for the GIL at `asked` (`ticks`) and may
    /// have waited for it (`waited`, see `gil_may_be_held`); if not, it began
    /// as it asked: its GIL wait is zero, and the clock is read once less.
    #[inline(always)]
    pub fn asked(asked: u64, waited: bool, state: &ClockState, every: u32) -> Timing {
        let began = if waited { ticks() } else { asked };
        Timing::started(asked, began, state, every)
    }

    /// A run or call that asked for the GIL at `asked` (`ticks`), began
    /// holding it at `began` and reads the CPU clock on every `every`th
    /// run at least.
    pub fn started(asked: u64, began: u64, state: &ClockState, every: u32) -> Timing {
        let estimated = state.estimated.load(Ordering::Relaxed);
        let exact =
            state.last_ns.load(Ordering::Relaxed) >= EXACT_CPU_FROM_NS || estimated + 1 >= every;
        state
            .estimated
            .store(if exact { 0 } else { estimated + 1 }, Ordering::Relaxed);
        Timing {
            asked,
            began,
            cpu_began: exact.then(thread_cpu_ns),
        }
    }

    pub fn stop(self, state: &ClockState) -> Timed {
        let cpu_now = self.cpu_began.map(|_| thread_cpu_ns());
        let ended = ticks();
        let held = ticks_between(self.began, ended);
        state.last_ns.store(held, Ordering::Relaxed);
        let (cpu_ns, cpu_exact) = match (self.cpu_began, cpu_now) {
            (Some(began), Some(now)) => (now.saturating_sub(began), true),
            _ => (held, false),
        };
        // A call that began as it asked (most) waited nothing: one
        // conversion of ticks to nanoseconds instead of three.
        let (wall_ns, gil_wait_ns) = if self.began == self.asked {
            (held, 0)
        } else {
            (
                ticks_between(self.asked, ended),
                ticks_between(self.asked, self.began),
            )
        };
        Timed {
            wall_ns,
            cpu_ns,
            cpu_exact,
            gil_wait_ns,
        }
    }
}

/// A call made under a meter (an owner a host created for a module or a
/// hook point): its allocations go to the owner, and its time is added to
/// the owner's totals when it ends, however it ends. Made and dropped with
/// the GIL held.
pub struct MeteredCall {
    counters: &'static Counters,
    timing: Option<Timing>,
    in_flight: Option<(libc::clockid_t, u64)>,
    _attributing: Attributing,
}

impl MeteredCall {
    /// `owner` must pass `is_owner`; `asked` is when the call asked for
    /// the GIL, and `waited` whether it may have waited for it (see
    /// `gil_may_be_held`): if not, its GIL wait is zero and the clock is not
    /// read again, a third of what timing a short call costs.
    // Inlined, so that the caller's Option is written in place: a returned
    // MeteredCall moved into it is reread 16 bytes at a time across the
    // 8-byte stores that wrote it, a store-forwarding stall on every call.
    #[inline(always)]
    pub fn start(owner: Owner, asked: u64, waited: bool) -> MeteredCall {
        let counters = counters(owner);
        let attributing = Attributing::enter_with(owner, counters);
        let timing = Timing::asked(asked, waited, &counters.clock, METERED_EXACT_CPU_EVERY);
        let in_flight = timing.cpu_began.and_then(|cpu| {
            let mut clock: libc::clockid_t = 0;
            // SAFETY: this thread's own id; the clock is valid while the
            // thread lives, and it is taken out of the list before the call
            // (and so the thread) ends.
            let found = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
            (found == 0).then_some((clock, cpu))
        });
        if let Some(entry) = in_flight {
            lock(&counters.in_flight).push(entry);
        }
        MeteredCall {
            counters,
            timing: Some(timing),
            in_flight,
            _attributing: attributing,
        }
    }
}

impl Drop for MeteredCall {
    fn drop(&mut self) {
        let c = self.counters;
        if let Some(entry) = self.in_flight {
            let mut going = lock(&c.in_flight);
            if let Some(at) = going.iter().position(|e| *e == entry) {
                going.swap_remove(at);
            }
        }
        let Some(timing) = self.timing.take() else {
            return;
        };
        let t = timing.stop(&c.clock);
        for (counter, v) in [
            (&c.calls, 1),
            (&c.wall_ns, t.wall_ns),
            (&c.cpu_ns, t.cpu_ns),
            (&c.gil_wait_ns, t.gil_wait_ns),
        ] {
            counter.store(
                counter.load(Ordering::Relaxed).wrapping_add(v),
                Ordering::Relaxed,
            );
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A meter's totals: its ended calls, plus the CPU time so far of those
/// going on that read the CPU clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeterUsage {
    pub calls: u64,
    pub in_flight: u64,
    pub wall_ns: u64,
    pub cpu_ns: u64,
    pub gil_wait_ns: u64,
    pub memory: Memory,
}

pub fn meter_usage(owner: Owner) -> MeterUsage {
    let c = counters(owner);
    // Read under the lock: a call leaves the list before its thread can end.
    let (in_flight, live) = {
        let going = lock(&c.in_flight);
        let live: u64 = going
            .iter()
            .map(|&(id, began)| clock(id).saturating_sub(began))
            .sum();
        (going.len() as u64, live)
    };
    MeterUsage {
        calls: c.calls.load(Ordering::Relaxed),
        in_flight,
        wall_ns: c.wall_ns.load(Ordering::Relaxed),
        cpu_ns: c.cpu_ns.load(Ordering::Relaxed) + live,
        gil_wait_ns: c.gil_wait_ns.load(Ordering::Relaxed),
        memory: memory(owner),
    }
}

/// Whether another thread may hold the GIL now, so that taking it may
/// wait. On CPython 3.11 the interpreter's current thread state is one per
/// process, NULL while no thread holds the GIL (a thread that just took it
/// may not have set it yet: such a wait, rare and short, counts as time
/// holding the GIL). Later versions keep it per thread: always yes there.
#[inline]
pub fn gil_may_be_held() -> bool {
    #[cfg(not(Py_3_12))]
    {
        // SAFETY: a plain read of the interpreter's current thread state.
        gil_may_be_held_by(unsafe { pyo3::ffi::compat::PyThreadState_GetUnchecked() })
    }
    #[cfg(Py_3_12)]
    {
        true
    }
}

/// `gil_may_be_held`, given the interpreter's current thread state as this
/// thread just read it (`PyThreadState_GetUnchecked`, a call into CPython).
#[inline(always)]
pub fn gil_may_be_held_by(current: *mut ffi::PyThreadState) -> bool {
    cfg!(Py_3_12) || !current.is_null()
}

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

fn clock_source() -> &'static quanta::Clock {
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Calibrates the run clock; done when a runtime with accounting starts,
/// so that no run pays for it.
pub fn start_clock() {
    clock_source();
}

/// A reading of the run clock: the CPU's time-stamp counter where it is
/// invariant (about 11 ns a read on a VM, against 28 for CLOCK_MONOTONIC in
/// the vDSO), else the monotonic clock (quanta chooses and calibrates).
#[inline]
pub fn ticks() -> u64 {
    clock_source().raw()
}

/// Nanoseconds between two `ticks` readings (0 if `to` is earlier).
#[inline]
pub fn ticks_between(from: u64, to: u64) -> u64 {
    if to <= from {
        return 0;
    }
    clock_source().delta_as_nanos(from, to)
}

/// This thread's CPU time, in nanoseconds: user and system time, time
/// spent in C included. A system call (about 0.6 µs on a VM), so a run
/// reads it only when it is worth it (see `check::run`).
#[inline]
pub fn thread_cpu_ns() -> u64 {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

#[inline]
fn clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out-pointer.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_distinct_and_start_at_zero() {
        let (a, b) = (new_owner(), new_owner());
        assert!(a != OUTSIDE && b != OUTSIDE && a != b);
        assert_eq!(memory(a), Memory::default());
    }

    #[test]
    fn credits_balance() {
        let owner = new_owner();
        credit_alloc(counters(owner), 100);
        credit_alloc(counters(owner), 50);
        credit_free(owner, 100);
        assert_eq!(
            memory(owner),
            Memory {
                allocated: 150,
                retained: 50
            }
        );
    }

    #[test]
    fn attributing_nests() {
        let (a, b) = (new_owner(), new_owner());
        {
            let _outer = Attributing::enter(a);
            assert_eq!(CURRENT.with(Cell::get).owner, a);
            {
                let _inner = Attributing::enter(b);
                assert_eq!(CURRENT.with(Cell::get).owner, b);
            }
            assert_eq!(CURRENT.with(Cell::get).owner, a);
        }
        assert_eq!(CURRENT.with(Cell::get).owner, OUTSIDE);
    }

    extern "C" fn libc_malloc(_: *mut c_void, size: usize) -> *mut c_void {
        // SAFETY: plain malloc.
        unsafe { libc::malloc(size) }
    }
    extern "C" fn libc_calloc(_: *mut c_void, n: usize, size: usize) -> *mut c_void {
        // SAFETY: plain calloc.
        unsafe { libc::calloc(n, size) }
    }
    extern "C" fn libc_realloc(_: *mut c_void, ptr: *mut c_void, size: usize) -> *mut c_void {
        // SAFETY: a block from libc_malloc.
        unsafe { libc::realloc(ptr, size) }
    }
    extern "C" fn libc_free(_: *mut c_void, ptr: *mut c_void) {
        // SAFETY: a block from libc_malloc.
        unsafe { libc::free(ptr) }
    }

    /// The wrapper over plain malloc, whose blocks are as large as asked
    /// (unlike pymalloc's size classes): a cached block reused for another
    /// size of its class must still fit it.
    #[test]
    fn the_wrapper_counts_every_byte_and_reuses_blocks_that_fit() {
        let d = Domain::leak(ffi::PyMemAllocatorEx {
            ctx: null_mut(),
            malloc: Some(libc_malloc),
            calloc: Some(libc_calloc),
            realloc: Some(libc_realloc),
            free: Some(libc_free),
        });
        let ctx = (d as *mut Domain).cast::<c_void>();
        let owner = new_owner();
        let _in_run = Attributing::enter(owner);
        let fill =
            |p: *mut c_void, n: usize| unsafe { std::ptr::write_bytes(p.cast::<u8>(), 0xa5, n) };
        // A 1-byte block, freed, is taken back for 16 bytes: its class's largest.
        let a = tagged_malloc(ctx, 1);
        tagged_free(ctx, a);
        let b = tagged_malloc(ctx, 16);
        assert_eq!(a, b, "a freed block of the same class is reused");
        fill(b, 16);
        // Growing within the class stays in place; past it, the block moves.
        let b = tagged_realloc(ctx, b, 10);
        assert_eq!(a, b);
        let c = tagged_realloc(ctx, b, 300);
        fill(c, 300);
        let z = tagged_calloc(ctx, 3, 7);
        // SAFETY: 21 bytes just allocated.
        assert!(unsafe { std::slice::from_raw_parts(z.cast::<u8>(), 21) }
            .iter()
            .all(|&x| x == 0));
        assert_eq!(
            memory(owner),
            Memory {
                allocated: 1 + 16 + 10 + 300 + 21,
                retained: 321
            }
        );
        // More frees of one class than the cache holds go to the allocator.
        let many: Vec<_> = (0..DEPTH + 8)
            .map(|i| tagged_malloc(ctx, 40 + i % 8))
            .collect();
        for &p in &many {
            fill(p, 40);
        }
        for p in many {
            tagged_free(ctx, p);
        }
        tagged_free(ctx, c);
        tagged_free(ctx, z);
        assert_eq!(memory(owner).retained, 0);
        // SAFETY: test-only; nothing else uses this domain.
        let cache = unsafe { d.cache() };
        assert_eq!(usize::from(cache.len[class_of(56).unwrap() - 1]), DEPTH);
        // An untagged block (from another allocator) passes through untouched.
        // SAFETY: plain malloc.
        let foreign = unsafe { libc::malloc(64) };
        tagged_free(ctx, foreign);
        assert_eq!(memory(owner).retained, 0);
    }

    #[test]
    fn clocks_move() {
        let (m, c) = (ticks(), thread_cpu_ns());
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(ticks_between(m, ticks()) > 0 && thread_cpu_ns() > c);
    }

    #[test]
    fn ticks_convert_to_nanoseconds() {
        let (t, i) = (ticks(), std::time::Instant::now());
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (by_ticks, by_instant) = (ticks_between(t, ticks()), i.elapsed().as_nanos() as u64);
        let off = by_ticks.abs_diff(by_instant);
        assert!(
            off < by_instant / 20,
            "{by_ticks} ns by ticks, {by_instant} ns by Instant"
        );
    }
}
