//! Socket wrapper between the AMQP engine (fe2o3) and the client socket.
//!
//! The engine talks to one end of an in-memory duplex pipe; [`pump`] copies
//! client bytes into the pipe unchanged and rewrites the engine's outgoing
//! frames before they reach the client:
//!
//! * every performative is re-encoded with all of its fields present
//!   (fe2o3 omits trailing null/default fields, but Microsoft's Python SDK
//!   reads performative fields by position);
//! * an outgoing Detach is held for a few milliseconds and Transfers queued
//!   after the emulator's own Detach on that handle are dropped;
//! * Dispositions are sent after a short delay;
//! * a consumer link's placeholder payload is replaced by the stored event's encoding
//!   ([`crate::substitute`]).
//!
//! Frames are parsed in place and written to one buffer per read, so a burst of transfers
//! costs one socket write.
//!
//! The last two work around races in fe2o3's client that only a loopback
//! peer exposes. The pump also ends the connection abruptly on request.

use std::{collections::HashSet, time::Duration};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream},
    sync::watch,
};

use crate::{inbound::InboundFrames, substitute::Substitutions};

const ATTACH: u8 = 0x12;
const TRANSFER: u8 = 0x14;
const DISPOSITION: u8 = 0x15;
const DETACH: u8 = 0x16;

const NULL: &[u8] = &[0x40];
const FALSE: &[u8] = &[0x42];
const UINT_MAX: &[u8] = &[0x70, 0xff, 0xff, 0xff, 0xff];

/// Values for each field of a performative, used to fill in omitted
/// trailing fields (the AMQP default where one exists, else null).
fn field_defaults(frame_type: u8, code: u8) -> &'static [&'static [u8]] {
    const N: &[u8] = NULL;
    const F: &[u8] = FALSE;
    match (frame_type, code) {
        // open: container-id .. properties
        (0, 0x10) => &[N, N, UINT_MAX, &[0x60, 0xff, 0xff], N, N, N, N, N, N],
        // begin
        (0, 0x11) => &[N, N, N, N, UINT_MAX, N, N, N],
        // attach
        (0, 0x12) => &[
            N,
            N,
            N,
            &[0x50, 0x02],
            &[0x50, 0x00],
            N,
            N,
            N,
            F,
            N,
            N,
            N,
            N,
            N,
        ],
        // flow
        (0, 0x13) => &[N, N, N, N, N, N, N, N, F, F, N],
        // transfer
        (0, 0x14) => &[N, N, N, N, N, F, N, N, F, F, F],
        // disposition
        (0, 0x15) => &[N, N, N, F, N, F],
        // detach
        (0, 0x16) => &[N, F, N],
        // end, close
        (0, 0x17) | (0, 0x18) => &[N],
        // sasl-mechanisms
        (1, 0x40) => &[N],
        // sasl-outcome
        (1, 0x44) => &[N, N],
        _ => &[],
    }
}

/// What the pump needs to know about one outgoing frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// Performative descriptor code.
    pub code: u8,
    /// Channel.
    pub channel: u16,
    /// Link handle for attach/transfer/detach.
    pub handle: Option<u32>,
}

fn read_uint(b: &[u8]) -> Option<(u32, usize)> {
    match *b.first()? {
        0x43 => Some((0, 1)),
        0x52 => Some((*b.get(1)? as u32, 2)),
        0x70 => Some((u32::from_be_bytes(b.get(1..5)?.try_into().ok()?), 5)),
        _ => None,
    }
}

fn skip_string(b: &[u8]) -> Option<usize> {
    match *b.first()? {
        0xa1 | 0xa3 => Some(2 + *b.get(1)? as usize),
        0xb1 | 0xb3 => Some(5 + u32::from_be_bytes(b.get(1..5)?.try_into().ok()?) as usize),
        _ => None,
    }
}

/// Rewrites one complete frame so its performative lists every field.
///
/// Returns the (possibly unchanged) frame and what it carries; frames that
/// cannot be parsed are passed through untouched.
pub fn normalize_frame(frame: &[u8]) -> (Vec<u8>, Option<FrameInfo>) {
    let mut out = Vec::with_capacity(frame.len() + 16);
    let info = normalize_into(frame, &mut out);
    (out, info)
}

/// [`normalize_frame`] appending to `out` (no allocation per frame).
pub fn normalize_into(frame: &[u8], out: &mut Vec<u8>) -> Option<FrameInfo> {
    match parse(frame) {
        Some(parsed) => {
            parsed.write(frame, out);
            Some(parsed.info)
        }
        None => {
            out.extend_from_slice(frame);
            None
        }
    }
}

/// Where the parts of a frame's performative are.
struct Parsed {
    info: FrameInfo,
    frame_type: u8,
    doff: usize,
    /// Offset (in the frame) of the list constructor.
    list_at: usize,
    count: usize,
    /// Range of the list's content in the frame.
    content: std::ops::Range<usize>,
}

