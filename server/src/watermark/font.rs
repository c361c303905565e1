//! The font the overlay is drawn in: a TrueType/OpenType file read once at start.
//!
//! By default DejaVu Sans Bold from Debian's `fonts-dejavu-core` package, which
//! `scripts/setup` installs. Every replica must use the same font file: a different one renders
//! different bytes, which the continuation's digest turns into a clean refusal.

use std::path::{Path, PathBuf};

use ab_glyph::FontArc;

/// The font used when none is configured.
pub const DEFAULT_FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

/// Why a font could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FontError {
    /// The file could not be read.
    #[error("font {path}: {source} (install fonts-dejavu-core, see scripts/setup)")]
    Read {
        /// The font file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a font ab_glyph can parse.
    #[error("font {path} is not a TrueType/OpenType font")]
    Invalid {
        /// The font file.
        path: PathBuf,
    },
}

/// Load the font file at `path`.
pub fn load(path: &Path) -> Result<FontArc, FontError> {
    let bytes = std::fs::read(path).map_err(|source| FontError::Read {
        path: path.to_owned(),
        source,
    })?;
    FontArc::try_from_vec(bytes).map_err(|_| FontError::Invalid {
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_font_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("not-a-font.ttf");
        std::fs::write(&path, b"hello").expect("write");
        assert!(matches!(load(&path), Err(FontError::Invalid { .. })));
        assert!(matches!(
            load(&dir.path().join("missing.ttf")),
            Err(FontError::Read { .. })
        ));
    }
}
