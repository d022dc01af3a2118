//! Timing shared by the in-process benchmarks: the best wall time of several runs, with the
//! CPU time of that run, so that a busy machine shows as the gap between the two rather than
//! as slow code; and the archive they time, found in the shared corpora.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The linux-man archive of the shared corpora (`LISTBRIDGE_CORPORA`, else `../shared/corpora`);
/// without it the bench named `bench` stops and says where to put it.
pub fn linux_man_archive(bench: &str) -> PathBuf {
    let corpora = std::env::var_os("LISTBRIDGE_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora"));
    let path = corpora.join("archives/linux-man.mbox.gz");
    if !path.is_file() {
        eprintln!(
            "{bench} bench: {} is missing; put the corpora in ../shared/corpora or set \
             LISTBRIDGE_CORPORA to their folder",
            path.display()
        );
        std::process::exit(2);
    }
    path
}

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