fn parse(frame: &[u8]) -> Option<Parsed> {
    let doff = *frame.get(4)? as usize * 4;
    let frame_type = *frame.get(5)?;
    let channel = u16::from_be_bytes(frame.get(6..8)?.try_into().ok()?);
    let body = frame.get(doff..)?;
    if body.is_empty() || body[0] != 0x00 {
        return None;
    }
    let (code, after_descriptor) = match *body.get(1)? {
        0x53 => (*body.get(2)?, 3),
        0x80 => {
            let c = u64::from_be_bytes(body.get(2..10)?.try_into().ok()?);
            (u8::try_from(c).ok()?, 10)
        }
        _ => return None,
    };
    let list = body.get(after_descriptor..)?;
    // (header length, count, content)
    let (header_len, count, content_len) = match *list.first()? {
        0x45 => (1usize, 0usize, 0usize),
        0xc0 => {
            let size = *list.get(1)? as usize;
            (3, *list.get(2)? as usize, size.checked_sub(1)?)
        }
        0xd0 => {
            let size = u32::from_be_bytes(list.get(1..5)?.try_into().ok()?) as usize;
            let count = u32::from_be_bytes(list.get(5..9)?.try_into().ok()?) as usize;
            (9, count, size.checked_sub(4)?)
        }
        _ => return None,
    };
    let content = list.get(header_len..header_len + content_len)?;
    let handle = match code {
        TRANSFER | DETACH if frame_type == 0 => read_uint(content).map(|(h, _)| h),
        ATTACH if frame_type == 0 => skip_string(content)
            .and_then(|n| content.get(n..))
            .and_then(read_uint)
            .map(|(h, _)| h),
        _ => None,
    };
    let list_at = doff + after_descriptor;
    let content_at = list_at + header_len;
    Some(Parsed {
        info: FrameInfo {
            code,
            channel,
            handle,
        },
        frame_type,
        doff,
        list_at,
        count,
        content: content_at..content_at + content_len,
    })
}

impl Parsed {
    /// Appends the frame to `out` with the omitted trailing fields filled in.
    fn write(&self, frame: &[u8], out: &mut Vec<u8>) {
        self.write_with_payload(frame, None, out)
    }

    /// [`write`](Self::write), with `payload` (if given) in place of the frame's own.
    fn write_with_payload(&self, frame: &[u8], payload: Option<&[u8]>, out: &mut Vec<u8>) {
        let defaults = field_defaults(self.frame_type, self.info.code);
        let payload = payload.unwrap_or(&frame[self.content.end..]);
        if self.count >= defaults.len() {
            let start = out.len();
            out.extend_from_slice(&frame[..self.content.end]);
            out.extend_from_slice(payload);
            let size = (out.len() - start) as u32;
            out[start..start + 4].copy_from_slice(&size.to_be_bytes());
            return;
        }
        let missing: usize = defaults[self.count..].iter().map(|d| d.len()).sum();
        let content_len = self.content.len() + missing;
        let new_count = defaults.len();
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&frame[4..self.doff]);
        out.extend_from_slice(&frame[self.doff..self.list_at]);
        if content_len < 255 {
            out.push(0xc0);
            out.push((content_len + 1) as u8);
            out.push(new_count as u8);
        } else {
            out.push(0xd0);
            out.extend_from_slice(&((content_len + 4) as u32).to_be_bytes());
            out.extend_from_slice(&(new_count as u32).to_be_bytes());
        }
        out.extend_from_slice(&frame[self.content.clone()]);
        for d in &defaults[self.count..] {
            out.extend_from_slice(d);
        }
        out.extend_from_slice(payload);
        let size = (out.len() - start) as u32;
        out[start..start + 4].copy_from_slice(&size.to_be_bytes());
    }
}

/// Holds back outgoing Detach frames this long.
const DETACH_HOLD: Duration = Duration::from_millis(5);
/// Delays a write that carries Dispositions this long.
const DISPOSITION_DELAY: Duration = Duration::from_millis(1);

/// Per-connection state of the outgoing rewriter.
#[derive(Debug, Default)]
struct Outgoing {
    /// Bytes read from the engine; `buf[start..]` is not yet processed.
    buf: Vec<u8>,
    start: usize,
    detached: HashSet<(u16, u32)>,
}

impl Outgoing {
    /// The range in `buf` of the next complete unit (protocol header or frame), consumed.
    fn next_unit(&mut self) -> Option<std::ops::Range<usize>> {
        let rest = &self.buf[self.start..];
        let size = if rest.len() >= 4 && &rest[..4] == b"AMQP" {
            8
        } else {
            let size = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            size.max(8)
        };
        if rest.len() < size {
            return None;
        }
        let range = self.start..self.start + size;
        self.start += size;
        Some(range)
    }

    /// Drops the processed bytes (one move of the incomplete tail per read).
    fn compact(&mut self) {
        self.buf.drain(..self.start);
        self.start = 0;
    }
}

