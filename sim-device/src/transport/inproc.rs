//! In-process transport: a pair of async channels. The client sends request buffers (what a
//! UDP datagram would carry: one or more SMP messages, no framing) and receives reply
//! buffers, one per SMP reply. The harness's own SMP client talks to the simulator this way.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use sim_device::device::DeviceConfig;
//! use sim_device::transport::{InProcClient, InProcConfig, SharedDevice};
//!
//! let opts = mcuboot::image::sign::SignOptions { pad_header: true, ..Default::default() };
//! let app = mcuboot::image::sign::sign(&[0u8; 1024], None, &opts).unwrap();
//! let shared = SharedDevice::new(DeviceConfig::preset("k64f").unwrap().primary(app).build().unwrap());
//! let mut client = InProcClient::connect(&shared, InProcConfig::default());
//! // os echo {"d": "hi"}, SMP v2 write, seq 5.
//! let echo = [0x0a, 0, 0, 6, 0, 0, 5, 0, 0xa1, 0x61, b'd', 0x62, b'h', b'i'];
//! let reply = client.request(&echo, Duration::from_secs(5)).await.unwrap();
//! assert_eq!(reply[6], 5);
//! // {"r": "hi"}, as zcbor writes it: an indefinite-length map.
//! assert_eq!(&reply[8..], b"\xbf\x61r\x62hi\xff");
//! # });
//! ```

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;

use super::emit::{self, Link, Out};
use super::faults::{self, FaultControl, FaultKind, FaultPlan};
use super::{Direction, SharedDevice, Task, TransportError, WireEvent};

/// Requests or replies waiting in a channel before the sender waits.
const QUEUE: usize = 64;

/// How an in-process transport behaves.
#[derive(Debug, Clone)]
pub struct InProcConfig {
    /// Name in traffic reports.
    pub name: String,
    pub faults: FaultPlan,
}

impl Default for InProcConfig {
    fn default() -> InProcConfig {
        InProcConfig { name: "inproc".into(), faults: FaultPlan::none() }
    }
}

/// The client end of an in-process transport. Dropping it stops the transport.
#[derive(Debug)]
pub struct InProcClient {
    requests: mpsc::Sender<Vec<u8>>,
    replies: mpsc::Receiver<Vec<u8>>,
    faults: FaultControl,
    _tasks: [Task; 2],
}

#[derive(Clone)]
struct ChannelLink(mpsc::Sender<Vec<u8>>);

impl Link for ChannelLink {
    type Peer = ();
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

    fn send(&mut self, _to: &(), bytes: Vec<u8>) -> impl Future<Output = ()> + Send {
        let tx = self.0.clone();
        async move {
            // The client is gone or not reading: the reply is lost, as on a network.
            let _ = tx.try_send(bytes);
        }
    }

    async fn send_text(&mut self, _text: Vec<u8>) {}
}

impl InProcClient {
    /// Connect a new client to `shared`. Must be called inside a tokio runtime.
    pub fn connect(shared: &SharedDevice, config: InProcConfig) -> InProcClient {
        let (req_tx, mut req_rx) = mpsc::channel::<Vec<u8>>(QUEUE);
        let (rep_tx, rep_rx) = mpsc::channel::<Vec<u8>>(QUEUE);
        let (out_tx, out_rx) = mpsc::channel::<Out<()>>(QUEUE);
        let faults = FaultControl::new(config.faults);
        let emitter = Task::spawn(emit::run(
            out_rx,
            ChannelLink(rep_tx),
            faults.clone(),
            shared.clone(),
            config.name.clone(),
        ));
        let dev = shared.clone();
        let name = config.name;
        let server = Task::spawn(async move {
            while let Some(request) = req_rx.recv().await {
                dev.report(
                    &name,
                    WireEvent::Packet { direction: Direction::Request, bytes: &request, faults: &[] },
                );
                for packet in dev.handle_async(request).await {
                    if out_tx.send(Out::Reply { to: (), packet }).await.is_err() {
                        return;
                    }
                }
            }
        });
        InProcClient { requests: req_tx, replies: rep_rx, faults, _tasks: [server, emitter] }
    }

    /// Change the faults applied to replies.
    pub fn faults(&self) -> &FaultControl {
        &self.faults
    }

    /// Send one request buffer.
    pub async fn send(&self, bytes: &[u8]) -> Result<(), TransportError> {
        self.requests.send(bytes.to_vec()).await.map_err(|_| TransportError::Closed)
    }

    /// The next reply, waiting at most `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, TransportError> {
        match tokio::time::timeout(timeout, self.replies.recv()).await {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(TransportError::Closed),
            Err(_) => Err(TransportError::Timeout { ms: duration_ms(timeout) }),
        }
    }

    /// A reply already waiting, if any.
    pub fn try_recv(&mut self) -> Option<Vec<u8>> {
        self.replies.try_recv().ok()
    }

    /// Send `bytes` and wait at most `timeout` for the next reply (the first one to arrive:
    /// matching sequence numbers is the caller's business).
    pub async fn request(&mut self, bytes: &[u8], timeout: Duration) -> Result<Vec<u8>, TransportError> {
        self.send(bytes).await?;
        self.recv(timeout).await
    }
}

pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
