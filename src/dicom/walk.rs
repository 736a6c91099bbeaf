//! A structural walk of a data set, element by element, before any value is decoded: every length must
//! stay inside the file and every nested item must close. It finds where PixelData starts, and it
//! refuses malformed files before a full parser could loop or allocate on their word.

use super::DicomError;

/// The encoding of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Encoding {
    /// Explicit VR (else implicit).
    pub explicit: bool,
    /// Big endian (else little).
    pub big_endian: bool,
}

impl Encoding {
    /// The encoding of a transfer syntax UID; `None` for a deflated data set.
    pub fn of(ts: &str) -> Option<Encoding> {
        match ts {
            "1.2.840.10008.1.2.1.99" => None,
            "1.2.840.10008.1.2" => Some(Encoding {
                explicit: false,
                big_endian: false,
            }),
            "1.2.840.10008.1.2.2" => Some(Encoding {
                explicit: true,
                big_endian: true,
            }),
            _ => Some(Encoding {
                explicit: true,
                big_endian: false,
            }),
        }
    }
}

const UNDEFINED: u32 = u32::MAX;
const MAX_DEPTH: usize = 32;
const KNOWN_VRS: [&[u8]; 34] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"OB",
    b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM",
    b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
];

/// The known VRs as a table: bit `j` of row `i` is set when the VR of letters `A + i`, `A + j` is
/// known, so that checking one element's VR is an index and a mask instead of a search.
const KNOWN_VR_TABLE: [u32; 26] = {
    let mut table = [0u32; 26];
    let mut k = 0;
    while k < KNOWN_VRS.len() {
        let vr = KNOWN_VRS[k];
        table[(vr[0] - b'A') as usize] |= 1 << (vr[1] - b'A');
        k += 1;
    }
    table
};

/// Whether two bytes name a known value representation.
fn is_known_vr(vr: &[u8]) -> bool {
    match vr {
        [a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => {
            KNOWN_VR_TABLE[(a - b'A') as usize] & (1 << (b - b'A')) != 0
        }
        _ => false,
    }
}

/// Whether an explicit VR element of this VR has a 2-byte reserved field and a 4-byte length.
fn has_long_length(vr: &[u8]) -> bool {
    matches!(
        vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"SV"
            | b"UV"
    )
}

/// The size of one value of a binary VR: a parser reads values of this size, so a length that is not
/// a multiple would leave it reading the next element from the wrong byte.
fn fixed_size(vr: &[u8]) -> Option<u32> {
    match vr {
        b"US" | b"SS" | b"OW" => Some(2),
        b"UL" | b"SL" | b"FL" | b"AT" | b"OF" | b"OL" => Some(4),
        b"FD" | b"SV" | b"UV" | b"OD" | b"OV" => Some(8),
        _ => None,
    }
}

fn check_multiple(at: usize, len: u32, size: Option<u32>) -> Result<(), DicomError> {
    match size {
        Some(n) if len != UNDEFINED && !len.is_multiple_of(n) => Err(malformed(
            at,
            "an element's length does not fit its value representation",
        )),
        _ => Ok(()),
    }
}

/// The value representation the standard dictionary gives a tag, for implicit VR data sets.
fn implicit_vr(group: u16, element: u16) -> Option<[u8; 2]> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
    let entry =
        dicom_dictionary_std::StandardDataDictionary.by_tag(dicom_core::Tag(group, element))?;
    match entry.vr() {
        VirtualVr::Exact(vr) => vr.to_string().as_bytes().try_into().ok(),
        _ => None,
    }
}

struct Walker<'a> {
    b: &'a [u8],
    enc: Encoding,
}

fn malformed(at: usize, what: &str) -> DicomError {
    DicomError::Malformed(format!("{what} at byte {at}"))
}

fn truncated(at: usize) -> DicomError {
    DicomError::Truncated(format!(
        "an element runs past the end of the file at byte {at}"
    ))
}

