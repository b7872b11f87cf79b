/// A plugin's ATP budget for one refinement: what was granted, what was spent.
///
/// Grants can arrive while the plugin runs ([`Budget::grant`]); the plugin sees them at its next
/// step. Spending never goes past what was granted.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Budget {
    granted: f64,
    spent: f64,
}

impl Budget {
    /// A budget of `atp` (negative or non-finite values count as zero).
    pub fn new(atp: f64) -> Self {
        Self { granted: sanitize(atp), spent: 0.0 }
    }

    /// A budget that never runs out (for plugins run outside the kernel's economy).
    pub fn unlimited() -> Self {
        Self { granted: f64::INFINITY, spent: 0.0 }
    }

    /// Add ATP.
    pub fn grant(&mut self, atp: f64) {
        self.granted += sanitize(atp);
    }

    /// Spend `atp` if it is available; returns whether it was.
    pub fn charge(&mut self, atp: f64) -> bool {
        let atp = sanitize(atp);
        if atp <= self.remaining() + 1e-12 {
            self.spent += atp.min(self.remaining());
            true
        } else {
            false
        }
    }

    /// Spend up to `atp`, as much as remains.
    pub(crate) fn force_charge(&mut self, atp: f64) {
        self.spent += sanitize(atp).min(self.remaining());
    }

    /// ATP still available.
    pub fn remaining(&self) -> f64 {
        (self.granted - self.spent).max(0.0)
    }

    /// ATP spent so far.
    pub fn spent(&self) -> f64 {
        self.spent
    }

    /// ATP granted so far.
    pub fn granted(&self) -> f64 {
        self.granted
    }
}

fn sanitize(x: f64) -> f64 {
    if x.is_finite() || x == f64::INFINITY {
        x.max(0.0)
    } else {
        0.0
    }
}