/// Copies bytes between the client socket and the engine's pipe end until
/// either side closes or `kill` changes; see the module docs.
pub async fn pump<S>(
    client: S,
    engine: DuplexStream,
    mut kill: watch::Receiver<u64>,
    substitutions: Substitutions,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut client_rd, mut client_wr) = tokio::io::split(client);
    let (mut engine_rd, mut engine_wr) = tokio::io::split(engine);

    let inbound = async {
        // Client bytes go to the engine unchanged once checked whole ([`InboundFrames`]): a
        // frame that lies about its sizes ends the connection here, before fe2o3 decodes it.
        let mut frames = InboundFrames::default();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match client_rd.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let checked = match frames.push(&chunk[..n]) {
                Ok(checked) => checked,
                Err(e) => {
                    tracing::warn!(error = %e, "closing a connection that sent a malformed frame");
                    break;
                }
            };
            if engine_wr.write_all(checked).await.is_err() {
                break;
            }
        }
        let _ = engine_wr.shutdown().await;
    };

    let outbound = async {
        let mut out = Outgoing::default();
        let mut chunk = vec![0u8; 256 * 1024];
        let mut pending: Vec<u8> = Vec::with_capacity(256 * 1024);
        loop {
            let n = match engine_rd.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            out.buf.extend_from_slice(&chunk[..n]);
            pending.clear();
            let mut delayed_disposition = false;
            while let Some(range) = out.next_unit() {
                let unit = &out.buf[range];
                if unit.starts_with(b"AMQP") {
                    pending.extend_from_slice(unit);
                    continue;
                }
                let Some(parsed) = parse(unit) else {
                    pending.extend_from_slice(unit);
                    continue;
                };
                let info = parsed.info;
                let key = info.handle.map(|h| (info.channel, h));
                match info.code {
                    TRANSFER if key.is_some_and(|k| out.detached.contains(&k)) => continue,
                    ATTACH => {
                        if let Some(k) = key {
                            out.detached.remove(&k);
                        }
                    }
                    DETACH => {
                        if let Some(k) = key {
                            out.detached.insert(k);
                        }
                        if client_wr.write_all(&pending).await.is_err() {
                            return;
                        }
                        pending.clear();
                        let _ = client_wr.flush().await;
                        tokio::time::sleep(DETACH_HOLD).await;
                    }
                    DISPOSITION if !delayed_disposition => {
                        delayed_disposition = true;
                        if client_wr.write_all(&pending).await.is_err() {
                            return;
                        }
                        pending.clear();
                        let _ = client_wr.flush().await;
                        tokio::time::sleep(DISPOSITION_DELAY).await;
                    }
                    _ => {}
                }
                let stored = match info.code {
                    TRANSFER => substitutions.take(&unit[parsed.content.end..]),
                    _ => None,
                };
                parsed.write_with_payload(unit, stored.as_deref(), &mut pending);
            }
            out.compact();
            if client_wr.write_all(&pending).await.is_err() {
                return;
            }
            if client_wr.flush().await.is_err() {
                return;
            }
        }
        let _ = client_wr.shutdown().await;
    };

    tokio::select! {
        _ = async { tokio::join!(inbound, outbound) } => {}
        _ = async {
            if kill.changed().await.is_err() {
                // The emulator handle is gone; keep serving until the peer closes.
                std::future::pending::<()>().await;
            }
        } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_list0_end() {
        // end with list0
        let frame = [0, 0, 0, 12, 2, 0, 0, 1, 0x00, 0x53, 0x17, 0x45];
        let (out, info) = normalize_frame(&frame);
        assert_eq!(info.unwrap().code, 0x17);
        assert_eq!(
            out,
            vec![0, 0, 0, 15, 2, 0, 0, 1, 0x00, 0x53, 0x17, 0xc0, 2, 1, 0x40]
        );
    }

    #[test]
    fn pads_detach_and_reads_handle() {
        // detach handle=3 (smalluint), closed=true
        let frame = [
            0, 0, 0, 16, 2, 0, 0, 0, 0x00, 0x53, 0x16, 0xc0, 4, 2, 0x52, 3, 0x41,
        ];
        let frame = {
            let mut f = frame.to_vec();
            let n = f.len() as u32;
            f[..4].copy_from_slice(&n.to_be_bytes());
            f
        };
        let (out, info) = normalize_frame(&frame);
        assert_eq!(info.unwrap().handle, Some(3));
        assert_eq!(&out[11..], &[0xc0, 5, 3, 0x52, 3, 0x41, 0x40]);
        assert_eq!(
            u32::from_be_bytes(out[..4].try_into().unwrap()) as usize,
            out.len()
        );
    }

    #[test]
    fn passes_garbage_through() {
        let frame = [0, 0, 0, 9, 2, 0, 0, 0, 0xff];
        let (out, info) = normalize_frame(&frame);
        assert!(info.is_none());
        assert_eq!(out, frame.to_vec());
    }
}
