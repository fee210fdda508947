//! Every wire fault, on every transport, is seen by the client as configured: a dropped reply
//! never comes, a duplicate comes twice, a delayed one no sooner than its delay, a reordered
//! one after the next, a corrupted one fails its CRC (serial) or differs in its last byte, a
//! truncated one is cut, a wrong sequence number is one more than the request's. After each,
//! the transport keeps answering.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "transport_support.rs"]
mod support;

use std::time::{Duration, Instant};

use sim_device::transport::faults::{self, FaultKind, FaultPlan, FaultRule, Trigger};
use smp::serial::EncodeOptions;
use support::{ALL, Kind, WAIT, Wire, echo, echo_text};

fn seqs(replies: &[Vec<u8>]) -> Vec<u8> {
    replies.iter().map(|r| r[6]).collect()
}

#[test]
fn drop_loses_exactly_the_nth_reply() {
    for kind in ALL {
        let mut w = Wire::new(kind, FaultPlan::one(FaultRule::nth(FaultKind::Drop, 2)));
        for seq in 1..=3 {
            w.send(&echo(seq, "x"));
        }
        assert_eq!(seqs(&w.recv_until_seq(3)), vec![1, 3], "{kind:?}");
        w.assert_answers(4);
    }
}

#[test]
fn duplicate_sends_the_reply_twice() {
    for kind in ALL {
        let mut w = Wire::new(kind, FaultPlan::one(FaultRule::nth(FaultKind::Duplicate, 1)));
        w.send(&echo(1, "x"));
        w.send(&echo(2, "y"));
        let got = w.recv_until_seq(2);
        assert_eq!(seqs(&got), vec![1, 1, 2], "{kind:?}");
        assert_eq!(got[0], got[1]);
        w.assert_answers(3);
    }
}

#[test]
fn delay_holds_the_reply_back_at_least_that_long() {
    for kind in ALL {
        let mut w = Wire::new(kind, FaultPlan::one(FaultRule::nth(FaultKind::Delay { ms: 400 }, 1)));
        let sent = Instant::now();
        w.send(&echo(1, "late"));
        let got = w.recv_until_seq(1);
        assert!(sent.elapsed() >= Duration::from_millis(400), "{kind:?}");
        assert_eq!(echo_text(&got[0]).as_deref(), Some("late"));
        w.assert_answers(2);
    }
}

#[test]
fn delay_on_a_serial_line_holds_up_the_frames_behind_it() {
    let mut w = Wire::new(Kind::Pty, FaultPlan::one(FaultRule::nth(FaultKind::Delay { ms: 300 }, 1)));
    w.send(&echo(1, "a"));
    w.send(&echo(2, "b"));
    assert_eq!(seqs(&w.recv_until_seq(2)), vec![1, 2]);
}

#[test]
fn reorder_sends_the_reply_after_the_next_one() {
    for kind in ALL {
        let plan =
            FaultPlan { reorder_hold_ms: 60_000, ..FaultPlan::one(FaultRule::nth(FaultKind::Reorder, 1)) };
        let mut w = Wire::new(kind, plan);
        w.send(&echo(1, "first"));
        w.send(&echo(2, "second"));
        let mut got = w.recv_until_seq(2);
        if got.len() == 1 {
            got.extend(w.recv_until_seq(1));
        }
        assert_eq!(seqs(&got), vec![2, 1], "{kind:?}");
        w.assert_answers(3);
    }
}

#[test]
fn reorder_without_a_following_reply_releases_after_the_hold_time() {
    for kind in ALL {
        let plan =
            FaultPlan { reorder_hold_ms: 200, ..FaultPlan::one(FaultRule::nth(FaultKind::Reorder, 1)) };
        let mut w = Wire::new(kind, plan);
        let sent = Instant::now();
        w.send(&echo(1, "alone"));
        assert_eq!(seqs(&w.recv_until_seq(1)), vec![1], "{kind:?}");
        assert!(sent.elapsed() >= Duration::from_millis(200));
    }
}

#[test]
fn wrong_seq_answers_with_the_next_sequence_number() {
    for kind in ALL {
        let mut w = Wire::new(kind, FaultPlan::one(FaultRule::nth(FaultKind::WrongSeq, 1)));
        w.send(&echo(10, "seq"));
        // On the PTY the frame must still be valid (CRC recomputed): it decodes.
        let got = w.recv_packet(WAIT).expect("a reply");
        assert_eq!(got[6], 11, "{kind:?}");
        assert_eq!(echo_text(&got).as_deref(), Some("seq"));
        w.assert_answers(12);
    }
}

