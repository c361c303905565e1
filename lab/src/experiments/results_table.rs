//! [`ResultTable`]: an experiment's rows, printed as an aligned table and written as CSV.
//!
//! Fields are numbers and short labels; a field holding a comma, quote or line break is
//! quoted as RFC 4180 says, so any spreadsheet or `pandas.read_csv` reads the file back.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{LabError, Result};

/// Named columns and rows of text cells.
#[derive(Clone, Debug)]
pub struct ResultTable {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl ResultTable {
    /// An empty table with these column names.
    pub fn new(columns: &[&str]) -> Self {
        ResultTable {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; it must have one cell per column.
    pub fn push(&mut self, row: Vec<String>) {
        assert_eq!(row.len(), self.columns.len(), "one cell per column");
        self.rows.push(row);
    }

    /// The rows so far.
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// The table aligned for a terminal, columns separated by two spaces.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|row| row[i].len())
                    .chain([self.columns[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut text = String::new();
        for row in std::iter::once(&self.columns).chain(&self.rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:>width$}"))
                .collect();
            let _ = writeln!(text, "{}", cells.join("  ").trim_end());
        }
        text
    }

    /// Writes the table as CSV (header line first).
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let mut text = String::new();
        for row in std::iter::once(&self.columns).chain(&self.rows) {
            let cells: Vec<String> = row.iter().map(|cell| csv_field(cell)).collect();
            let _ = writeln!(text, "{}", cells.join(","));
        }
        std::fs::write(path, text).map_err(|e| LabError::io(path, e))
    }
}

fn csv_field(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_aligned_and_quotes_csv_fields_that_need_it() {
        let mut table = ResultTable::new(&["clients", "label"]);
        table.push(vec!["10".into(), "a,b".into()]);
        table.push(vec!["1000".into(), "say \"hi\"".into()]);
        assert_eq!(
            table.render(),
            "clients     label\n     10       a,b\n   1000  say \"hi\"\n"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.csv");
        table.write_csv(&path).expect("write");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "clients,label\n10,\"a,b\"\n1000,\"say \"\"hi\"\"\"\n"
        );
    }
}
