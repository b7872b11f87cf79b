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
    /// Held for a job that runs across ticks (moved from the balance to the reserve).
    Reserve,
    /// What a settled job did not spend, returned from the reserve to the balance.
    Release,
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
    #[serde(default)]
    reserved: f64,
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
            reserved: 0.0,
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

    /// Held for jobs still running (not in the balance, not yet spent).
    pub fn reserved(&self) -> f64 {
        self.reserved
    }

    /// `initial + recovered − spent − balance − reserved`: zero up to rounding when the books
    /// balance.
    pub fn imbalance(&self) -> f64 {
        self.initial + self.recovered - self.spent - self.balance - self.reserved
    }

    /// Hold up to `amount` of the balance for a job that runs across ticks; returns what was
    /// held (never more than the balance).
    pub fn reserve(&mut self, tick: u64, amount: f64, expert: Option<u32>) -> f64 {
        let amount = if amount.is_finite() { amount.max(0.0) } else { 0.0 };
        let held = amount.min(self.balance).max(0.0);
        if held > 0.0 {
            self.balance -= held;
            self.reserved += held;
            self.record(Entry { tick, kind: EntryKind::Reserve, amount: -held, expert });
        }
        held
    }

    /// Settle a job that held `held` (what [`Ledger::reserve`] returned) and spent `spent`: the
    /// spend comes out of the reserve first and any excess out of the balance (never below
    /// zero); what it did not spend returns to the balance. Returns what was debited.
    pub fn settle(&mut self, tick: u64, held: f64, spent: f64, expert: Option<u32>) -> f64 {
        let held = if held.is_finite() { held.clamp(0.0, self.reserved) } else { 0.0 };
        let spent = if spent.is_finite() { spent.max(0.0) } else { 0.0 };
        let from_reserve = spent.min(held);
        self.reserved -= held;
        if self.reserved < 1e-12 {
            // Rounding of many holds and settles must not leave dust or a negative reserve.
            self.spent += self.reserved;
            self.reserved = 0.0;
        }
        let unspent = held - from_reserve;
        self.balance += unspent;
        self.spent += from_reserve;
        if unspent > 0.0 {
            self.record(Entry { tick, kind: EntryKind::Release, amount: unspent, expert });
        }
        if from_reserve > 0.0 {
            self.record(Entry { tick, kind: EntryKind::PluginSpend, amount: -from_reserve, expert });
        }
        let excess = self.debit(tick, EntryKind::PluginSpend, spent - from_reserve, expert);
        from_reserve + excess
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
        // What is held for running jobs is still the kernel's: it counts towards the maximum,
        // so that releasing it never overfills the balance.
        let credited = amount.min(self.max - self.balance - self.reserved).max(0.0);
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

/// Why a strategic plan could not be applied (the heuristic allocation is kept).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// Not one share per task.
    #[error("{shares} shares for {tasks} tasks")]
    Count {
        /// Shares given.
        shares: usize,
        /// Tasks competing.
        tasks: usize,
    },
    /// A share is NaN or infinite.
    #[error("share {0} is not a number")]
    NotANumber(f64),
    /// Every share is zero or negative.
    #[error("the plan gives no ATP to any task")]
    Empty,
}

/// Replace the grants of `heuristic` with a plan's `shares` (ATP per grant, in the same order),
/// validated and clamped: every share finite; negative shares count as zero; the whole cycle
/// budget is split in the plan's proportions, but every task keeps at least a quarter of its
/// heuristic grant (a plan may shift ATP between tasks, not starve one). Returns the allocation
/// and whether the plan had to be adjusted, or why it was unusable.
pub fn apply_plan(heuristic: &Allocation, shares: &[f64]) -> Result<(Allocation, bool), PlanError> {
    let n = heuristic.grants.len();
    if shares.len() != n {
        return Err(PlanError::Count { shares: shares.len(), tasks: n });
    }
    if let Some(&x) = shares.iter().find(|x| !x.is_finite()) {
        return Err(PlanError::NotANumber(x));
    }
    let wanted: Vec<f64> = shares.iter().map(|x| x.max(0.0)).collect();
    let total: f64 = wanted.iter().sum();
    if total <= 0.0 {
        return Err(PlanError::Empty);
    }
    let budget = heuristic.cycle_budget;
    let floors: Vec<f64> = heuristic.grants.iter().map(|(_, g)| 0.25 * g).collect();
    let free = (budget - floors.iter().sum::<f64>()).max(0.0);
    let out: Vec<f64> = floors.iter().zip(&wanted).map(|(f, w)| f + free * w / total).collect();
    let adjusted = shares.iter().zip(&out).any(|(s, o)| (s - o).abs() > 1e-6 * budget.max(1.0));
    let grants = heuristic.grants.iter().zip(out).map(|(&(i, _), g)| (i, g)).collect();
    Ok((Allocation { cycle_budget: budget, grants, capped: heuristic.capped.clone() }, adjusted))
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
    fn plans_are_validated_and_clamped() {
        let h = Allocation { cycle_budget: 10.0, grants: vec![(0, 6.0), (2, 4.0)], capped: vec![] };
        // A plan in the heuristic's proportions gives the heuristic's grants.
        let (a, adjusted) = apply_plan(&h, &[6.0, 4.0]).unwrap();
        assert!(!adjusted, "{a:?}");
        // Another split moves the ATP above the floors (a quarter of each heuristic grant).
        let (a, _) = apply_plan(&h, &[3.5, 6.5]).unwrap();
        assert!((a.grants[0].1 - (1.5 + 7.5 * 0.35)).abs() < 1e-9, "{a:?}");
        assert!((a.grants[1].1 - (1.0 + 7.5 * 0.65)).abs() < 1e-9, "{a:?}");
        // A wild plan is brought back to the budget and cannot starve a task.
        let (a, adjusted) = apply_plan(&h, &[100.0, -4.0]).unwrap();
        assert!(adjusted);
        let total: f64 = a.grants.iter().map(|g| g.1).sum();
        assert!((total - 10.0).abs() < 1e-9, "{a:?}");
        assert!((a.grants[1].1 - 1.0).abs() < 1e-9, "a quarter of its heuristic grant: {a:?}");
        assert_eq!(apply_plan(&h, &[1.0]).unwrap_err(), PlanError::Count { shares: 1, tasks: 2 });
        assert!(apply_plan(&h, &[1.0]).unwrap_err().to_string().contains("1 shares for 2 tasks"));
        assert!(apply_plan(&h, &[1.0, f64::NAN]).is_err());
        assert_eq!(apply_plan(&h, &[-1.0, 0.0]).unwrap_err(), PlanError::Empty);
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
