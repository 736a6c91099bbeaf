//! Tests of the lane MD5: every backend this CPU runs gives, for every message of a batch, the
//! digest the md-5 crate gives for that message alone, whatever the lengths and batch sizes.

use super::*;

/// The md-5 crate's digest, the reference.
fn reference(message: &[u8]) -> [u8; 16] {
    md5::Md5::digest(message).into()
}

/// Deterministic pseudo-random bytes (a fixed seed per call site).
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = vec![0u8; len];
    rng.fill(&mut out);
    out
}

/// Each message as one piece.
fn whole<'a>(messages: &[&'a [u8]]) -> Vec<Split<'a>> {
    messages.iter().map(|m| (&[][..], *m)).collect()
}

/// Asserts that every backend gives the reference digest for every message, in input order.
fn assert_all_backends(messages: &[Vec<u8>]) {
    let borrowed: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let expected: Vec<[u8; 16]> = borrowed.iter().map(|m| reference(m)).collect();
    for backend in Backend::available() {
        let got = md5_many_on(&whole(&borrowed), backend);
        assert_eq!(got.len(), messages.len(), "{backend:?}");
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(
                crate::digest::hex(g),
                crate::digest::hex(e),
                "{backend:?}: message {i} of {} ({} bytes)",
                messages.len(),
                messages[i].len()
            );
        }
    }
    assert_eq!(md5_many(&borrowed), expected, "md5_many");
}

#[test]
fn rfc1321_test_suite() {
    let suite: [(&str, &str); 7] = [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        (
            "abcdefghijklmnopqrstuvwxyz",
            "c3fcd3d76192e4007dfb496cca67e13b",
        ),
        (
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            "d174ab98d277d9f5a5611c2c9f419d9f",
        ),
        (
            "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
            "57edf4a22be3c955ac49da2e2107b67a",
        ),
    ];
    let messages: Vec<&[u8]> = suite.iter().map(|(m, _)| m.as_bytes()).collect();
    for backend in Backend::available() {
        let got = md5_many_on(&whole(&messages), backend);
        for ((message, want), digest) in suite.iter().zip(&got) {
            assert_eq!(
                crate::digest::hex(digest),
                *want,
                "{backend:?}: {message:?}"
            );
        }
    }
    for (message, want) in suite {
        assert_eq!(
            crate::digest::hex(&md5_one(message.as_bytes())),
            want,
            "md5_one({message:?})"
        );
    }
}

/// Lengths 0..=300 in one batch: lanes finish at different blocks and take new messages
/// mid-batch; lengths around 55/56/64 change the number of padded blocks.
#[test]
fn every_length_up_to_300_in_one_batch() {
    let messages: Vec<Vec<u8>> = (0..=300).map(|n| bytes(n as u64, n)).collect();
    assert_all_backends(&messages);
}

#[test]
fn every_length_up_to_300_alone_and_in_lane_sized_batches() {
    for n in 0..=300usize {
        assert_all_backends(&[bytes(7, n)]);
        for lanes in [8, 16] {
            let batch: Vec<Vec<u8>> = (0..lanes)
                .map(|k| bytes(k as u64 * 1000 + n as u64, n))
                .collect();
            assert_all_backends(&batch);
        }
    }
}

#[test]
fn batches_of_many_sizes() {
    for count in [1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 100] {
        let messages: Vec<Vec<u8>> = (0..count)
            .map(|k| bytes(count as u64 * 131 + k as u64, 37 * k % 500))
            .collect();
        assert_all_backends(&messages);
    }
}

/// Large and small messages mixed, so a few long ones outlive the queue and the rest of their
/// blocks are finished one lane at a time.
#[test]
fn large_and_small_mixed() {
    let mut messages = vec![bytes(1, 1 << 20), bytes(2, 128 * 1024 + 3)];
    messages.extend((0..40).map(|k| bytes(100 + k, 8 * 1024 + k as usize)));
    messages.push(bytes(3, 128 * 1024));
    messages.extend((0..20).map(|k| bytes(200 + k, 128 * 1024 - k as usize)));
    messages.push(Vec::new());
    assert_all_backends(&messages);
}

