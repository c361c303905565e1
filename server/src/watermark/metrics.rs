//! Prometheus metrics of the watermarking application, read from the render cache's counters
//! when `/metrics` is scraped (nothing is counted twice on the per-packet path):
//!
//! - `trickles_server_watermark_renders_total`: renderings run (cache misses);
//! - `trickles_server_watermark_cache_hits_total`: lookups answered from the cache (about one
//!   per data packet);
//! - `trickles_server_watermark_cache_evictions_total`: renderings dropped to stay in budget;
//! - `trickles_server_watermark_cache_bytes`, `..._cache_entries`: occupancy now;
//! - `trickles_server_watermark_source_hits_total`: renderings that reused decoded source pixels.

use std::sync::{Arc, Mutex};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntGauge};

use super::Watermark;

/// A collector exposing one application's cache counters.
pub struct WatermarkCollector {
    watermark: Arc<Watermark>,
    renders: IntCounter,
    hits: IntCounter,
    evictions: IntCounter,
    source_hits: IntCounter,
    bytes: IntGauge,
    entries: IntGauge,
    /// Serialises scrapes, so the counters advance by exact deltas.
    scrape: Mutex<()>,
}

impl WatermarkCollector {
    /// Metrics of `watermark`, to register in a registry.
    pub fn new(watermark: Arc<Watermark>) -> prometheus::Result<Self> {
        Ok(WatermarkCollector {
            watermark,
            renders: IntCounter::new(
                "trickles_server_watermark_renders_total",
                "Watermarked images rendered (render cache misses)",
            )?,
            hits: IntCounter::new(
                "trickles_server_watermark_cache_hits_total",
                "Watermark render cache lookups answered from the cache",
            )?,
            evictions: IntCounter::new(
                "trickles_server_watermark_cache_evictions_total",
                "Renderings dropped from the watermark render cache to stay within its budget",
            )?,
            source_hits: IntCounter::new(
                "trickles_server_watermark_source_hits_total",
                "Watermark renderings that reused kept decoded source pixels",
            )?,
            bytes: IntGauge::new(
                "trickles_server_watermark_cache_bytes",
                "Bytes charged to the watermark render cache",
            )?,
            entries: IntGauge::new(
                "trickles_server_watermark_cache_entries",
                "Renderings held by the watermark render cache",
            )?,
            scrape: Mutex::new(()),
        })
    }

    fn parts(&self) -> [&dyn Collector; 6] {
        [
            &self.renders,
            &self.hits,
            &self.evictions,
            &self.source_hits,
            &self.bytes,
            &self.entries,
        ]
    }
}

impl Collector for WatermarkCollector {
    fn desc(&self) -> Vec<&Desc> {
        let mut descs = Vec::new();
        descs.extend(self.renders.desc());
        descs.extend(self.hits.desc());
        descs.extend(self.evictions.desc());
        descs.extend(self.source_hits.desc());
        descs.extend(self.bytes.desc());
        descs.extend(self.entries.desc());
        descs
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let _serialised = self
            .scrape
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let stats = self.watermark.cache().stats();
        let advance = |counter: &IntCounter, now: u64| {
            counter.inc_by(now.saturating_sub(counter.get()));
        };
        advance(&self.renders, stats.renders);
        advance(&self.hits, stats.hits);
        advance(&self.evictions, stats.evictions);
        advance(&self.source_hits, self.watermark.decoded_sources().hits());
        self.bytes
            .set(i64::try_from(stats.bytes).unwrap_or(i64::MAX));
        self.entries
            .set(i64::try_from(stats.entries).unwrap_or(i64::MAX));
        self.parts()
            .iter()
            .flat_map(|part| part.collect())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watermark::{font, sample_image, CacheLimits};
    use trickles::app::Application;

    #[test]
    fn scrape_reports_the_cache_counters() {
        let dir = tempfile::tempdir().expect("tempdir");
        sample_image::write_jpeg(&dir.path().join("a.jpg"), 64, 48, 8, 1).expect("write");
        let font = font::load(std::path::Path::new(font::DEFAULT_FONT_PATH)).expect("font");
        let limits = CacheLimits {
            budget_bytes: 1 << 20,
            max_entries: 16,
            max_concurrent_renders: 1,
            source_budget_bytes: 1 << 20,
        };
        let watermark = Arc::new(Watermark::with_font(dir.path(), font, limits).expect("app"));
        let registry = prometheus::Registry::new();
        registry
            .register(Box::new(
                WatermarkCollector::new(watermark.clone()).expect("collector"),
            ))
            .expect("register");
        let client = "198.18.0.2:1".parse().expect("addr");
        let opened = watermark.open(b"/wm/a.jpg", client).expect("open");
        let mut buf = [0u8; 100];
        for _ in 0..2 {
            watermark.read_at(&opened.ucont, 0, &mut buf).expect("read");
            let families = registry.gather();
            let value = |name: &str| {
                families
                    .iter()
                    .find(|f| f.get_name() == name)
                    .map(|f| {
                        let metric = &f.get_metric()[0];
                        metric.get_counter().get_value() + metric.get_gauge().get_value()
                    })
                    .unwrap_or(-1.0)
            };
            assert_eq!(value("trickles_server_watermark_renders_total"), 1.0);
            assert_eq!(value("trickles_server_watermark_cache_entries"), 1.0);
            assert!(value("trickles_server_watermark_cache_bytes") > 512.0);
        }
        let hits = registry
            .gather()
            .iter()
            .find(|f| f.get_name() == "trickles_server_watermark_cache_hits_total")
            .map(|f| f.get_metric()[0].get_counter().get_value());
        assert_eq!(hits, Some(2.0));
    }
}
