//! `brownout image ...` as a user runs it: flags like imgtool's, outputs imgtool accepts,
//! errors that name the file and the problem, and a stable dumpinfo format.

// A test crate: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn brownout(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brownout")).args(args).current_dir(dir).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}\n{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

fn fixtures() -> PathBuf {
    testkit::workspace_root().join("fixtures")
}

fn payload(dir: &Path, name: &str, len: usize) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, (0..len).map(|i| (i * 31 + 7) as u8).collect::<Vec<_>>()).unwrap();
    p
}

#[test]
fn dumpinfo_table_is_stable() {
    let out = brownout(&["image", "dumpinfo", "app-2.0.0-dep-img1-1.0.0.bin"], &fixtures().join("images"));
    insta::assert_snapshot!("dumpinfo_table", ok(&out));
}

#[test]
fn dumpinfo_json_is_stable() {
    let out = brownout(
        &["image", "dumpinfo", "--json", "app-2.0.0-dep-img1-1.0.0.bin"],
        &fixtures().join("images"),
    );
    let json = ok(&out);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["header"]["version"], "2.0.0");
    insta::assert_snapshot!("dumpinfo_json", json);
}

#[test]
fn dumpinfo_shows_the_trailer_of_a_padded_image() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    payload(d, "p.bin", 3000);
    let key = fixtures().join("keys/ed25519.pem");
    let args = [
        "image",
        "sign",
        "-k",
        key.to_str().unwrap(),
        "--version",
        "3.1.4",
        "-H",
        "0x20",
        "--pad-header",
        "-S",
        "0x4000",
        "--align",
        "32",
        "--confirm",
        "p.bin",
        "slot.bin",
    ];
    ok(&brownout(&args, d));
    let table = ok(&brownout(&["image", "dumpinfo", "slot.bin"], d));
    insta::assert_snapshot!("dumpinfo_padded_max_align_32", table);
}

#[test]
fn keygen_sign_verify_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    payload(d, "app.bin", 5000);
    for t in ["ed25519", "ecdsa-p256", "ecdsa-p384"] {
        let key = format!("{t}.pem");
        ok(&brownout(&["image", "keygen", "-t", t, "-k", &key], d));
        let pem = std::fs::read_to_string(d.join(&key)).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{t}: {pem}");
        let pubkey = ok(&brownout(&["image", "getpub", "-k", &key], d));
        assert!(pubkey.starts_with("-----BEGIN PUBLIC KEY-----"), "{t}");
        std::fs::write(d.join("pub.pem"), pubkey).unwrap();
        ok(&brownout(
            &[
                "image",
                "sign",
                "-k",
                &key,
                "--version",
                "1.2.3+4",
                "-H",
                "0x200",
                "--pad-header",
                "-S",
                "0x20000",
                "-s",
                "auto",
                "-d",
                "(1,2.0.0)",
                "app.bin",
                "signed.bin",
            ],
            d,
        ));
        let report = ok(&brownout(&["image", "verify", "-k", "pub.pem", "signed.bin"], d));
        assert!(report.starts_with("signed.bin: valid"), "{report}");
        assert!(report.contains("version           1.2.3.4"), "{report}");
        assert!(report.contains("security counter  16908291"), "{report}");
        assert!(report.contains("depends on        image 1 >= 2.0.0"), "{report}");
    }
}

#[test]
fn verify_names_the_file_and_the_problem() {
    let images = fixtures().join("images");
    let ecdsa = fixtures().join("keys/ecdsa-p256.pub.pem");
    let out = brownout(&["image", "verify", "-k", ecdsa.to_str().unwrap(), "app-1.0.0.bin"], &images);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("app-1.0.0.bin: invalid image: unknown key"), "{err}");

    let ed = fixtures().join("keys/ed25519.pub.pem");
    let out = brownout(&["image", "verify", "-k", ed.to_str().unwrap(), "app-2.0.0-badsig.bin"], &images);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("app-2.0.0-badsig.bin: invalid image: bad signature"));

    let out = brownout(&["image", "verify", "app-1.0.0.payload.bin"], &images);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("app-1.0.0.payload.bin: invalid image: bad image magic"));

    let out = brownout(&["image", "verify", "no-such.bin"], &images);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("reading no-such.bin"));
}

