//! brownout's SMP client against hostile or broken devices: garbage replies, replies for other
//! commands or sequence numbers, upload offsets past the end, a hash mismatch, a device that
//! abandons every upload, one whose offset never advances. The client must end every case
//! with a typed error naming the command — no panic, no hang, no endless resend loop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::time::Duration;

use harness::client::{ClientConfig, ClientError, ClientTransport, SmpClient, TransportError, UploadOptions};
use smp::cbor::MapStyle;
use smp::groups::image::UploadResponse;
use smp::header::{Group, Header, Op, Version};
use smp::message::{Request, Response, ResponseBody};

const LIMIT: Duration = Duration::from_secs(60);

type Answer = Box<dyn FnMut(&Header, &Request) -> Vec<Vec<u8>> + Send>;

/// A fake device: `answer` makes the reply buffers for each request.
struct Fake {
    answer: Answer,
    replies: VecDeque<Vec<u8>>,
    requests: usize,
}

impl Fake {
    fn new(answer: impl FnMut(&Header, &Request) -> Vec<Vec<u8>> + Send + 'static) -> Fake {
        Fake { answer: Box::new(answer), replies: VecDeque::new(), requests: 0 }
    }
}

impl ClientTransport for Fake {
    async fn send(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        let (header, request, _) = Request::decode(packet).unwrap();
        self.requests += 1;
        let replies = (self.answer)(&header, &request);
        self.replies.extend(replies);
        Ok(())
    }

    async fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError> {
        match self.replies.pop_front() {
            Some(r) => Ok(Some(r)),
            None => {
                tokio::time::sleep(timeout).await;
                Ok(None)
            }
        }
    }

    fn describe(&self) -> String {
        "fake".into()
    }
}

fn config() -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_millis(30),
        first_chunk_timeout: Duration::from_millis(60),
        retries: 2,
        first_seq: Some(0),
        ..ClientConfig::default()
    }
}

fn reply(header: &Header, body: ResponseBody) -> Vec<u8> {
    Response::Ok(body).encode(header, MapStyle::Indefinite).unwrap()
}

fn upload_reply(header: &Header, off: u64, matched: Option<bool>) -> Vec<u8> {
    reply(header, ResponseBody::ImageUpload(UploadResponse { off, matched }))
}

/// A fake MCUboot image: the magic, then filler.
fn image(len: usize) -> Vec<u8> {
    let mut v = vec![0x5a; len];
    v[..4].copy_from_slice(&0x96f3_b83du32.to_le_bytes());
    v
}

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f).await.expect("the client hung")
}

#[tokio::test]
async fn garbage_and_mismatched_replies_end_in_a_timeout_not_a_panic() {
    bounded(async {
        // A small deterministic generator (xorshift) for the junk.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let fake = Fake::new(move |h, _| {
            let junk_len = (next() % 40) as usize;
            let junk: Vec<u8> = (0..junk_len).map(|_| next() as u8).collect();
            let mut header = Header::response_to(h);
            let mut replies = vec![junk.clone()];
            // Right seq, wrong group.
            header.group = Group::Stat;
            replies.push(
                Response::Ok(ResponseBody::Echo(smp::groups::os::EchoResponse { r: "no".into() }))
                    .encode_with_header(header, MapStyle::Definite)
                    .unwrap(),
            );
            // Right command, a request op, not a reply.
            let mut as_request = Header::response_to(h);
            as_request.op = Op::Write;
            replies.push([&as_request.with_len(1).encode()[..], &[0xa0]].concat());
            // Right everything but the seq (one this request was never sent with; a late answer
            // to an earlier attempt of the same request would be accepted).
            let mut stale = Header::response_to(h);
            stale.seq = stale.seq.wrapping_add(100);
            replies.push(
                Response::Ok(ResponseBody::Echo(smp::groups::os::EchoResponse { r: "stale".into() }))
                    .encode_with_header(stale, MapStyle::Definite)
                    .unwrap(),
            );
            // Right header, junk CBOR body.
            let right = Header::response_to(h);
            let body: Vec<u8> = junk.iter().copied().chain([0xff]).collect();
            replies.push([&right.with_len(body.len() as u16).encode()[..], &body].concat());
            replies
        });
        let mut c = SmpClient::new(fake, config());
        let e = c.echo("hi").await.unwrap_err();
        assert!(matches!(&e, ClientError::Timeout { attempts: 3, .. }), "{e:?}");
        assert!(e.to_string().starts_with("os echo: no reply after 3 attempt(s) of 30 ms each"), "{e}");
        let stats = c.stats();
        assert_eq!(stats.sent, 3);
        assert!(stats.discarded >= 9, "{stats:?}");
        assert!(stats.undecodable >= 1, "{stats:?}");
        assert_eq!(c.transport().requests, 3);
    })
    .await;
}

