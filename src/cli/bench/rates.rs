//! Figure 0: CPU rates in the driver's own process (nothing copied, no server): header parsing,
//! blake3, and MD5 in SIMD lanes against one file at a time.

use super::stats::{interleave, ratio, show_ratio};
use super::ROUNDS;
use crate::digest::{md5_many, md5_one};
use crate::plan::human_bytes;

/// Header parsing, blake3 and MD5 rates (in this process: pure CPU, nothing copied).
pub(super) fn rates() {
    let mut spec = crate::dicom::synth::Spec::new(1);
    spec.size = 512;
    let files: Vec<Vec<u8>> = (0..50)
        .map(|i| {
            spec.seed = i;
            spec.sop_uid = format!("1.2.3.{i}");
            crate::dicom::synth::file(&spec)
        })
        .collect();
    let total: u64 = files.iter().map(|f| f.len() as u64).sum();
    let mut parse = || {
        let t = std::time::Instant::now();
        let ok = files
            .iter()
            .filter(|f| crate::dicom::read_header_bytes(f).is_ok())
            .count();
        if ok != files.len() {
            return Err(format!(
                "{} of {} headers did not parse",
                files.len() - ok,
                files.len()
            ));
        }
        Ok(files.len() as f64 / t.elapsed().as_secs_f64())
    };
    let buf = vec![7u8; 64 << 20];
    let mut hash = || {
        let t = std::time::Instant::now();
        std::hint::black_box(blake3::hash(&buf));
        Ok(buf.len() as f64 / 1e6 / t.elapsed().as_secs_f64())
    };
    // MD5 of a session's worth of 128 kB files: several at a time in SIMD lanes (as the rewrite
    // takes them) against one file at a time, the same digests asked of both.
    let messages: Vec<Vec<u8>> = (0..660u32)
        .map(|i| {
            (0..128 * 1024u32)
                .map(|j| (i ^ j.wrapping_mul(31)) as u8)
                .collect()
        })
        .collect();
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let md5_bytes: usize = messages.iter().map(Vec::len).sum();
    let want: Vec<[u8; 16]> = refs.iter().map(|m| md5_one(m)).collect();
    let mut lanes = || {
        let t = std::time::Instant::now();
        let got = md5_many(&refs);
        let secs = t.elapsed().as_secs_f64();
        if got != want {
            return Err("the lanes' digests differ from one file at a time".to_string());
        }
        Ok(md5_bytes as f64 / 1e6 / secs)
    };
    let mut single = || {
        let t = std::time::Instant::now();
        let got: Vec<[u8; 16]> = refs.iter().map(|m| md5_one(m)).collect();
        let secs = t.elapsed().as_secs_f64();
        std::hint::black_box(got);
        Ok(md5_bytes as f64 / 1e6 / secs)
    };
    let s = interleave(
        ROUNDS,
        &mut [&mut parse, &mut hash, &mut lanes, &mut single],
    );
    println!(
        "0. header parsing: {} files/s of {} files; blake3: {} MB/s; MD5 of 660 files of 128 kB: {} MB/s in SIMD lanes, {} MB/s one file at a time ({}x)",
        s[0].show(0, ""),
        human_bytes(total / files.len() as u64),
        s[1].show(0, ""),
        s[2].show(0, ""),
        s[3].show(0, ""),
        show_ratio(ratio(&s[2], &s[3])),
    );
}