/// Equal lengths (so the longest-first order has ties) and distinct contents: a digest that went
/// to another message's slot would equal that message's reference, not this one's.
#[test]
fn each_digest_lands_in_its_messages_slot() {
    for (count, len) in [(40usize, 64usize), (40, 1000), (23, 0), (17, 8192)] {
        let mut messages: Vec<Vec<u8>> = (0..count).map(|k| bytes(k as u64, len)).collect();
        if len == 0 {
            // Empty messages all share one digest; make them distinct by a one-byte prefix.
            messages = (0..count).map(|k| vec![k as u8]).collect();
        }
        let borrowed: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let expected: Vec<[u8; 16]> = borrowed.iter().map(|m| reference(m)).collect();
        let mut distinct = expected.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), count, "test messages must differ");
        for backend in Backend::available() {
            let got = md5_many_on(&whole(&borrowed), backend);
            for (i, g) in got.iter().enumerate() {
                let found = expected.iter().position(|e| e == g);
                assert_eq!(
                    found,
                    Some(i),
                    "{backend:?}: slot {i} of {count} × {len} bytes"
                );
            }
        }
    }
}

#[test]
fn scalar_backend_matches_reference() {
    let messages: Vec<Vec<u8>> = (0..50).map(|k| bytes(k, 97 * k as usize)).collect();
    let borrowed: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let got = md5_many_on(&whole(&borrowed), Backend::Scalar);
    let expected: Vec<[u8; 16]> = borrowed.iter().map(|m| reference(m)).collect();
    assert_eq!(got, expected);
}

#[test]
fn empty_batch_gives_no_digests() {
    for backend in Backend::available() {
        assert!(md5_many_on(&[], backend).is_empty(), "{backend:?}");
    }
}

#[test]
fn padding_uses_one_block_below_56_tail_bytes_and_two_from_56() {
    for (len, blocks) in [
        (0, 1),
        (55, 1),
        (56, 2),
        (63, 2),
        (64, 2),
        (119, 2),
        (120, 3),
    ] {
        let message = vec![0xabu8; len];
        let mut lane = Lane::idle();
        lane.start(0, (&[], &message));
        assert_eq!(
            lane.body.len() / 64 + lane.tail_blocks,
            blocks,
            "{len} bytes"
        );
        let last = &lane.tail[lane.tail_blocks - 1];
        assert_eq!(last[56..], ((len as u64) * 8).to_le_bytes(), "{len} bytes");
        assert_eq!(lane.tail.as_flattened()[len % 64], 0x80, "{len} bytes");
    }
}

/// The last busy lane is finished by the md-5 crate from its state, whether it stands in its
/// message's whole blocks or between its two padded blocks.
#[test]
fn a_lane_left_alone_finishes_from_where_it_stood() {
    // 120 bytes: one whole block and two padded ones; 64 bytes: one whole and one padded block.
    // After two passes the second is done and the first is left with its last padded block.
    for (long, short) in [(120usize, 64usize), (1000, 100), (5000, 0), (119, 55)] {
        assert_all_backends(&[bytes(1, long), bytes(2, short)]);
    }
    let message = bytes(3, 120);
    let mut lane = Lane::idle();
    lane.start(0, (&[], &message));
    assert!(!lane.advance() && !lane.advance());
    let rest: Vec<&[u8; 64]> = lane.remaining().collect();
    assert_eq!(rest, [&lane.tail[1]]);
}

/// A message in two pieces hashes as the two put together, wherever the split falls: inside the
/// first block, on a block boundary, or with the message ending inside the copied lead.
#[test]
fn a_message_in_two_pieces_hashes_as_one() {
    let whole_messages: Vec<Vec<u8>> = (0..260usize)
        .map(|k| bytes(k as u64, k * 7 % 300))
        .collect();
    let splits: Vec<Split<'_>> = whole_messages
        .iter()
        .enumerate()
        .map(|(k, m)| m.split_at((k * 13) % (m.len() + 1)))
        .collect();
    let expected: Vec<[u8; 16]> = whole_messages.iter().map(|m| reference(m)).collect();
    for backend in Backend::available() {
        assert_eq!(md5_many_on(&splits, backend), expected, "{backend:?}");
    }
    assert_eq!(md5_many_split(&splits), expected);
    // A lane keeps its lead buffer from one message to the next: long leads and short ones, more
    // messages than lanes.
    let (a, b) = (bytes(7, 700), bytes(8, 90));
    let four = [
        a.split_at(650),
        b.split_at(3),
        a.split_at(1),
        b.split_at(90),
    ];
    let pieces: Vec<Split<'_>> = four.iter().cycle().take(40).copied().collect();
    let want: Vec<[u8; 16]> = [reference(&a), reference(&b)]
        .iter()
        .cycle()
        .take(40)
        .copied()
        .collect();
    for backend in Backend::available() {
        assert_eq!(md5_many_on(&pieces, backend), want, "{backend:?}");
    }
}
