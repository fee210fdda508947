//! insta snapshots of every message kind: the request and the reply of every command, and the
//! error reply shapes — encoded (hex, both map styles) and decoded (diagnostic notation and the
//! typed value). A change in any byte or any decoded field shows up as a snapshot diff.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use smp::cbor::{self, MapStyle};
use smp::error::{ErrorBody, GroupErrorReply, zephyr_group_error_reply};
use smp::header::{Group, Header, Version};
use smp::message::{Message, Request, Response};
use std::fmt::Write as _;

fn spaced_hex(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, chunk) in bytes.chunks(32).enumerate() {
        if i > 0 {
            s.push('\n');
        }
        let line: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        s.push_str(&line.join(" "));
    }
    s
}

fn describe(bytes: &[u8], decoded: &dyn std::fmt::Debug) -> String {
    let (m, _) = Message::parse(bytes).unwrap();
    let mut s = String::new();
    writeln!(s, "header: {}", m.header).unwrap();
    writeln!(s, "body: {}", m.body.as_ref().map(|b| b.to_string()).unwrap_or_default()).unwrap();
    writeln!(s, "bytes:\n{}", spaced_hex(bytes)).unwrap();
    writeln!(s, "decoded: {decoded:?}").unwrap();
    s
}

fn slug(name: &str) -> String {
    name.replace(' ', "_")
}

#[test]
fn every_request_kind() {
    for request in common::requests() {
        let mut text = String::new();
        for (label, style) in
            [("definite (client style)", MapStyle::Definite), ("indefinite", MapStyle::Indefinite)]
        {
            let bytes = request.encode(7, Version::V2, style).unwrap();
            let (_, decoded, rest) = Request::decode(&bytes).unwrap();
            assert!(rest.is_empty());
            assert_eq!(decoded, request);
            writeln!(text, "== {label}").unwrap();
            if style == MapStyle::Definite {
                text.push_str(&describe(&bytes, &decoded));
            } else {
                writeln!(text, "bytes:\n{}", spaced_hex(&bytes)).unwrap();
            }
        }
        insta::assert_snapshot!(format!("request__{}", slug(&request.command_name())), text);
    }
}

#[test]
fn every_response_kind() {
    for body in common::responses() {
        let command = body.command().unwrap();
        let request = Header::new(Version::V2, command.op(), command.group(), command.id(), 7, 0);
        let response = Response::Ok(body);
        let mut text = String::new();
        for (label, style) in
            [("indefinite (Zephyr style)", MapStyle::Indefinite), ("definite", MapStyle::Definite)]
        {
            let bytes = response.encode(&request, style).unwrap();
            let (_, decoded, rest) = Response::decode(&bytes).unwrap();
            assert!(rest.is_empty());
            assert_eq!(decoded, response);
            writeln!(text, "== {label}").unwrap();
            if style == MapStyle::Indefinite {
                text.push_str(&describe(&bytes, &decoded));
            } else {
                writeln!(text, "bytes:\n{}", spaced_hex(&bytes)).unwrap();
            }
        }
        insta::assert_snapshot!(format!("response__{}", slug(command.name())), text);
    }
}

#[test]
fn every_error_reply_shape() {
    for (name, group, response) in common::error_responses() {
        let mut text = String::new();
        for version in [Version::V2, Version::V1] {
            let request = Header::new(version, smp::header::Op::Write, group, 0, 3, 0);
            // What Zephyr sends to this request version: group errors are translated for v1.
            let sent = match (&response, version) {
                (Response::Err(ErrorBody { err: Some(err), rsn, .. }), Version::V1) => {
                    let reporting = Group::from_id(err.group);
                    match zephyr_group_error_reply(version, reporting, err.rc) {
                        GroupErrorReply::Rc(rc) => Some(Response::Err(ErrorBody {
                            rc: Some(rc),
                            rsn: rsn.clone(),
                            ..ErrorBody::default()
                        })),
                        GroupErrorReply::Err(_) => Some(response.clone()),
                        GroupErrorReply::HeaderNeverWritten => None,
                    }
                }
                _ => Some(response.clone()),
            };
            writeln!(text, "== request {version}").unwrap();
            let Some(sent) = sent else {
                writeln!(text, "v1 translation is EOK: Zephyr never writes the reply header").unwrap();
                continue;
            };
            let bytes = sent.encode(&request, MapStyle::Indefinite).unwrap();
            let (_, decoded, _) = Response::decode(&bytes).unwrap();
            assert_eq!(decoded, sent);
            text.push_str(&describe(&bytes, &decoded));
            if let Response::Err(e) = &decoded {
                writeln!(text, "display: {e}").unwrap();
            }
        }
        insta::assert_snapshot!(format!("error__{name}"), text);
    }
}

#[test]
fn diagnostic_notation_of_an_empty_body() {
    assert_eq!(cbor::decode(&[0xbf, 0xff]).unwrap().to_string(), "{}");
}
