//! The reply path shared by every transport: count each reply, apply the faults that fire on
//! it, and hand the resulting bytes to the link (a PTY writer, a UDP socket, a channel).

use std::future::Future;

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};

use super::faults::{FaultControl, FaultKind};
use super::{Direction, SharedDevice, WireEvent};

/// What the emitter sends.
#[derive(Debug)]
pub(crate) enum Out<P> {
    /// One SMP reply packet for the client at `to`.
    Reply { to: P, packet: Vec<u8> },
    /// Console text (serial only), never faulted.
    Text(Vec<u8>),
}

/// Where bytes go out.
pub(crate) trait Link: Clone + Send + Sync + 'static {
    /// Who a reply is for (a UDP address; `()` for a point-to-point link).
    type Peer: Clone + Send + Sync + 'static;
    /// True for a serial line: a delayed frame holds up the ones behind it. False for
    /// datagrams, which travel independently.
    const ORDERED: bool;
    /// The bytes that carry `packet` with `faults` applied to them (framing, then damage).
    /// `WrongSeq` has already been applied to `packet`.
    fn wire(&self, packet: &[u8], faults: &[FaultKind]) -> Vec<u8>;
    /// Send bytes to `to`.
    fn send(&mut self, to: &Self::Peer, bytes: Vec<u8>) -> impl Future<Output = ()> + Send;
    /// Send console text (serial links; others ignore it).
    fn send_text(&mut self, text: Vec<u8>) -> impl Future<Output = ()> + Send;
}

/// A reply held back by `Reorder`.
struct Held<P> {
    to: P,
    bytes: Vec<u8>,
    copies: usize,
    until: Instant,
}

/// Run until the channel closes.
pub(crate) async fn run<L: Link>(
    mut rx: mpsc::Receiver<Out<L::Peer>>,
    mut link: L,
    faults: FaultControl,
    shared: SharedDevice,
    name: String,
) {
    let mut held: Option<Held<L::Peer>> = None;
    loop {
        let hold_until = held.as_ref().map(|h| h.until);
        let item = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => m,
                None => return,
            },
            _ = sleep_until(hold_until.unwrap_or_else(Instant::now)), if hold_until.is_some() => {
                if let Some(h) = held.take() {
                    send_copies(&mut link, &h.to, h.bytes, h.copies).await;
                }
                continue;
            }
        };
        let (to, mut packet) = match item {
            Out::Text(text) => {
                if let Ok(s) = std::str::from_utf8(&text) {
                    shared.report(&name, WireEvent::Console(s));
                }
                link.send_text(text).await;
                continue;
            }
            Out::Reply { to, packet } => (to, packet),
        };
        let (fired, hold) = faults.next_reply();
        shared
            .report(&name, WireEvent::Packet { direction: Direction::Reply, bytes: &packet, faults: &fired });
        if fired.contains(&FaultKind::Drop) {
            continue;
        }
        if fired.contains(&FaultKind::WrongSeq) {
            super::faults::wrong_seq(&mut packet);
        }
        let bytes = link.wire(&packet, &fired);
        let copies = if fired.contains(&FaultKind::Duplicate) { 2 } else { 1 };
        if fired.contains(&FaultKind::Reorder) && held.is_none() {
            held = Some(Held { to, bytes, copies, until: Instant::now() + hold });
            continue;
        }
        let delay = fired.iter().find_map(|f| match f {
            FaultKind::Delay { ms } => Some(std::time::Duration::from_millis(*ms)),
            _ => None,
        });
        match delay {
            Some(d) if L::ORDERED => {
                sleep(d).await;
                send_copies(&mut link, &to, bytes, copies).await;
            }
            Some(d) => {
                let mut later = link.clone();
                tokio::spawn(async move {
                    sleep(d).await;
                    send_copies(&mut later, &to, bytes, copies).await;
                });
            }
            None => send_copies(&mut link, &to, bytes, copies).await,
        }
        // A reordered reply goes out right after the one that followed it.
        if let Some(h) = held.take() {
            send_copies(&mut link, &h.to, h.bytes, h.copies).await;
        }
    }
}

async fn send_copies<L: Link>(link: &mut L, to: &L::Peer, bytes: Vec<u8>, copies: usize) {
    for _ in 1..copies {
        link.send(to, bytes.clone()).await;
    }
    link.send(to, bytes).await;
}
