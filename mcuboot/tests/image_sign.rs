//! Signing with a key held elsewhere (imgtool's `--vector-to-sign`, `--fix-sig`): the image
//! is the same as when the key signs directly.

// A test crate: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use mcuboot::image::{
    KeyType, SecurityCounter, SignError, SignOptions, SignVector, Signer, SigningKey, sign, sign_with,
    validate, vector_to_sign,
};

fn options(pure: bool) -> SignOptions {
    SignOptions {
        version: "4.5.6".parse().unwrap(),
        header_size: 0x100,
        pad_header: true,
        slot_size: 0x10000,
        security_counter: Some(SecurityCounter::Auto),
        pure,
        ..SignOptions::default()
    }
}

#[test]
fn an_external_signature_gives_the_same_image() {
    let payload = vec![0x42; 3333];
    for (t, pure) in [(KeyType::Ed25519, false), (KeyType::Ed25519, true), (KeyType::EcdsaP256, false)] {
        let key = SigningKey::generate(t).unwrap();
        let opts = options(pure);
        // What the HSM is given, and what it returns.
        let vector = if t == KeyType::Ed25519 && !pure { SignVector::Digest } else { SignVector::Payload };
        let region = vector_to_sign(&payload, key.public(), &opts, SignVector::Payload).unwrap();
        let digest = vector_to_sign(&payload, key.public(), &opts, SignVector::Digest).unwrap();
        let message = vector_to_sign(&payload, key.public(), &opts, vector).unwrap();
        assert_eq!(message, if vector == SignVector::Digest { digest.clone() } else { region.clone() });
        let signature = key.sign(&digest, &region, pure).unwrap();

        let fixed = sign_with(&payload, Signer::Fixed { public: key.public(), signature: &signature }, &opts)
            .unwrap();
        let direct = sign_with(&payload, Signer::Key(&key), &opts).unwrap();
        assert_eq!(fixed.image, direct.image, "{t} pure={pure}");
        assert_eq!(fixed.signature.as_deref(), Some(&signature[..]));
        assert_eq!(fixed.digest, digest);
        assert_eq!(validate(&fixed.image, &[key.public().clone()]).unwrap().key_index, Some(0));
        assert_eq!(sign(&payload, Some(&key), &opts).unwrap(), direct.image);

        let mut bad = signature.clone();
        bad[5] ^= 1;
        let err =
            sign_with(&payload, Signer::Fixed { public: key.public(), signature: &bad }, &opts).unwrap_err();
        assert_eq!(err, SignError::FixedSignatureInvalid { key: t });
    }
}

#[test]
fn unsigned_images_report_no_signature() {
    let s = sign_with(&[1; 64], Signer::Unsigned, &options(false)).unwrap();
    assert_eq!(s.signature, None);
    assert_eq!(validate(&s.image, &[]).unwrap().hash, s.digest);
}
