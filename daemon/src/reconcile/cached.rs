//! A value loaded from the store on first use and kept until invalidated,
//! safe against a load that races an invalidation: a load that started
//! before the change is used by its caller once but not kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::store::StoreError;

/// See the module docs.
#[derive(Debug)]
pub struct Cached<T> {
    slot: Mutex<Option<Arc<T>>>,
    generation: AtomicU64,
}

impl<T> Default for Cached<T> {
    fn default() -> Self {
        Cached { slot: Mutex::new(None), generation: AtomicU64::new(0) }
    }
}

impl<T> Cached<T> {
    /// The value, loaded by `load` when none is kept. The load runs outside
    /// the lock (it reads the store).
    ///
    /// # Errors
    /// `load`'s.
    pub fn get(&self, load: impl FnOnce() -> Result<T, StoreError>) -> Result<Arc<T>, StoreError> {
        if let Some(v) = self.slot.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Ok(v.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let v = Arc::new(load()?);
        let mut g = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) == generation {
            *g = Some(v.clone());
        }
        Ok(v)
    }

    /// Drop the kept value; the next [`Cached::get`] loads again.
    pub fn invalidate(&self) {
        let mut g = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        *g = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_kept_until_invalidated_and_a_racing_load_is_not_kept() {
        let c: Cached<u32> = Cached::default();
        assert_eq!(*c.get(|| Ok(1)).unwrap(), 1);
        assert_eq!(*c.get(|| Ok(2)).unwrap(), 1, "kept");
        c.invalidate();
        // A load during which the value changes again: used, not kept.
        assert_eq!(
            *c.get(|| {
                c.invalidate();
                Ok(3)
            })
            .unwrap(),
            3
        );
        assert_eq!(*c.get(|| Ok(4)).unwrap(), 4, "the racing load was not kept");
    }
}
