//! Image upload (and file system transfers): chunking, a window of chunks in flight, resume and
//! restart by the device's `off`, bounded retries.
//!
//! The device's reply to every upload chunk is `{"off": N}`: the next offset it expects
//! (smp-protocol.md §5.3). The client trusts it and nothing else:
//!
//! * `N` = end of the chunk just sent: accepted.
//! * any other `N`: the device was not where the chunk started (a chunk or its reply was lost,
//!   duplicated, reordered). Chunks still in flight are forgotten (their replies will be
//!   dropped as stale) and sending goes on from `N` — backwards or forwards.
//! * `N` = 0 after progress: the device abandoned the upload (it rebooted, another client
//!   started one, an erase): start over with a first chunk carrying `len`, `sha`, `image`,
//!   `upgrade` again. A restarted upload whose `sha` matches what the device already holds
//!   may complete at once.
//! * the first chunk of a new session answered with `N` > its end: the device resumed an
//!   interrupted upload of the same `sha`; sending goes on from `N`.
//!
//! Chunk size: the largest `data` for which the whole request, header included, fits the
//! device's `buf_size` (from `os params`), computed by encoding a worst-case request with every
//! first-chunk key (mcumgr-toolkit's approach) via [`smp::groups::image::max_upload_data`].
//! A configured chunk size overrides it.
//!
//! Each chunk is resent at most `retries` times after a timeout; resyncs and restarts are
//! bounded too, so a device that makes no progress ends the upload with an error.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use smp::cbor::MapStyle;
use smp::groups::fs::{FsDownloadRequest, FsUploadRequest, offset_not_valid_len};
use smp::groups::image::{UploadRequest, UploadResponse, max_upload_data};
use smp::message::{Request, Response, ResponseBody};

use super::{ClientError, ClientTransport, SmpClient, answers};

/// Command name used in upload errors.
const UPLOAD: &str = "image upload";

/// `buf_size` assumed when the device does not answer `os params` (Zephyr's default netbuf).
pub const DEFAULT_BUF_SIZE: u32 = 384;

/// How an image is uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOptions {
    /// Target image number (`image` key; `None` = not sent, the device's default 0).
    pub image: Option<u32>,
    /// Ask the device to refuse an image not newer than the running one.
    pub upgrade: bool,
    /// Chunks in flight at once (at least 1).
    pub window: usize,
    /// Chunk size override (bytes of `data`); `None` = computed from `os params`.
    pub chunk_size: Option<usize>,
    /// Restarts from offset 0 allowed (the device abandoning the upload) before giving up.
    pub max_restarts: u32,
    /// Stop sending once the device has this many bytes, leaving the upload unfinished (a
    /// client that goes away mid-upload; the device keeps what it has for a later resume).
    pub stop_at: Option<u64>,
}

impl Default for UploadOptions {
    fn default() -> UploadOptions {
        UploadOptions {
            image: None,
            upgrade: false,
            window: 1,
            chunk_size: None,
            max_restarts: 3,
            stop_at: None,
        }
    }
}

/// Where an upload is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes the device has accepted (its latest `off`).
    pub offset: u64,
    /// Image length.
    pub total: u64,
}

/// What an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadSummary {
    /// Image length.
    pub bytes: u64,
    /// `data` bytes per chunk.
    pub chunk_size: usize,
    /// Chunk requests sent, resends included.
    pub chunks: u64,
    /// Chunks resent after a timeout.
    pub retries: u64,
    /// Times the device's `off` differed from the client's and sending went on from there.
    pub resyncs: u64,
    /// Times the upload started over from offset 0.
    pub restarts: u64,
    /// Offset the device resumed a previous upload from, if it did.
    pub resumed_from: Option<u64>,
    /// The device's `match` on the last chunk, if it sent one.
    pub matched: Option<bool>,
    /// Where the upload was left unfinished on purpose ([`UploadOptions::stop_at`]).
    pub stopped_at: Option<u64>,
    /// Wall-clock time taken.
    pub duration: Duration,
}

