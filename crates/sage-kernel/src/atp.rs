//! ATP: the kernel's energy budget.
//!
//! [`Ledger`] holds the balance and records every credit and debit with its reason, keeping
//! `initial + recovered − spent == balance` at every step. [`allocate`] splits a tick's budget
//! across attention targets in proportion to `salience × trust`, with a probe floor so that an
//! untrusted expert still gets a chance, and a cap on how many targets run.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// How many ledger entries are kept for inspection (totals are kept for all of them).
pub const LEDGER_HISTORY: usize = 512;

/// Why ATP moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Per-tick recovery of the metabolic state.
    Recovery,
    /// Per-tick base cost of the metabolic state.
    BaseCost,
    /// What a plugin actually spent while running.
    PluginSpend,
}

/// One movement of ATP.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Tick number.
    pub tick: u64,
    /// Why.
    pub kind: EntryKind,
    /// Amount moved (credits positive, debits negative), after clamping to the balance limits.
    pub amount: f64,
    /// The expert that spent it, for plugin spends.
    pub expert: Option<u32>,
}

/// The ATP balance and its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    balance: f64,
    max: f64,
    initial: f64,
    recovered: f64,
    spent: f64,
    #[serde(skip)]
    recent: VecDeque<Entry>,
}

impl Ledger {
    /// A ledger holding `initial` ATP out of `max` (both clamped to be finite and non-negative).
    pub fn new(initial: f64, max: f64) -> Self {
        let max = if max.is_finite() { max.max(0.0) } else { 100.0 };
        let initial = if initial.is_finite() { initial.clamp(0.0, max) } else { max };
        Self {
            balance: initial,
            max,
            initial,
            recovered: 0.0,
            spent: 0.0,
            recent: VecDeque::with_capacity(LEDGER_HISTORY),
        }
    }

    /// Current balance.
    pub fn balance(&self) -> f64 {
        self.balance
    }

    /// Maximum balance.
    pub fn max(&self) -> f64 {
        self.max
    }

    /// Balance at creation.
    pub fn initial(&self) -> f64 {
        self.initial
    }

    /// Total credited.
    pub fn recovered(&self) -> f64 {
        self.recovered
    }

    /// Total debited.
    pub fn spent(&self) -> f64 {
        self.spent
    }

    /// The most recent entries, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &Entry> {
        self.recent.iter()
    }

    /// `initial + recovered − spent − balance`: zero up to rounding when the books balance.
    pub fn imbalance(&self) -> f64 {
        self.initial + self.recovered - self.spent - self.balance
    }

    fn record(&mut self, entry: Entry) {
        if self.recent.len() == LEDGER_HISTORY {
            self.recent.pop_front();
        }
        self.recent.push_back(entry);
    }

    /// Credit up to `amount` (never past `max`); returns what was credited.
    pub fn credit(&mut self, tick: u64, kind: EntryKind, amount: f64) -> f64 {
        let amount = if amount.is_finite() { amount.max(0.0) } else { 0.0 };
        let credited = amount.min(self.max - self.balance).max(0.0);
        if credited > 0.0 {
            self.balance += credited;
            self.recovered += credited;
            self.record(Entry { tick, kind, amount: credited, expert: None });
        }
        credited
    }

    /// Debit up to `amount` (never below zero); returns what was debited.
    pub fn debit(&mut self, tick: u64, kind: EntryKind, amount: f64, expert: Option<u32>) -> f64 {
        let amount = if amount.is_finite() { amount.max(0.0) } else { 0.0 };
        let debited = amount.min(self.balance).max(0.0);
        if debited > 0.0 {
            self.balance -= debited;
            self.spent += debited;
            self.record(Entry { tick, kind, amount: -debited, expert });
        }
        debited
    }
}

/// One candidate for this tick's attention.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Caller's index of the observation.
    pub index: usize,
    /// Its salience total.
    pub salience: f64,
    /// Trust in the expert that would handle it.
    pub trust: f64,
}

/// The result of [`allocate`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Allocation {
    /// ATP offered this tick.
    pub cycle_budget: f64,
    /// `(observation index, ATP granted)` in order of priority.
    pub grants: Vec<(usize, f64)>,
    /// Observations above the attention threshold that were not run because of `max_plugins`.
    pub capped: Vec<usize>,
}

/// Split `cycle_budget` across the `targets` (already filtered for attention) in proportion to
/// `salience × max(trust, probe_floor)`, keeping the `max_plugins` with the highest weight.
pub fn allocate(cycle_budget: f64, max_plugins: usize, probe_floor: f64, targets: &[Target]) -> Allocation {
    let mut order: Vec<(usize, f64)> = targets
        .iter()
        .map(|t| (t.index, finite01(t.salience) * finite01(t.trust).max(probe_floor)))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let capped: Vec<usize> = order.iter().skip(max_plugins).map(|(i, _)| *i).collect();
    order.truncate(max_plugins);
    let budget = if cycle_budget.is_finite() { cycle_budget.max(0.0) } else { 0.0 };
    let total: f64 = order.iter().map(|(_, w)| w).sum();
    let grants =
        order.into_iter().map(|(i, w)| (i, if total > 0.0 { budget * w / total } else { 0.0 })).collect();
    Allocation { cycle_budget: budget, grants, capped }
}

fn finite01(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_clamps_and_balances() {
        let mut l = Ledger::new(95.0, 100.0);
        assert_eq!(l.credit(0, EntryKind::Recovery, 10.0), 5.0);
        assert_eq!(l.debit(1, EntryKind::PluginSpend, 150.0, Some(3)), 100.0);
        assert_eq!(l.debit(2, EntryKind::BaseCost, 1.0, None), 0.0);
        assert_eq!(l.credit(3, EntryKind::Recovery, f64::NAN), 0.0);
        assert_eq!(l.balance(), 0.0);
        assert!(l.imbalance().abs() < 1e-12);
        assert_eq!(l.recent().count(), 2);
    }

    #[test]
    fn allocation_is_proportional_with_probe_floor_and_cap() {
        let t = [
            Target { index: 0, salience: 0.8, trust: 1.0 },
            Target { index: 1, salience: 0.4, trust: 1.0 },
            Target { index: 2, salience: 0.9, trust: 0.0 },
            Target { index: 3, salience: 0.1, trust: 0.5 },
        ];
        let a = allocate(12.0, 3, 0.02, &t);
        assert_eq!(a.grants.iter().map(|g| g.0).collect::<Vec<_>>(), vec![0, 1, 3]);
        assert_eq!(a.capped, vec![2]);
        let total: f64 = a.grants.iter().map(|g| g.1).sum();
        assert!((total - 12.0).abs() < 1e-9);
        assert!((a.grants[0].1 / a.grants[1].1 - 2.0).abs() < 1e-9);
        // The untrusted target still gets its probe share when there is room.
        let a = allocate(10.0, 4, 0.02, &t);
        assert!(a.grants.iter().any(|&(i, g)| i == 2 && g > 0.0));
        assert!(allocate(10.0, 0, 0.02, &t).grants.is_empty());
    }
}