impl Walker<'_> {
    fn u16(&self, at: usize) -> Result<u16, DicomError> {
        let s = self.b.get(at..at + 2).ok_or_else(|| truncated(at))?;
        Ok(if self.enc.big_endian {
            u16::from_be_bytes([s[0], s[1]])
        } else {
            u16::from_le_bytes([s[0], s[1]])
        })
    }

    fn u32(&self, at: usize) -> Result<u32, DicomError> {
        let s = self.b.get(at..at + 4).ok_or_else(|| truncated(at))?;
        Ok(if self.enc.big_endian {
            u32::from_be_bytes([s[0], s[1], s[2], s[3]])
        } else {
            u32::from_le_bytes([s[0], s[1], s[2], s[3]])
        })
    }

    fn tag(&self, at: usize) -> Result<(u16, u16), DicomError> {
        Ok((self.u16(at)?, self.u16(at + 2)?))
    }

    /// (header length, value length, is a sequence-like element) of the element at `at`.
    fn header(&self, at: usize, group: u16) -> Result<(usize, u32, bool), DicomError> {
        // Items and delimiters are always implicit: tag + 4-byte length.
        if group == 0xFFFE || !self.enc.explicit {
            let len = self.u32(at + 4)?;
            if group != 0xFFFE {
                let size = implicit_vr(group, self.u16(at + 2)?).and_then(|vr| fixed_size(&vr));
                check_multiple(at, len, size)?;
            }
            return Ok((8, len, len == UNDEFINED));
        }
        let vr = self.b.get(at + 4..at + 6).ok_or_else(|| truncated(at))?;
        if !is_known_vr(vr) {
            return Err(malformed(
                at,
                "an element has no valid value representation",
            ));
        }
        let (h, len, seq) = self.explicit_header(at, vr)?;
        check_multiple(at, len, fixed_size(vr))?;
        Ok((h, len, seq))
    }

    fn explicit_header(&self, at: usize, vr: &[u8]) -> Result<(usize, u32, bool), DicomError> {
        if has_long_length(vr) {
            let len = self.u32(at + 8)?;
            let seq = vr == b"SQ" || len == UNDEFINED;
            Ok((12, len, seq))
        } else {
            Ok((8, u32::from(self.u16(at + 6)?), false))
        }
    }

    /// Walks elements from `at` to `end` (or to a delimiter when `end` is `None`). Returns where the
    /// walk stopped and, at the top level, where PixelData starts; with `tops`, records where each
    /// top-level element starts.
    fn walk(
        &self,
        mut at: usize,
        end: Option<usize>,
        depth: usize,
        mut tops: Option<&mut Vec<TopElement>>,
    ) -> Result<(usize, Option<usize>), DicomError> {
        if depth > MAX_DEPTH {
            return Err(malformed(at, "sequences nest too deep"));
        }
        let mut last = (0u16, 0u16);
        loop {
            if Some(at) == end || (end.is_none() && depth == 0 && at == self.b.len()) {
                return Ok((at, None));
            }
            if end.is_some_and(|e| at > e) {
                return Err(malformed(at, "an element overruns its item"));
            }
            let (group, element) = self.tag(at)?;
            if group == 0xFFFE {
                match element {
                    0xE00D | 0xE0DD if end.is_none() && depth > 0 => return Ok((at + 8, None)),
                    _ => return Err(malformed(at, "a delimiter is out of place")),
                }
            }
            if depth == 0 && (group, element) == (0x7FE0, 0x0010) {
                return Ok((at, Some(at)));
            }
            if (group, element) <= last && depth == 0 {
                return Err(malformed(at, "elements are out of order"));
            }
            last = (group, element);
            if let Some(t) = tops.as_deref_mut() {
                t.push(((group, element), at));
            }
            let (h, len, seq) = self.header(at, group)?;
            let value = at + h;
            at = if len == UNDEFINED {
                if !seq {
                    return Err(malformed(
                        at,
                        "an element of undefined length is not a sequence",
                    ));
                }
                self.items(value, None, depth + 1)?
            } else {
                let stop = value
                    .checked_add(len as usize)
                    .filter(|e| *e <= self.b.len())
                    .ok_or_else(|| truncated(at))?;
                if seq {
                    self.items(value, Some(stop), depth + 1)?;
                }
                stop
            };
        }
    }

    /// Walks the items of a sequence; returns where the sequence ends.
    fn items(&self, mut at: usize, end: Option<usize>, depth: usize) -> Result<usize, DicomError> {
        loop {
            if Some(at) == end {
                return Ok(at);
            }
            let (group, element) = self.tag(at)?;
            let len = self.u32(at + 4)?;
            match (group, element) {
                (0xFFFE, 0xE0DD) if end.is_none() => return Ok(at + 8),
                (0xFFFE, 0xE000) if len == UNDEFINED => {
                    at = self.walk(at + 8, None, depth, None)?.0;
                }
                (0xFFFE, 0xE000) => {
                    let stop = (at + 8)
                        .checked_add(len as usize)
                        .filter(|e| *e <= self.b.len() && end.is_none_or(|x| *e <= x))
                        .ok_or_else(|| truncated(at))?;
                    self.walk(at + 8, Some(stop), depth, None)?;
                    at = stop;
                }
                _ => {
                    return Err(malformed(
                        at,
                        "a sequence holds something that is not an item",
                    ))
                }
            }
        }
    }
}

/// (header length, value length) of the explicit VR little endian element at `at` (the file meta
/// group's encoding), checked as the walk checks every element.
pub(crate) fn explicit_le_header(bytes: &[u8], at: usize) -> Result<(usize, u32), DicomError> {
    let w = Walker {
        b: bytes,
        enc: Encoding {
            explicit: true,
            big_endian: false,
        },
    };
    let (h, len, _) = w.header(at, 0x0002)?;
    Ok((h, len))
}

/// Walks the data set that starts at `start`; returns where PixelData starts, if it does.
pub(crate) fn pixel_start(
    bytes: &[u8],
    start: usize,
    enc: Encoding,
) -> Result<Option<usize>, DicomError> {
    let w = Walker { b: bytes, enc };
    Ok(w.walk(start, None, 0, None)?.1)
}

/// A top-level element of a data set: its tag (group, element) and where it starts.
pub(crate) type TopElement = ((u16, u16), usize);

/// The top-level elements of the data set that starts at `start`, in order, up to PixelData (not
/// included), each checked as [`pixel_start`] checks them.
pub(crate) fn top_elements(
    bytes: &[u8],
    start: usize,
    enc: Encoding,
) -> Result<Vec<TopElement>, DicomError> {
    let w = Walker { b: bytes, enc };
    let mut tops = Vec::new();
    w.walk(start, None, 0, Some(&mut tops))?;
    Ok(tops)
}

#[cfg(test)]
mod vr_tests {
    use super::*;

    #[test]
    fn the_vr_table_knows_exactly_the_known_vrs() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let pair = [a, b];
                assert_eq!(
                    is_known_vr(&pair),
                    KNOWN_VRS.contains(&pair.as_slice()),
                    "{pair:?}"
                );
            }
        }
        assert!(!is_known_vr(b"S"), "one byte is no VR");
    }
}
