//! Signing keys and public keys, in the file formats imgtool reads and writes.
//!
//! * Private keys: PEM PKCS#8 `PRIVATE KEY` (what `imgtool keygen` writes for every type);
//!   also read: SEC1 `EC PRIVATE KEY` and PKCS#1 `RSA PRIVATE KEY` (older MCUboot test keys).
//!   Password-protected keys are refused with a clear error.
//! * Public keys: PEM SubjectPublicKeyInfo `PUBLIC KEY` (what `imgtool getpub -e pem` writes),
//!   or PKCS#1 `RSA PUBLIC KEY`.
//! * The bytes a bootloader embeds, and that the KEYHASH TLV hashes
//!   ([`PublicKey::embedded_bytes`]): DER SubjectPublicKeyInfo for EC and Ed25519 keys, DER
//!   PKCS#1 `RSAPublicKey` for RSA keys.
//!
//! What each key type signs (imgtool 2.5, and what MCUboot verifies):
//!
//! | key | TLV | message |
//! |---|---|---|
//! | Ed25519 | ED25519 (0x24), 64 B | the image digest (SHA-256 or SHA-512); with `--pure` the hashed region itself |
//! | ECDSA P-256 / P-384 | ECDSASIG (0x22), DER | ECDSA over the hashed region with SHA-256/384 = ECDSA over the digest |
//! | RSA-2048 / 3072 | RSA2048 (0x20) / RSA3072 (0x23) | RSA-PSS, SHA-256, MGF1-SHA-256, salt 32, over the digest |

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _};
use p256::ecdsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
use rand_core_06::{OsRng, RngCore as _};
use rsa::pkcs1::{DecodeRsaPrivateKey as _, DecodeRsaPublicKey as _, EncodeRsaPublicKey as _};
use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use rsa::traits::PublicKeyParts as _;

use super::hash::HashAlg;
use super::tlv::TlvKind;

/// The key types imgtool supports for signing (`imgtool keygen -t` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    Ed25519,
    EcdsaP256,
    EcdsaP384,
    Rsa2048,
    Rsa3072,
}

impl KeyType {
    /// Every supported type.
    pub const ALL: [KeyType; 5] =
        [KeyType::Ed25519, KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Rsa2048, KeyType::Rsa3072];

    /// imgtool's name (`ed25519`, `ecdsa-p256`, `ecdsa-p384`, `rsa-2048`, `rsa-3072`).
    pub fn imgtool_name(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ed25519",
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
        }
    }

    /// The signature TLV this key type produces.
    pub fn signature_tlv(self) -> TlvKind {
        match self {
            KeyType::Ed25519 => TlvKind::Ed25519,
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => TlvKind::EcdsaSig,
            KeyType::Rsa2048 => TlvKind::Rsa2048Pss,
            KeyType::Rsa3072 => TlvKind::Rsa3072Pss,
        }
    }

    /// imgtool's `--sha auto` choice: SHA-384 for P-384, else SHA-256.
    pub fn default_hash(self) -> HashAlg {
        match self {
            KeyType::EcdsaP384 => HashAlg::Sha384,
            _ => HashAlg::Sha256,
        }
    }

    /// Hashes imgtool allows with this key type (`ALLOWED_KEY_SHA`), first = default.
    pub fn allowed_hashes(self) -> &'static [HashAlg] {
        match self {
            KeyType::EcdsaP384 => &[HashAlg::Sha384],
            KeyType::Ed25519 => &[HashAlg::Sha256, HashAlg::Sha512],
            _ => &[HashAlg::Sha256],
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.imgtool_name())
    }
}

impl FromStr for KeyType {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<KeyType, KeyError> {
        KeyType::ALL
            .into_iter()
            .find(|t| t.imgtool_name() == s)
            .ok_or_else(|| KeyError::UnsupportedType(s.to_string()))
    }
}

