//! The MD5 compression function (RFC 1321 §3.4) over `N` independent lanes: lane `l` of every
//! `[u32; N]` belongs to one message. Written as plain loops over the lanes, inlined into the
//! callers' `#[target_feature]` functions, where each loop becomes one vector instruction.

/// `T[i]`, the integer part of 2^32 · |sin(i + 1)| (RFC 1321 §3.4); a test recomputes them.
const SINES: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// The rotation of step `i`: four amounts per round, repeating (RFC 1321 §3.4).
const fn rotation(i: usize) -> u32 {
    const AMOUNTS: [[u32; 4]; 4] = [
        [7, 12, 17, 22],
        [5, 9, 14, 20],
        [4, 11, 16, 23],
        [6, 10, 15, 21],
    ];
    AMOUNTS[i / 16][i % 16 % 4]
}

/// The message word step `i` adds: k, 1 + 5k, 5 + 3k and 7k (mod 16) in rounds 1 to 4.
const fn word(i: usize) -> usize {
    let k = i % 16;
    match i / 16 {
        0 => k,
        1 => (1 + 5 * k) % 16,
        2 => (5 + 3 * k) % 16,
        _ => (7 * k) % 16,
    }
}

#[inline(always)]
fn round_f(x: u32, y: u32, z: u32) -> u32 {
    z ^ (x & (y ^ z)) // (x AND y) OR (NOT x AND z)
}

#[inline(always)]
fn round_g(x: u32, y: u32, z: u32) -> u32 {
    y ^ (z & (x ^ y)) // (x AND z) OR (y AND NOT z)
}

#[inline(always)]
fn round_h(x: u32, y: u32, z: u32) -> u32 {
    x ^ y ^ z
}

#[inline(always)]
fn round_i(x: u32, y: u32, z: u32) -> u32 {
    y ^ (x | !z)
}

/// One 64-byte block for every lane: `words[w][l]` is word `w` of lane `l`'s block.
///
/// The 64 steps are written out (16 lines of 4) rather than looped over, so that each step's
/// word index, rotation and constant are literals the compiler folds into the vector code; a
/// loop would leave the rotation amount variable.
#[inline(always)]
pub(super) fn compress<const N: usize>(state: &mut [[u32; N]; 4], words: &[[u32; N]; 16]) {
    let [mut a, mut b, mut c, mut d] = *state;
    macro_rules! step {
        ($fun:ident, $a:ident, $b:ident, $c:ident, $d:ident, $i:expr) => {
            for l in 0..N {
                let sum = $a[l]
                    .wrapping_add($fun($b[l], $c[l], $d[l]))
                    .wrapping_add(words[const { word($i) }][l])
                    .wrapping_add(SINES[$i]);
                $a[l] = $b[l].wrapping_add(sum.rotate_left(const { rotation($i) }));
            }
        };
    }
    macro_rules! four {
        ($fun:ident, $i:expr) => {
            step!($fun, a, b, c, d, $i);
            step!($fun, d, a, b, c, $i + 1);
            step!($fun, c, d, a, b, $i + 2);
            step!($fun, b, c, d, a, $i + 3);
        };
    }
    four!(round_f, 0);
    four!(round_f, 4);
    four!(round_f, 8);
    four!(round_f, 12);
    four!(round_g, 16);
    four!(round_g, 20);
    four!(round_g, 24);
    four!(round_g, 28);
    four!(round_h, 32);
    four!(round_h, 36);
    four!(round_h, 40);
    four!(round_h, 44);
    four!(round_i, 48);
    four!(round_i, 52);
    four!(round_i, 56);
    four!(round_i, 60);
    for (old, new) in state.iter_mut().zip([a, b, c, d]) {
        for (o, n) in old.iter_mut().zip(new) {
            *o = o.wrapping_add(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_table_is_rfc1321s() {
        for (i, t) in SINES.iter().enumerate() {
            let want = (((i + 1) as f64).sin().abs() * 4_294_967_296.0).floor() as u32;
            assert_eq!(*t, want, "T[{}]", i + 1);
        }
    }

    #[test]
    fn word_order_and_rotations_follow_rfc1321() {
        let order: Vec<usize> = (16..32).map(word).collect();
        assert_eq!(
            order,
            [1, 6, 11, 0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12]
        );
        let order: Vec<usize> = (32..48).map(word).collect();
        assert_eq!(
            order,
            [5, 8, 11, 14, 1, 4, 7, 10, 13, 0, 3, 6, 9, 12, 15, 2]
        );
        let order: Vec<usize> = (48..64).map(word).collect();
        assert_eq!(
            order,
            [0, 7, 14, 5, 12, 3, 10, 1, 8, 15, 6, 13, 4, 11, 2, 9]
        );
        let shifts: Vec<u32> = (0..64).step_by(4).map(rotation).collect();
        assert_eq!(shifts, [7, 7, 7, 7, 5, 5, 5, 5, 4, 4, 4, 4, 6, 6, 6, 6]);
        assert_eq!((60..64).map(rotation).collect::<Vec<_>>(), [6, 10, 15, 21]);
    }
}
