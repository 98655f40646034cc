//! What a mail import reads (see [`super::content::import`]): `.eml` files, a folder of them,
//! an mbox file or stream split into its messages as it is read, or standard input; every
//! message bounded by [`crate::input::MAX_MESSAGE_BYTES`].

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::content::io_err;
use super::{Error, Result};

/// Splits an mbox stream into its messages as it reads, never seeking and never holding a
/// line: a message starts at a `From ` line that begins the stream or follows an empty line
/// (`\n` or `\r\n`), and runs to the next such line. Memory is one 64 KiB buffer whatever the
/// line or message length, so it reads pipes, standard input and endless sources alike; the
/// import bounds each message with [`crate::input::Limited`].
pub struct MboxSplitter<R> {
    inner: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    /// The next byte begins a line.
    at_line_start: bool,
    /// The line before the current one was empty.
    prev_blank: bool,
    /// The current line so far: 0 nothing, 1 just `\r`, 2 anything else.
    line: u8,
    /// The current message has ended (at the next `From ` line or the end of the stream).
    done: bool,
    /// The current message has just begun: its own `From ` line is not a boundary.
    fresh: bool,
    started: bool,
}

impl<R: Read> MboxSplitter<R> {
    pub fn new(inner: R) -> Self {
        MboxSplitter {
            inner,
            buf: vec![0u8; 64 << 10].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            at_line_start: true,
            prev_blank: true,
            line: 0,
            done: true,
            fresh: false,
            started: false,
        }
    }

    /// Makes at least `need` bytes available (fewer only at the end of the stream).
    fn fill(&mut self, need: usize) -> io::Result<()> {
        while self.end - self.start < need && !self.eof {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether the stream goes on with `From ` here.
    fn at_from(&mut self) -> io::Result<bool> {
        self.fill(5)?;
        Ok(self.buf[self.start..self.end].starts_with(b"From "))
    }

    /// Whether the stream begins with a `From ` line (reads at most 5 bytes ahead).
    pub fn is_mbox(&mut self) -> io::Result<bool> {
        self.at_from()
    }

    /// Moves to the next message; `false` at the end of the stream. What is left of the
    /// current message is skipped. The first message must begin the stream
    /// (`io::ErrorKind::InvalidData` otherwise).
    pub fn next_message(&mut self) -> io::Result<bool> {
        if !self.started {
            self.started = true;
            if !self.at_from()? {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "it is not an mbox file: it does not begin with a 'From ' line",
                ));
            }
        } else {
            let mut sink = [0u8; 4096];
            while self.read_message(&mut sink)? > 0 {}
        }
        self.fill(1)?;
        if self.start == self.end {
            return Ok(false);
        }
        self.done = false;
        self.fresh = true;
        Ok(true)
    }

    /// Whether the line that ends at the `\n` at `i` (in the buffer, at or after `start`) is
    /// empty (`\n` or `\r\n`), using the line state at `start` for its part before the window.
    fn blank_before(&self, i: usize) -> bool {
        let window = &self.buf[self.start..i];
        match memchr::memrchr(b'\n', window) {
            Some(j) => matches!(&window[j + 1..], b"" | b"\r"),
            None if self.at_line_start => matches!(window, b"" | b"\r"),
            None => self.line == 1 && window.is_empty(),
        }
    }

