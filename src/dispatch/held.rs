//! The notifications this process claimed and has not recorded yet. A claim that returns one of
//! them again is not sent again: its lease ran out while its outcome waited for the database (a
//! PostgreSQL restart, with the next round already claiming), and the outcome is on the way.

use std::collections::HashSet;
use std::sync::Mutex;

#[derive(Default)]
pub(super) struct Held(Mutex<HashSet<i64>>);

impl Held {
    /// Keeps of `claimed` what is not held yet, and holds it; returns how many were dropped.
    pub(super) fn take<T>(&self, claimed: &mut Vec<T>, id: impl Fn(&T) -> i64) -> usize {
        let before = claimed.len();
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        claimed.retain(|c| held.insert(id(c)));
        before - claimed.len()
    }

    /// Lets go of what is recorded now.
    pub(super) fn release(&self, recorded: impl IntoIterator<Item = i64>) {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for id in recorded {
            held.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Held;

    #[test]
    fn what_is_held_is_not_taken_again_until_it_is_recorded() {
        let held = Held::default();
        let mut first = vec![1, 2, 3];
        assert_eq!(held.take(&mut first, |id| *id), 0);
        assert_eq!(first, [1, 2, 3]);
        // The next round's claim returns 2 and 3 again (their leases ran out unrecorded).
        let mut second = vec![2, 3, 4];
        assert_eq!(held.take(&mut second, |id| *id), 2);
        assert_eq!(second, [4]);
        held.release([1, 2]);
        let mut third = vec![1, 2, 3];
        assert_eq!(held.take(&mut third, |id| *id), 1, "3 is still unrecorded");
        assert_eq!(third, [1, 2]);
    }
}