#[tokio::test]
async fn an_upload_offset_past_the_end_is_a_protocol_error() {
    bounded(async {
        let fake = Fake::new(|h, r| match r {
            Request::ImageUpload(_) => vec![upload_reply(h, 1_000_000, None)],
            _ => vec![],
        });
        let mut c = SmpClient::new(fake, config());
        let options = UploadOptions { chunk_size: Some(100), ..UploadOptions::default() };
        let e = c.image_upload(&image(1000), &options, &mut |_| {}).await.unwrap_err();
        assert_eq!(e.to_string(), "image upload: the device's offset 1000000 is past the image's 1000 bytes");
    })
    .await;
}

#[tokio::test]
async fn a_hash_mismatch_on_the_last_chunk_is_an_error() {
    bounded(async {
        let fake = Fake::new(|h, r| match r {
            Request::ImageUpload(u) => {
                let end = u.off + u.data.len() as u64;
                vec![upload_reply(h, end, (end == 1000).then_some(false))]
            }
            _ => vec![],
        });
        let mut c = SmpClient::new(fake, config());
        let options = UploadOptions { chunk_size: Some(300), window: 2, ..UploadOptions::default() };
        let e = c.image_upload(&image(1000), &options, &mut |_| {}).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "image upload: the device says the image does not match its SHA-256 (match: false)"
        );
    })
    .await;
}

#[tokio::test]
async fn a_device_that_abandons_every_upload_is_given_up_on() {
    bounded(async {
        let fake = Fake::new(|h, r| match r {
            Request::ImageUpload(u) if u.off == 0 => vec![upload_reply(h, u.data.len() as u64, None)],
            Request::ImageUpload(_) => vec![upload_reply(h, 0, None)],
            _ => vec![],
        });
        let mut c = SmpClient::new(fake, config());
        let options = UploadOptions { chunk_size: Some(100), max_restarts: 3, ..UploadOptions::default() };
        let e = c.image_upload(&image(1000), &options, &mut |_| {}).await.unwrap_err();
        assert_eq!(e.to_string(), "image upload: the device abandoned the upload 4 times (offset 0)");
        // Every restart re-sent the first-chunk fields.
        assert_eq!(c.transport().requests, 8);
    })
    .await;
}

#[tokio::test]
async fn an_offset_that_never_advances_ends_after_bounded_resyncs() {
    bounded(async {
        let fake = Fake::new(|h, r| match r {
            Request::ImageUpload(u) if u.off == 0 => vec![upload_reply(h, 100, None)],
            // Always "I expect 100": the device never takes a second chunk.
            Request::ImageUpload(_) => vec![upload_reply(h, 100, None)],
            _ => vec![],
        });
        let mut c = SmpClient::new(fake, config());
        let options = UploadOptions { chunk_size: Some(100), ..UploadOptions::default() };
        let e = c.image_upload(&image(1000), &options, &mut |_| {}).await.unwrap_err();
        assert!(e.to_string().starts_with("image upload: no progress after "), "{e}");
        assert!(c.transport().requests < 100, "bounded: {}", c.transport().requests);
    })
    .await;
}

#[tokio::test]
async fn the_first_chunk_carries_the_session_fields_and_later_ones_do_not() {
    bounded(async {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let fake = Fake::new(move |h, r| match r {
            Request::ImageUpload(u) => {
                assert!(usize::from(h.len) + 8 <= 256, "request of {} bytes", usize::from(h.len) + 8);
                log.lock().unwrap().push((h.version, h.seq, u.off, u.len, u.sha.clone(), u.image, u.upgrade));
                vec![upload_reply(h, u.off + u.data.len() as u64, None)]
            }
            Request::Params(_) => vec![reply(
                h,
                ResponseBody::Params(smp::groups::os::ParamsResponse { buf_size: 256, buf_count: 2 }),
            )],
            _ => vec![],
        });
        let mut c = SmpClient::new(fake, ClientConfig { first_seq: Some(254), ..config() });
        let data = image(1000);
        let options = UploadOptions { image: Some(1), upgrade: true, ..UploadOptions::default() };
        let s = c.image_upload(&data, &options, &mut |_| {}).await.unwrap();
        // Every request, header included, fits the 256-byte buffer.
        assert!(s.chunk_size > 150 && s.chunk_size < 256 - 8, "{s:?}");
        let seen = seen.lock().unwrap();
        let (v, seq, off, len, sha, img, upgrade) = seen[0].clone();
        use sha2::Digest as _;
        assert_eq!((v, off, len, img, upgrade), (Version::V2, 0, Some(1000), Some(1), Some(true)));
        assert_eq!(sha, Some(sha2::Sha256::digest(&data).to_vec()));
        assert_eq!(seq, 255, "params took 254");
        assert_eq!(seen[1].1, 0, "sequence numbers wrap");
        for later in &seen[1..] {
            assert_eq!((later.3, later.4.clone(), later.5, later.6), (None, None, None, None));
        }
    })
    .await;
}
