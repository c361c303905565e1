//! BIRD's control-socket replies (the protocol `birdc` speaks): every line starts with a
//! four-digit code; `-` after the code means more lines follow, a space means this is the last
//! line; a line starting with a space continues the previous code.
//!
//! ```text
//! 0001 BIRD 2.0.12 ready.                      greeting
//! 2002-Name       Proto      Table      State  Since         Info
//! 1002-device1    Device     ---        up     19:43:14.585
//!  anycast4   Static     master4    up     19:44:57.895    (continues 1002)
//! 0000                                         end of the reply
//! 0011-anycast4: enabled                       an action's result, then 0000
//! 9001 syntax error, unexpected CF_SYM_UNDEFINED   an error ends the reply at once
//! ```
//!
//! Codes `0xxx` are results, `1xxx` table rows, `2xxx` table headers, `8xxx` run-time errors,
//! `9xxx` parse errors. [`ReplyReader`] turns a byte stream into [`Reply`]s and refuses anything
//! else as garbage.

/// One line of a reply, its code resolved (continuation lines carry the code they continue).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyLine {
    /// The four-digit code.
    pub code: u16,
    /// The text after the code and separator.
    pub text: String,
}

/// A complete reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// Every line, in order, the last one included.
    pub lines: Vec<ReplyLine>,
}

impl Reply {
    /// The last line's code.
    pub fn final_code(&self) -> u16 {
        self.lines.last().map_or(0, |l| l.code)
    }

    /// The first error line (8xxx run-time, 9xxx parse), if any.
    pub fn error(&self) -> Option<&ReplyLine> {
        self.lines.iter().find(|l| l.code >= 8000)
    }

    /// Lines with `code`.
    pub fn with_code(&self, code: u16) -> impl Iterator<Item = &ReplyLine> {
        self.lines.iter().filter(move |l| l.code == code)
    }
}

/// What is wrong with a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Garbage(pub String);

/// Accumulates lines until a reply is complete.
#[derive(Debug, Default)]
pub struct ReplyReader {
    lines: Vec<ReplyLine>,
    last_code: Option<u16>,
}

impl ReplyReader {
    /// Take one line (without its newline); returns the reply when this line ends it.
    pub fn push(&mut self, line: &str) -> Result<Option<Reply>, Garbage> {
        let bytes = line.as_bytes();
        if bytes.first() == Some(&b' ') {
            let code = self
                .last_code
                .ok_or_else(|| Garbage(format!("continuation line before any code: {line:?}")))?;
            self.lines.push(ReplyLine {
                code,
                text: line[1..].to_owned(),
            });
            return Ok(None);
        }
        let code_ok = bytes.len() >= 5 && bytes[..4].iter().all(u8::is_ascii_digit);
        if !code_ok || !matches!(bytes[4], b' ' | b'-') {
            return Err(Garbage(format!(
                "not a BIRD control-socket line (want a 4-digit code, then ' ' or '-'): {:?}",
                truncate(line)
            )));
        }
        let code: u16 = line[..4].parse().map_err(|_| Garbage(line.to_owned()))?;
        self.lines.push(ReplyLine {
            code,
            text: line[5..].to_owned(),
        });
        self.last_code = Some(code);
        if bytes[4] == b' ' {
            self.last_code = None;
            return Ok(Some(Reply {
                lines: std::mem::take(&mut self.lines),
            }));
        }
        Ok(None)
    }
}

fn truncate(line: &str) -> &str {
    match line.char_indices().nth(80) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Reply>, Garbage> {
        let mut reader = ReplyReader::default();
        let mut replies = Vec::new();
        for line in text.lines() {
            if let Some(reply) = reader.push(line)? {
                replies.push(reply);
            }
        }
        Ok(replies)
    }

    #[test]
    fn continuation_lines_carry_the_code_they_continue() {
        let replies =
            read("2002-Name  Proto\n1002-device1 Device\n anycast4 Static\n0000 \n").expect("ok");
        assert_eq!(replies.len(), 1);
        let rows: Vec<&str> = replies[0]
            .with_code(1002)
            .map(|l| l.text.as_str())
            .collect();
        assert_eq!(rows, ["device1 Device", "anycast4 Static"]);
        assert_eq!(replies[0].final_code(), 0);
    }

    #[test]
    fn an_error_line_ends_the_reply_and_is_reported() {
        let replies = read("9001 syntax error, unexpected CF_SYM_UNDEFINED\n").expect("ok");
        assert_eq!(replies[0].error().expect("error").code, 9001);
    }

    #[test]
    fn anything_without_a_code_is_garbage() {
        assert!(read("HTTP/1.1 200 OK\n").is_err());
        assert!(read(" orphan continuation\n").is_err());
        assert!(read("12345 five digits\n").is_err());
    }
}
