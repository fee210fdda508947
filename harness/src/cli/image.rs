//! `brownout image`: make keys, sign, verify and inspect MCUboot images, with `imgtool`'s
//! flag names so existing build scripts carry over.
//!
//! ```text
//! brownout image keygen -t ed25519 -k key.pem
//! brownout image sign -k key.pem -v 1.2.3+4 -H 0x200 --pad-header -S 0x20000 app.bin app.signed.bin
//! brownout image verify -k key.pem app.signed.bin
//! brownout image dumpinfo [--json] app.signed.bin
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::Subcommand;
use mcuboot::image::{
    HashAlg, HexData, ImageInfo, ImageVersion, KeyType, PublicKey, PublicKeyFormat, SecurityCounter,
    SignOptions, SignVector, Signer, SigningKey, TrailerOptions, UUID_NAMESPACE_DNS, ValidationPolicy,
    parse_dependencies, parse_uuid, sign_with, signed_image_to_ihex, validate_with, vector_to_sign,
};
use serde_json::{Value, json};

/// Make, sign, verify and inspect MCUboot images (imgtool-compatible).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Generate a private key (PEM PKCS#8, as `imgtool keygen`).
    Keygen(KeygenArgs),
    /// Print the public key of a key file (PEM SubjectPublicKeyInfo).
    Getpub(GetpubArgs),
    /// Make a signed image from a binary, like `imgtool sign`.
    Sign(Box<SignArgs>),
    /// Check an image's hash and signature as MCUboot would.
    Verify(VerifyArgs),
    /// Print the header, every TLV and the trailer of an image.
    Dumpinfo(DumpinfoArgs),
}

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Key type: ed25519, ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072.
    #[arg(short = 't', long = "type", value_parser = parse_key_type)]
    pub key_type: KeyType,
    /// Output file for the private key.
    #[arg(short, long)]
    pub key: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct GetpubArgs {
    /// Private or public key PEM.
    #[arg(short, long)]
    pub key: PathBuf,
    /// Print the SHA-256 key hash (the KEYHASH TLV value) in hex instead.
    #[arg(long)]
    pub hash: bool,
}

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// Private key PEM; without it the image only carries its hash.
    #[arg(short, long)]
    pub key: Option<PathBuf>,
    /// Image version, maj[.min[.rev[+build]]], as imgtool's `-v/--version`.
    #[arg(short = 'v', long, value_parser = parse_version)]
    pub version: ImageVersion,
    /// Header size (>= 32); the payload starts here.
    #[arg(short = 'H', long, value_parser = parse_u16)]
    pub header_size: u16,
    /// Prepend the header as erased bytes instead of requiring the input to start with zeros.
    #[arg(long)]
    pub pad_header: bool,
    /// Slot size, for the overflow check and for --pad.
    #[arg(short = 'S', long, value_parser = parse_u32)]
    pub slot_size: u32,
    /// Pad to the slot size and write the trailer magic ("pending test upgrade").
    #[arg(long)]
    pub pad: bool,
    /// --pad and set image_ok ("pending permanent upgrade").
    #[arg(long)]
    pub confirm: bool,
    /// Same as --pad.
    #[arg(long)]
    pub test: bool,
    /// Flash write alignment: 1, 2, 4, 8, 16 or 32.
    #[arg(long, default_value = "1", value_parser = parse_u32)]
    pub align: u32,
    /// BOOT_MAX_ALIGN: 8, 16 or 32 (default max(8, align)).
    #[arg(long, value_parser = parse_u32)]
    pub max_align: Option<u32>,
    /// Sectors assumed for the trailer's status area estimate.
    #[arg(short = 'M', long, default_value = "128", value_parser = parse_u32)]
    pub max_sectors: u32,
    /// Trailer estimate of an overwrite-only bootloader (and no image_ok).
    #[arg(long)]
    pub overwrite_only: bool,
    /// Security counter: a number or `auto` (from the version).
    #[arg(short, long, value_parser = parse_security_counter)]
    pub security_counter: Option<SecurityCounter>,
    /// Dependencies: "(image_id,version),(image_id,version)".
    #[arg(short, long)]
    pub dependencies: Option<String>,
    /// Erased value of the flash: 0 or 0xff.
    #[arg(short = 'R', long, default_value = "0xff", value_parser = parse_erased)]
    pub erased_val: u8,
    /// RAM load address (sets RAM_LOAD).
    #[arg(short = 'L', long, value_parser = parse_u32)]
    pub load_addr: Option<u32>,
    /// Flash address the image was linked for (sets ROM_FIXED).
    #[arg(short = 'F', long, value_parser = parse_u32)]
    pub rom_fixed: Option<u32>,
    /// Mark the image non-bootable.
    #[arg(long)]
    pub non_bootable: bool,
    /// Hash: auto, 256, 384 or 512.
    #[arg(long, default_value = "auto")]
    pub sha: String,
    /// Ed25519 signature over the image itself (SIG_PURE).
    #[arg(long)]
    pub pure: bool,
    /// How to name the key: `hash` (KEYHASH) or `full` (PUBKEY).
    #[arg(long, default_value = "hash")]
    pub public_key_format: String,
    /// Pad ECDSA signatures to a fixed length (for MCUboot < 1.5).
    #[arg(long)]
    pub pad_sig: bool,
    /// Vendor UUID (UUID_VID TLV): a UUID, 32 hex digits, or a name (UUIDv5 in the DNS namespace).
    #[arg(long)]
    pub vid: Option<String>,
    /// Image class UUID (UUID_CID TLV): a UUID, 32 hex digits, or a name (UUIDv5 in the --vid namespace).
    #[arg(long)]
    pub cid: Option<String>,
    /// Extra protected TLV: TAG (0xa0..0xfffe) and VALUE (0x-prefixed hex or text).
    #[arg(long, num_args = 2, value_names = ["TAG", "VALUE"])]
    pub custom_tlv: Vec<String>,
    /// Write only what an external signer must sign (`payload`: header, payload and protected
    /// TLVs; `digest`: their hash) instead of the image. `-k` may then be a public key.
    #[arg(long, value_name = "payload|digest")]
    pub vector_to_sign: Option<String>,
    /// Put in this signature (base64, made elsewhere over the vector) instead of signing.
    #[arg(long, value_name = "FILE", requires = "fix_sig_pubkey", conflicts_with = "key")]
    pub fix_sig: Option<PathBuf>,
    /// The public key of the --fix-sig signature.
    #[arg(long, value_name = "FILE", requires = "fix_sig")]
    pub fix_sig_pubkey: Option<PathBuf>,
    /// Also write the signature (base64) to this file.
    #[arg(long, value_name = "FILE")]
    pub sig_out: Option<PathBuf>,
    /// Base address of a `.hex` output when the input is binary (overrides a `.hex` input's).
    #[arg(short = 'x', long, value_parser = parse_u32)]
    pub hex_addr: Option<u32>,
    /// Input: a binary, or Intel HEX if the name ends in `.hex`.
    pub infile: PathBuf,
    /// Output: a binary, or Intel HEX if the name ends in `.hex`.
    pub outfile: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Public or private key PEM the bootloader trusts (repeat for several); none = hash only.
    #[arg(short, long)]
    pub key: Vec<PathBuf>,
    /// Largest image (header through last TLV) the slot may hold.
    #[arg(long, value_parser = parse_u32)]
    pub max_size: Option<u32>,
    /// Require a security counter at least this large (hardware rollback protection).
    #[arg(long, value_parser = parse_u32)]
    pub min_security_counter: Option<u32>,
    /// Image file.
    pub imgfile: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct DumpinfoArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Image file.
    pub imgfile: PathBuf,
}

