//! Property-style tests of the codec over generated frames (a seeded xorshift generator, so a
//! failure names its seed): round trips, every split point, back-to-back frames, big bulks.

use resp_codec::{DecodeError, Frame, decode, decode_exact, encode, encode_command};

struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, max: u64) -> Vec<u8> {
        (0..self.below(max + 1)).map(|_| self.next() as u8).collect()
    }

    /// Printable text without CR or LF (what simple strings may hold).
    fn line(&mut self) -> String {
        (0..self.below(12)).map(|_| char::from(b' ' + self.below(95) as u8)).collect()
    }

    fn frame(&mut self, depth: u32) -> Frame {
        let leaf = depth >= 3 || self.below(3) > 0;
        match if leaf { self.below(8) } else { 8 + self.below(2) } {
            0 => Frame::Nil,
            1 => Frame::Status(self.line()),
            2 => Frame::Error(self.line()),
            3 => Frame::Int(match self.below(4) {
                0 => i64::MIN,
                1 => i64::MAX,
                _ => self.next() as i64 >> self.below(64),
            }),
            4 | 5 => Frame::Bulk(self.bytes(40)),
            6 => Frame::Boolean(self.below(2) == 1),
            7 => Frame::Double(((self.next() as i64 >> 20) as f64 / 1024.0).to_string()),
            8 => Frame::Array((0..self.below(5)).map(|_| self.frame(depth + 1)).collect()),
            _ => Frame::Map((0..self.below(4)).map(|_| (self.frame(depth + 1), self.frame(depth + 1))).collect()),
        }
    }
}

#[test]
fn generated_frames_round_trip_and_wait_at_every_split_point() {
    for seed in 1..400u64 {
        let mut g = Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let frame = g.frame(0);
        let bytes = encode(&frame);
        assert_eq!(decode_exact(&bytes), Ok(frame.clone()), "seed {seed}: {bytes:?}");
        for split in 0..bytes.len() {
            assert_eq!(decode(&bytes[..split]), Ok(None), "seed {seed}: split at {split} of {bytes:?}");
            assert_eq!(decode_exact(&bytes[..split]), Err(DecodeError::Incomplete), "seed {seed}");
        }
    }
}

#[test]
fn back_to_back_frames_decode_one_at_a_time() {
    let mut g = Gen(77);
    let frames: Vec<Frame> = (0..50).map(|_| g.frame(0)).collect();
    let stream: Vec<u8> = frames.iter().flat_map(encode).collect();
    let mut at = 0;
    for want in &frames {
        let (got, used) = decode(&stream[at..]).unwrap().unwrap();
        assert_eq!(&got, want);
        at += used;
    }
    assert_eq!(at, stream.len());
}

#[test]
fn generated_commands_decode_as_arrays_of_bulk_strings() {
    for seed in 1..200u64 {
        let mut g = Gen(seed * 31 + 7);
        let args: Vec<Vec<u8>> = (0..1 + g.below(6)).map(|_| g.bytes(30)).collect();
        let bytes = encode_command(&args);
        let want = Frame::Array(args.iter().cloned().map(Frame::Bulk).collect());
        assert_eq!(decode_exact(&bytes), Ok(want), "seed {seed}");
    }
}

#[test]
fn big_bulk_strings_round_trip_and_wait_for_their_last_byte() {
    let big: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let frame = Frame::Array(vec![Frame::Bulk(big.clone()), Frame::Int(1)]);
    let bytes = encode(&frame);
    assert_eq!(decode_exact(&bytes), Ok(frame));
    let header = format!("*2\r\n${}\r\n", big.len()).len();
    for split in [header, header + 1, header + big.len(), header + big.len() + 1, bytes.len() - 1] {
        assert_eq!(decode(&bytes[..split]), Ok(None), "split at {split}");
    }
}

#[test]
fn bulk_payloads_may_hold_any_bytes_including_crlf_and_markers() {
    let nasty = b"*1\r\n$-1\r\n\r\n:".to_vec();
    let bytes = encode(&Frame::Bulk(nasty.clone()));
    assert_eq!(decode_exact(&bytes), Ok(Frame::Bulk(nasty)));
}
