//! The committed fixtures (fixtures/keys, fixtures/images) are what fixtures/README.md says.

// A test crate: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use mcuboot::image::{
    Dependency, ImageError, KeyType, PublicKey, SecurityCounter, SignOptions, SigningKey, TrailerOptions,
    sign, validate,
};

fn fixtures() -> PathBuf {
    testkit::workspace_root().join("fixtures")
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn signing(name: &str) -> SigningKey {
    SigningKey::from_pem(&String::from_utf8(read(&format!("keys/{name}.pem"))).unwrap()).unwrap()
}

fn public(name: &str) -> PublicKey {
    PublicKey::from_pem(&String::from_utf8(read(&format!("keys/{name}.pub.pem"))).unwrap()).unwrap()
}

fn options(version: &str, counter: Option<u32>) -> SignOptions {
    SignOptions {
        version: version.parse().unwrap(),
        header_size: 0x200,
        pad_header: true,
        slot_size: 0x20000,
        security_counter: counter.map(SecurityCounter::Value),
        trailer: TrailerOptions { align: 8, ..TrailerOptions::default() },
        ..SignOptions::default()
    }
}

#[test]
fn keys_load_and_match_their_public_halves() {
    for (name, t) in [
        ("ed25519", KeyType::Ed25519),
        ("ecdsa-p256", KeyType::EcdsaP256),
        ("rsa-2048", KeyType::Rsa2048),
        ("brownout-ed25519", KeyType::Ed25519),
        ("brownout-ecdsa-p256", KeyType::EcdsaP256),
    ] {
        let k = signing(name);
        assert_eq!(k.key_type(), t, "{name}");
        assert_eq!(k.public(), &public(name), "{name}");
    }
}

#[test]
fn images_validate_with_their_keys() {
    let all = [public("ed25519"), public("ecdsa-p256"), public("rsa-2048")];
    for (file, key_index, version, counter) in [
        ("app-1.0.0.bin", 0, "1.0.0", Some(1)),
        ("app-2.0.0.bin", 0, "2.0.0", Some(2)),
        ("app-1.0.0-ecdsa-p256.bin", 1, "1.0.0", Some(1)),
        ("app-1.0.0-rsa-2048.bin", 2, "1.0.0", Some(1)),
        ("app-2.0.0-dep-img1-1.0.0.bin", 0, "2.0.0", Some(2)),
    ] {
        let img = read(&format!("images/{file}"));
        let v = validate(&img, &all).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(v.key_index, Some(key_index), "{file}");
        assert_eq!(v.header.version, version.parse().unwrap(), "{file}");
        assert_eq!(v.security_counter, counter, "{file}");
        assert_eq!(v.total_size, img.len(), "{file}");
    }
    let dep = validate(&read("images/app-2.0.0-dep-img1-1.0.0.bin"), &all).unwrap();
    assert_eq!(dep.dependencies, vec![Dependency { image_id: 1, min_version: "1.0.0".parse().unwrap() }]);
    let unsigned = read("images/app-1.0.0-unsigned.bin");
    assert!(validate(&unsigned, &[]).is_ok());
    assert_eq!(validate(&unsigned, &all).unwrap_err(), ImageError::MissingSignature { keys: 3 });
    let bad = read("images/app-2.0.0-badsig.bin");
    assert!(matches!(validate(&bad, &all), Err(ImageError::BadSignature { key_index: 0, .. })));
    assert!(validate(&bad, &[]).is_ok(), "only the signature is broken");
}

#[test]
fn our_signer_reproduces_the_deterministic_fixtures() {
    let key = signing("ed25519");
    let p1 = read("images/app-1.0.0.payload.bin");
    let p2 = read("images/app-2.0.0.payload.bin");
    assert_eq!(sign(&p1, Some(&key), &options("1.0.0", Some(1))).unwrap(), read("images/app-1.0.0.bin"));
    assert_eq!(sign(&p2, Some(&key), &options("2.0.0", Some(2))).unwrap(), read("images/app-2.0.0.bin"));
    assert_eq!(sign(&p1, None, &options("1.0.0", None)).unwrap(), read("images/app-1.0.0-unsigned.bin"));
    let dep = SignOptions {
        dependencies: vec![Dependency { image_id: 1, min_version: "1.0.0".parse().unwrap() }],
        ..options("2.0.0", Some(2))
    };
    assert_eq!(sign(&p2, Some(&key), &dep).unwrap(), read("images/app-2.0.0-dep-img1-1.0.0.bin"));
}