/// A number in decimal or with a 0x/0o/0b prefix, as imgtool accepts sizes.
pub fn parse_int(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, radix) = match t.get(..2).map(str::to_ascii_lowercase).as_deref() {
        Some("0x") => (&t[2..], 16),
        Some("0o") => (&t[2..], 8),
        Some("0b") => (&t[2..], 2),
        _ => (t, 10),
    };
    let digits = digits.replace('_', "");
    u64::from_str_radix(&digits, radix)
        .map_err(|_| format!("{text:?} is not a number (decimal or 0x/0o/0b-prefixed)"))
}

fn parse_u32(text: &str) -> Result<u32, String> {
    u32::try_from(parse_int(text)?).map_err(|_| format!("{text} does not fit in 32 bits"))
}

fn parse_u16(text: &str) -> Result<u16, String> {
    u16::try_from(parse_int(text)?).map_err(|_| format!("{text} does not fit in 16 bits"))
}

fn parse_erased(text: &str) -> Result<u8, String> {
    match parse_int(text)? {
        0 => Ok(0),
        0xff => Ok(0xff),
        _ => Err(format!("{text} is not an erased value (0 or 0xff)")),
    }
}

fn parse_version(text: &str) -> Result<ImageVersion, String> {
    text.parse().map_err(|e| format!("{e}"))
}

