//! Corrupted images are rejected with the right reason, and no input makes validation panic.

// A test crate: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use mcuboot::image::{
    ImageError, ImageHeader, ImageInfo, KeyType, PublicKey, PublicKeyFormat, SecurityCounter, SignOptions,
    SigningKey, TlvKind, TrailerOptions, ValidationPolicy, parse_dependencies, sign, tlvs, validate,
    validate_with,
};
use proptest::prelude::*;

fn ed25519() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(KeyType::Ed25519).unwrap())
}

fn p256() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(KeyType::EcdsaP256).unwrap())
}

fn options() -> SignOptions {
    SignOptions {
        version: "1.2.3+4".parse().unwrap(),
        header_size: 0x200,
        pad_header: true,
        slot_size: 0x8000,
        security_counter: Some(SecurityCounter::Value(5)),
        dependencies: parse_dependencies("(1,1.0.0)").unwrap(),
        ..SignOptions::default()
    }
}

fn payload() -> Vec<u8> {
    (0..2000u32).map(|i| (i * 7 + 3) as u8).collect()
}

fn signed_with(key: &SigningKey) -> Vec<u8> {
    sign(&payload(), Some(key), &options()).unwrap()
}

fn signed() -> Vec<u8> {
    signed_with(ed25519())
}

fn keys() -> Vec<PublicKey> {
    vec![ed25519().public().clone()]
}

/// Offset of the first TLV of `kind`'s data.
fn tlv_data_offset(image: &[u8], kind: TlvKind) -> usize {
    let h = ImageHeader::parse(image).unwrap();
    tlvs(&h, image).unwrap().iter().find(|t| t.kind == kind).unwrap().offset + 4
}

#[test]
fn a_good_image_validates_with_every_field() {
    let img = signed();
    let v = validate(&img, &keys()).unwrap();
    assert_eq!(v.key_index, Some(0));
    assert_eq!(v.security_counter, Some(5));
    assert_eq!(v.dependencies, parse_dependencies("(1,1.0.0)").unwrap());
    assert_eq!(v.total_size, img.len());
    assert_eq!(v.header.img_size, 2000);
    assert_eq!(v.header.version.to_string(), "1.2.3.4");
    let hash_at = tlv_data_offset(&img, TlvKind::Sha256);
    assert_eq!(v.hash, img[hash_at..hash_at + 32]);
}

#[test]
fn the_right_key_among_several_is_found_by_key_hash() {
    let img = signed_with(p256());
    let ks = vec![ed25519().public().clone(), p256().public().clone()];
    assert_eq!(validate(&img, &ks).unwrap().key_index, Some(1));
}

#[test]
fn a_full_public_key_tlv_also_names_the_key() {
    let opts = SignOptions { public_key_format: PublicKeyFormat::Full, ..options() };
    let img = sign(&payload(), Some(ed25519()), &opts).unwrap();
    assert!(
        tlvs(&ImageHeader::parse(&img).unwrap(), &img).unwrap().iter().any(|t| t.kind == TlvKind::PubKey)
    );
    assert_eq!(validate(&img, &keys()).unwrap().key_index, Some(0));
}

#[test]
fn padded_ecdsa_signatures_verify() {
    let opts = SignOptions { pad_sig: true, ..options() };
    let img = sign(&payload(), Some(p256()), &opts).unwrap();
    let at = tlv_data_offset(&img, TlvKind::EcdsaSig);
    assert_eq!(u16::from_le_bytes([img[at - 2], img[at - 1]]), 72);
    assert_eq!(validate(&img, &[p256().public().clone()]).unwrap().key_index, Some(0));
}

#[test]
fn bad_hash_flipped_payload_byte() {
    let mut img = signed();
    img[0x200 + 100] ^= 0x01;
    assert!(matches!(validate(&img, &keys()), Err(ImageError::HashMismatch { kind: TlvKind::Sha256, .. })));
    // Also without keys: the hash is always checked.
    assert!(matches!(validate(&img, &[]), Err(ImageError::HashMismatch { .. })));
}

