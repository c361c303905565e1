//! The end of every experiment: [`Report`] (the table printed and written as CSV, the files
//! written, the kept directory) from [`Context::publish`], and [`write_goodput_series`], the
//! goodput-over-time output of the failure experiments (binned CSV, raw samples with the events,
//! and the figure), one line per transfer.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::context::Context;
use super::results_table::ResultTable;
use crate::error::{LabError, Result};
use crate::measure::delivery::{DeliveryTrace, TraceEvent};
use crate::plot::{write_throughput_series_plot, ThroughputSeries};

/// Width of the goodput bins in the CSV and the figure, seconds.
pub const BIN_SECONDS: f64 = 0.1;

/// What an experiment printed and wrote.
#[derive(Clone, Debug)]
pub struct Report {
    /// The summary table (printed, and written as `OUT/NAME-summary.csv` or `OUT/NAME.csv`).
    pub table: ResultTable,
    /// Every file written into the results directory.
    pub files: Vec<PathBuf>,
    /// The kept temporary directory (`--keep-temp`).
    pub kept: Option<PathBuf>,
}

impl Report {
    /// The written file whose name ends with `suffix` (e.g. `".png"`, `"-summary.csv"`).
    pub fn file(&self, suffix: &str) -> Option<&Path> {
        self.files
            .iter()
            .map(PathBuf::as_path)
            .find(|p| p.to_string_lossy().ends_with(suffix))
    }
}

impl Context {
    /// Writes `table` as `OUT/CSV_NAME`, prints it with `notes` under it and the list of
    /// `files` (plus the table's), keeps the temporary directory if asked, and returns the
    /// report.
    pub fn publish(
        self,
        table: ResultTable,
        csv_name: &str,
        notes: &str,
        mut files: Vec<PathBuf>,
    ) -> Result<Report> {
        let csv = self.result_path(csv_name);
        table.write_csv(&csv)?;
        files.push(csv);
        print!("{}{notes}", table.render());
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        println!("wrote {}", names.join(", "));
        let kept = self.finish();
        if let Some(dir) = &kept {
            println!("kept {}", dir.display());
        }
        Ok(Report { table, files, kept })
    }
}

/// Writes `STEM.csv` (`seconds,NAME_MBps,...`: goodput per [`BIN_SECONDS`] bin, a cell left
/// empty once that transfer has ended), `STEM-samples.csv` (`series,seconds,delivered_bytes`,
/// then the events as `# event` lines) and the figure `STEM.png` / `.svg` with `markers`.
pub fn write_goodput_series(
    stem: &Path,
    title: &str,
    runs: &[(&str, &DeliveryTrace)],
    markers: &[TraceEvent],
) -> Result<Vec<PathBuf>> {
    let binned: Vec<_> = runs
        .iter()
        .map(|(_, t)| t.throughput(BIN_SECONDS))
        .collect();
    let mut text = String::from("seconds");
    for (name, _) in runs {
        let _ = write!(text, ",{}_MBps", column(name));
    }
    text.push('\n');
    for row in 0..binned.iter().map(Vec::len).max().unwrap_or(0) {
        let _ = write!(text, "{:.2}", (row as f64 + 0.5) * BIN_SECONDS);
        for points in &binned {
            match points.get(row) {
                Some(point) => {
                    let _ = write!(text, ",{:.3}", point.megabytes_per_second);
                }
                None => text.push(','),
            }
        }
        text.push('\n');
    }
    let csv = stem.with_extension("csv");
    std::fs::write(&csv, text).map_err(|e| LabError::io(&csv, e))?;

    let mut samples = String::from("series,seconds,delivered_bytes\n");
    for (name, trace) in runs {
        for (seconds, bytes) in trace.samples() {
            let _ = writeln!(samples, "{name},{seconds:.4},{bytes}");
        }
    }
    for (_, trace) in runs {
        for event in trace.events() {
            let _ = writeln!(samples, "# event {:.4} {}", event.seconds, event.label);
        }
    }
    let samples_csv = PathBuf::from(format!("{}-samples.csv", stem.display()));
    std::fs::write(&samples_csv, samples).map_err(|e| LabError::io(&samples_csv, e))?;

    let series: Vec<ThroughputSeries<'_>> = runs
        .iter()
        .zip(&binned)
        .map(|((name, _), points)| ThroughputSeries { name, points })
        .collect();
    let plot = write_throughput_series_plot(stem, title, &series, markers)?;
    Ok(vec![csv, samples_csv, plot.png, plot.svg])
}

/// "TCP (range resume)" → "tcp_range_resume".
fn column(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// `"123"` milliseconds, or `"-"`.
pub fn millis(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "-".to_owned(), |s| format!("{:.0}", s * 1e3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_names_become_csv_columns() {
        assert_eq!(column("TCP (range resume)"), "tcp_range_resume");
        assert_eq!(column("Trickles"), "trickles");
    }
}
