//! A third-party client's view of the stat, settings, fs, shell, enumeration and Zephyr
//! basic groups: requests built by Python `smp` 4.2.0 (the package behind smpclient/smpmgr),
//! replies from the simulated device decoded by its response and error models, and the
//! decoded values checked on the Python side (a 2 KiB file uploaded and downloaded back
//! through Python, its SHA-256 and CRC-32 compared with `hashlib`/`zlib`). Skipped (with a
//! note) when the package is not installed.

mod device_support;

use std::process::Command;

use device_support::*;

const GEN: &str = r#"
import smp.file_management as f, smp.settings_management as s, smp.statistics_management as st
import smp.shell_management as sh, smp.enumeration_management as e, smp.zephyr_management as z
data = bytes((i * 7 + 3) & 0xff for i in range(2048))
def out(resp, err, req):
    print(resp, err, req.BYTES.hex())
out('st.ListOfGroupsResponse', 'st.StatisticsManagementErrorV2', st.ListOfGroupsRequest())
out('st.GroupDataResponse', 'st.StatisticsManagementErrorV2', st.GroupDataRequest(name='smp_svr_stats'))
out('st.GroupDataResponse', 'st.StatisticsManagementErrorV2', st.GroupDataRequest(name='nope'))
out('s.WriteSettingResponse', 's.SettingsManagementErrorV2', s.WriteSettingRequest(name='app/x', val=b'\x01\x02\x03'))
out('s.ReadSettingResponse', 's.SettingsManagementErrorV2', s.ReadSettingRequest(name='app/x'))
out('s.ReadSettingResponse', 's.SettingsManagementErrorV2', s.ReadSettingRequest(name='app/x', max_size=100))
out('s.SaveSettingsResponse', 's.SettingsManagementErrorV2', s.SaveSettingsRequest())
out('s.LoadSettingsResponse', 's.SettingsManagementErrorV2', s.LoadSettingsRequest())
out('s.CommitSettingsResponse', 's.SettingsManagementErrorV2', s.CommitSettingsRequest())
out('s.DeleteSettingResponse', 's.SettingsManagementErrorV2', s.DeleteSettingRequest(name='app/x'))
out('s.ReadSettingResponse', 's.SettingsManagementErrorV2', s.ReadSettingRequest(name='app/none'))
out('s.ReadSettingResponse', 's.SettingsManagementErrorV2', s.ReadSettingRequest(name='a' * 40))
for off in range(0, len(data), 200):
    chunk = data[off:off + 200]
    if off == 0:
        req = f.FileUploadRequest(off=0, data=chunk, name='/lfs1/p.bin', len=len(data))
    else:
        req = f.FileUploadRequest(off=off, data=chunk, name='/lfs1/p.bin')
    out('f.FileUploadResponse', 'f.FileSystemManagementErrorV2', req)
out('f.FileUploadResponse', 'f.FileSystemManagementErrorV2', f.FileUploadRequest(off=5, data=b'x', name='/lfs1/q'))
out('f.FileStatusResponse', 'f.FileSystemManagementErrorV2', f.FileStatusRequest(name='/lfs1/p.bin'))
out('f.FileStatusResponse', 'f.FileSystemManagementErrorV2', f.FileStatusRequest(name='/lfs1/none'))
out('f.FileHashChecksumResponse', 'f.FileSystemManagementErrorV2', f.FileHashChecksumRequest(name='/lfs1/p.bin', type='sha256'))
out('f.FileHashChecksumResponse', 'f.FileSystemManagementErrorV2', f.FileHashChecksumRequest(name='/lfs1/p.bin', type='crc32'))
out('f.FileHashChecksumResponse', 'f.FileSystemManagementErrorV2', f.FileHashChecksumRequest(name='/lfs1/p.bin'))
out('f.SupportedFileHashChecksumTypesResponse', 'f.FileSystemManagementErrorV2', f.SupportedFileHashChecksumTypesRequest())
for off in range(0, len(data), 337):
    out('f.FileDownloadResponse', 'f.FileSystemManagementErrorV2', f.FileDownloadRequest(off=off, name='/lfs1/p.bin'))
