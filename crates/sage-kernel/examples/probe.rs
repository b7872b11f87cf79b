// TEMPORARY debugging probe: not committed.
use sage_kernel::snarc::{cycle, levels::Levels};
use std::io::BufRead;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (file, src, from, to) = (&a[1], &a[2], a[3].parse::<u64>().unwrap(), a[4].parse::<u64>().unwrap());
    let dim: usize = a.get(5).map(|s| s.parse().unwrap()).unwrap_or(0);
    let f = std::io::BufReader::new(std::fs::File::open(file).unwrap());
    let mut lv: Option<Levels> = None;
    let mut cy = cycle::Watch::default();
    for line in f.lines() {
        let j: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let Some(t) = j.get("t").and_then(|t| t.as_u64()) else { continue };
        let Some(v) = j["sensors"].get(src.as_str()) else { continue };
        let v: Vec<f64> = v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        match &mut lv {
            None => { let mut l = Levels::new(&v); cy.learn(&v, None, &mut l); lv = Some(l); }
            Some(l) => {
                let before = l.prediction().to_vec();
                let d = l.observe(&cy.remove(&v));
                cy.learn(&v, Some(&before), l);
                if t >= from && t <= to {
                    println!("{t} z {:.2} thr {:.2} conf {:.2} known {:.2} | x {:.3} pred {:.3} sd {:.3} cyc {}", d.z, d.threshold, d.confirmed, d.z_known, v[dim], before[dim], l.noise_sd(dim), cy.cycle().is_some());
                }
            }
        }
    }
}
