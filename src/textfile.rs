//! Text files a user names on the command line (imports, scenarios), read line by line with a
//! cap on the file's size and on each line's length, so that `/dev/zero`, a binary file or a
//! 100 MB line costs at most one line of memory before it is refused. Lines must be UTF-8;
//! errors give the line number and never quote the file, which may not be the file the user
//! meant (`user import /etc/shadow`).

use std::io::{BufRead, Read};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_line: usize,
    /// What the file is, for messages ("an import file").
    pub what: &'static str,
}

/// `user import`: 128 MiB holds about 800,000 users with pre-hashed passwords; a line of an
/// import file is one user (or one LDIF attribute), far below 64 KiB.
pub const IMPORT: Limits = Limits {
    max_bytes: 128 << 20,
    max_line: 64 << 10,
    what: "an import file",
};

/// `scenario run`: a story of steps, each a short command.
pub const SCENARIO: Limits = Limits {
    max_bytes: 1 << 20,
    max_line: 16 << 10,
    what: "a scenario file",
};

#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("line {line} is longer than {max} bytes, the most {what} may have on one line")]
    LineTooLong {
        line: usize,
        max: usize,
        what: &'static str,
    },
    #[error("the file is larger than {} MiB, the most {what} may be", max >> 20)]
    TooLarge { max: u64, what: &'static str },
    #[error("line {line} is not UTF-8 text")]
    NotUtf8 { line: usize },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl TextError {
    /// The line the problem is on (the last line read for a file too large; 0 for I/O errors).
    pub fn line(&self) -> usize {
        match self {
            TextError::LineTooLong { line, .. } | TextError::NotUtf8 { line } => *line,
            TextError::TooLarge { .. } | TextError::Io(_) => 0,
        }
    }

    /// The message without its line number (callers print `FILE:LINE: message`).
    pub fn message(&self) -> String {
        match self {
            TextError::LineTooLong { max, what, .. } => {
                format!("the line is longer than {max} bytes, the most {what} may have on one line")
            }
            TextError::NotUtf8 { .. } => "the line is not UTF-8 text".into(),
            other => other.to_string(),
        }
    }
}

/// Lines of a file, each checked against the limits as it is read.
pub struct Lines<R> {
    inner: R,
    limits: Limits,
    line: usize,
    total: u64,
    /// For `Read`: the checked line being handed out, and how much of it is out.
    pending: Vec<u8>,
    at: usize,
}

impl<R: BufRead> Lines<R> {
    pub fn new(inner: R, limits: Limits) -> Lines<R> {
        Lines {
            inner,
            limits,
            line: 0,
            total: 0,
            pending: Vec::new(),
            at: 0,
        }
    }

    /// The next line as read (with its line ending, if it has one) and its number.
    fn next_raw(&mut self) -> Result<Option<Vec<u8>>, TextError> {
        let mut buf = Vec::new();
        let cap = self.limits.max_line as u64 + 2; // the line, "\r\n"
        let n = (&mut self.inner).take(cap).read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        self.total += n as u64;
        if self.total > self.limits.max_bytes {
            return Err(TextError::TooLarge {
                max: self.limits.max_bytes,
                what: self.limits.what,
            });
        }
        let body = buf
            .strip_suffix(b"\n")
            .map(|b| b.strip_suffix(b"\r").unwrap_or(b))
            .unwrap_or(&buf);
        if body.len() > self.limits.max_line {
            return Err(TextError::LineTooLong {
                line: self.line,
                max: self.limits.max_line,
                what: self.limits.what,
            });
        }
        if std::str::from_utf8(&buf).is_err() {
            return Err(TextError::NotUtf8 { line: self.line });
        }
        Ok(Some(buf))
    }

    /// The next line without its line ending, and its number.
    pub fn next_line(&mut self) -> Result<Option<(usize, String)>, TextError> {
        let Some(mut raw) = self.next_raw()? else {
            return Ok(None);
        };
        if raw.last() == Some(&b'\n') {
            raw.pop();
            if raw.last() == Some(&b'\r') {
                raw.pop();
            }
        }
        // Checked as UTF-8 by next_raw.
        let text = String::from_utf8(raw).map_err(|_| TextError::NotUtf8 { line: self.line })?;
        Ok(Some((self.line, text)))
    }
}

/// The file's bytes, unchanged, for parsers that read (the CSV reader): a line over the
/// limits ends the stream with an `io::Error` wrapping the `TextError` (see `text_error`).
impl<R: BufRead> Read for Lines<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.pending.len() {
            match self.next_raw() {
                Ok(Some(raw)) => {
                    self.pending = raw;
                    self.at = 0;
                }
                Ok(None) => return Ok(0),
                Err(TextError::Io(e)) => return Err(e),
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
        let n = out.len().min(self.pending.len() - self.at);
        out[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The limit a reader's `io::Error` stands for, if it is one.
pub fn text_error(e: &std::io::Error) -> Option<&TextError> {
    e.get_ref()?.downcast_ref::<TextError>()
}

/// A whole (small) file, checked line by line: for scenario files.
pub fn read(path: &std::path::Path, limits: Limits) -> Result<String, TextError> {
    let file = std::fs::File::open(path)?;
    read_from(std::io::BufReader::new(file), limits)
}

/// The same, from any reader.
pub fn read_from(input: impl BufRead, limits: Limits) -> Result<String, TextError> {
    let mut lines = Lines::new(input, limits);
    let mut text = String::new();
    while let Some((_, line)) = lines.next_line()? {
        text.push_str(&line);
        text.push('\n');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limits = Limits {
        max_bytes: 64,
        max_line: 8,
        what: "a test file",
    };

    fn all(input: &[u8]) -> Result<Vec<(usize, String)>, TextError> {
        let mut l = Lines::new(input, SMALL);
        let mut out = vec![];
        while let Some(x) = l.next_line()? {
            out.push(x);
        }
        Ok(out)
    }

    #[test]
    fn lines_are_numbered_and_their_endings_removed() {
        let got = all(b"a\r\nbb\n\nccc").unwrap();
        assert_eq!(
            got,
            [
                (1, "a".to_string()),
                (2, "bb".into()),
                (3, "".into()),
                (4, "ccc".into())
            ]
        );
        assert_eq!(all(b"12345678\n").unwrap().len(), 1, "exactly the limit");
    }

    #[test]
    fn a_long_line_a_large_file_and_bytes_that_are_not_utf8_are_refused_with_the_line() {
        let e = all(b"ok\n123456789\n").unwrap_err();
        assert!(matches!(e, TextError::LineTooLong { line: 2, .. }), "{e}");
        // No newline ever (as /dev/zero): refused after one line's worth.
        let zeros = vec![0u8; 10_000];
        assert!(matches!(
            all(&zeros).unwrap_err(),
            TextError::LineTooLong { line: 1, .. }
        ));
        let big = b"1234567\n".repeat(9);
        assert!(matches!(all(&big).unwrap_err(), TextError::TooLarge { .. }));
        let e = all(b"fine\n\xff\xfe\n").unwrap_err();
        assert!(matches!(e, TextError::NotUtf8 { line: 2 }));
        assert_eq!(e.message(), "the line is not UTF-8 text");
    }

    #[test]
    fn read_hands_the_bytes_through_unchanged_and_fails_on_a_bad_line() {
        let mut out = String::new();
        Lines::new(&b"a,b\r\n1,2\n"[..], SMALL)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "a,b\r\n1,2\n");
        let e = Lines::new(&b"a\n123456789\n"[..], SMALL)
            .read_to_string(&mut String::new())
            .unwrap_err();
        assert!(matches!(
            text_error(&e),
            Some(TextError::LineTooLong { line: 2, .. })
        ));
    }
}
