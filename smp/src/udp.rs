//! SMP over UDP (Zephyr `smp_udp.c`): no framing at all.
//!
//! A datagram carries SMP messages as they are — 8-byte header, then payload — with no length
//! prefix, CRC or base64. Usually there is one message per datagram, but a datagram may hold
//! several back to back; each one's end is found from its header's `len` field, and Zephyr
//! handles them in order, stopping at the first bad one. Every reply goes back as its own
//! datagram.
//!
//! Sizes that matter (Zephyr defaults): a request datagram must fit the SMP buffer
//! (`CONFIG_MCUMGR_TRANSPORT_NETBUF_SIZE`, 2048 on UDP builds); a datagram sent should stay
//! within `CONFIG_MCUMGR_TRANSPORT_UDP_MTU` (1500). The server listens on port 1337.
//!
//! ```
//! use smp::udp::{self, Limits};
//! let echo = [0x0a, 0, 0, 9, 0, 0, 0, 0, 0xa1, 0x61, 0x64, 0x65, b'h', b'e', b'l', b'l', b'o'];
//! let datagram = udp::pack(&[&echo, &echo], Limits::default()).unwrap();
//! let messages: Vec<_> = udp::messages(&datagram, Limits::default()).unwrap()
//!     .collect::<Result<_, _>>().unwrap();
//! assert_eq!(messages.len(), 2);
//! assert_eq!(messages[1].bytes, echo);
//! assert_eq!(messages[1].offset, 17);
//! ```

use crate::header::{HEADER_LEN, Header};
use crate::message::{Packet, PacketError};

/// The UDP port Zephyr's SMP server binds (`CONFIG_MCUMGR_TRANSPORT_UDP_PORT`).
pub const DEFAULT_PORT: u16 = 1337;
/// Zephyr's default `CONFIG_MCUMGR_TRANSPORT_UDP_MTU`: the largest datagram it sends.
pub const DEFAULT_MTU: usize = 1500;
/// Zephyr's default SMP buffer on UDP builds: the largest datagram it can receive.
pub const DEFAULT_NETBUF_SIZE: usize = 2048;

/// Size limits for packing and unpacking datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Largest datagram [`pack`] will build.
    pub mtu: usize,
    /// Largest datagram [`messages`] will accept (a device drops bigger ones).
    pub netbuf_size: usize,
}

impl Default for Limits {
    /// Zephyr's defaults: MTU 1500, buffer 2048.
    fn default() -> Self {
        Limits { mtu: DEFAULT_MTU, netbuf_size: DEFAULT_NETBUF_SIZE }
    }
}

/// What was wrong with a datagram or with messages to be packed into one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UdpError {
    /// The datagram has no bytes at all.
    #[error("empty datagram")]
    Empty,
    /// The datagram to build would exceed the MTU.
    #[error("datagram of {len} bytes exceeds the {mtu}-byte MTU")]
    OverMtu {
        /// Bytes the datagram would have.
        len: usize,
        /// The configured MTU.
        mtu: usize,
    },
    /// The datagram received is larger than the receive buffer.
    #[error("datagram of {len} bytes exceeds the {netbuf_size}-byte SMP buffer")]
    OverBuffer {
        /// Bytes received.
        len: usize,
        /// The configured buffer size.
        netbuf_size: usize,
    },
    /// Fewer than 8 bytes remain where a header should start (Zephyr drops these silently).
    #[error("byte {offset}: only {available} byte(s) left, too few for an 8-byte SMP header")]
    TruncatedHeader {
        /// Where the header would start.
        offset: usize,
        /// Bytes left in the datagram.
        available: usize,
    },
    /// A header announces more payload than the datagram holds (Zephyr replies `{"rc": 9}`).
    #[error("byte {offset}: header announces {declared} payload bytes but only {available} follow")]
    TruncatedPayload {
        /// Where the message starts.
        offset: usize,
        /// The header, so a server can address its error reply.
        header: Header,
        /// The header's `len`.
        declared: usize,
        /// Bytes actually following the header.
        available: usize,
    },
    /// A message given to [`pack`] does not agree with its own header's length.
    #[error("message {index}: header says {declared} payload bytes but {actual} follow")]
    LengthMismatch {
        /// Index of the message in the list given.
        index: usize,
        /// The header's `len`.
        declared: usize,
        /// Payload bytes present.
        actual: usize,
    },
    /// A message given to [`pack`] is shorter than a header.
    #[error("message {index}: {len} byte(s) is shorter than an 8-byte SMP header")]
    ShortMessage {
        /// Index of the message in the list given.
        index: usize,
        /// Its length.
        len: usize,
    },
}