/// Why a key could not be read, made or used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no PEM block (-----BEGIN ...-----) found")]
    NotPem,
    #[error("password-protected keys are not supported (PEM label {0:?})")]
    Encrypted(String),
    #[error(
        "unsupported PEM label {0:?} (expected PRIVATE KEY, PUBLIC KEY, EC PRIVATE KEY or RSA PRIVATE KEY)"
    )]
    UnsupportedLabel(String),
    #[error("PEM {label:?} does not hold an Ed25519, ECDSA P-256/P-384 or RSA-2048/3072 key")]
    UnsupportedKey { label: String },
    #[error("RSA key of {bits} bits; imgtool and MCUboot support 2048 and 3072")]
    UnsupportedRsaSize { bits: usize },
    #[error(
        "unsupported key type {0:?} (expected one of ed25519, ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072)"
    )]
    UnsupportedType(String),
    #[error("DER bytes are not a supported public key")]
    BadDer,
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("encoding the key failed: {0}")]
    Encode(String),
    #[error("generating the key failed: {0}")]
    Generate(String),
}

#[derive(Clone)]
enum PublicInner {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Rsa(rsa::RsaPublicKey),
}

/// A public key a bootloader would have built in: verifies signatures and hashes itself for
/// KEYHASH matching.
#[derive(Clone)]
pub struct PublicKey {
    inner: PublicInner,
    /// The bytes MCUboot embeds (DER SPKI, or PKCS#1 for RSA); computed once.
    embedded: Vec<u8>,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &PublicKey) -> bool {
        self.embedded == other.embedded
    }
}
impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublicKey({}, sha256 {})",
            self.key_type(),
            hex_string(&HashAlg::Sha256.digest(&self.embedded)[..8])
        )
    }
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn enc_err(e: impl fmt::Display) -> KeyError {
    KeyError::Encode(e.to_string())
}

