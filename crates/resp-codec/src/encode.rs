//! Encoding: commands as arrays of bulk strings, and any [`Frame`] (for servers and test
//! doubles that answer).

use alloc::vec::Vec;

use crate::Frame;

const CRLF: &[u8] = b"\r\n";

/// Appends the decimal digits of `n`.
fn push_int(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_uint(out, n.unsigned_abs());
}

fn push_uint(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// A type marker and a length or value, then CRLF: `*3\r\n`, `$5\r\n`, `:42\r\n`. Built on
/// the stack and appended in one copy (this runs for every argument of every command).
fn push_header(out: &mut Vec<u8>, marker: u8, n: usize) {
    let mut line = [0u8; 23];
    line[21] = b'\r';
    line[22] = b'\n';
    let mut at = 21;
    let mut rest = n as u64;
    loop {
        at -= 1;
        line[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    at -= 1;
    line[at] = marker;
    out.extend_from_slice(&line[at..]);
}

fn push_bulk(out: &mut Vec<u8>, marker: u8, bytes: &[u8]) {
    push_header(out, marker, bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(CRLF);
}

/// Encodes one command (`["SET", "k", "v"]`) as an array of bulk strings.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let size = args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>() + 16;
    let mut out = Vec::with_capacity(size);
    encode_command_into(args, &mut out);
    out
}

/// [`encode_command`], appending to `out`.
pub fn encode_command_into<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    push_header(out, b'*', args.len());
    for a in args {
        push_bulk(out, b'$', a.as_ref());
    }
}

/// Encodes a frame. RESP2 frames encode as RESP2 (`Nil` as the null bulk string `$-1`), the
/// RESP3-only ones as RESP3. Simple strings and errors are written as given: they must not
/// contain CR or LF.
pub fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(frame, &mut out);
    out
}

fn encode_into(frame: &Frame, out: &mut Vec<u8>) {
    match frame {
        Frame::Nil => out.extend_from_slice(b"$-1\r\n"),
        Frame::Status(s) => push_line(out, b'+', s.as_bytes()),
        Frame::Error(e) => push_line(out, b'-', e.as_bytes()),
        Frame::Int(i) => {
            out.push(b':');
            push_int(out, *i);
            out.extend_from_slice(CRLF);
        }
        Frame::Bulk(b) => push_bulk(out, b'$', b),
        Frame::Array(items) => {
            push_header(out, b'*', items.len());
            items.iter().for_each(|f| encode_into(f, out));
        }
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Frame::Double(d) => push_line(out, b',', d.as_bytes()),
        Frame::BigNumber(n) => push_line(out, b'(', n.as_bytes()),
        Frame::Map(pairs) => {
            push_header(out, b'%', pairs.len());
            for (k, v) in pairs {
                encode_into(k, out);
                encode_into(v, out);
            }
        }
    }
}

fn push_line(out: &mut Vec<u8>, marker: u8, line: &[u8]) {
    out.push(marker);
    out.extend_from_slice(line);
    out.extend_from_slice(CRLF);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(encode_command(&["SET", "k", "v"]), b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n".to_vec());
        assert_eq!(encode_command(&["PING"]), b"*1\r\n$4\r\nPING\r\n".to_vec());
        let empty: [&str; 0] = [];
        assert_eq!(encode_command(&empty), b"*0\r\n".to_vec());
    }

    #[test]
    fn binary_and_empty_arguments_are_length_prefixed() {
        let args: [&[u8]; 2] = [b"GET", b"\x00\r\n"];
        assert_eq!(encode_command(&args), b"*2\r\n$3\r\nGET\r\n$3\r\n\x00\r\n\r\n".to_vec());
        assert_eq!(encode_command(&["", ""]), b"*2\r\n$0\r\n\r\n$0\r\n\r\n".to_vec());
    }

    #[test]
    fn replies_round_trip() {
        let r = Frame::Array(vec![
            Frame::Int(7),
            Frame::Bulk(b"a\r\nb".to_vec()),
            Frame::Nil,
            Frame::Status("OK".to_string()),
            Frame::Error("NOSCRIPT no".to_string()),
        ]);
        assert_eq!(crate::decode_exact(&encode(&r)), Ok(r));
    }

    #[test]
    fn frames_encode_as_the_server_sends_them() {
        assert_eq!(encode(&Frame::Nil), b"$-1\r\n".to_vec());
        assert_eq!(encode(&Frame::Int(i64::MIN)), b":-9223372036854775808\r\n".to_vec());
        assert_eq!(encode(&Frame::Int(0)), b":0\r\n".to_vec());
        assert_eq!(encode(&Frame::Status("OK".to_string())), b"+OK\r\n".to_vec());
        assert_eq!(encode(&Frame::Error("ERR x".to_string())), b"-ERR x\r\n".to_vec());
        assert_eq!(
            encode(&Frame::Array(vec![Frame::Int(1), Frame::Bulk(b"ab".to_vec())])),
            b"*2\r\n:1\r\n$2\r\nab\r\n".to_vec()
        );
        assert_eq!(encode(&Frame::Boolean(true)), b"#t\r\n".to_vec());
        assert_eq!(encode(&Frame::Double("1.5".to_string())), b",1.5\r\n".to_vec());
        assert_eq!(encode(&Frame::Map(vec![(Frame::Int(1), Frame::Nil)])), b"%1\r\n:1\r\n$-1\r\n".to_vec());
    }
}