    /// Reads from the current message; 0 at its end. Hands out as much as the buffer holds up
    /// to the next boundary, found with a fast search for `\nFrom ` (so a flood of empty or
    /// short lines costs no more than any other input).
    pub fn read_message(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        while !self.done && written < out.len() {
            if self.at_line_start && self.prev_blank && !self.fresh {
                // A possible boundary right here: look 5 bytes ahead.
                if self.end - self.start < 5 && !self.eof {
                    if written > 0 {
                        break;
                    }
                    self.fill(5)?;
                }
                if self.buf[self.start..self.end].starts_with(b"From ") {
                    self.done = true;
                    break;
                }
            }
            // What can be handed out without passing an unseen boundary: a `From ` that is cut
            // off at the end of the buffer could start within its last 5 bytes.
            let safe_end = if self.eof {
                self.end
            } else {
                self.end.saturating_sub(5)
            };
            if safe_end <= self.start {
                if written > 0 {
                    break;
                }
                self.fill(6)?;
                if self.start == self.end {
                    self.done = true;
                    break;
                }
                if self.eof || self.end - self.start > 5 {
                    continue;
                }
            }
            self.fresh = false;
            let limit = (safe_end.max(self.start + 1)).min(self.start + out.len() - written);
            let limit = limit.min(self.end);
            // The first boundary after `start`: `From ` after a `\n` that ends an empty line.
            // An empty line that began before `start` ends at `start` or `start + 1`; any
            // other is in the window whole, as `\n\n` or `\n\r\n`.
            let mut stop = limit;
            for i in [self.start, self.start + 1] {
                if i < self.end
                    && self.buf[i] == b'\n'
                    && self.buf[i + 1..self.end].starts_with(b"From ")
                    && self.blank_before(i)
                {
                    stop = stop.min(i + 1);
                    break;
                }
            }
            let search_end = (stop + 6).min(self.end);
            let hay = &self.buf[self.start..search_end];
            if let Some(k) = memchr::memmem::find(hay, b"\n\nFrom ") {
                stop = stop.min(self.start + k + 2);
            }
            if let Some(k) = memchr::memmem::find(hay, b"\n\r\nFrom ") {
                stop = stop.min(self.start + k + 3);
            }

            let take = stop - self.start;
            let chunk = self.start..stop;
            // The line state at `stop`.
            match memchr::memrchr(b'\n', &self.buf[chunk.clone()]) {
                Some(j) => {
                    let i = self.start + j;
                    self.prev_blank = self.blank_before(i);
                    let rest = &self.buf[i + 1..stop];
                    self.at_line_start = rest.is_empty();
                    self.line = line_state(0, rest);
                }
                None => {
                    let base = if self.at_line_start { 0 } else { self.line };
                    self.line = line_state(base, &self.buf[chunk.clone()]);
                    self.at_line_start = self.at_line_start && take == 0;
                }
            }
            out[written..written + take].copy_from_slice(&self.buf[chunk]);
            written += take;
            self.start = stop;
            if self.start == self.end && written > 0 {
                break;
            }
        }
        Ok(written)
    }

    /// The current message as a reader.
    pub fn message(&mut self) -> MboxMessage<'_, R> {
        MboxMessage(self)
    }

    /// What the splitter read ahead, then the rest of the stream (for a stream that turned
    /// out to be one message, not an mbox).
    pub fn into_stream(self) -> impl Read {
        io::Cursor::new(self.buf[self.start..self.end].to_vec()).chain(self.inner)
    }
}

/// The state of a line (0 nothing, 1 just `\r`, 2 anything else) after `more` bytes of it.
fn line_state(mut state: u8, more: &[u8]) -> u8 {
    for &b in more.iter().take(2) {
        if state == 2 {
            break;
        }
        state = if state == 0 && b == b'\r' { 1 } else { 2 };
    }
    state
}

/// One message of an [`MboxSplitter`].
pub struct MboxMessage<'a, R>(&'a mut MboxSplitter<R>);

impl<R: Read> Read for MboxMessage<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.0.read_message(out)
    }
}

/// Where an import's messages come from, read one at a time: `.eml` files (one, or a folder's),
/// an mbox file or stream (split as it is read, so a pipe, a FIFO, `<(...)` or standard input
/// works as a file does), or standard input holding one message.
pub(crate) enum Sources {
    Eml(std::vec::IntoIter<PathBuf>),
    Mbox(PathBuf, Box<MboxSplitter<Box<dyn Read>>>),
    /// One message from a stream, until it is taken.
    Stream(PathBuf, Option<Box<dyn Read>>),
}

/// The message-size limit as an import error.
pub(crate) fn message_too_large(label: &Path) -> Error {
    Error::invalid(format!(
        "cannot read the message {}: it is larger than {}",
        label.display(),
        crate::input::size(crate::input::MAX_MESSAGE_BYTES)
    ))
    .with_help("a message is at most 150 MiB, Exchange Online's largest message size limit (see 'Input limits' in docs/cli.md); the import stopped at it, and Get-MailboxStatistics shows what it had committed before")
}

/// One message of an import: where it came from, its kind (`eml`, `mbox`), its bytes.
type Message<'a> = (PathBuf, &'static str, Box<dyn Read + 'a>);

