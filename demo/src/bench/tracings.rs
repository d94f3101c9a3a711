//! The tracings of one mode: one per process of the store, as in the demo,
//! and for the OpenTelemetry mode the loopback OTLP receiver they export to.

use std::path::Path;

#[cfg(feature = "otel")]
use anyhow::Context as _;
use ringside::trace::Tracer;

#[cfg(feature = "otel")]
use super::cpu::RECEIVER_THREAD;
use super::model::Mode;
use crate::instrument::Tracing;

/// The tracings of one mode.
pub struct Tracings {
    /// The client workload.
    pub client: Tracing,
    /// The gateway.
    pub gateway: Tracing,
    /// The metadata node.
    pub metadata: Tracing,
    /// The data nodes, node 1 first.
    pub data: Vec<Tracing>,
    #[cfg(feature = "otel")]
    receiver: Option<crate::otel::Receiver>,
}

impl Tracings {
    /// The tracings of `mode`; ringside's rings go to `rings`.
    pub fn new(mode: Mode, rings: &Path) -> anyhow::Result<Tracings> {
        #[cfg(feature = "otel")]
        let receiver = match mode {
            Mode::Otel => Some(start_receiver()?),
            _ => None,
        };
        let make = |service: &str| -> anyhow::Result<Tracing> {
            Ok(match mode {
                Mode::Off => Tracing::Ringside(Tracer::disabled(service)),
                Mode::Ringside => {
                    let t = Tracer::builder(service).dir(rings).build();
                    t.open().map_err(|e| anyhow::anyhow!("{e}"))?;
                    Tracing::Ringside(t)
                }
                #[cfg(feature = "otel")]
                Mode::Otel => {
                    let endpoint = &receiver.as_ref().context("no receiver")?.endpoint;
                    Tracing::Otel(crate::otel::OtelTracing::new(service, endpoint)?)
                }
                #[cfg(not(feature = "otel"))]
                Mode::Otel => anyhow::bail!(
                    "built without the otel feature (cargo build --features bench-otel)"
                ),
            })
        };
        Ok(Tracings {
            client: make("client")?,
            gateway: make("gateway")?,
            metadata: make("metadata")?,
            data: (1..=3)
                .map(|i| make(&format!("data-{i}")))
                .collect::<anyhow::Result<_>>()?,
            #[cfg(feature = "otel")]
            receiver,
        })
    }

    /// Every tracing, client first.
    pub fn all(&self) -> impl Iterator<Item = &Tracing> {
        [&self.client, &self.gateway, &self.metadata]
            .into_iter()
            .chain(self.data.iter())
    }

    /// Flushes and stops the tracers; then the spans that arrived where the
    /// mode sends them and those lost on the way. `drained` is what the ring
    /// drain read (ringside).
    pub fn finish(&self, mode: Mode, drained: u64) -> (u64, u64) {
        for t in self.all() {
            t.shutdown();
        }
        let dropped: u64 = self.all().map(Tracing::dropped).sum();
        match mode {
            Mode::Off => (0, 0),
            Mode::Ringside => (drained, dropped),
            #[cfg(feature = "otel")]
            Mode::Otel => {
                let received = self.receiver.as_ref().map_or(0, |r| r.spans());
                let started: u64 = self.all().map(Tracing::written).sum();
                (received, started.saturating_sub(received))
            }
            #[cfg(not(feature = "otel"))]
            Mode::Otel => (0, 0),
        }
    }
}

/// Starts the OTLP receiver from a thread named [`RECEIVER_THREAD`]: the
/// threads it starts inherit the name, so their CPU time can be told apart.
#[cfg(feature = "otel")]
fn start_receiver() -> anyhow::Result<crate::otel::Receiver> {
    std::thread::Builder::new()
        .name(RECEIVER_THREAD.to_string())
        .spawn(crate::otel::Receiver::start)
        .context("cannot start the OTLP receiver's thread")?
        .join()
        .map_err(|_| anyhow::anyhow!("the OTLP receiver's thread panicked"))?
}
