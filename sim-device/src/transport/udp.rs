//! UDP transport, as Zephyr's `smp_udp`: one datagram is one request buffer (no framing, no
//! CRC); each reply is one datagram back to the sender's address and port.
//!
//! The bind address is configurable, so several simulated boards can listen side by side on
//! the default port 1337 at 127.0.0.1, 127.0.0.2, … (clients such as smpmgr cannot choose the
//! port). A datagram larger than the device's buffer (`buf_size`) is cut to it, as a receive
//! into a Zephyr net_buf of that size is; the device then answers `{"rc": 9}` for the message
//! whose length runs past the end.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::emit::{self, Link, Out};
use super::faults::{self, FaultControl, FaultKind, FaultPlan};
use super::{Direction, SharedDevice, Task, TransportError, WireEvent};

/// Largest datagram read (the UDP maximum).
const MAX_DATAGRAM: usize = 65_535;

/// How a UDP transport behaves.
#[derive(Debug, Clone)]
pub struct UdpConfig {
    /// Where to listen (port 0 picks a free one).
    pub bind: SocketAddr,
    pub faults: FaultPlan,
}

impl UdpConfig {
    pub fn new(bind: SocketAddr) -> UdpConfig {
        UdpConfig { bind, faults: FaultPlan::none() }
    }
}

/// A device listening on a UDP socket. Dropping it closes the socket.
#[derive(Debug)]
pub struct UdpTransport {
    local: SocketAddr,
    name: String,
    faults: FaultControl,
    _tasks: [Task; 2],
}

#[derive(Clone)]
struct SocketLink(Arc<UdpSocket>);

impl Link for SocketLink {
    type Peer = SocketAddr;
    const ORDERED: bool = false;

    fn wire(&self, packet: &[u8], faults: &[FaultKind]) -> Vec<u8> {
        let mut bytes = packet.to_vec();
        if faults.contains(&FaultKind::CorruptCrc) {
            faults::corrupt_last_byte(&mut bytes);
        }
        if faults.contains(&FaultKind::TruncateLine) {
            faults::truncate_datagram(&mut bytes);
        }
        bytes
    }

    fn send(&mut self, to: &SocketAddr, bytes: Vec<u8>) -> impl Future<Output = ()> + Send {
        let socket = self.0.clone();
        let to = *to;
        async move {
            // UDP gives no guarantee: a failed send is a lost datagram.
            let _ = socket.send_to(&bytes, to).await;
        }
    }

    async fn send_text(&mut self, _text: Vec<u8>) {}
}

impl UdpTransport {
    /// Bind `config.bind` and serve `shared` on it. Must be called inside a tokio runtime.
    pub async fn bind(shared: &SharedDevice, config: UdpConfig) -> Result<UdpTransport, TransportError> {
        let socket = UdpSocket::bind(config.bind)
            .await
            .map_err(|e| TransportError::io(format!("binding UDP {}", config.bind), e))?;
        let local = socket
            .local_addr()
            .map_err(|e| TransportError::io(format!("reading the address of UDP {}", config.bind), e))?;
        let socket = Arc::new(socket);
        let name = format!("udp {local}");
        let faults = FaultControl::new(config.faults);
        let (out_tx, out_rx) = mpsc::channel::<Out<SocketAddr>>(64);
        let emitter = Task::spawn(emit::run(
            out_rx,
            SocketLink(socket.clone()),
            faults.clone(),
            shared.clone(),
            name.clone(),
        ));
        let dev = shared.clone();
        let label = name.clone();
        // A build-time constant on a board: read it once.
        let buf_size = shared.limits().buf_size as usize;
        let server = Task::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                let (n, from) = match socket.recv_from(&mut buf).await {
                    Ok(r) => r,
                    // ICMP errors from an earlier send (port unreachable) surface here on
                    // some systems; they say nothing about the next datagram.
                    Err(_) => continue,
                };
                let mut request = buf[..n].to_vec();
                if request.len() > buf_size {
                    dev.report(
                        &label,
                        WireEvent::Discarded { bytes: n - buf_size, why: "datagram longer than buf_size" },
                    );
                    request.truncate(buf_size);
                }
                dev.report(
                    &label,
                    WireEvent::Packet { direction: Direction::Request, bytes: &request, faults: &[] },
                );
                for packet in dev.handle_async(request).await {
                    if out_tx.send(Out::Reply { to: from, packet }).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(UdpTransport { local, name, faults, _tasks: [server, emitter] })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Its name in traffic reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Change the faults applied to replies.
    pub fn faults(&self) -> &FaultControl {
        &self.faults
    }
}