/// Split a text into its first PEM block: (label, the block text from BEGIN to END line).
fn pem_block(text: &str) -> Result<(String, &str), KeyError> {
    let begin = text.find("-----BEGIN ").ok_or(KeyError::NotPem)?;
    let rest = &text[begin + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or(KeyError::NotPem)?;
    let label = rest[..label_end].to_string();
    let end_marker = format!("-----END {label}-----");
    let end = text[begin..].find(&end_marker).ok_or(KeyError::NotPem)?;
    Ok((label, &text[begin..begin + end + end_marker.len()]))
}

impl PublicKey {
    fn from_inner(inner: PublicInner) -> Result<PublicKey, KeyError> {
        let embedded = match &inner {
            PublicInner::Ed25519(k) => k.to_public_key_der().map_err(enc_err)?.as_bytes().to_vec(),
            PublicInner::P256(k) => k.to_public_key_der().map_err(enc_err)?.as_bytes().to_vec(),
            PublicInner::P384(k) => k.to_public_key_der().map_err(enc_err)?.as_bytes().to_vec(),
            PublicInner::Rsa(k) => {
                let bits = k.size() * 8;
                if bits != 2048 && bits != 3072 {
                    return Err(KeyError::UnsupportedRsaSize { bits });
                }
                k.to_pkcs1_der().map_err(enc_err)?.as_bytes().to_vec()
            }
        };
        Ok(PublicKey { inner, embedded })
    }

    /// Read a public key from PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`), or take the public half
    /// of a private key PEM (as `imgtool verify -k private.pem` does).
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        let (label, block) = pem_block(text)?;
        let inner = match label.as_str() {
            "PUBLIC KEY" => {
                if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(block) {
                    PublicInner::Ed25519(k)
                } else if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(block) {
                    PublicInner::P256(k)
                } else if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_pem(block) {
                    PublicInner::P384(k)
                } else if let Ok(k) = rsa::RsaPublicKey::from_public_key_pem(block) {
                    PublicInner::Rsa(k)
                } else {
                    return Err(KeyError::UnsupportedKey { label });
                }
            }
            "RSA PUBLIC KEY" => PublicInner::Rsa(
                rsa::RsaPublicKey::from_pkcs1_pem(block).map_err(|_| KeyError::UnsupportedKey { label })?,
            ),
            _ => return Ok(SigningKey::from_pem(text)?.public().clone()),
        };
        PublicKey::from_inner(inner)
    }

    /// Read the bytes a bootloader embeds (and the PUBKEY TLV carries): DER SPKI for any type,
    /// or DER PKCS#1 for RSA.
    pub fn from_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let inner = if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            PublicInner::Ed25519(k)
        } else if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            PublicInner::P256(k)
        } else if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_der(der) {
            PublicInner::P384(k)
        } else if let Ok(k) = rsa::RsaPublicKey::from_public_key_der(der) {
            PublicInner::Rsa(k)
        } else if let Ok(k) = rsa::RsaPublicKey::from_pkcs1_der(der) {
            PublicInner::Rsa(k)
        } else {
            return Err(KeyError::BadDer);
        };
        PublicKey::from_inner(inner)
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match &self.inner {
            PublicInner::Ed25519(_) => KeyType::Ed25519,
            PublicInner::P256(_) => KeyType::EcdsaP256,
            PublicInner::P384(_) => KeyType::EcdsaP384,
            PublicInner::Rsa(k) if k.size() == 384 => KeyType::Rsa3072,
            PublicInner::Rsa(_) => KeyType::Rsa2048,
        }
    }

    /// The bytes MCUboot embeds for this key (what `imgtool getpub -e raw` prints): DER SPKI
    /// for EC/Ed25519, DER PKCS#1 RSAPublicKey for RSA.
    pub fn embedded_bytes(&self) -> &[u8] {
        &self.embedded
    }

    /// The KEYHASH TLV value for this key: `alg` over [`PublicKey::embedded_bytes`].
    pub fn key_hash(&self, alg: HashAlg) -> Vec<u8> {
        alg.digest(&self.embedded)
    }

    /// PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`), as `imgtool getpub -e pem`.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        let lf = p256::pkcs8::LineEnding::LF;
        Ok(match &self.inner {
            PublicInner::Ed25519(k) => k.to_public_key_pem(lf).map_err(enc_err)?,
            PublicInner::P256(k) => k.to_public_key_pem(lf).map_err(enc_err)?,
            PublicInner::P384(k) => k.to_public_key_pem(lf).map_err(enc_err)?,
            PublicInner::Rsa(k) => k.to_public_key_pem(rsa::pkcs8::LineEnding::LF).map_err(enc_err)?,
        })
    }

    /// Does `signature` (the payload of a `kind` TLV) verify? `digest` is the image digest,
    /// `region` the hashed region, `pure` whether a SIG_PURE TLV asks for a signature over
    /// the region itself (Ed25519 only).
    pub fn verify(&self, kind: TlvKind, signature: &[u8], digest: &[u8], region: &[u8], pure: bool) -> bool {
        if kind != self.key_type().signature_tlv() {
            return false;
        }
        match &self.inner {
            PublicInner::Ed25519(k) => {
                let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
                    return false;
                };
                let msg = if pure { region } else { digest };
                k.verify_strict(msg, &sig).is_ok()
            }
            PublicInner::P256(k) => {
                let Ok(sig) = p256::ecdsa::Signature::from_der(strip_ecdsa_padding(signature)) else {
                    return false;
                };
                !pure && k.verify_prehash(digest, &sig).is_ok()
            }
            PublicInner::P384(k) => {
                let Ok(sig) = p384::ecdsa::Signature::from_der(strip_ecdsa_padding(signature)) else {
                    return false;
                };
                !pure && k.verify_prehash(digest, &sig).is_ok()
            }
            PublicInner::Rsa(k) => {
                let scheme = rsa::Pss::new_with_salt::<sha2_010::Sha256>(32);
                !pure && digest.len() == 32 && k.verify(scheme, digest, signature).is_ok()
            }
        }
    }
}

/// Old imgtool/MCUboot padded DER ECDSA signatures with zeros to 72 bytes; the DER length
/// byte says where the real signature ends (imgtool's `verify` strips the same way).
fn strip_ecdsa_padding(sig: &[u8]) -> &[u8] {
    match sig.get(1) {
        Some(&len) if sig[0] == 0x30 && usize::from(len) + 2 <= sig.len() => &sig[..usize::from(len) + 2],
        _ => sig,
    }
}

#[derive(Clone)]
enum SigningInner {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

/// A private key that can sign images.
#[derive(Clone)]
pub struct SigningKey {
    inner: SigningInner,
    public: PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({:?})", self.public)
    }
}

impl SigningKey {
    fn from_inner(inner: SigningInner) -> Result<SigningKey, KeyError> {
        let public = match &inner {
            SigningInner::Ed25519(k) => PublicInner::Ed25519(k.verifying_key()),
            SigningInner::P256(k) => PublicInner::P256(*k.verifying_key()),
            SigningInner::P384(k) => PublicInner::P384(*k.verifying_key()),
            SigningInner::Rsa(k) => PublicInner::Rsa(k.to_public_key()),
        };
        Ok(SigningKey { inner, public: PublicKey::from_inner(public)? })
    }