out('f.FileCloseResponse', 'f.FileSystemManagementErrorV2', f.FileCloseRequest())
out('sh.ExecuteResponse', 'sh.ShellManagementErrorV2', sh.ExecuteRequest(argv=['kernel', 'version']))
out('sh.ExecuteResponse', 'sh.ShellManagementErrorV2', sh.ExecuteRequest(argv=['nope']))
out('sh.ExecuteResponse', 'sh.ShellManagementErrorV2', sh.ExecuteRequest(argv=[]))
out('e.GroupCountResponse', 'e.EnumManagementErrorV2', e.GroupCountRequest())
out('e.ListOfGroupsResponse', 'e.EnumManagementErrorV2', e.ListOfGroupsRequest())
out('e.GroupIdResponse', 'e.EnumManagementErrorV2', e.GroupIdRequest(index=0))
out('e.GroupIdResponse', 'e.EnumManagementErrorV2', e.GroupIdRequest(index=7))
out('e.GroupIdResponse', 'e.EnumManagementErrorV2', e.GroupIdRequest(index=8))
out('e.GroupDetailsResponse', 'e.EnumManagementErrorV2', e.GroupDetailsRequest())
out('e.GroupDetailsResponse', 'e.EnumManagementErrorV2', e.GroupDetailsRequest(groups=(8, 9)))
out('z.EraseStorageResponse', 'z.ZephyrManagementErrorV2', z.EraseStorageRequest())
"#;

const CHECK: &str = r#"
import sys, hashlib, zlib, enum, cbor2
import smp.file_management as f, smp.settings_management as s, smp.statistics_management as st
import smp.shell_management as sh, smp.enumeration_management as e, smp.zephyr_management as z
data = bytes((i * 7 + 3) & 0xff for i in range(2048))
def plain(x):
    if isinstance(x, (bytes, bytearray)):
        return 'h' + bytes(x).hex() if len(x) <= 16 else f'<{len(x)} bytes sha256 {hashlib.sha256(x).hexdigest()[:16]}>'
    if isinstance(x, dict):
        return {str(k.value if isinstance(k, enum.Enum) else k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, enum.Enum):
        return f'{type(x).__name__}.{x.name}'
    return x
downloaded = b''
n = 0
for line in sys.stdin:
    resp, err, hexreply = line.split()
    raw = bytes.fromhex(hexreply)
    body = cbor2.loads(raw[8:])
    cls = err if ('err' in body or body.get('rc', 0) != 0) else resp
    if cls == 'f.FileSystemManagementErrorV2' and 'len' in body:
        # Known divergence: Zephyr's FILE_OFFSET_NOT_VALID reply carries a top-level "len"
        # next to "err"; smp 4.2.0's error model forbids extra keys. Check the raw CBOR.
        assert body['err'] == {'group': 8, 'rc': 11}, body
        print(cls, sorted(body.keys()), 'smp 4.2.0 cannot model this reply')
        n += 1
        continue
    if cls == 'sh.ShellManagementErrorV2' and body['err'].get('rc') == 3:
        # Known divergence: smp 4.2.0's SHELL_MGMT_RET_RC stops at 2 (INVALID_FORMAT); Zephyr
        # sends 3 (EMPTY_COMMAND) for an empty argv. Check the raw CBOR.
        assert body['err'] == {'group': 9, 'rc': 3}, body
        print(cls, body, 'smp 4.2.0 has no code 3 (EMPTY_COMMAND)')
        n += 1
        continue
    r = eval(cls).loads(raw)
    d = r.model_dump(exclude={'header', 'smp_data', 'version', 'sequence'}, exclude_unset=True)
    if cls == 'f.FileDownloadResponse':
        assert r.off == len(downloaded), (r.off, len(downloaded))
        downloaded += r.data
    if cls == 'f.FileHashChecksumResponse':
        expect = hashlib.sha256(data).digest() if r.type == 'sha256' else zlib.crc32(data)
        assert r.output == expect, (r.type, r.output, expect)
        assert r.len == len(data)
    print(cls, plain(d))
    n += 1
assert downloaded == data, 'download differs from upload'
print('download matches upload:', len(downloaded), 'bytes')
print('decoded', n)
"#;

#[test]
fn python_smp_requests_get_replies_python_smp_decodes() {
    let Some(py) = testkit::python_with("smp", "pip install smp==4.2.0") else { return };
    let gen_out = Command::new(&py).arg("-c").arg(GEN).output().expect("python runs");
    assert!(gen_out.status.success(), "{}", String::from_utf8_lossy(&gen_out.stderr));
    let mut dev = small_device();
    let mut lines = String::new();
    let mut requests = 0;
    for line in String::from_utf8(gen_out.stdout).expect("utf-8").lines() {
        let mut parts = line.split(' ');
        let (resp, err, req) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let replies = dev.handle(&hex::decode(req).unwrap());
        assert_eq!(replies.len(), 1, "{resp}: {replies:?}");
        lines.push_str(&format!("{resp} {err} {}\n", hex::encode(&replies[0])));
        requests += 1;
    }
    let out = testkit::run_python(&py, CHECK, &lines);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python smp could not decode a reply or a value differs:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("decoded {requests}")), "{stdout}");
    insta::assert_snapshot!(
        "python_decoded",
        stdout
            .lines()
            .filter(|l| !l.starts_with("f.FileUploadResponse {'off'"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
