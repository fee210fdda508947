//! Images signed with the image module's signer (keys configured in the bootloader) and with
//! imgtool itself (the Appendix A experiment of reference `mcuboot.md`: imgtool-signed v1.0.0
//! 20000 B primary and v2.0.0 24000 B `--pad` secondary on K64F, op counts 118/119).

mod boot_support;

use std::process::Command;

use boot_support::*;
use mcuboot::boot::{Algorithm, BootConfig, BootState};
use mcuboot::image::{KeyType, SignOptions, SigningKey, sign};
use mcuboot::layout::AreaId;
use mcuboot::trailer::{self, SwapType};

fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn signed(key: Option<&SigningKey>, n: usize, seed: u8, version: Version) -> TestImage {
    let opts = SignOptions { version, pad_header: true, ..SignOptions::default() };
    TestImage { bytes: sign(&payload(n, seed), key, &opts).expect("sign"), version }
}

#[test]
fn signature_required_when_keys_are_configured() {
    let key = SigningKey::generate(KeyType::Ed25519).expect("key");
    let other = SigningKey::generate(KeyType::Ed25519).expect("key");
    let map = map("k64f", 8, 0xff);
    let cfg =
        BootConfig { keys: vec![key.public().clone()], ..BootConfig::with_algorithm(Algorithm::SwapOffset) };
    let a = signed(Some(&key), 20000, 1, Version::new(1, 0, 0));
    let good = signed(Some(&key), 24000, 2, Version::new(2, 0, 0));
    let mut f = setup(&map, &cfg, &a, Some(&good), false);
    let out = boot_ok(&mut f, &map, &cfg, &mut BootState::new());
    assert_eq!(out.images[0].swap_type, SwapType::Test);
    assert!(primary_holds(&f, &map, &good));
    // Signed by an unknown key, or not signed at all: erased, not swapped.
    for bad in
        [signed(Some(&other), 24000, 3, Version::new(3, 0, 0)), signed(None, 24000, 4, Version::new(3, 0, 0))]
    {
        let mut f = setup(&map, &cfg, &a, Some(&bad), false);
        let out = boot_ok(&mut f, &map, &cfg, &mut BootState::new());
        assert_eq!(out.images[0].swap_type, SwapType::None);
        assert!(primary_holds(&f, &map, &a));
    }
    // A hash-only build accepts the unsigned image.
    let plain = BootConfig::with_algorithm(Algorithm::SwapOffset);
    let unsigned = signed(None, 24000, 5, Version::new(3, 0, 0));
    let mut f = setup(&map, &plain, &a, Some(&unsigned), false);
    boot_ok(&mut f, &map, &plain, &mut BootState::new());
    assert!(primary_holds(&f, &map, &unsigned));
}

fn imgtool_sign(
    imgtool: &std::path::Path,
    dir: &std::path::Path,
    name: &str,
    n: usize,
    seed: u8,
    version: &str,
    extra: &[&str],
) -> Vec<u8> {
    let input = dir.join(format!("{name}.bin"));
    let output = dir.join(format!("{name}.signed.bin"));
    std::fs::write(&input, payload(n, seed)).expect("write");
    let mut cmd = Command::new(imgtool);
    cmd.args([
        "sign",
        "--version",
        version,
        "--header-size",
        "0x20",
        "--pad-header",
        "--slot-size",
        "0x20000",
        "--align",
        "8",
    ]);
    cmd.args(extra).arg(&input).arg(&output);
    let out = cmd.output().expect("run imgtool");
    assert!(out.status.success(), "imgtool: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(&output).expect("read")
}

#[test]
fn imgtool_images_swap_like_appendix_a() {
    let Some(imgtool) = testkit::peer_tool("imgtool", "pip install imgtool==2.5.0") else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let primary = imgtool_sign(&imgtool, dir.path(), "v1", 20000, 1, "1.0.0", &[]);
    let secondary = imgtool_sign(&imgtool, dir.path(), "v2", 24000, 2, "2.0.0", &["--pad"]);
    assert_eq!(primary.len(), 20072);
    assert_eq!(secondary.len(), 0x20000, "--pad fills the slot and writes the trailer magic");
    for (alg, up, rv) in [(Algorithm::SwapScratch, 118, 119), (Algorithm::SwapMove, 114, 119)] {
        let map = map("k64f", 8, 0xff);
        let cfg = BootConfig::with_algorithm(alg);
        let mut f = ram_flash(&map);
        load(&mut f, map.area(AreaId::Primary(0)).expect("p"), 0, &primary);
        load(&mut f, map.area(AreaId::Secondary(0)).expect("s"), 0, &secondary);
        let mut st = BootState::new();
        let o1 = boot_ok(&mut f, &map, &cfg, &mut st);
        assert_eq!((o1.images[0].swap_type, o1.ops), (SwapType::Test, up), "{alg:?}");
        assert_eq!(o1.boots.expect("boots").header.version, Version::new(2, 0, 0));
        let o2 = boot_ok(&mut f, &map, &cfg, &mut st);
        assert_eq!((o2.images[0].swap_type, o2.ops), (SwapType::Revert, rv), "{alg:?}");
        let o3 = boot_ok(&mut f, &map, &cfg, &mut st);
        assert_eq!((o3.images[0].swap_type, o3.ops), (SwapType::None, 0), "{alg:?}");
        let pri = map.area(AreaId::Primary(0)).expect("p");
        assert_eq!(slot_bytes(&f, pri, 0, primary.len()), primary);
    }
    // --confirm: a permanent upgrade.
    let confirmed = imgtool_sign(&imgtool, dir.path(), "v3", 24000, 3, "3.0.0", &["--confirm"]);
    let map = map("k64f", 8, 0xff);
    let cfg = BootConfig::default();
    let mut f = ram_flash(&map);
    load(&mut f, map.area(AreaId::Primary(0)).expect("p"), 0, &primary);
    load(&mut f, map.area(AreaId::Secondary(0)).expect("s"), 0, &confirmed);
    let sec = map.area(AreaId::Secondary(0)).expect("s");
    let s = trailer::read_swap_state(&mut f, &layout(&cfg), sec).expect("state");
    assert_eq!(s.image_ok, trailer::FlagState::Set);
    let o = boot_ok(&mut f, &map, &cfg, &mut BootState::new());
    assert_eq!(o.images[0].swap_type, SwapType::Perm);
}