#[test]
fn bad_signature_flipped_signature_byte() {
    for key in [ed25519(), p256()] {
        let mut img = signed_with(key);
        let kind = key.key_type().signature_tlv();
        let at = tlv_data_offset(&img, kind);
        img[at + 10] ^= 0x40;
        let err = validate(&img, &[key.public().clone()]).unwrap_err();
        assert!(matches!(err, ImageError::BadSignature { key_index: 0, .. }), "{err}");
        // A hash-only build does not look at signatures.
        assert!(validate(&img, &[]).is_ok());
    }
}

#[test]
fn wrong_key_is_unknown() {
    let img = signed();
    let err = validate(&img, &[p256().public().clone()]).unwrap_err();
    assert!(matches!(err, ImageError::UnknownKey { keys: 1, .. }), "{err}");
}

#[test]
fn unsigned_image_needs_a_signature_when_keys_are_built_in() {
    let img = sign(&payload(), None, &options()).unwrap();
    assert!(validate(&img, &[]).is_ok());
    assert_eq!(validate(&img, &keys()).unwrap_err(), ImageError::MissingSignature { keys: 1 });
}

#[test]
fn truncated_tlv_area() {
    let img = signed();
    for cut in [1, 10, 64, 100] {
        let err = validate(&img[..img.len() - cut], &keys()).unwrap_err();
        assert!(matches!(err, ImageError::Truncated { what: "unprotected TLV block", .. }), "{cut}: {err}");
    }
    // Cut inside the payload: the header now claims more than the "slot" holds.
    let payload_end = 0x200 + 2000;
    let err = validate(&img[..payload_end - 5], &keys()).unwrap_err();
    assert!(matches!(err, ImageError::HeaderOverflowsSlot { .. }), "{err}");
}

#[test]
fn tlv_length_overrun() {
    let mut img = signed();
    // The last TLV (the signature) claims one byte more than its block holds.
    let at = tlv_data_offset(&img, TlvKind::Ed25519);
    img[at - 2] += 1;
    let err = validate(&img, &keys()).unwrap_err();
    assert!(
        matches!(err, ImageError::TlvOverrun { kind: TlvKind::Ed25519, len: 65, offset, .. } if offset == at - 4),
        "{err}"
    );
}

#[test]
fn oversize_for_slot() {
    let img = signed();
    let policy = ValidationPolicy { max_image_size: Some(img.len() - 1), ..ValidationPolicy::default() };
    let err = validate_with(&img, &keys(), &policy).unwrap_err();
    assert_eq!(err, ImageError::TooLarge { total: img.len(), max: img.len() - 1 });

    let mut huge = img.clone();
    huge[12..16].copy_from_slice(&0x10_0000u32.to_le_bytes());
    let err = validate(&huge, &keys()).unwrap_err();
    assert!(matches!(err, ImageError::HeaderOverflowsSlot { .. }), "{err}");
    huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(validate(&huge, &keys()), Err(ImageError::HeaderOverflowsSlot { .. })));
}

#[test]
fn bad_magic() {
    let mut img = signed();
    img[3] = 0;
    assert_eq!(validate(&img, &keys()).unwrap_err(), ImageError::BadMagic { found: 0x00f3_b83d });
    assert!(matches!(validate(&[0xff; 16], &keys()), Err(ImageError::Truncated { .. })));
}

#[test]
fn protected_size_mismatch() {
    let mut img = signed();
    let h = ImageHeader::parse(&img).unwrap();
    assert_eq!(h.protect_tlv_size, 4 + 8 + 16);
    img[10..12].copy_from_slice(&(h.protect_tlv_size + 4).to_le_bytes());
    let err = validate(&img, &keys()).unwrap_err();
    assert!(matches!(err, ImageError::ProtectedSizeMismatch { header: 32, block: 28, .. }), "{err}");
    img[10..12].copy_from_slice(&0u16.to_le_bytes());
    let err = validate(&img, &keys()).unwrap_err();
    assert!(matches!(err, ImageError::ProtectedSizeMismatch { header: 0, block: 28, .. }), "{err}");
}

