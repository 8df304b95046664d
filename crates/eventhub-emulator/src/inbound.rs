//! Checks a client's byte stream before fe2o3's decoders see it: protocol headers
//! (`AMQP....`) and frames (4-byte big-endian size, data offset, type, channel) are cut out
//! whole, and each frame's first value (the performative) is walked by the AMQP 1.0 type
//! encoding, checking every declared size and count against the bytes the frame really has.
//!
//! fe2o3 0.18 trusts those declarations: a frame shorter than its 8-byte header made its
//! decoder panic, and a 32-byte frame whose performative declares a 3 GB string made it
//! allocate 3 GB before reading (serde_amqp's `IoReader::fill_buffer`), so a peer could exhaust
//! memory without authenticating. Both were found by fuzzing (`emulator_frames`). A frame this
//! module refuses ends the connection; everything else passes unchanged.
//!
//! Only the performative is walked: a transfer's payload (the message) is decoded from the
//! assembled delivery, not by the frame decoder.

use fe2o3_amqp::connection::DEFAULT_MAX_FRAME_SIZE;

/// A frame larger than this is refused (fe2o3 refuses it too: the emulator keeps the default
/// max frame size of 256 KiB). Bounds what one unfinished frame can buffer.
pub const MAX_FRAME_SIZE: usize = DEFAULT_MAX_FRAME_SIZE as usize;

/// Described types nest (a descriptor is itself a value): deeper than this is refused.
const MAX_DEPTH: u32 = 32;

/// Why a client's bytes were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedFrame {
    /// The size field is under 8, the frame header's own size.
    #[error("a frame declares {0} bytes, less than its 8-byte header")]
    TooShort(u32),
    /// The size field is over [`MAX_FRAME_SIZE`].
    #[error("a frame declares {0} bytes, more than the {MAX_FRAME_SIZE}-byte maximum")]
    TooLong(u32),
    /// The data offset points before the end of the header or past the frame.
    #[error("a frame's data offset ({0} words) is outside the frame")]
    DataOffset(u8),
    /// The performative's encoding is cut short, declares more than the frame holds, uses an
    /// unknown constructor or nests too deep.
    #[error("a frame's performative is malformed at byte {0} of its body")]
    Body(usize),
}

/// Cuts a client's stream into protocol headers and frames and checks each; see the module
/// docs. Bytes are held until their unit is complete.
#[derive(Debug, Default)]
pub struct InboundFrames {
    buf: Vec<u8>,
    /// Start of the first unit not yet checked.
    start: usize,
}

impl InboundFrames {
    /// Takes the next `bytes` of the stream and returns the complete, checked units to pass on
    /// (possibly empty, while a unit is incomplete), or the reason to end the connection.
    pub fn push(&mut self, bytes: &[u8]) -> Result<&[u8], MalformedFrame> {
        self.buf.drain(..self.start);
        self.start = 0;
        self.buf.extend_from_slice(bytes);
        let mut at = 0;
        while let Some(size) = unit_size(&self.buf[at..])? {
            if self.buf.len() - at < size {
                break;
            }
            let unit = &self.buf[at..at + size];
            if !unit.starts_with(b"AMQP") {
                check_frame(unit)?;
            }
            at += size;
        }
        self.start = at;
        Ok(&self.buf[..at])
    }
}

/// The size of the unit `rest` starts with, once its first 4 bytes have arrived.
fn unit_size(rest: &[u8]) -> Result<Option<usize>, MalformedFrame> {
    let Some(head) = rest.get(..4) else {
        return Ok(None);
    };
    if head == b"AMQP" {
        return Ok(Some(8));
    }
    let size = u32::from_be_bytes(head.try_into().expect("4 bytes"));
    if size < 8 {
        return Err(MalformedFrame::TooShort(size));
    }
    if size as usize > MAX_FRAME_SIZE {
        return Err(MalformedFrame::TooLong(size));
    }
    Ok(Some(size as usize))
}

/// Checks one whole frame: its data offset and, when it has a body, the performative.
fn check_frame(frame: &[u8]) -> Result<(), MalformedFrame> {
    let doff = frame[4];
    let body_start = usize::from(doff) * 4;
    if doff < 2 || body_start > frame.len() {
        return Err(MalformedFrame::DataOffset(doff));
    }
    let body = &frame[body_start..];
    if body.is_empty() {
        return Ok(()); // a heartbeat
    }
    Walker { bytes: body, at: 0 }.value(0)
}