/// A chunk in flight.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    off: u64,
    end: u64,
    deadline: tokio::time::Instant,
    /// Resends of this chunk so far.
    tries: u32,
}

fn protocol(what: impl Into<String>) -> ClientError {
    ClientError::Protocol { command: UPLOAD.into(), what: what.into() }
}

impl<T: ClientTransport> SmpClient<T> {
    /// The largest `data` per upload chunk for this device: from `os params` (or
    /// [`DEFAULT_BUF_SIZE`] if the device does not support it).
    pub async fn upload_chunk_size(
        &mut self,
        len: u64,
        image: Option<u32>,
        upgrade: bool,
    ) -> Result<usize, ClientError> {
        let buf_size = match self.params().await {
            Ok(p) => p.buf_size,
            Err(ClientError::Device { .. }) => DEFAULT_BUF_SIZE,
            Err(e) => return Err(e),
        };
        let worst = UploadRequest {
            image: Some(image.unwrap_or(0)),
            len: Some(len),
            off: len,
            sha: Some(vec![0; 32]),
            data: Vec::new(),
            upgrade: Some(upgrade),
        };
        let size = max_upload_data(buf_size as usize, &worst, MapStyle::Definite);
        if size == 0 {
            return Err(protocol(format!(
                "the device's buffer ({buf_size} bytes) cannot hold an upload chunk"
            )));
        }
        Ok(size)
    }

