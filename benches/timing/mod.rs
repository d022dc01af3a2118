//! Timing shared by the in-process benchmarks: the best wall time of several runs, with the
//! CPU time of that run, so that a busy machine shows as the gap between the two rather than
//! as slow code.

use std::time::{Duration, Instant};

/// Time this thread has spent on a CPU (Linux).
fn on_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// The best wall time of `runs` calls, and the on-CPU time of that same call.
pub fn best_of(runs: usize, mut f: impl FnMut()) -> (Duration, Option<Duration>) {
    (0..runs)
        .map(|_| {
            let (start, cpu) = (Instant::now(), on_cpu());
            f();
            let cpu = on_cpu().zip(cpu).map(|(end, start)| end - start);
            (start.elapsed(), cpu)
        })
        .min()
        .unwrap_or_default()
}
