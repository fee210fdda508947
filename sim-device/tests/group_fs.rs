//! File system group (8): every command and error path, v1 and v2, reply bytes snapshotted
//! (`smp-protocol.md` §6); the open-file rules; the host sandbox refuses escapes; a 64 KiB
//! round trip whose hashes match ones computed independently.

mod device_support;

use device_support::*;
use mcuboot::boot::Algorithm;
use sim_device::device::Device;
use sim_device::server::fs::{self, Backing, FsOptions, Mount};
use sim_device::server::hooks::FileAccess;
use sim_device::server::{AccessVerdict, Hooks, ServerConfig, Verdict};
use smp::cbor::Value;
use smp::error::MgmtErr;
use smp::groups::Body;
use smp::groups::fs::{FsDownloadResponse, FsHashResponse, FsUploadRequest, HashOutput};
use smp::header::{Group, Op, Version};

fn device_with(fs: FsOptions) -> Device {
    let server = ServerConfig { fs, ..ServerConfig::default() };
    config("k64f", Algorithm::SwapScratch, image((1, 0, 0), 4000, 1))
        .server(server)
        .build()
        .expect("device builds")
}

fn up(off: u64, data: &[u8], name: &str, len: Option<u64>) -> Value {
    FsUploadRequest { off, data: data.to_vec(), name: name.into(), len }.to_value()
}

fn down(off: u64, name: &str) -> Value {
    Value::map([("off", Value::from(off)), ("name", Value::text(name))])
}

fn name(n: &str) -> Value {
    Value::map([("name", Value::text(n))])
}

fn hash_req(n: &str, kind: Option<&str>, off: Option<u64>, len: Option<u64>) -> Value {
    smp::groups::fs::FsHashRequest { name: n.into(), hash_type: kind.map(str::to_owned), off, len }.to_value()
}