    /// Upload `image` (a signed MCUboot image) to the device. `progress` is called after every
    /// accepted chunk.
    pub async fn image_upload(
        &mut self,
        image: &[u8],
        options: &UploadOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<UploadSummary, ClientError> {
        let started = Instant::now();
        let len = image.len() as u64;
        if image.is_empty() {
            return Err(protocol("the image is empty"));
        }
        let chunk_size = match options.chunk_size {
            Some(0) => return Err(protocol("chunk size 0")),
            Some(n) => n,
            None => self.upload_chunk_size(len, options.image, options.upgrade).await?,
        };
        let sha = Sha256::digest(image).to_vec();
        let window = options.window.max(1);
        let mut summary = UploadSummary {
            bytes: len,
            chunk_size,
            chunks: 0,
            retries: 0,
            resyncs: 0,
            restarts: 0,
            resumed_from: None,
            matched: None,
            stopped_at: None,
            duration: Duration::ZERO,
        };
        // Bound on resyncs: a device that keeps moving its offset without finishing.
        let chunk_count = len.div_ceil(chunk_size as u64);
        let max_resyncs = 4 * chunk_count + 16;

        'session: loop {
            // First chunk: alone, with the long timeout (the device erases the slot first).
            let first_end = len.min(chunk_size as u64);
            let first = UploadRequest {
                image: options.image,
                len: Some(len),
                off: 0,
                sha: Some(sha.clone()),
                data: image.get(..first_end as usize).unwrap_or_default().to_vec(),
                upgrade: options.upgrade.then_some(true),
            };
            let timeout = self.config.first_chunk_timeout;
            let sent_before = self.stats.sent;
            let reply = self.call_with(&Request::ImageUpload(first), timeout).await;
            summary.chunks += self.stats.sent - sent_before;
            summary.retries += (self.stats.sent - sent_before).saturating_sub(1);
            let reply = upload_reply(reply?)?;
            check_reply(&reply, len)?;
            if reply.matched == Some(false) {
                return Err(protocol("the device says the image does not match its SHA-256 (match: false)"));
            }
            if reply.off == len {
                summary.matched = reply.matched;
                progress(Progress { offset: len, total: len });
                break 'session;
            }
            if reply.off == 0 {
                summary.restarts += 1;
                if summary.restarts > u64::from(options.max_restarts) {
                    return Err(protocol("the device keeps answering the first chunk with offset 0"));
                }
                continue 'session;
            }
            if reply.off > first_end {
                summary.resumed_from = Some(reply.off);
            }
            let mut acked = reply.off;
            progress(Progress { offset: acked, total: len });

            // The rest, up to `window` chunks in flight.
            let mut next = acked;
            let mut in_flight: BTreeMap<u8, InFlight> = BTreeMap::new();
            let stop = |at: u64| options.stop_at.is_some_and(|s| at >= s);
            loop {
                if in_flight.is_empty() && stop(acked) && acked < len {
                    summary.stopped_at = Some(acked);
                    break 'session;
                }
                while in_flight.len() < window && next < len && !stop(next) {
                    let end = len.min(next + chunk_size as u64);
                    let seq = self.send_chunk(image, next, end).await?;
                    summary.chunks += 1;
                    let deadline = tokio::time::Instant::now() + self.config.timeout;
                    in_flight.insert(seq, InFlight { off: next, end, deadline, tries: 0 });
                    next = end;
                }
                if in_flight.is_empty() {
                    // Everything sent was answered but the device is not at the end: go on
                    // from where it is (bounded like any resync).
                    summary.resyncs += 1;
                    if summary.resyncs > max_resyncs {
                        return Err(protocol(format!(
                            "no progress after {} offset resyncs",
                            summary.resyncs
                        )));
                    }
                    next = acked;
                    continue;
                }
                let earliest =
                    in_flight.values().map(|c| c.deadline).min().unwrap_or_else(tokio::time::Instant::now);
                match self.recv_chunk_reply(&in_flight, earliest).await? {
                    None => {
                        // The earliest chunk timed out: resend it (bounded).
                        let expired: Vec<u8> = in_flight
                            .iter()
                            .filter(|(_, c)| c.deadline <= tokio::time::Instant::now())
                            .map(|(s, _)| *s)
                            .collect();
                        for seq in expired {
                            let Some(chunk) = in_flight.remove(&seq) else { continue };
                            if chunk.tries >= self.config.retries {
                                return Err(ClientError::Timeout {
                                    command: UPLOAD.into(),
                                    attempts: chunk.tries + 1,
                                    timeout_ms: u64::try_from(self.config.timeout.as_millis())
                                        .unwrap_or(u64::MAX),
                                    last_bad_reply: None,
                                });
                            }
                            let seq = self.send_chunk(image, chunk.off, chunk.end).await?;
                            summary.chunks += 1;
                            summary.retries += 1;
                            let deadline = tokio::time::Instant::now() + self.config.timeout;
                            in_flight.insert(seq, InFlight { deadline, tries: chunk.tries + 1, ..chunk });
                        }
                    }
                    Some((seq, response)) => {
                        let Some(chunk) = in_flight.remove(&seq) else { continue };
                        let reply = match response {
                            Response::Ok(body) => upload_reply(body)?,
                            Response::Err(error) => {
                                return Err(ClientError::Device { command: UPLOAD.into(), error });
                            }
                        };
                        check_reply(&reply, len)?;
                        if reply.matched == Some(false) {
                            return Err(protocol(
                                "the device says the image does not match its SHA-256 (match: false)",
                            ));
                        }
                        if reply.off == chunk.end {
                            acked = acked.max(reply.off);
                            progress(Progress { offset: acked, total: len });
                            if reply.off == len {
                                summary.matched = reply.matched;
                                break 'session;
                            }
                            continue;
                        }
                        if reply.off == 0 {
                            // Abandoned by the device: start over with the first-chunk fields.
                            summary.restarts += 1;
                            if summary.restarts > u64::from(options.max_restarts) {
                                return Err(protocol(format!(
                                    "the device abandoned the upload {} times (offset 0)",
                                    summary.restarts
                                )));
                            }
                            tracing::info!("device answered offset 0: restarting the upload");
                            continue 'session;
                        }
                        // The device is elsewhere: forget what is in flight, go on from there.
                        summary.resyncs += 1;
                        if summary.resyncs > max_resyncs {
                            return Err(protocol(format!(
                                "no progress after {} offset resyncs",
                                summary.resyncs
                            )));
                        }
                        tracing::debug!(expected = chunk.end, device = reply.off, "upload offset resync");
                        in_flight.clear();
                        acked = reply.off;
                        next = reply.off;
                        progress(Progress { offset: acked, total: len });
                    }
                }
            }
        }
        summary.duration = started.elapsed();
        Ok(summary)
    }