#[test]
fn encrypted_and_compressed_images_are_refused_by_name() {
    let mut img = signed();
    img[16] = 0x04; // ENCRYPTED_AES128
    assert_eq!(validate(&img, &keys()).unwrap_err(), ImageError::Encrypted { flags: 4 });
    img[16] = 0x00;
    img[17] = 0x04; // COMPRESSED_LZMA2
    assert_eq!(validate(&img, &keys()).unwrap_err(), ImageError::Compressed { flags: 0x400 });
}

#[test]
fn uuids_are_carried_and_checked() {
    let vid = mcuboot::image::parse_uuid(Some(&mcuboot::image::UUID_NAMESPACE_DNS), "example.com").unwrap();
    let cid = mcuboot::image::parse_uuid(Some(&vid), "app-core").unwrap();
    let img = sign(&payload(), Some(ed25519()), &SignOptions { vid: Some(vid), cid: Some(cid), ..options() })
        .unwrap();
    let v = validate(&img, &keys()).unwrap();
    assert_eq!((v.vid, v.cid), (Some(vid), Some(cid)));
    let policy = ValidationPolicy { vid: Some(vid), cid: Some(cid), ..ValidationPolicy::default() };
    assert!(validate_with(&img, &keys(), &policy).is_ok());
    let wrong = ValidationPolicy { cid: Some(vid), ..ValidationPolicy::default() };
    assert!(matches!(
        validate_with(&img, &keys(), &wrong),
        Err(ImageError::UuidMismatch { kind: TlvKind::UuidCid, .. })
    ));
    let plain = signed();
    assert!(matches!(
        validate_with(&plain, &keys(), &policy),
        Err(ImageError::UuidMismatch { kind: TlvKind::UuidVid, .. })
    ));
}

#[test]
fn missing_hash_tlv() {
    let mut img = signed();
    let at = tlv_data_offset(&img, TlvKind::Sha256);
    img[at - 4] = 0xa0; // SHA256 -> a vendor TLV type
    assert_eq!(validate(&img, &keys()).unwrap_err(), ImageError::MissingHash);
}

#[test]
fn a_full_public_key_with_sha512_is_not_mistaken_for_a_key_hash() {
    // The 44-byte Ed25519 key is shorter than a 64-byte SHA-512 key hash.
    let opts = SignOptions {
        public_key_format: PublicKeyFormat::Full,
        hash: Some(mcuboot::image::HashAlg::Sha512),
        ..options()
    };
    let img = sign(&payload(), Some(ed25519()), &opts).unwrap();
    assert_eq!(validate(&img, &keys()).unwrap().key_index, Some(0));
    let other = vec![p256().public().clone()];
    assert!(matches!(validate(&img, &other), Err(ImageError::UnknownKey { .. })));
}

/// Rebuild `img`'s unprotected block from `tlvs` (type, data).
fn with_unprotected(img: &[u8], tlvs_out: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let h = ImageHeader::parse(img).unwrap();
    let start = tlvs(&h, img).unwrap().iter().find(|t| !t.protected).unwrap().offset - 4;
    let mut body = Vec::new();
    for (kind, data) in tlvs_out {
        body.extend_from_slice(&kind.to_le_bytes());
        body.extend_from_slice(&(data.len() as u16).to_le_bytes());
        body.extend_from_slice(data);
    }
    let mut out = img[..start].to_vec();
    out.extend_from_slice(&0x6907u16.to_le_bytes());
    out.extend_from_slice(&((body.len() + 4) as u16).to_le_bytes());
    out.extend(body);
    out
}

#[test]
fn the_tlv_allow_list_keeps_other_tlvs_out_of_the_unprotected_block() {
    let img = signed();
    let h = ImageHeader::parse(&img).unwrap();
    let mut unprot: Vec<(u16, Vec<u8>)> = tlvs(&h, &img)
        .unwrap()
        .iter()
        .filter(|t| !t.protected)
        .map(|t| (t.kind.to_u16(), t.data.to_vec()))
        .collect();
    unprot.push((0x50, 99u32.to_le_bytes().to_vec())); // a SEC_CNT nobody signed
    let rogue = with_unprotected(&img, &unprot);
    // Without the allow list the image validates, and the unsigned counter is ignored.
    let v = validate(&rogue, &keys()).unwrap();
    assert_eq!(v.security_counter, Some(5));
    let policy = ValidationPolicy { tlv_allow_list: true, ..ValidationPolicy::default() };
    assert!(validate_with(&img, &keys(), &policy).is_ok());
    let err = validate_with(&rogue, &keys(), &policy).unwrap_err();
    assert!(matches!(err, ImageError::TlvNotAllowed { kind: TlvKind::SecCnt, .. }), "{err}");
}