/// Reads AMQP 1.0 encoded values (section 1.6 of the specification) without building them.
struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// How the values of one constructor are laid out after it.
enum Layout {
    /// A fixed number of bytes (0 for null, booleans, uint0, ulong0, list0).
    Fixed(usize),
    /// A size field of 1 or 4 bytes, then that many bytes of data (binary, string, symbol).
    Variable(usize),
    /// A size field and a count field of 1 or 4 bytes each, then `count` values.
    Compound(usize),
    /// A size and a count field of 1 or 4 bytes each, one element constructor, then `count`
    /// elements without constructors.
    Array(usize),
}

fn layout(constructor: u8) -> Option<Layout> {
    Some(match constructor {
        0x40..=0x45 => Layout::Fixed(0),
        0x50..=0x56 => Layout::Fixed(1),
        0x60 | 0x61 => Layout::Fixed(2),
        0x70..=0x74 => Layout::Fixed(4),
        0x80..=0x84 => Layout::Fixed(8),
        0x94 | 0x98 => Layout::Fixed(16),
        0xa0 | 0xa1 | 0xa3 => Layout::Variable(1),
        0xb0 | 0xb1 | 0xb3 => Layout::Variable(4),
        0xc0 | 0xc1 => Layout::Compound(1),
        0xd0 | 0xd1 => Layout::Compound(4),
        0xe0 => Layout::Array(1),
        0xf0 => Layout::Array(4),
        _ => return None,
    })
}

