//! Where a new session goes: the slot choice of the scheduler (which slot a session gets, and
//! how much of a prompt is worth borrowing from another slot), a pure function of what each slot
//! holds.

use crate::types::TokenId;

/// Length of the common prefix of two token sequences.
pub(super) fn common(a: &[TokenId], b: &[TokenId]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Prompt tokens a slot must already hold for a new session to be given that slot rather than
/// the lowest free one (below it, the few shared tokens are borrowed by copying, see
/// [`super::Scheduler::borrow`]).
const KEEP_IN_PLACE: usize = 32;

/// Fewest prompt tokens worth borrowing from another slot (a borrow copies that slot's whole
/// stream of cells), or keeping from the slot's own cells (fewer are evaluated again with the
/// rest of the prompt, in the shape a prompt evaluated from scratch has).
pub(super) const BORROW_MIN: usize = 8;

/// What [`choose_slot`] knows of a slot.
#[derive(Debug, Clone, Copy)]
pub(super) struct SlotView {
    /// A generation runs in it.
    pub(super) busy: bool,
    /// An idle session holds it (its conversation's cells).
    pub(super) owned: bool,
    /// When it was last used.
    pub(super) used: u64,
    /// Tokens of the new prompt that its cells hold.
    pub(super) held: usize,
}

/// The slot for a new session, among those not generating: the one holding the most of the
/// prompt where that is at least [`KEEP_IN_PLACE`] tokens (no copy), else the lowest slot nobody
/// owns, else the least recently used owned one. The lowest slot keeps the generating
/// sequences' ids consecutive: llama.cpp evaluates a run of consecutive sequence ids in one
/// pass over the weights, and splits the step where ids skip.
pub(super) fn choose_slot(slots: &[SlotView]) -> Option<usize> {
    let free = || slots.iter().enumerate().filter(|(_, s)| !s.busy);
    let in_place =
        free().filter(|(_, s)| s.held >= KEEP_IN_PLACE).max_by_key(|&(i, s)| (s.held, usize::MAX - i));
    if let Some((i, _)) = in_place {
        return Some(i);
    }
    free().min_by_key(|&(i, s)| (s.owned, if s.owned { s.used } else { i as u64 })).map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_session_takes_the_lowest_free_slot_unless_one_holds_its_prompt() {
        let v = |busy, owned, used, held| SlotView { busy, owned, used, held };
        // Slots 0 and 2 generate; 1 is free: taken, though 3 (free too) shares a few tokens.
        let slots = [v(true, true, 9, 0), v(false, false, 1, 0), v(true, true, 9, 0), v(false, false, 5, 20)];
        assert_eq!(choose_slot(&slots), Some(1));
        // A slot holding enough of the prompt is used in place (no copy of its stream).
        let slots =
            [v(true, true, 9, 0), v(false, false, 1, 0), v(false, true, 2, 40), v(false, false, 5, 33)];
        assert_eq!(choose_slot(&slots), Some(2));
        // Only owned idle slots left: the least recently used gives way.
        let slots = [v(true, true, 9, 0), v(false, true, 7, 0), v(false, true, 3, 0)];
        assert_eq!(choose_slot(&slots), Some(2));
        // Free slots before owned ones, whatever their recency.
        let slots = [v(false, true, 0, 0), v(false, false, 8, 0)];
        assert_eq!(choose_slot(&slots), Some(1));
        // Everything generating: none.
        assert_eq!(choose_slot(&[v(true, true, 1, 50)]), None);
    }

    #[test]
    fn common_prefix() {
        assert_eq!(common(&[1, 2, 3], &[1, 2, 4]), 2);
        assert_eq!(common(&[], &[1]), 0);
        assert_eq!(common(&[1, 2], &[1, 2, 3]), 2);
    }
}