/// The clean reply the device gives to `request` (computed on another device).
fn clean_reply(request: &[u8]) -> Vec<u8> {
    support::device().handle(request).remove(0)
}

#[test]
fn corrupt_crc_on_serial_fails_the_crc_and_nothing_else() {
    let mut w = Wire::new(Kind::Pty, FaultPlan::one(FaultRule::nth(FaultKind::CorruptCrc, 1)));
    let request = echo(1, "crc");
    w.send(&request);
    let mut expected = smp::serial::encode(&clean_reply(&request), EncodeOptions::default()).unwrap();
    let lines = expected.iter().filter(|&&b| b == b'\n').count();
    let wire = w.pty_client().read_lines(lines);
    assert_ne!(wire, expected);
    faults::corrupt_frame_crc(&mut expected);
    assert_eq!(wire, expected);
    let mut d = smp::serial::SerialDecoder::new();
    d.push(&wire);
    let e = d.next_event().unwrap().unwrap_err();
    assert!(matches!(e.kind, smp::serial::FrameErrorKind::BadCrc { .. }), "{e}");
    w.assert_answers(2);
}

#[test]
fn corrupt_on_datagrams_inverts_the_last_byte() {
    for kind in [Kind::InProc, Kind::Udp] {
        let mut w = Wire::new(kind, FaultPlan::one(FaultRule::nth(FaultKind::CorruptCrc, 1)));
        let request = echo(1, "crc");
        w.send(&request);
        let got = w.recv_raw(WAIT).unwrap();
        let mut expected = clean_reply(&request);
        assert_ne!(got, expected);
        faults::corrupt_last_byte(&mut expected);
        assert_eq!(got, expected, "{kind:?}");
        w.assert_answers(2);
    }
}

#[test]
fn truncate_cuts_the_last_line_or_the_datagram() {
    let request = echo(1, "a fairly long text so the reply frame takes more than one line of base64 text...");
    let clean = clean_reply(&request);

    let mut w = Wire::new(Kind::Pty, FaultPlan::one(FaultRule::nth(FaultKind::TruncateLine, 1)));
    w.send(&request);
    let mut expected = smp::serial::encode(&clean, EncodeOptions::default()).unwrap();
    let lines = expected.iter().filter(|&&b| b == b'\n').count();
    assert!(lines >= 2);
    faults::truncate_last_line(&mut expected);
    let wire = w.pty_client().read_lines(lines);
    assert_eq!(wire, expected);
    w.assert_answers(2);

    for kind in [Kind::InProc, Kind::Udp] {
        let mut w = Wire::new(kind, FaultPlan::one(FaultRule::nth(FaultKind::TruncateLine, 1)));
        w.send(&request);
        assert_eq!(w.recv_raw(WAIT).unwrap(), clean[..clean.len() / 2], "{kind:?}");
        w.assert_answers(2);
    }
}

#[test]
fn probability_faults_are_seeded_and_replayable() {
    // Drop about half the replies at random: exactly the ones the seeded generator picks, on
    // every transport.
    let plan =
        FaultPlan::one(FaultRule { kind: FaultKind::Drop, trigger: Trigger::Probability(0.5) }).seed(7);
    let mut state = faults::FaultState::new(plan.clone());
    let expected: Vec<u8> = (1..=21u8).filter(|_| state.next_reply().is_empty()).collect();
    let last = *expected.last().unwrap();
    assert!(expected.len() > 4 && expected.len() < 18, "{expected:?}");
    for kind in ALL {
        let mut w = Wire::new(kind, plan.clone());
        for seq in 1..=21 {
            w.send(&echo(seq, "p"));
        }
        assert_eq!(seqs(&w.recv_until_seq(last)), expected, "{kind:?}");
    }
}

#[test]
fn faults_can_be_changed_while_running() {
    for kind in ALL {
        let mut w = Wire::new(kind, FaultPlan::none());
        w.assert_answers(1);
        w.set_faults(FaultPlan::one(FaultRule::nth(FaultKind::WrongSeq, 1)));
        w.send(&echo(5, "x"));
        assert_eq!(w.recv_packet(WAIT).unwrap()[6], 6, "{kind:?}");
        w.set_faults(FaultPlan::none());
        w.assert_answers(7);
    }
}