fn parse_key_type(text: &str) -> Result<KeyType, String> {
    text.parse().map_err(|e| format!("{e}"))
}

fn parse_security_counter(text: &str) -> Result<SecurityCounter, String> {
    if text.eq_ignore_ascii_case("auto") {
        return Ok(SecurityCounter::Auto);
    }
    Ok(SecurityCounter::Value(parse_u32(text)?))
}

/// Write to stdout; a closed pipe (`brownout image verify ... | head -1`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn read_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn is_hex(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("hex"))
}

/// Largest binary a HEX file may expand to (256 MiB).
const MAX_HEX_SPAN: u64 = 1 << 28;

fn read_hex(path: &Path) -> anyhow::Result<HexData> {
    HexData::parse(&read_text(path)?, MAX_HEX_SPAN).with_context(|| format!("reading {}", path.display()))
}

/// An image file's bytes: a binary as is, an Intel HEX file from its lowest address with holes
/// filled with 0xff (as imgtool reads it).
fn read_image(path: &Path) -> anyhow::Result<Vec<u8>> {
    if is_hex(path) { Ok(read_hex(path)?.to_binary(0xff)) } else { read_bytes(path) }
}

fn load_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    SigningKey::from_pem(&read_text(path)?).with_context(|| format!("key {}", path.display()))
}

fn load_public_key(path: &Path) -> anyhow::Result<PublicKey> {
    PublicKey::from_pem(&read_text(path)?).with_context(|| format!("key {}", path.display()))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        ImageCommand::Keygen(a) => keygen(a),
        ImageCommand::Getpub(a) => getpub(a),
        ImageCommand::Sign(a) => sign(*a),
        ImageCommand::Verify(a) => verify(a),
        ImageCommand::Dumpinfo(a) => dumpinfo(a),
    }
}