/// One SMP message found in a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// Its header.
    pub header: Header,
    /// Header and payload bytes.
    pub bytes: &'a [u8],
    /// Where it starts in the datagram.
    pub offset: usize,
}

impl<'a> Message<'a> {
    /// The payload (CBOR body) after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..]
    }
}

/// Put one or more whole SMP messages into one datagram.
///
/// Each message must be a header whose `len` matches the payload that follows it, so the
/// receiver can find where the next one starts.
pub fn pack(messages: &[&[u8]], limits: Limits) -> Result<Vec<u8>, UdpError> {
    let mut len = 0usize;
    for (index, message) in messages.iter().enumerate() {
        let Ok((header, payload)) = Header::parse(message) else {
            return Err(UdpError::ShortMessage { index, len: message.len() });
        };
        if usize::from(header.len) != payload.len() {
            let declared = usize::from(header.len);
            return Err(UdpError::LengthMismatch { index, declared, actual: payload.len() });
        }
        len += message.len();
    }
    if len == 0 {
        return Err(UdpError::Empty);
    }
    if len > limits.mtu {
        return Err(UdpError::OverMtu { len, mtu: limits.mtu });
    }
    Ok(messages.concat())
}

/// The messages of a received datagram, in order.
///
/// The datagram as a whole is checked first (not empty, within the buffer size); each message
/// is then checked as the iterator reaches it, and the iterator ends after the first bad one,
/// as Zephyr stops processing a buffer at its first error.
pub fn messages(datagram: &[u8], limits: Limits) -> Result<Messages<'_>, UdpError> {
    if datagram.is_empty() {
        return Err(UdpError::Empty);
    }
    if datagram.len() > limits.netbuf_size {
        let netbuf_size = limits.netbuf_size;
        return Err(UdpError::OverBuffer { len: datagram.len(), netbuf_size });
    }
    Ok(Messages { datagram, offset: 0 })
}

/// Iterator over the messages of a datagram; see [`messages`].
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    datagram: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, UdpError>;

    fn next(&mut self) -> Option<Self::Item> {
        let offset = self.offset;
        let rest = self.datagram.get(offset..).filter(|r| !r.is_empty())?;
        // Whatever happens, a bad message ends the iteration.
        self.offset = self.datagram.len();
        let packet = match Packet::parse(rest) {
            Ok((packet, _)) => packet,
            Err(PacketError::Header(_)) => {
                return Some(Err(UdpError::TruncatedHeader { offset, available: rest.len() }));
            }
            Err(PacketError::Truncated { header, declared, available }) => {
                let declared = usize::from(declared);
                return Some(Err(UdpError::TruncatedPayload { offset, header, declared, available }));
            }
        };
        let (header, len) = (packet.header, packet.total_len());
        self.offset = offset + len;
        Some(Ok(Message { header, bytes: &rest[..len], offset }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_length_payload_is_a_whole_message() {
        let state_read = [0x08, 0, 0, 0, 0, 1, 1, 0];
        let got: Vec<_> = messages(&state_read, Limits::default()).expect("ok").collect();
        assert_eq!(got.len(), 1);
        let m = got[0].as_ref().expect("valid");
        assert!(m.payload().is_empty());
    }
}