/// CRC-32 (IEEE, reflected, as zlib), bit by bit: independent of the `crc` crate.
fn crc32_bitwise(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// SHA-256 by the host's `sha256sum`, if there is one.
fn sha256_by_host(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(data).ok()?;
    let out = child.wait_with_output().ok()?;
    hex::decode(String::from_utf8_lossy(&out.stdout).split_whitespace().next()?).ok()
}

#[test]
fn upload_status_hash_download_close() {
    let mut dev = small_device();
    let mut s = String::from("=== upload first chunk (off 0, len 10)\n");
    s.push_str(&exchange(
        &mut dev,
        &request(Version::V2, Op::Write, Group::Fs, 0, 1, &up(0, b"hello", "/lfs1/a.txt", Some(10))),
    ));
    s.push_str("=== upload last chunk: reply off 10, the file closes\n");
    s.push_str(&exchange(
        &mut dev,
        &request(Version::V2, Op::Write, Group::Fs, 0, 2, &up(5, b"world", "/lfs1/a.txt", None)),
    ));
    s.push_str("=== status\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Fs, 1, &name("/lfs1/a.txt")));
    s.push_str("=== hash, default type (crc32)\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Fs, 2, &hash_req("/lfs1/a.txt", None, None, None)));
    s.push_str("=== hash sha256, off 5\n");
    s.push_str(&exchange_both(
        &mut dev,
        Op::Read,
        Group::Fs,
        2,
        &hash_req("/lfs1/a.txt", Some("sha256"), Some(5), None),
    ));
    s.push_str("=== hash crc32, len 5\n");
    s.push_str(&exchange_both(
        &mut dev,
        Op::Read,
        Group::Fs,
        2,
        &hash_req("/lfs1/a.txt", Some("crc32"), None, Some(5)),
    ));
    s.push_str("=== hash, unknown type: CHECKSUM_HASH_NOT_FOUND (v1 EINVAL)\n");
    s.push_str(&exchange_both(
        &mut dev,
        Op::Read,
        Group::Fs,
        2,
        &hash_req("/lfs1/a.txt", Some("md5"), None, None),
    ));
    s.push_str("=== hash, type longer than 8: rc 3; len 0: rc 3\n");
    s.push_str(&exchange_both(
        &mut dev,
        Op::Read,
        Group::Fs,
        2,
        &hash_req("/lfs1/a.txt", Some("sha256sha256"), None, None),
    ));
    s.push_str(&exchange_both(
        &mut dev,
        Op::Read,
        Group::Fs,
        2,
        &hash_req("/lfs1/a.txt", None, None, Some(0)),
    ));
    s.push_str("=== hash, off 10 = size: FILE_OFFSET_LARGER_THAN_FILE\n");
    s.push_str(&exchange_both(
        &mut dev,
        Op::Read,
        Group::Fs,
        2,
        &hash_req("/lfs1/a.txt", None, Some(10), None),
    ));
    s.push_str("=== supported hash types\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Fs, 3, &Value::empty_map()));
    s.push_str("=== download off 0 (len included)\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Fs, 0, &down(0, "/lfs1/a.txt")));
    s.push_str("=== download off 4 (no len)\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Fs, 0, &down(4, "/lfs1/a.txt")));
    s.push_str("=== download past the end: empty data\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Fs, 0, &down(50, "/lfs1/a.txt")));
    s.push_str("=== close\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Fs, 4, &Value::empty_map()));
    insta::assert_snapshot!("commands", s);
}

#[test]
fn error_paths() {
    let mut dev = small_device();
    fs::put_file(&mut dev, "/lfs1/empty", b"").unwrap();
    fs::make_dir(&mut dev, "/lfs1/dir").unwrap();
    let cases: Vec<(&str, Op, u8, Value)> = vec![
        ("download without off: rc 3", Op::Read, 0, name("/lfs1/x")),
        ("download without name: rc 3", Op::Read, 0, Value::map([("off", Value::from(0u8))])),
        ("download, name of 65 bytes: rc 3", Op::Read, 0, down(0, &format!("/lfs1/{}", "n".repeat(59)))),
        ("download missing file: FILE_NOT_FOUND", Op::Read, 0, down(0, "/lfs1/none")),
        ("download a directory: FILE_IS_DIRECTORY", Op::Read, 0, down(0, "/lfs1/dir")),
        ("download a relative name: FILE_INVALID_NAME", Op::Read, 0, down(0, "lfs1/x")),
        ("download outside any mount: FILE_NOT_FOUND", Op::Read, 0, down(0, "/etc/passwd")),
        ("upload off 0 without len: rc 3", Op::Write, 0, up(0, b"x", "/lfs1/x", None)),
        (
            "upload data as text: rc 3",
            Op::Write,
            0,
            Value::map([
                ("off", Value::from(0u8)),
                ("len", Value::from(1u8)),
                ("name", Value::text("/lfs1/x")),
                ("data", Value::text("x")),
            ]),
        ),
        ("upload outside any mount: MOUNT_POINT_NOT_FOUND", Op::Write, 0, up(0, b"x", "/sd/x", Some(1))),
        (
            "upload into a missing directory: MOUNT_POINT_NOT_FOUND",
            Op::Write,
            0,
            up(0, b"x", "/lfs1/no/x", Some(1)),
        ),
        ("upload onto a directory: UNKNOWN", Op::Write, 0, up(0, b"x", "/lfs1/dir", Some(1))),
        ("upload escaping with ..: FILE_INVALID_NAME", Op::Write, 0, up(0, b"x", "/lfs1/../x", Some(1))),
        (
            "upload off 3 to a new file: FILE_OFFSET_NOT_VALID plus len 0",
            Op::Write,
            0,
            up(3, b"x", "/lfs1/new", None),
        ),
        ("status of a missing file: FILE_NOT_FOUND", Op::Read, 1, name("/lfs1/none")),
        ("status of a directory: FILE_IS_DIRECTORY", Op::Read, 1, name("/lfs1/dir")),
        ("status, empty name: rc 3", Op::Read, 1, name("")),
        ("hash of an empty file: FILE_EMPTY", Op::Read, 2, name("/lfs1/empty")),
        ("hash of a missing file: FILE_NOT_FOUND", Op::Read, 2, name("/lfs1/none")),
        ("supported hashes as WRITE: not supported", Op::Write, 3, Value::empty_map()),
        ("close as READ: not supported", Op::Read, 4, Value::empty_map()),
    ];
    let mut s = String::new();
    for (what, op, id, body) in cases {
        s.push_str(&format!("=== {what}\n"));
        s.push_str(&exchange_both(&mut dev, op, Group::Fs, id, &body));
    }
    insta::assert_snapshot!("errors", s);
}

#[test]
fn open_file_rules() {
    let mut dev = small_device();
    let w = |dev: &mut Device, body: Value| v2(dev, Op::Write, Group::Fs, 0, body);
    // Upload half, then a wrong offset: error with the expected length, context closed.
    assert_eq!(w(&mut dev, up(0, b"abcd", "/lfs1/f", Some(8))), Value::map([("off", Value::from(4u8))]));
    let r = w(&mut dev, up(6, b"gh", "/lfs1/f", None));
    let s =
        exchange(&mut dev, &request(Version::V2, Op::Write, Group::Fs, 0, 9, &up(6, b"gh", "/lfs1/f", None)));
    insta::assert_snapshot!("offset_not_valid", s);
    let e = smp::error::ErrorBody::from_value(&r).unwrap().unwrap();
    assert_eq!(smp::groups::fs::offset_not_valid_len(&e), Some(4));
    // After the error the context is closed: resuming at the file's size works (the server
    // takes the size of the file it opens).
    assert_eq!(w(&mut dev, up(4, b"efgh", "/lfs1/f", None)), Value::map([("off", Value::from(8u8))]));
    assert_eq!(fs::get_file(&mut dev, "/lfs1/f").unwrap(), b"abcdefgh");
    // That resumed upload had no `len`, so its context stays open. Zephyr's quirk: off 0
    // on the same open upload truncates the file but keeps counting from the old offset
    // (reply off = 8 + 2), then closes (10 >= len 2).
    assert_eq!(w(&mut dev, up(0, b"XY", "/lfs1/f", Some(2))), Value::map([("off", Value::from(10u8))]));
    assert_eq!(fs::get_file(&mut dev, "/lfs1/f").unwrap(), b"XY");
    // On a fresh context, off 0 with data truncates and counts from 0.
    assert_eq!(w(&mut dev, up(0, b"PQR", "/lfs1/f", Some(3))), Value::map([("off", Value::from(3u8))]));
    assert_eq!(fs::get_file(&mut dev, "/lfs1/f").unwrap(), b"PQR");
    // Off 0 without data leaves an existing file as it is (Zephyr truncates only when
    // writing).
    assert_eq!(w(&mut dev, up(0, b"", "/lfs1/f", Some(3))), Value::map([("off", Value::from(0u8))]));
    assert_eq!(fs::get_file(&mut dev, "/lfs1/f").unwrap(), b"PQR");
    assert_eq!(v2(&mut dev, Op::Write, Group::Fs, 4, Value::empty_map()), Value::empty_map());
    // Idle close: an upload of unknown progress is forgotten after 4 s; the next chunk at
    // the file's size still fits.
    assert_eq!(w(&mut dev, up(0, b"12", "/lfs1/g", Some(10))), Value::map([("off", Value::from(2u8))]));
    dev.advance(4_000);
    assert_eq!(w(&mut dev, up(2, b"34", "/lfs1/g", None)), Value::map([("off", Value::from(4u8))]));
    // Another path closes the open one; coming back reopens at the file's size.
    assert_eq!(w(&mut dev, up(0, b"zz", "/lfs1/h", Some(4))), Value::map([("off", Value::from(2u8))]));
    assert_eq!(w(&mut dev, up(4, b"56", "/lfs1/g", None)), Value::map([("off", Value::from(6u8))]));
    // The context is RAM: a reboot forgets it; the file stays.
    reset(&mut dev);
    assert_eq!(fs::get_file(&mut dev, "/lfs1/g").unwrap(), b"123456");
    // A read-only mount refuses uploads.
    let mut ro = device_with(FsOptions {
        mounts: vec![Mount { read_only: true, ..Mount::memory("/rom") }],
        ..FsOptions::default()
    });
    let s = exchange_both(&mut ro, Op::Write, Group::Fs, 0, &up(0, b"x", "/rom/x", Some(1)));
    insta::assert_snapshot!("read_only", s);
}

#[test]
fn a_full_mount_refuses_writes() {
    for mount in [Mount { capacity: 100, ..Mount::memory("/lfs1") }, {
        let dir = tempfile::tempdir().unwrap().keep();
        Mount { capacity: 100, ..Mount::dir("/lfs1", dir) }
    }] {
        let mut dev = device_with(FsOptions { mounts: vec![mount.clone()], ..FsOptions::default() });
        let w = |dev: &mut Device, body: Value| v2(dev, Op::Write, Group::Fs, 0, body);
        assert_eq!(
            w(&mut dev, up(0, &[1; 60], "/lfs1/a", Some(60))),
            Value::map([("off", Value::from(60u8))])
        );
        // 60 + 60 > 100: FILE_WRITE_FAILED.
        let r = w(&mut dev, up(0, &[2; 60], "/lfs1/b", Some(60)));
        let err = smp::error::ErrorBody::from_value(&r).unwrap().unwrap().err.unwrap();
        assert_eq!((err.group, err.rc), (8, 10), "{mount:?}");
        // Rewriting a's 60 bytes in place fits (the old content is truncated first).
        assert_eq!(
            w(&mut dev, up(0, &[3; 60], "/lfs1/a", Some(60))),
            Value::map([("off", Value::from(60u8))])
        );
        if let Backing::Dir(d) = &mount.backing {
            std::fs::remove_dir_all(d).unwrap();
        }
    }
}

#[test]
fn file_access_hook_denies_and_redirects() {
    let mut dev = small_device();
    fs::put_file(&mut dev, "/lfs1/public.txt", b"public").unwrap();
    let mut deny_secret = Hooks::file_access_for_prefix(
        "/lfs1/secret",
        AccessVerdict::Deny(Verdict::Group { group: Group::Fs, rc: 5 }),
    );
    dev.hooks_mut().file_access = Some(Box::new(move |a: &FileAccess<'_>| match a.path {
        "/lfs1/alias.txt" => AccessVerdict::Redirect("/lfs1/public.txt".into()),
        "/lfs1/busy" => AccessVerdict::Deny(Verdict::Rc(MgmtErr::EAccessDenied)),
        _ => deny_secret(a),
    }));
    let mut s = String::from("=== upload to a denied path: group error from the hook\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Fs, 0, &up(0, b"x", "/lfs1/secret/k", Some(1))));
    s.push_str("=== status of a denied path: rc 11\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Fs, 1, &name("/lfs1/busy")));
    s.push_str("=== download of a redirected path reads the other file\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Fs, 0, &down(0, "/lfs1/alias.txt")));
    insta::assert_snapshot!("hook", s);
}

/// Upload `data` in chunks of `chunk`, download it back in whatever chunks the server sends.
fn round_trip(dev: &mut Device, path: &str, data: &[u8], chunk: usize) -> Vec<u8> {
    let mut off = 0usize;
    let mut rounds = 0;
    while off < data.len() {
        rounds += 1;
        assert!(rounds < 10_000);
        let end = (off + chunk).min(data.len());
        let len = (off == 0).then_some(data.len() as u64);
        let r = v2(dev, Op::Write, Group::Fs, 0, up(off as u64, &data[off..end], path, len));
        off = r.get("off").and_then(Value::as_u64).unwrap_or_else(|| panic!("upload reply {r}")) as usize;
    }
    let mut back = Vec::new();
    let mut total = None;
    loop {
        let r =
            FsDownloadResponse::from_value(&v2(dev, Op::Read, Group::Fs, 0, down(back.len() as u64, path)))
                .expect("download reply");
        assert_eq!(r.off, back.len() as u64);
        if r.off == 0 {
            total = r.len;
        }
        let n = r.data.len();
        back.extend(r.data);
        if n == 0 || Some(back.len() as u64) == total {
            break;
        }
        assert!(back.len() < 1 << 20);
    }
    back
}

fn check_64k(dev: &mut Device, path: &str) {
    let data: Vec<u8> = (0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let back = round_trip(dev, path, &data, 200);
    assert_eq!(back.len(), data.len());
    assert!(back == data, "downloaded bytes differ");
    let crc = FsHashResponse::from_value(&v2(
        dev,
        Op::Read,
        Group::Fs,
        2,
        hash_req(path, Some("crc32"), None, None),
    ))
    .expect("hash reply");
    assert_eq!((crc.len, crc.output), (65_536, HashOutput::Uint(u64::from(crc32_bitwise(&data)))));
    let sha = FsHashResponse::from_value(&v2(
        dev,
        Op::Read,
        Group::Fs,
        2,
        hash_req(path, Some("sha256"), None, None),
    ))
    .expect("hash reply");
    match sha256_by_host(&data) {
        Some(expect) => assert_eq!(sha.output, HashOutput::Bytes(expect)),
        None => eprintln!("sha256sum not found: SHA-256 not compared"),
    }
    // Part of the file: crc32 of bytes 1000..1100.
    let part = FsHashResponse::from_value(&v2(
        dev,
        Op::Read,
        Group::Fs,
        2,
        hash_req(path, Some("crc32"), Some(1000), Some(100)),
    ))
    .expect("hash reply");
    assert_eq!((part.off, part.len), (Some(1000), 100));
    assert_eq!(part.output, HashOutput::Uint(u64::from(crc32_bitwise(&data[1000..1100]))));
}

#[test]
fn round_trip_64k_in_memory_and_in_a_sandbox() {
    let mut dev = small_device();
    check_64k(&mut dev, "/lfs1/blob.bin");
    // The download chunk follows buf_size: 384 - 47 bytes per reply.
    let r = FsDownloadResponse::from_value(&v2(&mut dev, Op::Read, Group::Fs, 0, down(0, "/lfs1/blob.bin")))
        .unwrap();
    assert_eq!(r.data.len(), 337);
    let dir = tempfile::tempdir().unwrap();
    let mut dev = device_with(FsOptions::sandbox("/lfs1", dir.path()));
    check_64k(&mut dev, "/lfs1/blob.bin");
    assert_eq!(std::fs::metadata(dir.path().join("blob.bin")).unwrap().len(), 65_536);
}

#[test]
fn sandbox_refuses_escapes() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"do not read").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("filelink")).unwrap();
    std::fs::create_dir(root.path().join("inner")).unwrap();
    let mut dev = device_with(FsOptions::sandbox("/lfs1", root.path()));
    let attempts = [
        ("/lfs1/../secret", "2"),
        ("/lfs1/inner/../../secret", "2"),
        ("/lfs1/link/secret", "2"),
        ("/lfs1/filelink", "2"),
        (outside.path().join("secret").to_str().unwrap().to_owned().leak() as &str, "3"),
        ("/etc/passwd", "3"),
    ];
    for (path, rc) in attempts {
        let r = v2(&mut dev, Op::Read, Group::Fs, 0, down(0, path));
        let err = smp::error::ErrorBody::from_value(&r).unwrap().unwrap().err.unwrap();
        assert_eq!((err.group, err.rc.to_string()), (8, rc.to_string()), "download {path}");
        let r = v2(&mut dev, Op::Write, Group::Fs, 0, up(0, b"pwned", path, Some(5)));
        let err = smp::error::ErrorBody::from_value(&r).unwrap().unwrap().err.unwrap();
        let upload_rc = if rc == "3" { "14" } else { "2" };
        assert_eq!((err.group, err.rc.to_string()), (8, upload_rc.to_string()), "upload {path}");
        let r = v2(&mut dev, Op::Read, Group::Fs, 1, name(path));
        assert!(r.get("err").is_some(), "status {path}: {r}");
    }
    assert_eq!(std::fs::read(outside.path().join("secret")).unwrap(), b"do not read");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1, "nothing created outside");
    // A symlink that stays inside the sandbox is fine.
    std::fs::write(root.path().join("inner/data"), b"ok").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(root.path().join("inner"), root.path().join("inlink")).unwrap();
        let r = FsDownloadResponse::from_value(&v2(
            &mut dev,
            Op::Read,
            Group::Fs,
            0,
            down(0, "/lfs1/inlink/data"),
        ));
        assert_eq!(r.unwrap().data, b"ok");
    }
}
