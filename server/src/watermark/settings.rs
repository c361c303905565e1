//! Configuration of the watermarking application: where the source images are, which font,
//! how large the render cache is.
//!
//! YAML keys (all optional; the application runs when `watermark_root` is set):
//!
//! ```yaml
//! watermark_root: /srv/images     # source images, served as /wm/<path>
//! watermark_font: /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
//! watermark_cache_mb: 256         # render cache budget in MiB (plus 1/4 for decoded sources)
//! ```
//!
//! Flags `--watermark-root`, `--watermark-font` and `--watermark-cache-mb` override them.

use std::path::PathBuf;

use super::cache::CacheLimits;
use super::font::DEFAULT_FONT_PATH;

/// Default render cache budget in MiB.
pub const DEFAULT_CACHE_MB: u64 = 256;
/// Largest accepted render cache budget in MiB.
pub const MAX_CACHE_MB: u64 = 64 * 1024;
/// Most entries the render cache holds (bounds bookkeeping when images are tiny).
pub const MAX_CACHE_ENTRIES: usize = 4_096;
/// Most renderings at once (each holds a decoded source image).
pub const MAX_CONCURRENT_RENDERS: usize = 2;
/// Decoded sources are kept within the render cache budget divided by this, on top of it.
pub const SOURCE_BUDGET_DIVISOR: usize = 4;

/// Validated settings of the watermarking application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatermarkSettings {
    /// Directory of source images (an existing directory).
    pub root: PathBuf,
    /// Font file.
    pub font: PathBuf,
    /// Render cache budget in MiB.
    pub cache_mb: u64,
}

impl WatermarkSettings {
    /// The render cache limits these settings give.
    pub fn cache_limits(&self) -> CacheLimits {
        CacheLimits {
            budget_bytes: usize::try_from(self.cache_mb << 20).unwrap_or(usize::MAX),
            max_entries: MAX_CACHE_ENTRIES,
            max_concurrent_renders: MAX_CONCURRENT_RENDERS,
            source_budget_bytes: usize::try_from(self.cache_mb << 20).unwrap_or(usize::MAX)
                / SOURCE_BUDGET_DIVISOR,
        }
    }
}

/// The watermark settings as given, each from a flag or the file (file paths already made
/// absolute), and whether the flag set it.
#[derive(Clone, Debug, Default)]
pub struct WatermarkInputs {
    /// `watermark_root` and whether a flag set it.
    pub root: Option<(PathBuf, bool)>,
    /// `watermark_font` and whether a flag set it.
    pub font: Option<(PathBuf, bool)>,
    /// `watermark_cache_mb` and whether a flag set it.
    pub cache_mb: Option<(u64, bool)>,
}

/// A setting that is wrong: its key, whether a flag set it, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidSetting {
    /// The configuration key.
    pub key: &'static str,
    /// True when the value came from the command line.
    pub from_flag: bool,
    /// What is wrong.
    pub reason: String,
}

/// Validate the inputs: `None` when the application is not configured.
pub fn resolve(inputs: WatermarkInputs) -> Result<Option<WatermarkSettings>, InvalidSetting> {
    let Some((root, root_from_flag)) = inputs.root else {
        if let Some((_, from_flag)) = inputs.font {
            return Err(InvalidSetting {
                key: "watermark_font",
                from_flag,
                reason: "watermark_font without watermark_root".into(),
            });
        }
        return Ok(None);
    };
    if !root.is_dir() {
        return Err(InvalidSetting {
            key: "watermark_root",
            from_flag: root_from_flag,
            reason: format!("watermark root {} is not a directory", root.display()),
        });
    }
    let (font, font_from_flag) = inputs
        .font
        .unwrap_or_else(|| (PathBuf::from(DEFAULT_FONT_PATH), false));
    if !font.is_file() {
        return Err(InvalidSetting {
            key: "watermark_font",
            from_flag: font_from_flag,
            reason: format!(
                "font {} not found (scripts/setup installs fonts-dejavu-core)",
                font.display()
            ),
        });
    }
    let cache_mb = match inputs.cache_mb {
        None => DEFAULT_CACHE_MB,
        Some((mb, _)) if (1..=MAX_CACHE_MB).contains(&mb) => mb,
        Some((mb, from_flag)) => {
            return Err(InvalidSetting {
                key: "watermark_cache_mb",
                from_flag,
                reason: format!("watermark_cache_mb = {mb}, must be between 1 and {MAX_CACHE_MB}"),
            })
        }
    };
    Ok(Some(WatermarkSettings {
        root,
        font,
        cache_mb,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_root_means_no_application() {
        assert_eq!(resolve(WatermarkInputs::default()), Ok(None));
    }

    #[test]
    fn defaults_apply_when_only_the_root_is_set() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = resolve(WatermarkInputs {
            root: Some((dir.path().to_owned(), true)),
            ..WatermarkInputs::default()
        })
        .expect("valid")
        .expect("configured");
        assert_eq!(settings.font, PathBuf::from(DEFAULT_FONT_PATH));
        assert_eq!(settings.cache_mb, DEFAULT_CACHE_MB);
    }

    #[test]
    fn bad_values_name_their_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Some((dir.path().to_owned(), false));
        let cases = [
            (
                WatermarkInputs {
                    root: Some((dir.path().join("missing"), true)),
                    ..WatermarkInputs::default()
                },
                "watermark_root",
            ),
            (
                WatermarkInputs {
                    root: root.clone(),
                    font: Some((dir.path().join("none.ttf"), false)),
                    ..WatermarkInputs::default()
                },
                "watermark_font",
            ),
            (
                WatermarkInputs {
                    root: root.clone(),
                    cache_mb: Some((0, true)),
                    ..WatermarkInputs::default()
                },
                "watermark_cache_mb",
            ),
            (
                WatermarkInputs {
                    font: Some((dir.path().join("f.ttf"), true)),
                    ..WatermarkInputs::default()
                },
                "watermark_font",
            ),
        ];
        for (inputs, key) in cases {
            assert_eq!(resolve(inputs).map_err(|e| e.key), Err(key));
        }
    }
}