impl Walker<'_> {
    fn fail(&self) -> MalformedFrame {
        MalformedFrame::Body(self.at)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], MalformedFrame> {
        let end = self.at.checked_add(n).ok_or(self.fail())?;
        let out = self.bytes.get(self.at..end).ok_or(self.fail())?;
        self.at = end;
        Ok(out)
    }

    fn number(&mut self, width: usize) -> Result<usize, MalformedFrame> {
        Ok(match self.take(width)? {
            [b] => usize::from(*b),
            b => u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize,
        })
    }

    /// One value: a constructor (possibly described) and its data.
    fn value(&mut self, depth: u32) -> Result<(), MalformedFrame> {
        let layout = self.constructor(depth)?;
        self.data(&layout, depth)
    }

    /// A constructor; a described one walks its descriptor value first.
    fn constructor(&mut self, depth: u32) -> Result<Layout, MalformedFrame> {
        if depth > MAX_DEPTH {
            return Err(self.fail());
        }
        let code = self.take(1)?[0];
        if code == 0x00 {
            self.value(depth + 1)?;
            return self.constructor(depth + 1);
        }
        layout(code).ok_or(MalformedFrame::Body(self.at - 1))
    }

    /// The data after a constructor of `layout`.
    fn data(&mut self, layout: &Layout, depth: u32) -> Result<(), MalformedFrame> {
        match *layout {
            Layout::Fixed(n) => self.take(n).map(drop),
            Layout::Variable(width) => {
                let size = self.number(width)?;
                self.take(size).map(drop)
            }
            Layout::Compound(width) => {
                let (count, end) = self.sized_count(width)?;
                for _ in 0..count {
                    self.value(depth + 1)?;
                }
                self.end_at(end)
            }
            Layout::Array(width) => {
                let (count, end) = self.sized_count(width)?;
                let element = self.constructor(depth + 1)?;
                match element {
                    Layout::Fixed(n) => {
                        self.take(count.checked_mul(n).ok_or(self.fail())?)?;
                    }
                    _ => {
                        for _ in 0..count {
                            self.data(&element, depth + 1)?;
                        }
                    }
                }
                self.end_at(end)
            }
        }
    }

    /// A size and a count field; the size must fit in what is left, and the count may not
    /// exceed the size (every value takes at least one byte, and a longer array of zero-width
    /// elements is refused, as decoding it would spin).
    fn sized_count(&mut self, width: usize) -> Result<(usize, usize), MalformedFrame> {
        let size = self.number(width)?;
        let end = self.at.checked_add(size).ok_or(self.fail())?;
        if end > self.bytes.len() || size < width {
            return Err(self.fail());
        }
        let count = self.number(width)?;
        if count > size {
            return Err(self.fail());
        }
        Ok((count, end))
    }

    /// A compound value's contents must end where its size said.
    fn end_at(&self, end: usize) -> Result<(), MalformedFrame> {
        if self.at == end {
            Ok(())
        } else {
            Err(self.fail())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = ((8 + body.len()) as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&[2, 0, 0, 0]);
        f.extend_from_slice(body);
        f
    }

    /// open(container-id "c", hostname null, max-frame-size 512)
    const OPEN: &[u8] = &[
        0x00, 0x53, 0x10, 0xc0, 0x0a, 0x03, 0xa1, 0x01, b'c', 0x40, 0x70, 0, 0, 2, 0,
    ];

    #[test]
    fn headers_and_frames_pass_whole_even_when_split() {
        let mut f = InboundFrames::default();
        assert_eq!(f.push(b"AMQP\x03\x01").unwrap(), b"");
        assert_eq!(f.push(b"\x00\x00").unwrap(), b"AMQP\x03\x01\x00\x00");
        let open = frame(OPEN);
        let (a, b) = open.split_at(6);
        assert_eq!(f.push(a).unwrap(), b"");
        assert_eq!(f.push(b).unwrap(), &open[..]);
        // A heartbeat and a header in one read.
        let mut two = frame(&[]);
        two.extend_from_slice(b"AMQP\x00\x01\x00\x00");
        assert_eq!(f.push(&two).unwrap(), &two[..]);
    }

    #[test]
    fn an_array_and_a_map_pass() {
        // attach-like list: symbol array ["a","b"], map {sym "k": uint0}
        let body = [
            0x00, 0x53, 0x12, 0xc0, 0x0e, 0x02, 0xe0, 0x06, 0x02, 0xa3, 0x01, b'a', 0x01, b'b',
            0xc1, 0x05, 0x02, 0xa3, 0x01, b'k', 0x43,
        ];
        let mut body = body.to_vec();
        body[4] = (body.len() - 5) as u8;
        let mut f = InboundFrames::default();
        let fr = frame(&body);
        assert_eq!(f.push(&fr).unwrap(), &fr[..]);
    }

    #[test]
    fn lying_sizes_and_counts_are_refused() {
        let cases: &[&[u8]] = &[
            // str32 declaring 3 GB (the fuzzer's out-of-memory input, reduced)
            &[
                0x00, 0x53, 0x10, 0xc0, 0x06, 0x01, 0xb1, 0xc0, 0x13, 0x10, 0x05,
            ],
            // list8 whose size runs past the frame
            &[0x00, 0x53, 0x10, 0xc0, 0x40, 0x01, 0x40],
            // list8 counting more values than its size holds
            &[0x00, 0x53, 0x10, 0xc0, 0x02, 0x09, 0x40],
            // array32 of 4 billion `true`s in 9 bytes
            &[
                0x00, 0x53, 0x10, 0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x41,
            ],
            // unknown constructor
            &[0x00, 0x53, 0x10, 0xc0, 0x02, 0x01, 0x33],
            // descriptors nested past the depth limit
            &[0x00; 40],
            // a list whose values end before its size does
            &[0x00, 0x53, 0x10, 0xc0, 0x03, 0x01, 0x40, 0x40],
        ];
        for body in cases {
            let mut f = InboundFrames::default();
            assert!(
                matches!(f.push(&frame(body)), Err(MalformedFrame::Body(_))),
                "{body:x?}"
            );
        }
    }

    #[test]
    fn bad_headers_are_refused() {
        let mut f = InboundFrames::default();
        assert_eq!(
            f.push(&[0, 0, 0, 5, 0xda]),
            Err(MalformedFrame::TooShort(5))
        );
        let mut f = InboundFrames::default();
        assert!(matches!(
            f.push(&[0x7f, 0, 0, 0]),
            Err(MalformedFrame::TooLong(_))
        ));
        let mut f = InboundFrames::default();
        assert_eq!(
            f.push(&[0, 0, 0, 8, 1, 0, 0, 0]),
            Err(MalformedFrame::DataOffset(1))
        );
        let mut f = InboundFrames::default();
        assert_eq!(
            f.push(&[0, 0, 0, 8, 3, 0, 0, 0]),
            Err(MalformedFrame::DataOffset(3))
        );
    }

    #[test]
    fn the_fuzzers_out_of_memory_input_is_refused() {
        // fuzz/artifacts/emulator_frames/oom-2a651f70…, after its AMQP header.
        let input = [
            0x00, 0x00, 0x00, 0x20, 0x02, 0x00, 0x00, 0x00, 0xb1, 0xc0, 0x13, 0x10, 0x05, 0x53,
            0x04, 0x00, 0x00, 0x00, 0x00, 0x08, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0x02, 0x01, 0x00, 0x00, 0x40, 0x40,
        ];
        let mut f = InboundFrames::default();
        assert!(matches!(f.push(&input), Err(MalformedFrame::Body(_))));
    }
}