#[test]
fn sign_errors_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    payload(d, "big.bin", 0x3000);
    let base = ["image", "sign", "--version", "1.0.0", "-H", "0x20", "--pad-header"];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let out = brownout(&args, d);
        assert!(!out.status.success(), "{extra:?} should fail");
        text(&out.stderr)
    };
    assert!(run(&["-k", "missing.pem", "-S", "0x10000", "big.bin", "o.bin"]).contains("reading missing.pem"));
    assert!(run(&["-S", "0x3000", "big.bin", "o.bin"]).contains("exceeds requested size 0x3000"));
    assert!(run(&["-S", "0x10000", "-d", "(1,x)", "big.bin", "o.bin"]).contains("--dependencies"));
    assert!(run(&["-S", "0x10000", "--align", "3", "big.bin", "o.bin"]).contains("invalid --align 3"));
    assert!(run(&["-S", "12ab", "big.bin", "o.bin"]).contains("not a number"));
    std::fs::write(d.join("pub.pem"), std::fs::read(fixtures().join("keys/ed25519.pub.pem")).unwrap())
        .unwrap();
    assert!(run(&["-k", "pub.pem", "-S", "0x10000", "big.bin", "o.bin"]).contains("key pub.pem"));
}

/// The same flags given to imgtool and to us give the same bytes (Ed25519 is deterministic),
/// and what we sign passes `imgtool verify`.
#[test]
fn flags_mean_what_they_mean_in_imgtool() {
    let Some(imgtool) = testkit::peer_tool("imgtool", "pip install imgtool==2.5.0") else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    payload(d, "p.bin", 7000);
    std::fs::write(d.join("z.bin"), [vec![0u8; 0x80], vec![0x5a; 4000]].concat()).unwrap();
    let key = fixtures().join("keys/ed25519.pem");
    let key = key.to_str().unwrap();
    let sets: [&[&str]; 7] = [
        &[
            "-H",
            "0x20",
            "--pad-header",
            "-S",
            "0x10000",
            "--vid",
            "example.com",
            "--cid",
            "app-core",
            "-s",
            "1",
            "p.bin",
        ],
        &[
            "-H",
            "0x20",
            "--pad-header",
            "-S",
            "0x10000",
            "--vid",
            "12345678-1234-5678-1234-567812345678",
            "--cid",
            "00112233445566778899aabbccddeeff",
            "p.bin",
        ],
        &["-H", "0x200", "--pad-header", "-S", "0x20000", "--align", "8", "--pad", "--confirm", "p.bin"],
        &["-H", "0x80", "-S", "0x8000", "-s", "9", "-d", "(1,2.3.4+5),(2,1)", "-R", "0", "--pad", "z.bin"],
        &[
            "-H",
            "0x20",
            "--pad-header",
            "-S",
            "0x10000",
            "--align",
            "32",
            "--test",
            "-L",
            "0x20000000",
            "p.bin",
        ],
        &[
            "-H",
            "0x20",
            "--pad-header",
            "-S",
            "0x10000",
            "--max-align",
            "16",
            "--confirm",
            "-F",
            "0x10000",
            "p.bin",
        ],
        &[
            "-H",
            "0x20",
            "--pad-header",
            "-S",
            "0x10000",
            "--sha",
            "512",
            "--custom-tlv",
            "0xa0",
            "0x0102",
            "p.bin",
        ],
    ];
    for flags in sets {
        let mut theirs: Vec<&str> = vec!["sign", "-k", key, "-v", "1.2.3"];
        theirs.extend(flags);
        theirs.push("theirs.bin");
        let out = Command::new(&imgtool).args(&theirs).current_dir(d).output().unwrap();
        assert!(out.status.success(), "imgtool {flags:?}: {}", text(&out.stderr));
        let mut ours: Vec<&str> = vec!["image", "sign", "-k", key, "--version", "1.2.3"];
        ours.extend(flags);
        ours.push("ours.bin");
        ok(&brownout(&ours, d));
        let (a, b) =
            (std::fs::read(d.join("ours.bin")).unwrap(), std::fs::read(d.join("theirs.bin")).unwrap());
        assert!(a == b, "{flags:?}: outputs differ");
        let out =
            Command::new(&imgtool).args(["verify", "-k", key, "ours.bin"]).current_dir(d).output().unwrap();
        assert!(text(&out.stdout).contains("Image was correctly validated"), "{flags:?}");
    }

    // A key from our keygen signs with imgtool; an imgtool key signs with us.
    ok(&brownout(&["image", "keygen", "-t", "ecdsa-p256", "-k", "ours.pem"], d));
    let out = Command::new(&imgtool)
        .args([
            "sign",
            "-k",
            "ours.pem",
            "-v",
            "1.0.0",
            "-H",
            "0x20",
            "--pad-header",
            "-S",
            "0x10000",
            "p.bin",
            "t.bin",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    ok(&brownout(&["image", "verify", "-k", "ours.pem", "t.bin"], d));
    let out = Command::new(&imgtool)
        .args(["keygen", "-t", "rsa-2048", "-k", "rsa.pem"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(out.status.success());
    ok(&brownout(
        &[
            "image",
            "sign",
            "-k",
            "rsa.pem",
            "--version",
            "1.0.0",
            "-H",
            "0x20",
            "--pad-header",
            "-S",
            "0x10000",
            "p.bin",
            "r.bin",
        ],
        d,
    ));
    let out =
        Command::new(&imgtool).args(["verify", "-k", "rsa.pem", "r.bin"]).current_dir(d).output().unwrap();
    assert!(text(&out.stdout).contains("Image was correctly validated"), "{}", text(&out.stdout));
}

/// Intel HEX in and out, as imgtool does it: same text for the same flags.
#[test]
fn intel_hex_like_imgtool() {
    let Some(imgtool) = testkit::peer_tool("imgtool", "pip install imgtool==2.5.0") else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A HEX input that crosses a 64 KiB boundary and has a hole (filled with 0xff on reading).
    let mut hex = mcuboot::image::HexData::from_binary(
        0xfe00,
        &(0..3000u32).map(|i| (i * 3) as u8).collect::<Vec<_>>(),
    );
    hex.put(0xfe00 + 3010, &[1, 2, 3, 4]);
    std::fs::write(d.join("in.hex"), hex.to_hex_string()).unwrap();
    payload(d, "p.bin", 2000);
    let key = fixtures().join("keys/ed25519.pem");
    let key = key.to_str().unwrap();
    let sets: [(&[&str], &str, &str); 4] = [
        (&["-H", "0x200", "--pad-header", "-S", "0x4000", "--align", "8", "--confirm"], "in.hex", "o.hex"),
        (&["-H", "0x200", "--pad-header", "-S", "0x4000", "--pad", "--max-align", "32"], "in.hex", "o.hex"),
        (&["-H", "0x20", "--pad-header", "-S", "0x4000", "-s", "3"], "in.hex", "o.bin"),
        (&["-H", "0x20", "--pad-header", "-S", "0x8000", "-x", "0x18000", "--test"], "p.bin", "o.hex"),
    ];
    for (flags, input, output) in sets {
        let theirs_out = format!("theirs-{output}");
        let mut theirs: Vec<&str> = vec!["sign", "-k", key, "-v", "1.0.0"];
        theirs.extend(flags);
        theirs.extend([input, &theirs_out]);
        let out = Command::new(&imgtool).args(&theirs).current_dir(d).output().unwrap();
        assert!(out.status.success(), "imgtool {flags:?}: {}", text(&out.stderr));
        let ours_out = format!("ours-{output}");
        let mut ours: Vec<&str> = vec!["image", "sign", "-k", key, "--version", "1.0.0"];
        ours.extend(flags);
        ours.extend([input, &ours_out]);
        ok(&brownout(&ours, d));
        let (a, b) = (std::fs::read(d.join(&ours_out)).unwrap(), std::fs::read(d.join(&theirs_out)).unwrap());
        assert!(a == b, "{flags:?} {input} -> {output}: outputs differ:\n{}\n---\n{}", text(&a), text(&b));
        let out =
            Command::new(&imgtool).args(["verify", "-k", key, &ours_out]).current_dir(d).output().unwrap();
        assert!(
            text(&out.stdout).contains("Image was correctly validated"),
            "{flags:?}: {}",
            text(&out.stdout)
        );
        ok(&brownout(&["image", "verify", "-k", key, &theirs_out], d));
    }
    // The last set (--test at 0x18000): the HEX holds the image, the image_ok word (erased)
    // and the magic at the slot end; read back, the gap is erased fill.
    let hex_text = std::fs::read_to_string(d.join("ours-o.hex")).unwrap();
    assert!(hex_text.starts_with(":020000040001F9\n"), "{hex_text}");
    let table = ok(&brownout(&["image", "dumpinfo", "ours-o.hex"], d));
    assert!(table.contains("file size          32768 (0x8000)"), "{table}");
    assert!(table.contains("good (max_align 8)"), "{table}");
    assert!(table.contains("image_ok         0xff (unset)"), "{table}");

    // A binary input has no address for a HEX output: both tools refuse.
    let out = brownout(
        &["image", "sign", "--version", "1", "-H", "0x20", "--pad-header", "-S", "0x8000", "p.bin", "x.hex"],
        d,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("-x/--hex-addr"), "{}", text(&out.stderr));
    let out = Command::new(&imgtool)
        .args(["sign", "-v", "1", "-H", "0x20", "--pad-header", "-S", "0x8000", "p.bin", "x.hex"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// Signing on an HSM, the imgtool way: the vector to sign, a signature made elsewhere put in
/// with --fix-sig, and --sig-out all give imgtool's bytes.
#[test]
fn external_signing_like_imgtool() {
    let Some(imgtool) = testkit::peer_tool("imgtool", "pip install imgtool==2.5.0") else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    payload(d, "p.bin", 4000);
    let key = fixtures().join("keys/ed25519.pem");
    let public = fixtures().join("keys/ed25519.pub.pem");
    let (key, public) = (key.to_str().unwrap(), public.to_str().unwrap());
    let flags = ["-H", "0x200", "--pad-header", "-S", "0x10000", "-s", "2"];
    let imgtool_sign = |extra: &[&str], out: &str| {
        let mut args = vec!["sign", "-v", "2.0.0"];
        args.extend(flags);
        args.extend(extra);
        args.extend(["p.bin", out]);
        let o = Command::new(&imgtool).args(&args).current_dir(d).output().unwrap();
        assert!(o.status.success(), "imgtool {extra:?}: {}", text(&o.stderr));
    };
    let ours_sign = |extra: &[&str], out: &str| {
        let mut args = vec!["image", "sign", "--version", "2.0.0"];
        args.extend(flags);
        args.extend(extra);
        args.extend(["p.bin", out]);
        ok(&brownout(&args, d));
    };
    let read = |name: &str| std::fs::read(d.join(name)).unwrap();

    for vector in ["payload", "digest"] {
        imgtool_sign(&["-k", key, "--vector-to-sign", vector], "theirs.vec");
        // We only need the public key for this.
        ours_sign(&["-k", public, "--vector-to-sign", vector], "ours.vec");
        assert_eq!(read("ours.vec"), read("theirs.vec"), "--vector-to-sign {vector}");
    }
    imgtool_sign(&["-k", key, "--sig-out", "theirs.sig"], "theirs.bin");
    ours_sign(&["-k", key, "--sig-out", "ours.sig"], "ours.bin");
    assert_eq!(read("ours.sig"), read("theirs.sig"), "--sig-out");
    assert_eq!(read("ours.bin"), read("theirs.bin"));
    ours_sign(&["--fix-sig", "theirs.sig", "--fix-sig-pubkey", public], "fixed.bin");
    assert_eq!(read("fixed.bin"), read("theirs.bin"), "--fix-sig");
    imgtool_sign(&["--fix-sig", "ours.sig", "--fix-sig-pubkey", public], "theirs-fixed.bin");
    assert_eq!(read("theirs-fixed.bin"), read("theirs.bin"));

    // A signature that does not verify is refused by name (imgtool would embed it).
    std::fs::write(d.join("bad.sig"), "AAAA").unwrap();
    let mut args = vec!["image", "sign", "--version", "2.0.0"];
    args.extend(flags);
    args.extend(["--fix-sig", "bad.sig", "--fix-sig-pubkey", public, "p.bin", "x.bin"]);
    let out = brownout(&args, d);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("does not verify"), "{}", text(&out.stderr));
}
