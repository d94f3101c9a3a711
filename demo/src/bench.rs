//! `ringside bench`: latency of the mini file store under a fixed request rate,
//! with tracing off, with ringside at 100% sampling, and with the
//! OpenTelemetry SDK (feature `otel`), on two targets: the store over
//! loopback (HTTP to the gateway, the storage RPC over TCP to the nodes, chunk
//! files on disk) and an in-process loop of the same storage operations (no
//! network, chunks in memory).
//!
//! Every mode's store is built once and kept; after a warm-up round per mode
//! (not counted), the modes take turns in short rounds: `off`, then the
//! tracing modes in an order rotated each cycle, ..., `off` again. Each
//! tracing round is compared with the `off` rounds around it, and a mode's
//! overhead is the median of those per-round differences with a confidence
//! interval ([`stats`]), so drift in a shared machine lands on every mode
//! alike and the spread is visible.
//!
//! Reading order: [`model`] (options and the record of a round), [`rounds`]
//! (a mode's store and one round of load: [`tracings`], [`store`],
//! [`drain`], [`cpu`]), [`stats`] and [`summary`] (from rounds to
//! overheads), [`report`] and [`plot`].

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

pub mod cpu;
pub mod drain;
pub mod model;
pub mod plot;
pub mod report;
pub mod rounds;
pub mod stats;
pub mod store;
pub mod summary;
pub mod tracings;

pub use model::{BenchArgs, Mode, Round, Target};

use rounds::{Load, Stand};
use summary::{ModeSummary, ModeTotals};

/// Runs every mode on the chosen targets, prints the tables, writes the JSON
/// (and the plot).
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    check(&args)?;
    let (dir, temporary) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("ringside-bench-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let targets: &[Target] = match args.target {
        Target::Both => &[Target::Store, Target::Loop],
        Target::Store => &[Target::Store],
        Target::Loop => &[Target::Loop],
    };
    let mut results = Vec::new();
    let mut rounds = Vec::new();
    for &target in targets {
        let outcome = run_target(&args, target, &dir.join(target.name()));
        let (mut summaries, mut target_rounds) = match outcome {
            Ok(r) => r,
            Err(e) => {
                if temporary {
                    let _ = std::fs::remove_dir_all(&dir);
                }
                return Err(e);
            }
        };
        results.append(&mut summaries);
        rounds.append(&mut target_rounds);
    }
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    print!("{}", report::table(&args, &results, &rounds));
    report::write_json(&args, &results, &rounds)?;
    println!(
        "\nresults and every round written to {}",
        args.json.display()
    );
    if let Some(path) = &args.plot {
        plot::draw(path, &rounds, &results)?;
        println!("per-round overheads drawn in {}", path.display());
    }
    Ok(())
}

/// Refuses options the bench cannot run with.
fn check(args: &BenchArgs) -> anyhow::Result<()> {
    if !(args.duration > 0.0 && args.duration <= 3600.0) {
        bail!("--duration must be between 0 and 3600 seconds");
    }
    if !(args.round >= 0.01 && args.round <= args.duration) {
        bail!("--round must be at least 0.01 s and at most --duration");
    }
    if !(args.warmup >= 0.0 && args.warmup <= 600.0) {
        bail!("--warmup must be between 0 and 600 seconds");
    }
    if args.rate == 0 || args.clients == 0 || args.clients > 1024 {
        bail!("--rate must be positive and --clients between 1 and 1024");
    }
    if args.size == 0 || args.size > crate::gateway::MAX_FILE {
        bail!(
            "--size must be between 1 and {} bytes",
            crate::gateway::MAX_FILE
        );
    }
    Ok(())
}

/// One target: builds every mode's store, warms each up, runs the
/// interleaved rounds, stops the stores and summarises.
fn run_target(
    args: &BenchArgs,
    target: Target,
    dir: &std::path::Path,
) -> anyhow::Result<(Vec<ModeSummary>, Vec<Round>)> {
    let modes = Mode::all();
    let stands = modes
        .iter()
        .map(|&m| Stand::build(target, m, &dir.join(m.name())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let agents: Vec<ureq::Agent> = (0..args.clients)
        .map(|_| {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into()
        })
        .collect();
    let content: Vec<u8> = (0..args.size).map(|i| (i % 251) as u8).collect();
    let load = Load {
        rate: args.rate,
        agents: &agents,
        content: &content,
    };
    let sequence = stats::interleaved(modes.len(), args.rounds_per_mode());
    eprintln!(
        "bench: {}: {} s warm-up per mode, then {} rounds of {} s ({})",
        target.name(),
        args.warmup,
        sequence.len(),
        args.round,
        modes
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", "),
    );
    if args.warmup > 0.0 {
        for stand in &stands {
            rounds::drive(stand, &load, Duration::from_secs_f64(args.warmup))?;
        }
    }
    let mut hists = modes
        .iter()
        .map(|_| rounds::new_histogram())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut done = Vec::with_capacity(sequence.len());
    let first = Instant::now();
    for (index, &m) in sequence.iter().enumerate() {
        let start_s = first.elapsed().as_secs_f64();
        let outcome = rounds::drive(&stands[m], &load, Duration::from_secs_f64(args.round))?;
        hists[m].add(&outcome.hist)?;
        done.push(outcome.round(index, (target, modes[m]), start_s, args.round, args.rate));
    }
    let totals: Vec<ModeTotals> = stands
        .into_iter()
        .zip(hists)
        .map(|(stand, hist)| {
            let mode = stand.mode;
            let (spans, dropped) = stand.finish();
            ModeTotals {
                mode,
                hist,
                spans,
                dropped,
            }
        })
        .collect();
    let summaries = summary::summarise(&mut done, &totals, args.rate);
    Ok((summaries, done))
}