    /// Send one non-first chunk; returns its sequence number.
    async fn send_chunk(&mut self, image: &[u8], off: u64, end: u64) -> Result<u8, ClientError> {
        let data = image.get(off as usize..end as usize).unwrap_or_default().to_vec();
        let request = Request::ImageUpload(UploadRequest { off, data, ..UploadRequest::default() });
        let seq = self.take_seq();
        let bytes = request
            .encode(seq, self.version, MapStyle::Definite)
            .map_err(|source| ClientError::Encode { command: UPLOAD.into(), source })?;
        self.stats.sent += 1;
        self.transport
            .send(&bytes)
            .await
            .map_err(|source| ClientError::Transport { command: UPLOAD.into(), source })?;
        Ok(seq)
    }

    /// The next reply to one of the chunks in flight, or `None` at `deadline`.
    async fn recv_chunk_reply(
        &mut self,
        in_flight: &BTreeMap<u8, InFlight>,
        deadline: tokio::time::Instant,
    ) -> Result<Option<(u8, Response)>, ClientError> {
        let probe = Request::ImageUpload(UploadRequest::default());
        let seqs: Vec<u8> = in_flight.keys().copied().collect();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let packet = self
                .transport
                .recv(left)
                .await
                .map_err(|source| ClientError::Transport { command: UPLOAD.into(), source })?;
            let Some(packet) = packet else { return Ok(None) };
            let Ok((header, _)) = smp::header::Header::parse(&packet) else {
                self.stats.discarded += 1;
                continue;
            };
            if !answers(&header, &probe, &seqs) {
                self.stats.discarded += 1;
                continue;
            }
            match Response::decode(&packet) {
                Ok((_, response, _)) => return Ok(Some((header.seq, response))),
                Err(e) => {
                    tracing::debug!("undecodable upload reply dropped: {e}");
                    self.stats.undecodable += 1;
                }
            }
        }
    }

    // --------------------------------------------------------------------------------------------
    // File system transfers (one chunk at a time)
    // --------------------------------------------------------------------------------------------

    /// Write `data` to the device's file `name`, chunk by chunk. A chunk answered with the fs
    /// group's offset error carrying `len` resumes from that length.
    pub async fn fs_upload(&mut self, name: &str, data: &[u8]) -> Result<u64, ClientError> {
        self.fs_upload_chunked(name, data, None).await
    }

    /// [`SmpClient::fs_upload`] with at most `max_chunk` bytes of file data per request
    /// (`None`: as many as the device's buffer holds).
    pub async fn fs_upload_chunked(
        &mut self,
        name: &str,
        data: &[u8],
        max_chunk: Option<usize>,
    ) -> Result<u64, ClientError> {
        const CMD: &str = "fs upload";
        let buf_size = match self.params().await {
            Ok(p) => p.buf_size as usize,
            Err(ClientError::Device { .. }) => DEFAULT_BUF_SIZE as usize,
            Err(e) => return Err(e),
        };
        let len = data.len() as u64;
        let worst = FsUploadRequest { off: len, data: Vec::new(), name: name.to_owned(), len: Some(len) };
        let empty_len = worst_len(&Request::FsUpload(worst), CMD)?;
        // The data's CBOR head: at most 5 bytes.
        let mut chunk = buf_size.saturating_sub(empty_len + 4);
        if let Some(max) = max_chunk {
            chunk = chunk.min(max);
        }
        if chunk == 0 {
            return Err(ClientError::Protocol {
                command: CMD.into(),
                what: format!("the device's buffer ({buf_size} bytes) cannot hold a chunk for {name:?}"),
            });
        }
        let mut off = 0u64;
        let mut steps = 0u64;
        let max_steps = 4 * len.div_ceil(chunk as u64) + 16;
        loop {
            steps += 1;
            if steps > max_steps {
                return Err(ClientError::Protocol { command: CMD.into(), what: "no progress".into() });
            }
            let end = len.min(off + chunk as u64);
            let request = FsUploadRequest {
                off,
                data: data.get(off as usize..end as usize).unwrap_or_default().to_vec(),
                name: name.to_owned(),
                len: (off == 0).then_some(len),
            };
            match self.call(&Request::FsUpload(request)).await {
                Ok(ResponseBody::FsUpload(r)) => {
                    if r.off > len {
                        return Err(ClientError::Protocol {
                            command: CMD.into(),
                            what: format!("device offset {} is past the file's {len} bytes", r.off),
                        });
                    }
                    off = r.off;
                    if off == len && end == len {
                        return Ok(len);
                    }
                }
                Ok(other) => {
                    return Err(ClientError::UnexpectedReply {
                        command: CMD.into(),
                        got: other.body_value().map(|v| v.to_string()).unwrap_or_default(),
                    });
                }
                Err(ClientError::Device { error, command }) => match offset_not_valid_len(&error) {
                    Some(at) if at <= len => off = at,
                    _ => return Err(ClientError::Device { command, error }),
                },
                Err(e) => return Err(e),
            }
        }
    }

    /// Read the device's file `name` whole. At most `max_len` bytes are accepted.
    pub async fn fs_download(&mut self, name: &str, max_len: u64) -> Result<Vec<u8>, ClientError> {
        const CMD: &str = "fs download";
        let mut out = Vec::new();
        let mut total: Option<u64> = None;
        loop {
            let request = FsDownloadRequest { off: out.len() as u64, name: name.to_owned() };
            let body = self.call(&Request::FsDownload(request)).await?;
            let ResponseBody::FsDownload(r) = body else {
                return Err(ClientError::UnexpectedReply {
                    command: CMD.into(),
                    got: body.body_value().map(|v| v.to_string()).unwrap_or_default(),
                });
            };
            if r.off != out.len() as u64 {
                return Err(ClientError::Protocol {
                    command: CMD.into(),
                    what: format!("asked for offset {} but got {}", out.len(), r.off),
                });
            }
            if let Some(l) = r.len {
                if l > max_len {
                    return Err(ClientError::Protocol {
                        command: CMD.into(),
                        what: format!("{name:?} is {l} bytes, more than the {max_len} allowed"),
                    });
                }
                total = Some(l);
            }
            let Some(total) = total else {
                return Err(ClientError::Protocol {
                    command: CMD.into(),
                    what: "first reply without len".into(),
                });
            };
            out.extend_from_slice(&r.data);
            if out.len() as u64 >= total {
                out.truncate(total as usize);
                return Ok(out);
            }
            if r.data.is_empty() {
                return Err(ClientError::Protocol {
                    command: CMD.into(),
                    what: format!("empty chunk at offset {} of {total}", out.len()),
                });
            }
        }
    }
}

/// The encoded length of `request` (header included).
fn worst_len(request: &Request, command: &str) -> Result<usize, ClientError> {
    request
        .encode(0, smp::header::Version::V2, MapStyle::Definite)
        .map(|b| b.len())
        .map_err(|source| ClientError::Encode { command: command.into(), source })
}

fn upload_reply(body: ResponseBody) -> Result<UploadResponse, ClientError> {
    match body {
        ResponseBody::ImageUpload(r) => Ok(r),
        other => Err(ClientError::UnexpectedReply {
            command: UPLOAD.into(),
            got: other.body_value().map(|v| v.to_string()).unwrap_or_default(),
        }),
    }
}

fn check_reply(reply: &UploadResponse, len: u64) -> Result<(), ClientError> {
    if reply.off > len {
        return Err(protocol(format!("the device's offset {} is past the image's {len} bytes", reply.off)));
    }
    Ok(())
}
