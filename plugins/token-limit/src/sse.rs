//! An incremental `text/event-stream` parser: bytes go in chunk by chunk (split anywhere, even
//! inside a line or a `\r\n`), complete events come out. Memory is bounded: an event whose data
//! grows past the limit is dropped (and counted) instead of buffered.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field (empty when absent).
    pub name: String,
    /// The `data:` lines joined with `\n`.
    pub data: Vec<u8>,
}

/// The parser state between chunks.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    line_overflow: bool,
    data: Vec<u8>,
    has_data: bool,
    name: String,
    event_overflow: bool,
    after_cr: bool,
    max_event: usize,
    /// Events dropped because they exceeded the size limit.
    pub oversized: u64,
}

impl SseParser {
    /// A parser that keeps at most `max_event` bytes of one event's data (and of one line).
    pub fn new(max_event: usize) -> Self {
        SseParser {
            line: Vec::new(),
            line_overflow: false,
            data: Vec::new(),
            has_data: false,
            name: String::new(),
            event_overflow: false,
            after_cr: false,
            max_event,
            oversized: 0,
        }
    }

    /// Feeds the next chunk; calls `on_event` for every event it completes.
    pub fn feed(&mut self, chunk: &[u8], on_event: &mut impl FnMut(Event)) {
        let mut rest = chunk;
        if rest.is_empty() {
            return;
        }
        if self.after_cr {
            // A `\r\n` split across chunks: the `\n` ends nothing new.
            if let Some(b'\n') = rest.first() {
                rest = &rest[1..];
            }
            self.after_cr = false;
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.push_line_bytes(&rest[..pos]);
            let is_cr = rest[pos] == b'\r';
            rest = &rest[pos + 1..];
            if is_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            self.end_line(on_event);
        }
        self.push_line_bytes(rest);
    }

    /// The stream ended: a last event without its closing blank line is still dispatched
    /// (its data may well be truncated; the consumer's JSON parse decides).
    pub fn finish(&mut self, on_event: &mut impl FnMut(Event)) {
        if !self.line.is_empty() || self.line_overflow {
            self.end_line(on_event);
        }
        self.dispatch(on_event);
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) {
        if self.line_overflow || bytes.is_empty() {
            return;
        }
        if self.line.len() + bytes.len() > self.max_event {
            self.line_overflow = true;
            self.line.clear();
        } else {
            self.line.extend_from_slice(bytes);
        }
    }

    fn end_line(&mut self, on_event: &mut impl FnMut(Event)) {
        let line = std::mem::take(&mut self.line);
        if std::mem::take(&mut self.line_overflow) {
            // A line too long to keep: its event cannot be trusted.
            self.event_overflow = true;
            return;
        }
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        if line[0] == b':' {
            return; // comment
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line.as_slice(), &[][..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.has_data = true;
                if self.data.len() + value.len() > self.max_event {
                    self.event_overflow = true;
                    self.data.clear();
                } else if !self.event_overflow {
                    self.data.extend_from_slice(value);
                }
            }
            b"event" => self.name = String::from_utf8_lossy(value).into_owned(),
            _ => {}
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(Event)) {
        let data = std::mem::take(&mut self.data);
        let name = std::mem::take(&mut self.name);
        let has_data = std::mem::take(&mut self.has_data);
        if std::mem::take(&mut self.event_overflow) {
            self.oversized += 1;
            return;
        }
        if has_data {
            on_event(Event { name, data });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(parser: &mut SseParser, chunks: &[&[u8]], finish: bool) -> Vec<Event> {
        let mut out = Vec::new();
        for c in chunks {
            parser.feed(c, &mut |e| out.push(e));
        }
        if finish {
            parser.finish(&mut |e| out.push(e));
        }
        out
    }

    fn ev(name: &str, data: &str) -> Event {
        Event { name: name.into(), data: data.as_bytes().to_vec() }
    }

    const STREAM: &str =
        "event: a\ndata: {\"x\":1}\n\n: comment\ndata:two\ndata: lines\n\nid: 3\nevent:b\r\ndata: c\r\n\r\n";

    #[test]
    fn parses_events_with_names_comments_and_multiline_data() {
        let got = events(&mut SseParser::new(1024), &[STREAM.as_bytes()], true);
        assert_eq!(got, [ev("a", "{\"x\":1}"), ev("", "two\nlines"), ev("b", "c")]);
    }

    #[test]
    fn any_split_of_the_stream_gives_the_same_events() {
        let whole = events(&mut SseParser::new(1024), &[STREAM.as_bytes()], true);
        let bytes = STREAM.as_bytes();
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let got = events(&mut SseParser::new(1024), &[&bytes[..i], &bytes[i..j], &bytes[j..]], true);
                assert_eq!(got, whole, "split at {i}/{j}");
            }
        }
        let single: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(events(&mut SseParser::new(1024), &single, true), whole);
    }

    #[test]
    fn a_truncated_last_event_is_flushed_at_the_end() {
        let mut p = SseParser::new(1024);
        assert!(events(&mut p, &[b"data: {\"usage\":"], false).is_empty());
        assert_eq!(events(&mut p, &[], true), [ev("", "{\"usage\":")]);
    }

    #[test]
    fn oversized_events_are_dropped_and_counted_without_growing_memory() {
        let mut p = SseParser::new(16);
        let big = [b'x'; 100];
        let mut chunks: Vec<&[u8]> = vec![b"data: "];
        chunks.extend(big.chunks(7));
        chunks.push(b"\n\ndata: ok\n\n");
        let got = events(&mut p, &chunks, true);
        assert_eq!(got, [ev("", "ok")]);
        assert_eq!(p.oversized, 1);
        assert!(p.line.capacity() <= 64);
    }

    #[test]
    fn cr_only_line_endings_work() {
        let got = events(&mut SseParser::new(64), &[b"data: a\r\r", b"data: b\r", b"\r"], true);
        assert_eq!(got, [ev("", "a"), ev("", "b")]);
    }
}