#[test]
fn a_key_hash_prefix_names_the_key_as_in_mcuboot() {
    // MCUboot compares only as many bytes as the KEYHASH TLV holds.
    let img = signed();
    let h = ImageHeader::parse(&img).unwrap();
    let all = tlvs(&h, &img).unwrap();
    let kh = all.iter().find(|t| t.kind == TlvKind::KeyHash).unwrap();
    // Rebuild the unprotected block with a 16-byte key hash.
    let unprot_start = tlvs(&h, &img).unwrap().iter().find(|t| !t.protected).unwrap().offset - 4;
    let mut out = img[..unprot_start].to_vec();
    let mut body = Vec::new();
    for t in all.iter().filter(|t| !t.protected) {
        let data = if t.offset == kh.offset { &t.data[..16] } else { t.data };
        body.extend_from_slice(&t.kind.to_u16().to_le_bytes());
        body.extend_from_slice(&(data.len() as u16).to_le_bytes());
        body.extend_from_slice(data);
    }
    out.extend_from_slice(&0x6907u16.to_le_bytes());
    out.extend_from_slice(&((body.len() + 4) as u16).to_le_bytes());
    out.extend(body);
    assert_eq!(validate(&out, &keys()).unwrap().key_index, Some(0));
}

#[test]
fn security_counter_policy() {
    let img = signed();
    let policy = |min| ValidationPolicy { min_security_counter: Some(min), ..ValidationPolicy::default() };
    assert!(validate_with(&img, &keys(), &policy(5)).is_ok());
    assert_eq!(
        validate_with(&img, &keys(), &policy(6)).unwrap_err(),
        ImageError::SecurityCounterTooLow { found: 5, min: 6 }
    );
    let plain =
        sign(&payload(), Some(ed25519()), &SignOptions { security_counter: None, ..options() }).unwrap();
    assert_eq!(validate_with(&plain, &keys(), &policy(0)).unwrap_err(), ImageError::MissingSecurityCounter);
}

#[test]
fn a_whole_slot_with_trailer_validates() {
    let opts =
        SignOptions { trailer: TrailerOptions { confirm: true, ..TrailerOptions::default() }, ..options() };
    let slot = sign(&payload(), Some(ed25519()), &opts).unwrap();
    assert_eq!(slot.len(), 0x8000);
    let v = validate(&slot, &keys()).unwrap();
    assert!(v.total_size < slot.len());
    let info = ImageInfo::read(&slot);
    let t = info.trailer.unwrap();
    assert_eq!((t.max_align, t.image_ok, t.copy_done), (Some(8), Some(1), Some(0xff)));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = validate(&bytes, &keys());
        let _ = ImageInfo::read(&bytes).to_table();
    }

    #[test]
    fn random_headers_on_a_real_image_never_panic(header in proptest::collection::vec(any::<u8>(), 32)) {
        let mut img = signed();
        img[4..32].copy_from_slice(&header[4..]);
        let _ = validate(&img, &keys());
        let _ = ImageInfo::read(&img).to_table();
    }

    /// Any changed byte from the header through the last TLV makes a signed image invalid;
    /// a cut anywhere before its end too. Nothing panics.
    #[test]
    fn mutations_of_a_valid_image_are_rejected(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let original = signed();
        let mut img = original.clone();
        for (at, value) in &edits {
            let i = at.index(img.len());
            img[i] = *value;
        }
        if let Some(c) = cut {
            img.truncate(c.index(img.len()));
        }
        let result = validate(&img, &keys());
        let _ = ImageInfo::read(&img).to_table();
        if img != original {
            prop_assert!(result.is_err(), "mutated image validated");
        }
    }
}
