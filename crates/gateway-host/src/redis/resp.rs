//! Minimal RESP2 framing: find where one complete reply ends, and encode commands.

/// The end offset of the first complete RESP2 value in `buf`, `Ok(None)` when more bytes are
/// needed, `Err` on bytes that are not RESP2.
pub fn frame_end(buf: &[u8]) -> Result<Option<usize>, String> {
    value_end(buf, 0)
}

fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?.windows(2).position(|w| w == b"\r\n").map(|i| from + i)
}

fn parse_int(bytes: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad RESP length {:?}", String::from_utf8_lossy(bytes)))
}

fn value_end(buf: &[u8], at: usize) -> Result<Option<usize>, String> {
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    let Some(le) = line_end(buf, at + 1) else {
        return Ok(None);
    };
    match kind {
        b'+' | b'-' | b':' => Ok(Some(le + 2)),
        b'$' => {
            let n = parse_int(&buf[at + 1..le])?;
            if n < 0 {
                return Ok(Some(le + 2));
            }
            let end = le + 2 + n as usize + 2;
            Ok((buf.len() >= end).then_some(end))
        }
        b'*' => {
            let n = parse_int(&buf[at + 1..le])?;
            let mut pos = le + 2;
            for _ in 0..n.max(0) {
                match value_end(buf, pos)? {
                    Some(end) => pos = end,
                    None => return Ok(None),
                }
            }
            Ok(Some(pos))
        }
        other => Err(format!("unexpected RESP type byte {other:#04x}")),
    }
}

/// Encodes a command as a RESP2 array of bulk strings.
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_found_whole_or_not_at_all() {
        assert_eq!(frame_end(b"+OK\r\n:1\r\n"), Ok(Some(5)));
        assert_eq!(frame_end(b"$3\r\nab"), Ok(None));
        assert_eq!(frame_end(b"$3\r\nabc\r\n"), Ok(Some(9)));
        assert_eq!(frame_end(b"$-1\r\n"), Ok(Some(5)));
        assert_eq!(frame_end(b"*2\r\n:1\r\n$1\r\nx\r\n"), Ok(Some(15)));
        assert_eq!(frame_end(b"*2\r\n:1\r\n"), Ok(None));
        assert_eq!(frame_end(b"*-1\r\n"), Ok(Some(5)));
        assert!(frame_end(b"%1\r\n").is_err());
    }

    #[test]
    fn commands_encode_as_bulk_arrays() {
        assert_eq!(command(&[b"GET", b"k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".to_vec());
    }
}
