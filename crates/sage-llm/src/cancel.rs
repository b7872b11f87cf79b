//! Stopping a generation from another thread, without waiting for its next token.
//!
//! A caller puts a [`Cancel`] into the request's [`crate::GenerateParams`] and keeps a clone;
//! `cancel()` from any thread stops the generation. The llama.cpp engine aborts the batch step
//! in progress (its CPU backend checks between two operations of the graph), finishes the
//! cancelled generation with what it had, and evaluates the step again for the others; other
//! engines stop at their next event. Without this, a caller could only say stop when its next
//! event arrived, and a step that evaluated a long prompt (seconds with a 4B model on a CPU)
//! held the cancel back for all of it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// A cancel handle. The default one is never cancelled and costs nothing; [`Cancel::new`]
/// makes one that can be. Clones share the flag.
#[derive(Clone, Default)]
pub struct Cancel(Option<Arc<Inner>>);

#[derive(Default)]
struct Inner {
    set: AtomicBool,
    /// Flags to raise as well when this one is (an engine's "abort the step" flag).
    also: Mutex<Vec<Weak<AtomicBool>>>,
}

impl Cancel {
    /// A handle that can be cancelled.
    pub fn new() -> Self {
        Self(Some(Arc::new(Inner::default())))
    }

    /// Stop the generation that holds this handle (and any later one given it).
    pub fn cancel(&self) {
        let Some(inner) = &self.0 else { return };
        inner.set.store(true, Ordering::SeqCst);
        let also = inner.also.lock().unwrap_or_else(|e| e.into_inner());
        for flag in also.iter().filter_map(Weak::upgrade) {
            flag.store(true, Ordering::SeqCst);
        }
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(|i| i.set.load(Ordering::SeqCst))
    }

    /// Can this handle be cancelled at all (the default one cannot)?
    pub fn is_armed(&self) -> bool {
        self.0.is_some()
    }

    /// Raise `flag` too when this is cancelled (at once if it already is). The engine keeps
    /// `flag`; only a weak reference is held here.
    pub fn also_raise(&self, flag: &Arc<AtomicBool>) {
        let Some(inner) = &self.0 else { return };
        let mut also = inner.also.lock().unwrap_or_else(|e| e.into_inner());
        also.retain(|w| w.strong_count() > 0);
        also.push(Arc::downgrade(flag));
        // Checked under the lock: `cancel` raises the registered flags under it too, so a
        // cancel that raced with this registration is never lost.
        if inner.set.load(Ordering::SeqCst) {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Cancel(never)"),
            Some(_) if self.is_cancelled() => f.write_str("Cancel(cancelled)"),
            Some(_) => f.write_str("Cancel(armed)"),
        }
    }
}

/// Two handles are equal when they are the same handle (or both the default one), so that
/// requests compare by what they ask, not by who may stop them.
impl PartialEq for Cancel {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_handle_is_never_cancelled() {
        let c = Cancel::default();
        c.cancel();
        assert!(!c.is_cancelled());
        assert!(!c.is_armed());
        assert_eq!(c, Cancel::default());
    }

    #[test]
    fn clones_share_the_flag_and_raise_registered_flags() {
        let c = Cancel::new();
        let engine = Arc::new(AtomicBool::new(false));
        c.also_raise(&engine);
        let other = c.clone();
        assert_eq!(c, other);
        assert_ne!(c, Cancel::new());
        other.cancel();
        assert!(c.is_cancelled());
        assert!(engine.load(Ordering::SeqCst));
    }

    #[test]
    fn registering_after_the_cancel_raises_at_once() {
        let c = Cancel::new();
        c.cancel();
        let engine = Arc::new(AtomicBool::new(false));
        c.also_raise(&engine);
        assert!(engine.load(Ordering::SeqCst));
    }

    #[test]
    fn dropped_flags_are_forgotten() {
        let c = Cancel::new();
        for _ in 0..100 {
            let f = Arc::new(AtomicBool::new(false));
            c.also_raise(&f);
        }
        let kept = Arc::new(AtomicBool::new(false));
        c.also_raise(&kept);
        assert_eq!(c.0.as_ref().unwrap().also.lock().unwrap().len(), 1);
    }
}