impl Sources {
    /// The next message: where it came from, its kind (`eml`, `mbox`), and its bytes, bounded
    /// by [`crate::input::MAX_MESSAGE_BYTES`].
    pub(crate) fn next(&mut self) -> Result<Option<Message<'_>>> {
        let limit = crate::input::MAX_MESSAGE_BYTES;
        Ok(match self {
            Sources::Eml(files) => match files.next() {
                None => None,
                Some(p) => {
                    let f = File::open(&p).map_err(|e| io_err("cannot open", &p, e))?;
                    Some((p, "eml", Box::new(crate::input::Limited::new(f, limit))))
                }
            },
            Sources::Mbox(p, split) => {
                if !split
                    .next_message()
                    .map_err(|e| io_err("cannot read", p, e))?
                {
                    return Ok(None);
                }
                let msg = crate::input::Limited::new(split.message(), limit);
                Some((p.clone(), "mbox", Box::new(msg)))
            }
            Sources::Stream(p, s) => s.take().map(|r| {
                let r: Box<dyn Read> = Box::new(crate::input::Limited::new(r, limit));
                (p.clone(), "eml", r)
            }),
        })
    }
}

/// What identifies an import's source across runs, so that a run after an interrupted (or
/// killed) one resumes after the messages already committed: a file by its canonical path,
/// device, inode, size and modification time; a folder of `.eml` files by its path and each
/// file's name, size and modification time. Standard input, pipes and FIFOs have none (they
/// cannot be read again): each run imports them whole.
pub(crate) fn source_key(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    if path.as_os_str() == "-" {
        return None;
    }
    let meta = std::fs::metadata(path).ok()?;
    let canon = std::fs::canonicalize(path).ok()?;
    let mut id = format!("{}\0", canon.display());
    let stamp = |m: &std::fs::Metadata| {
        format!(
            "{}:{}:{}:{}.{}",
            m.dev(),
            m.ino(),
            m.len(),
            m.mtime(),
            m.mtime_nsec()
        )
    };
    if meta.is_file() {
        id.push_str(&stamp(&meta));
    } else if meta.is_dir() {
        let mut names: Vec<(String, String)> = std::fs::read_dir(path)
            .ok()?
            .flatten()
            .filter(|e| {
                e.path()
                    .extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("eml"))
            })
            .filter_map(|e| {
                Some((
                    e.file_name().to_string_lossy().into_owned(),
                    stamp(&e.metadata().ok()?),
                ))
            })
            .collect();
        names.sort();
        for (n, m) in names {
            id.push_str(&format!("{n}\0{m}\0"));
        }
    } else {
        return None;
    }
    Some(hex::encode(crate::crypto::sha256(id.as_bytes())))
}

pub(crate) fn sources(path: &Path) -> Result<Sources> {
    if path.as_os_str() == "-" {
        // Standard input: an mbox stream when it begins with a 'From ' line, else one message.
        let stdin: Box<dyn Read> = Box::new(io::stdin());
        let mut split = MboxSplitter::new(stdin);
        let label = PathBuf::from("-");
        if split
            .is_mbox()
            .map_err(|e| io_err("cannot read", &label, e))?
        {
            return Ok(Sources::Mbox(label, Box::new(split)));
        }
        let one: Box<dyn Read> = Box::new(split.into_stream());
        return Ok(Sources::Stream(label, Some(one)));
    }
    let meta = std::fs::metadata(path).map_err(|e| io_err("cannot read", path, e))?;
    if meta.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| io_err("cannot list", path, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("eml")) && p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::invalid(format!(
                "the folder {} holds no .eml files",
                path.display()
            ))
            .with_help("give a folder of .eml files, an .eml file, or an mbox file"));
        }
        return Ok(Sources::Eml(files.into_iter()));
    }
    if path
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("eml"))
    {
        return Ok(Sources::Eml(vec![path.to_path_buf()].into_iter()));
    }
    // An mbox file, FIFO or process substitution: opened once and split as it is read.
    let f = File::open(path).map_err(|e| io_err("cannot open", path, e))?;
    let mut split = MboxSplitter::new(Box::new(f) as Box<dyn Read>);
    if !split
        .is_mbox()
        .map_err(|e| io_err("cannot read", path, e))?
    {
        return Err(Error::invalid(format!(
            "{} is not an mbox file: it does not begin with a 'From ' line",
            path.display()
        ))
        .with_help("give an mbox file, an .eml file, or a folder of .eml files"));
    }
    Ok(Sources::Mbox(path.to_path_buf(), Box::new(split)))
}
