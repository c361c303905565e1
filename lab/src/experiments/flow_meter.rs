//! [`FlowMeter`]: how many body bytes each of several running transfers has delivered, observed
//! from outside by the sizes of their output files (`trickles-client` writes a body in order,
//! through an 8 KiB buffer, as it arrives; with `--parallel N` into `FILE.0` .. `FILE.N-1`).
//! Two samples give every flow's throughput over the same interval.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::service::client::ClientSpec;

/// The files of a set of flows.
#[derive(Clone, Debug, Default)]
pub struct FlowMeter {
    files: Vec<PathBuf>,
}

/// Every flow's delivered bytes at one moment.
#[derive(Clone, Debug)]
pub struct FlowSample {
    /// When the sizes were read.
    pub at: Instant,
    /// Bytes per flow, in the order the flows were added.
    pub bytes: Vec<u64>,
}

impl FlowMeter {
    /// No flows yet.
    pub fn new() -> Self {
        FlowMeter::default()
    }

    /// Adds the flows of a client started from `spec` (one per transfer it runs).
    pub fn add_client(&mut self, spec: &ClientSpec) {
        self.files.extend(client_output_files(spec));
    }

    /// How many flows it follows.
    pub fn flows(&self) -> usize {
        self.files.len()
    }

    /// The sizes now, as the clients write them (a file not created yet counts as 0 bytes).
    pub fn sample(&self) -> FlowSample {
        FlowSample {
            at: Instant::now(),
            bytes: self
                .files
                .iter()
                .map(|f| trickles_client::output::written_so_far(f))
                .collect(),
        }
    }

    /// Deletes the files (they can be large).
    pub fn remove_files(&self) {
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Every flow's throughput in Mbit/s (10⁶ bit/s) between two samples of the same meter.
pub fn rates_mbps(from: &FlowSample, to: &FlowSample) -> Vec<f64> {
    let seconds = to.at.saturating_duration_since(from.at).as_secs_f64();
    from.bytes
        .iter()
        .zip(&to.bytes)
        .map(|(&a, &b)| {
            if seconds > 0.0 {
                b.saturating_sub(a) as f64 * 8.0 / seconds / 1e6
            } else {
                0.0
            }
        })
        .collect()
}

/// The files a client started from `spec` writes: `-o FILE` for one transfer, `FILE.0` ..
/// `FILE.N-1` with `--parallel N`; none without `-o`.
pub fn client_output_files(spec: &ClientSpec) -> Vec<PathBuf> {
    let Some(output) = &spec.output else {
        return Vec::new();
    };
    match spec.parallel {
        None => vec![output.clone()],
        Some(transfers) => (0..transfers).map(|i| numbered(output, i)).collect(),
    }
}

fn numbered(path: &Path, i: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{i}"));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parallel_clients_write_numbered_files() {
        let dir = Path::new("/tmp/x");
        let mut spec = ClientSpec::single("http://h/f".into(), dir.join("bg"), dir, "bg");
        assert_eq!(client_output_files(&spec), vec![dir.join("bg")]);
        spec.parallel = Some(1);
        assert_eq!(client_output_files(&spec), vec![dir.join("bg.0")]);
        spec.parallel = Some(3);
        assert_eq!(
            client_output_files(&spec),
            vec![dir.join("bg.0"), dir.join("bg.1"), dir.join("bg.2")]
        );
        spec.output = None;
        assert!(client_output_files(&spec).is_empty());
    }

    #[test]
    fn rates_follow_the_growth_of_each_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spec =
            ClientSpec::single("http://h/f".into(), dir.path().join("f"), dir.path(), "f");
        spec.parallel = Some(2);
        let mut meter = FlowMeter::new();
        meter.add_client(&spec);
        assert_eq!(meter.flows(), 2);
        let before = meter.sample();
        assert_eq!(before.bytes, vec![0, 0]);
        std::fs::write(dir.path().join("f.0"), vec![0u8; 250_000]).expect("write");
        std::fs::write(dir.path().join("f.1"), vec![0u8; 125_000]).expect("write");
        let mut after = meter.sample();
        after.at = before.at + Duration::from_secs(2);
        let rates = rates_mbps(&before, &after);
        assert!((rates[0] - 1.0).abs() < 1e-9, "{rates:?}");
        assert!((rates[1] - 0.5).abs() < 1e-9, "{rates:?}");
        meter.remove_files();
        assert_eq!(meter.sample().bytes, vec![0, 0]);
    }
}