    /// Make a new random key of `key_type` (from the operating system's RNG).
    pub fn generate(key_type: KeyType) -> Result<SigningKey, KeyError> {
        let mut seed = [0u8; 48];
        let inner = match key_type {
            KeyType::Ed25519 => {
                OsRng.fill_bytes(&mut seed[..32]);
                let mut s = [0u8; 32];
                s.copy_from_slice(&seed[..32]);
                SigningInner::Ed25519(ed25519_dalek::SigningKey::from_bytes(&s))
            }
            // A uniformly random scalar is below the group order with overwhelming
            // probability; retry on the rare rejection.
            KeyType::EcdsaP256 => loop {
                OsRng.fill_bytes(&mut seed[..32]);
                if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&seed[..32]) {
                    break SigningInner::P256(k);
                }
            },
            KeyType::EcdsaP384 => loop {
                OsRng.fill_bytes(&mut seed);
                if let Ok(k) = p384::ecdsa::SigningKey::from_slice(&seed) {
                    break SigningInner::P384(k);
                }
            },
            KeyType::Rsa2048 | KeyType::Rsa3072 => {
                let bits = if key_type == KeyType::Rsa2048 { 2048 } else { 3072 };
                let k = rsa::RsaPrivateKey::new(&mut OsRng, bits)
                    .map_err(|e| KeyError::Generate(e.to_string()))?;
                SigningInner::Rsa(Box::new(k))
            }
        };
        SigningKey::from_inner(inner)
    }

    /// Read a private key PEM: PKCS#8 `PRIVATE KEY` (imgtool's format), SEC1
    /// `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`.
    pub fn from_pem(text: &str) -> Result<SigningKey, KeyError> {
        let (label, block) = pem_block(text)?;
        let unsupported = || KeyError::UnsupportedKey { label: label.clone() };
        let inner = match label.as_str() {
            "PRIVATE KEY" => {
                if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(block) {
                    SigningInner::Ed25519(k)
                } else if let Ok(k) = p256::SecretKey::from_pkcs8_pem(block) {
                    SigningInner::P256(k.into())
                } else if let Ok(k) = p384::SecretKey::from_pkcs8_pem(block) {
                    SigningInner::P384(k.into())
                } else if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_pem(block) {
                    SigningInner::Rsa(Box::new(k))
                } else {
                    return Err(unsupported());
                }
            }
            "EC PRIVATE KEY" => {
                if let Ok(k) = p256::SecretKey::from_sec1_pem(block) {
                    SigningInner::P256(k.into())
                } else if let Ok(k) = p384::SecretKey::from_sec1_pem(block) {
                    SigningInner::P384(k.into())
                } else {
                    return Err(unsupported());
                }
            }
            "RSA PRIVATE KEY" => SigningInner::Rsa(Box::new(
                rsa::RsaPrivateKey::from_pkcs1_pem(block).map_err(|_| unsupported())?,
            )),
            "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted(label)),
            "PUBLIC KEY" | "RSA PUBLIC KEY" => {
                return Err(KeyError::UnsupportedLabel(format!("{label} (a public key cannot sign)")));
            }
            _ => return Err(KeyError::UnsupportedLabel(label)),
        };
        SigningKey::from_inner(inner)
    }

    /// PEM PKCS#8 `PRIVATE KEY`, unencrypted, as `imgtool keygen` writes it.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        let lf = p256::pkcs8::LineEnding::LF;
        let pem = match &self.inner {
            SigningInner::Ed25519(k) => {
                // PKCS#8 v1 without the optional public key, like OpenSSL/cryptography.
                use ed25519_dalek::pkcs8::EncodePrivateKey as _;
                let kp = ed25519_dalek::pkcs8::KeypairBytes { secret_key: k.to_bytes(), public_key: None };
                kp.to_pkcs8_pem(lf).map_err(enc_err)?.to_string()
            }
            SigningInner::P256(k) => {
                use p256::pkcs8::EncodePrivateKey as _;
                p256::SecretKey::from(k).to_pkcs8_pem(lf).map_err(enc_err)?.to_string()
            }
            SigningInner::P384(k) => {
                use p384::pkcs8::EncodePrivateKey as _;
                p384::SecretKey::from(k).to_pkcs8_pem(lf).map_err(enc_err)?.to_string()
            }
            SigningInner::Rsa(k) => k.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).map_err(enc_err)?.to_string(),
        };
        Ok(pem)
    }

    /// The matching public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        self.public.key_type()
    }

    /// Sign as imgtool does (see the module table): `digest` is the image digest, `region`
    /// the hashed region; `pure` (Ed25519 only) signs the region itself. ECDSA uses RFC 6979
    /// deterministic nonces; RSA-PSS draws its salt from the OS RNG.
    pub fn sign(&self, digest: &[u8], region: &[u8], pure: bool) -> Result<Vec<u8>, KeyError> {
        if pure && self.key_type() != KeyType::Ed25519 {
            return Err(KeyError::Sign(format!("--pure needs an ed25519 key, not {}", self.key_type())));
        }
        let sign_err = |e: &dyn fmt::Display| KeyError::Sign(e.to_string());
        Ok(match &self.inner {
            SigningInner::Ed25519(k) => k.sign(if pure { region } else { digest }).to_bytes().to_vec(),
            SigningInner::P256(k) => {
                let sig: p256::ecdsa::DerSignature = k.sign_prehash(digest).map_err(|e| sign_err(&e))?;
                sig.as_bytes().to_vec()
            }
            SigningInner::P384(k) => {
                let sig: p384::ecdsa::DerSignature = k.sign_prehash(digest).map_err(|e| sign_err(&e))?;
                sig.as_bytes().to_vec()
            }
            SigningInner::Rsa(k) => {
                let scheme = rsa::Pss::new_with_salt::<sha2_010::Sha256>(32);
                k.sign_with_rng(&mut OsRng, scheme, digest).map_err(|e| sign_err(&e))?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_verify_and_round_trip_through_pem() {
        for t in [KeyType::Ed25519, KeyType::EcdsaP256, KeyType::EcdsaP384] {
            let k = SigningKey::generate(t).unwrap();
            let again = SigningKey::from_pem(&k.to_pem().unwrap()).unwrap();
            assert_eq!(again.public(), k.public());
            let pubk = PublicKey::from_pem(&k.public().to_pem().unwrap()).unwrap();
            assert_eq!(&pubk, k.public());
            assert_eq!(PublicKey::from_der(pubk.embedded_bytes()).unwrap(), pubk);
            let alg = t.default_hash();
            let region = b"header payload protected";
            let digest = alg.digest(region);
            let sig = k.sign(&digest, region, false).unwrap();
            assert!(pubk.verify(t.signature_tlv(), &sig, &digest, region, false), "{t}");
            let mut bad = digest.clone();
            bad[0] ^= 1;
            assert!(!pubk.verify(t.signature_tlv(), &sig, &bad, region, false), "{t}");
        }
    }

    #[test]
    fn embedded_bytes_have_the_documented_sizes() {
        let ed = SigningKey::generate(KeyType::Ed25519).unwrap();
        assert_eq!(ed.public().embedded_bytes().len(), 44);
        let p256 = SigningKey::generate(KeyType::EcdsaP256).unwrap();
        assert_eq!(p256.public().embedded_bytes().len(), 91);
    }

    #[test]
    fn pem_errors_are_named() {
        assert_eq!(SigningKey::from_pem("hello").unwrap_err(), KeyError::NotPem);
        let enc = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(matches!(SigningKey::from_pem(enc), Err(KeyError::Encrypted(_))));
        let junk = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(SigningKey::from_pem(junk), Err(KeyError::UnsupportedKey { .. })));
        assert!("rsa-1024".parse::<KeyType>().is_err());
        assert_eq!("ecdsa-p256".parse::<KeyType>().unwrap(), KeyType::EcdsaP256);
    }

    #[test]
    fn ecdsa_padding_is_stripped() {
        let sig = [0x30, 2, 0xaa, 0xbb, 0, 0];
        assert_eq!(strip_ecdsa_padding(&sig), &sig[..4]);
        assert_eq!(strip_ecdsa_padding(&[0x30]), &[0x30]);
    }
}
