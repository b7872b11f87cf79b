//! Kernel throughput against the Python reference (its rates as documented in the survey of the
//! Python SAGE that guided this project, measured on this kind of machine: single thread,
//! CPython 3.11, 2-core AMD EPYC VM; `--python-ref DIR` measures them in the same run).

use std::hint::black_box;
use std::time::Duration;

use sage_kernel::metabolic::State;
use sage_kernel::rng::Rng;
use sage_kernel::router::{Candidate, Context, RouteDecision, Selector, SelectorConfig};
use sage_kernel::snarc::{Snarc, SnarcConfig};
use sage_kernel::{Kernel, KernelConfig, Observation};
use serde::Serialize;

use crate::measure::{measure, Rate};

/// The goal: at least this many times the reference's rate.
pub const GOAL_RATIO: f64 = 100.0;

/// One workload's result.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What was measured.
    pub workload: &'static str,
    /// Our rate.
    pub ours: Rate,
    /// Key of the workload in the reference harness (`tools/reference/kernel_reference.py`).
    pub key: &'static str,
    /// The reference's rate, operations per second, if it has one.
    pub reference_per_s: Option<f64>,
    /// Where the reference rate comes from: `documented` (sage_reference.md §12) or `measured`
    /// (the Python reference run beside this benchmark).
    pub reference_source: &'static str,
    /// `ours.median / reference`.
    pub ratio: Option<f64>,
}

/// Settings.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Repetitions per workload.
    pub reps: u32,
    /// Time per repetition.
    pub per_rep: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self { reps: 5, per_rep: Duration::from_millis(600) }
    }
}

fn row(key: &'static str, workload: &'static str, ours: Rate, reference: Option<f64>) -> Row {
    Row {
        workload,
        key,
        ours,
        reference_per_s: reference,
        reference_source: "documented",
        ratio: reference.map(|r| ours.median_per_s / r),
    }
}

impl Row {
    /// Replace the documented reference rate with one measured in this run.
    pub fn with_measured_reference(mut self, per_s: f64) -> Self {
        self.reference_per_s = Some(per_s);
        self.reference_source = "measured";
        self.ratio = Some(self.ours.median_per_s / per_s);
        self
    }
}

/// The Python harness that measures the reference on the same workloads.
pub const PYTHON_REFERENCE_SCRIPT: &str = include_str!("../../../tools/reference/kernel_reference.py");

fn vector(rng: &mut Rng, n: usize, scale: f64) -> Vec<f64> {
    (0..n).map(|_| (rng.next_f64() - 0.5) * scale).collect()
}

/// Run the kernel benchmarks.
pub fn run(opts: Options) -> Vec<Row> {
    let mut rows = vec![];

    // 1. The loop tick with nothing observed: the reference's SAGEConsciousness.step with mock
    //    sensors and no plugins (35.0k/s).
    {
        let mut k = Kernel::new(KernelConfig::default()).expect("default config is valid");
        let mut t = 0.0;
        let rate = measure(opts.reps, opts.per_rep, || {
            t += 0.01;
            black_box(k.tick(t, &[], false));
        });
        rows.push(row(
            "tick",
            "kernel tick, no observations (ref: SAGEConsciousness.step, mock)",
            rate,
            Some(35_000.0),
        ));
    }

    // 2. Expert selection over 128 experts (ref: S90 select_expert, 9.8k/s).
    {
        let mut rng = Rng::new(1);
        let cands: Vec<Candidate> = (0..128)
            .map(|i| {
                let e = 0.3 + 0.4 * rng.next_f64();
                Candidate {
                    id: i,
                    expertise: e,
                    trust: e,
                    resident: i % 2 == 0,
                    cold_cost: 0.5,
                    run_cost: 0.0,
                    bytes: 1 << 20,
                    fits: true,
                    evicts: false,
                    anchored: false,
                    suppressed: false,
                }
            })
            .collect();
        let mut s = Selector::new(SelectorConfig { epsilon: 0.2, ..SelectorConfig::default() }, 7);
        let mut d = RouteDecision::default();
        let mut incumbent = None;
        let rate = measure(opts.reps, opts.per_rep, || {
            let ctx = Context {
                state: State::Focus,
                swaps_left: 8,
                incumbent,
                exploration: true,
                prefer_light: None,
            };
            s.select_into(&ctx, black_box(&cands), &mut d);
            incumbent = d.chosen;
        });
        rows.push(row(
            "select",
            "expert selection, 128 experts, all factors recorded (ref: S90 select_expert)",
            rate,
            Some(9_800.0),
        ));
    }

    // 3. SNARC for 3 sensors x 64 dims once history is full (ref: SNARCService.assess, 215/s,
    //    158/s once history is full; we compare against the kinder 215).
    {
        let mut rng = Rng::new(2);
        let mut snarc = Snarc::new(SnarcConfig::default());
        let frames: Vec<[Vec<f64>; 3]> = (0..256)
            .map(|_| [vector(&mut rng, 64, 2.0), vector(&mut rng, 64, 2.0), vector(&mut rng, 64, 2.0)])
            .collect();
        for f in frames.iter().take(200) {
            snarc.assess_frame(&[("a", &f[0]), ("b", &f[1]), ("c", &f[2])]).expect("finite vectors");
        }
        let mut i = 0;
        let rate = measure(opts.reps, opts.per_rep, || {
            let f = &frames[i % frames.len()];
            i += 1;
            black_box(snarc.assess_frame(&[("a", &f[0]), ("b", &f[1]), ("c", &f[2])]).ok());
        });
        rows.push(row(
            "snarc",
            "SNARC, 3 sensors x 64 dims, full history (ref: SNARCService.assess)",
            rate,
            Some(215.0),
        ));
    }

    // 4. Context: a full tick with 3 sensors x 64 dims and a text message, routing and running
    //    plugins. The reference has no equivalent (its loop never scores real salience).
    {
        let mut rng = Rng::new(3);
        let mut k = Kernel::new(KernelConfig::default()).expect("default config is valid");
        let frames: Vec<Vec<Observation>> = (0..64)
            .map(|i| {
                vec![
                    Observation::sensor("imu", vector(&mut rng, 64, 1.0)),
                    Observation::sensor("lidar", vector(&mut rng, 64, 1.0)),
                    Observation::sensor("cam", vector(&mut rng, 64, 1.0)),
                    Observation::text(
                        "operator",
                        if i % 8 == 0 { "What is the battery level?" } else { "status ok" },
                    ),
                ]
            })
            .collect();
        let mut t = 0.0;
        let mut i = 0;
        let rate = measure(opts.reps, opts.per_rep, || {
            t += 0.01;
            i += 1;
            black_box(k.tick(t, &frames[i % frames.len()], false));
        });
        rows.push(row(
            "full_tick",
            "kernel tick, 3x64-d sensors + 1 text, routing and plugins (no reference)",
            rate,
            None,
        ));
    }
    rows
}