fn keygen(a: KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = SigningKey::generate(a.key_type)?;
    let pem = key.to_pem()?;
    std::fs::write(&a.key, pem).with_context(|| format!("writing {}", a.key.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn getpub(a: GetpubArgs) -> anyhow::Result<ExitCode> {
    let key = load_public_key(&a.key)?;
    if a.hash {
        emit(&format!("{}\n", hex::encode(key.key_hash(HashAlg::Sha256))))?;
    } else {
        emit(&key.to_pem()?)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn sign(a: SignArgs) -> anyhow::Result<ExitCode> {
    let vector = match a.vector_to_sign.as_deref() {
        None => None,
        Some("payload") => Some(SignVector::Payload),
        Some("digest") => Some(SignVector::Digest),
        Some(other) => bail!("--vector-to-sign {other:?}: expected payload or digest"),
    };
    // For a vector only the public half matters; otherwise -k must be able to sign.
    let key = match vector {
        Some(_) => None,
        None => a.key.as_deref().map(load_signing_key).transpose()?,
    };
    let vector_key = match (vector, a.key.as_deref()) {
        (Some(_), Some(k)) => Some(load_public_key(k)?),
        (Some(_), None) => bail!("--vector-to-sign needs -k/--key (a public or private key)"),
        (None, _) => None,
    };
    let fixed = match (&a.fix_sig, &a.fix_sig_pubkey) {
        (Some(sig), Some(public)) => {
            let text = read_text(sig)?;
            let signature = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .with_context(|| format!("{}: not base64", sig.display()))?;
            Some((load_public_key(public)?, signature))
        }
        _ => None,
    };
    let hash = match a.sha.as_str() {
        "auto" => None,
        "256" => Some(HashAlg::Sha256),
        "384" => Some(HashAlg::Sha384),
        "512" => Some(HashAlg::Sha512),
        other => bail!("--sha {other:?}: expected auto, 256, 384 or 512"),
    };
    let public_key_format = match a.public_key_format.as_str() {
        "hash" => PublicKeyFormat::Hash,
        "full" => PublicKeyFormat::Full,
        other => bail!("--public-key-format {other:?}: expected hash or full"),
    };
    let dependencies = match &a.dependencies {
        Some(d) => parse_dependencies(d).map_err(|e| anyhow::anyhow!("--dependencies: {e}"))?,
        None => Vec::new(),
    };
    let mut custom_tlvs = Vec::new();
    for pair in a.custom_tlv.chunks(2) {
        let [tag, value] = pair else { bail!("--custom-tlv needs TAG and VALUE") };
        let tag = parse_u16(tag).map_err(|e| anyhow::anyhow!("--custom-tlv tag: {e}"))?;
        let data = match value.strip_prefix("0x") {
            Some(h) => hex::decode(h).with_context(|| format!("--custom-tlv value {value:?}"))?,
            None => value.as_bytes().to_vec(),
        };
        custom_tlvs.push((tag, data));
    }
    let vid = a
        .vid
        .as_deref()
        .map(|v| parse_uuid(Some(&UUID_NAMESPACE_DNS), v))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--vid: {e}"))?;
    let cid = a
        .cid
        .as_deref()
        .map(|c| parse_uuid(vid.as_ref(), c))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--cid: {e}"))?;
    let opts = SignOptions {
        vid,
        cid,
        version: a.version,
        header_size: a.header_size,
        pad_header: a.pad_header,
        slot_size: a.slot_size,
        load_addr: a.load_addr,
        rom_fixed: a.rom_fixed,
        non_bootable: a.non_bootable,
        erased_val: a.erased_val,
        security_counter: a.security_counter,
        dependencies,
        custom_tlvs,
        hash,
        pure: a.pure,
        public_key_format,
        pad_sig: a.pad_sig,
        trailer: TrailerOptions {
            align: a.align,
            max_align: a.max_align,
            max_sectors: a.max_sectors,
            overwrite_only: a.overwrite_only,
            pad: a.pad,
            confirm: a.confirm,
            test: a.test,
        },
    };
    let (input, hex_base) = if is_hex(&a.infile) {
        let hex = read_hex(&a.infile)?;
        (hex.to_binary(0xff), hex.min_addr())
    } else {
        (read_bytes(&a.infile)?, None)
    };
    if let (Some(vector), Some(public)) = (vector, &vector_key) {
        if opts.trailer.pads() {
            bail!("--vector-to-sign writes the data to sign; --pad/--confirm/--test do not apply");
        }
        let bytes = vector_to_sign(&input, public, &opts, vector)
            .with_context(|| format!("signing {}", a.infile.display()))?;
        std::fs::write(&a.outfile, bytes).with_context(|| format!("writing {}", a.outfile.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let signer = match (&fixed, &key) {
        (Some((public, signature)), _) => Signer::Fixed { public, signature },
        (None, Some(k)) => Signer::Key(k),
        (None, None) => Signer::Unsigned,
    };
    let signed =
        sign_with(&input, signer, &opts).with_context(|| format!("signing {}", a.infile.display()))?;
    if let Some(path) = &a.sig_out {
        let Some(sig) = &signed.signature else { bail!("--sig-out: the image is not signed (no -k)") };
        let text = base64::engine::general_purpose::STANDARD.encode(sig);
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let image = signed.image;
    let out = if is_hex(&a.outfile) {
        // imgtool: the HEX input's lowest address, moved down by a prepended header.
        let base = match (a.hex_addr, hex_base) {
            (Some(x), _) => u64::from(x),
            (None, Some(b)) if a.pad_header && b != 0 => {
                b.checked_sub(u64::from(a.header_size)).with_context(|| {
                    format!("{}: no room below {b:#x} for the padded header", a.infile.display())
                })?
            }
            (None, Some(b)) => b,
            (None, None) => bail!(
                "{}: a binary input has no address for the HEX output; give -x/--hex-addr",
                a.infile.display()
            ),
        };
        let base = u32::try_from(base).context("HEX base address above 4 GiB")?;
        signed_image_to_ihex(&image, base, &opts)?.into_bytes()
    } else {
        image
    };
    std::fs::write(&a.outfile, out).with_context(|| format!("writing {}", a.outfile.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let keys = a.key.iter().map(|k| load_public_key(k)).collect::<anyhow::Result<Vec<_>>>()?;
    let bytes = read_image(&a.imgfile)?;
    let policy = ValidationPolicy {
        max_image_size: a.max_size.map(|m| m as usize),
        hash: None,
        min_security_counter: a.min_security_counter,
        ..ValidationPolicy::default()
    };
    match validate_with(&bytes, &keys, &policy) {
        Ok(v) => {
            let mut out = String::new();
            writeln!(out, "{}: valid", a.imgfile.display())?;
            writeln!(out, "  version           {}", v.header.version)?;
            let hash_name = v.hash_alg.tlv_kind().name().unwrap_or("?");
            writeln!(out, "  hash              {hash_name} {}", hex::encode(&v.hash))?;
            writeln!(out, "  size              {} bytes (header through last TLV)", v.total_size)?;
            match v.key_index {
                Some(i) => writeln!(
                    out,
                    "  signed by         key {i} ({}, {})",
                    a.key[i].display(),
                    keys[i].key_type()
                )?,
                None => writeln!(out, "  signature         not checked (no key given)")?,
            }
            if let Some(sc) = v.security_counter {
                writeln!(out, "  security counter  {sc}")?;
            }
            if let Some(u) = v.vid {
                writeln!(out, "  vendor UUID       {}", hex::encode(u))?;
            }
            if let Some(u) = v.cid {
                writeln!(out, "  class UUID        {}", hex::encode(u))?;
            }
            for d in &v.dependencies {
                writeln!(out, "  depends on        image {} >= {}", d.image_id, d.min_version)?;
            }
            emit(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}: invalid image: {e}", a.imgfile.display());
            Ok(ExitCode::from(1))
        }
    }
}

fn tlv_json(t: &mcuboot::image::Tlv<'_>) -> Value {
    json!({
        "offset": t.offset,
        "type": t.kind.to_u16(),
        "type_name": t.kind.name().unwrap_or("UNKNOWN"),
        "len": t.data.len(),
        "data": hex::encode(t.data),
    })
}

/// The JSON form of [`ImageInfo`] that `dumpinfo --json` prints.
pub fn info_json(file: &str, info: &ImageInfo<'_>) -> Value {
    let header = info.header.map(|h| {
        json!({
            "magic": h.magic,
            "load_addr": h.load_addr,
            "hdr_size": h.hdr_size,
            "protect_tlv_size": h.protect_tlv_size,
            "img_size": h.img_size,
            "flags": h.flags.bits(),
            "flag_names": h.flags.names(),
            "version": h.version.to_string(),
            "version_parts": {
                "major": h.version.major,
                "minor": h.version.minor,
                "revision": h.version.revision,
                "build_num": h.version.build_num,
            },
        })
    });
    let tlvs = |protected: bool| -> Vec<Value> {
        info.tlvs.iter().filter(|t| t.protected == protected).map(tlv_json).collect()
    };
    let trailer = info.trailer.as_ref().map(|t| {
        json!({
            "magic": hex::encode(t.magic),
            "max_align": t.max_align,
            "swap_size": t.swap_size,
            "swap_info": t.swap_info,
            "copy_done": t.copy_done,
            "image_ok": t.image_ok,
        })
    });
    json!({
        "file": file,
        "file_size": info.file_size,
        "header": header,
        "protected_tlv_area": info.layout.as_ref().and_then(|l| l.protected.as_ref()).map(|r| json!({"offset": r.start, "size": r.len()})),
        "protected_tlvs": tlvs(true),
        "tlv_area": info.layout.as_ref().map(|l| json!({"offset": l.unprotected.start, "size": l.unprotected.len()})),
        "tlvs": tlvs(false),
        "image_end": info.layout.as_ref().map(|l| l.total_size()),
        "trailer": trailer,
        "error": info.error.as_ref().map(|e| e.to_string()),
    })
}

fn dumpinfo(a: DumpinfoArgs) -> anyhow::Result<ExitCode> {
    let bytes = read_image(&a.imgfile)?;
    let info = ImageInfo::read(&bytes);
    let name = a.imgfile.display().to_string();
    if a.json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&info_json(&name, &info))?))?;
    } else {
        emit(&format!("{name}\n{}", info.to_table()))?;
    }
    if let Some(e) = &info.error {
        eprintln!("{name}: {e}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_imgtool_forms() {
        assert_eq!(parse_int("0x200"), Ok(0x200));
        assert_eq!(parse_int("0X20"), Ok(0x20));
        assert_eq!(parse_int("131072"), Ok(131072));
        assert_eq!(parse_int("0b101"), Ok(5));
        assert!(parse_int("0xzz").is_err());
        assert!(parse_int("").is_err());
        assert!(parse_u16("0x10000").is_err());
        assert_eq!(parse_erased("0"), Ok(0));
        assert!(parse_erased("0x7f").is_err());
        assert_eq!(parse_security_counter("AUTO"), Ok(SecurityCounter::Auto));
    }
}
