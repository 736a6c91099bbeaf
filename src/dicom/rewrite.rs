//! Header rewrites that leave the pixel data bytes exactly as they were: only the part of the data set
//! before PixelData is decoded and re-encoded; the preamble and file meta group, and PixelData with
//! everything after it, are copied byte for byte.

use super::deidentify::Profile;
use super::header::{after_preamble, settable};
use super::walk::{explicit_le_header, pixel_start, Encoding};
use super::DicomError;
use dicom_core::value::PrimitiveValue;
use dicom_core::VR;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use std::collections::BTreeMap;

const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";

/// The layout of a file: where the data set starts, its transfer syntax, and where PixelData starts.
pub(crate) struct Layout {
    pub dataset_start: usize,
    pub transfer_syntax: String,
    pub pixel_start: Option<usize>,
}

fn u16_le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Walks the file meta group (always explicit VR little endian) element by element. `complete`: the
/// bytes are the whole file; when they are only its first part, a group cut off at their end is
/// reported as truncated rather than as ended.
fn meta(bytes: &[u8], complete: bool) -> Result<(usize, String), DicomError> {
    after_preamble(bytes)?;
    let mut at = 132;
    let mut ts = None;
    let truncated = || DicomError::Truncated("the file meta group is cut off".into());
    if !complete && bytes.len() < at + 12 {
        return Err(truncated());
    }
    // (0002,0000) announces the length of the rest of the group; parsers trust it, so it must agree
    // with the elements, or the data set would be read from the wrong byte.
    let announced = match (u16_le(bytes, at), u16_le(bytes, at + 2)) {
        (Some(0x0002), Some(0x0000)) => {
            if bytes.get(at + 4..at + 8) != Some(&b"UL\x04\x00"[..]) {
                return Err(DicomError::Malformed(
                    "the file meta group length is not a 4-byte UL".into(),
                ));
            }
            let len = u32_le(bytes, at + 8).ok_or_else(truncated)? as usize;
            at += 12;
            Some((at, len))
        }
        _ => None,
    };
    loop {
        match u16_le(bytes, at) {
            Some(0x0002) => {}
            None if !complete => return Err(truncated()),
            _ => break,
        }
        let element = u16_le(bytes, at + 2).ok_or_else(truncated)?;
        // The same element reader as the data set's walk: known VR, length field, value size.
        let (header, len) = explicit_le_header(bytes, at).map_err(|e| match e {
            DicomError::Truncated(_) => truncated(),
            DicomError::Malformed(m) => DicomError::Malformed(format!("the file meta group: {m}")),
            other => other,
        })?;
        if element == 0x0010 && bytes.get(at + 4..at + 6) != Some(&b"UI"[..]) {
            return Err(DicomError::Malformed(
                "the file meta group's transfer syntax is not a UI element".into(),
            ));
        }
        let len = len as usize;
        let end = at
            .checked_add(header + len)
            .filter(|e| *e <= bytes.len())
            .ok_or_else(truncated)?;
        if element == 0x0010 {
            let v = &bytes[at + header..end];
            ts = Some(
                String::from_utf8_lossy(v)
                    .trim_end_matches(['\0', ' '])
                    .to_string(),
            );
        }
        at = end;
    }
    if let Some((start, len)) = announced {
        if start.checked_add(len) != Some(at) {
            return Err(DicomError::Malformed(format!(
                "the file meta group announces {len} bytes but its elements take {}",
                at - start
            )));
        }
    }
    let ts = ts.ok_or_else(|| {
        DicomError::Malformed("the file meta group has no transfer syntax".into())
    })?;
    // Only digits and dots: a parser that trims other characters would otherwise read the data set
    // in another encoding than the walk checked.
    if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(DicomError::Malformed(
            "the file meta group's transfer syntax is not a UID".into(),
        ));
    }
    Ok((at, ts))
}

pub(super) fn transfer_syntax(
    uid: &str,
) -> Result<&'static dicom_encoding::TransferSyntax, DicomError> {
    TransferSyntaxRegistry
        .get(uid)
        .ok_or_else(|| DicomError::Unsupported(uid.to_string()))
}

/// Where the data set starts, its transfer syntax, and where PixelData starts, from a structural walk.
pub(crate) fn layout(bytes: &[u8]) -> Result<Layout, DicomError> {
    layout_of(bytes, true)
}

/// The transfer syntax UID of a file (or of its header), from its file meta group.
pub(crate) fn transfer_syntax_uid(bytes: &[u8]) -> Result<String, DicomError> {
    Ok(meta(bytes, true)?.1)
}

fn layout_of(bytes: &[u8], complete: bool) -> Result<Layout, DicomError> {
    let (dataset_start, ts_uid) = meta(bytes, complete)?;
    let enc = Encoding::of(&ts_uid).ok_or_else(|| DicomError::Unsupported(ts_uid.clone()))?;
    let pixel_start = pixel_start(bytes, dataset_start, enc)?;
    Ok(Layout {
        dataset_start,
        transfer_syntax: ts_uid,
        pixel_start,
    })
}

/// Where the header of a file ends (where PixelData starts, or the end of a file without it), from
/// its first `prefix.len()` bytes (`complete`: they are the whole file). `Ok(None)` when the prefix
/// ends before the header does and more of the file is needed. A prefix is walked exactly as the
/// whole file would be, so the answer, or the error, is the whole file's.
pub fn header_end(prefix: &[u8], complete: bool) -> Result<Option<usize>, DicomError> {
    match layout_of(prefix, complete) {
        Ok(Layout {
            pixel_start: Some(at),
            ..
        }) => Ok(Some(at)),
        Ok(_) if complete => Ok(Some(prefix.len())),
        Ok(_) => Ok(None),
        // Every truncation the walk reports is about the end of the bytes it was given.
        Err(DicomError::Truncated(_)) if !complete => Ok(None),
        Err(DicomError::NotDicom) if !complete && prefix.len() < 132 => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why text cannot become the value of an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextValueError {
    /// The element holds numbers and the text is not a list of them.
    NotNumbers,
    /// The element holds bytes, a sequence or tags: not something text sets.
    NotText,
}

/// The value of an element of value representation `vr` from its text: numbers (`\`-separated) for
/// numeric value representations, strings (one or several) for text ones.
pub fn value_from_text(vr: VR, text: &str) -> Result<PrimitiveValue, TextValueError> {
    let parts: Vec<&str> = text.split('\\').map(str::trim).collect();
    fn nums<T: std::str::FromStr>(p: &[&str]) -> Result<Vec<T>, TextValueError> {
        p.iter()
            .map(|s| s.parse().map_err(|_| TextValueError::NotNumbers))
            .collect()
    }
    Ok(match vr {
        VR::US => PrimitiveValue::U16(nums(&parts)?.into()),
        VR::SS => PrimitiveValue::I16(nums(&parts)?.into()),
        VR::UL => PrimitiveValue::U32(nums(&parts)?.into()),
        VR::SL => PrimitiveValue::I32(nums(&parts)?.into()),
        VR::UV => PrimitiveValue::U64(nums(&parts)?.into()),
        VR::SV => PrimitiveValue::I64(nums(&parts)?.into()),
        VR::FL => PrimitiveValue::F32(nums(&parts)?.into()),
        VR::FD => PrimitiveValue::F64(nums(&parts)?.into()),
        VR::SQ | VR::OB | VR::OW | VR::OF | VR::OD | VR::OL | VR::OV | VR::UN | VR::AT => {
            return Err(TextValueError::NotText)
        }
        _ if parts.len() > 1 => PrimitiveValue::Strs(parts.iter().map(|s| s.to_string()).collect()),
        _ => PrimitiveValue::from(text.to_string()),
    })
}

/// The value `dicom.set` gives `keyword` (of value representation `vr`), or why it cannot.
pub(super) fn value_for(keyword: &str, vr: VR, text: &str) -> Result<PrimitiveValue, DicomError> {
    let bad = || DicomError::BadValue {
        keyword: keyword.to_string(),
        vr: vr.to_string().to_string(),
    };
    if text.contains('\0') {
        return Err(bad());
    }
    value_from_text(vr, text).map_err(|_| bad())
}

/// Sets each keyword of `set` to its value in a copy of the file, creating elements that are absent,
/// and keeps PixelData and everything after it byte-identical.
pub fn rewrite(bytes: &[u8], set: &BTreeMap<String, String>) -> Result<Vec<u8>, DicomError> {
    rewrite_with(bytes, None, set)
}

/// Applies the de-identification `profile` (when given) to every element before PixelData, then sets
/// each keyword of `set`. PixelData and everything after it stay byte-identical; the file meta group
/// is copied as it was, except that its Media Storage SOP Instance UID follows a replaced
/// SOPInstanceUID.
pub fn rewrite_with(
    bytes: &[u8],
    profile: Option<&Profile>,
    set: &BTreeMap<String, String>,
) -> Result<Vec<u8>, DicomError> {
    let mut p = super::Parsed::read(bytes)?;
    p.deidentify(profile);
    p.set(set)?;
    p.encode()
}

/// Writes the preamble and a file meta group whose Media Storage SOP Instance UID is `sop`. Every other
/// meta element is copied byte for byte (a re-encoding could change values the walk accepted, and the
/// group length would then disagree with the bytes); the group length is computed from what is written.
pub(super) fn meta_with_sop(
    bytes: &[u8],
    dataset_start: usize,
    sop: &str,
    out: &mut Vec<u8>,
) -> Result<(), DicomError> {
    let mut uid = sop.as_bytes().to_vec();
    if uid.len() % 2 == 1 {
        uid.push(0);
    }
    let uid_len = u16::try_from(uid.len())
        .map_err(|_| DicomError::Malformed("the SOP Instance UID is too long".into()))?;
    let mut sop_element = vec![0x02, 0x00, 0x03, 0x00, b'U', b'I'];
    sop_element.extend_from_slice(&uid_len.to_le_bytes());
    sop_element.extend_from_slice(&uid);
    let mut body = Vec::with_capacity(dataset_start.saturating_sub(132) + uid.len());
    let mut placed = false;
    let mut at = 132;
    while at < dataset_start {
        let element = u16_le(bytes, at + 2)
            .ok_or_else(|| DicomError::Truncated("the file meta group is cut off".into()))?;
        let (header, len) = explicit_le_header(bytes, at)?;
        let end = (at + header + len as usize).min(dataset_start);
        // The old group length and UID are dropped; the new UID goes where the order puts it.
        if element != 0x0000 && element != 0x0003 {
            if element > 0x0003 && !placed {
                body.extend_from_slice(&sop_element);
                placed = true;
            }
            body.extend_from_slice(&bytes[at..end]);
        }
        at = end;
    }
    if !placed {
        body.extend_from_slice(&sop_element);
    }
    let group_len = u32::try_from(body.len())
        .map_err(|_| DicomError::Malformed("the file meta group is too long".into()))?;
    out.extend_from_slice(&bytes[..132]);
    out.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 0x04, 0x00]);
    out.extend_from_slice(&group_len.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(())
}

/// blake3 of an object without PixelData (a structured report, a presentation state), by content: the
/// whole data set re-encoded with the `exclude` keywords (the fields ferry sets) removed, so a copy
/// whose only differences are those fields hashes the same, and any other change does not. Hex.
pub fn content_hash(
    bytes: &[u8],
    exclude: &std::collections::BTreeSet<String>,
) -> Result<String, DicomError> {
    let mut p = super::Parsed::read(bytes)?;
    for k in exclude {
        let (tag, _) = settable(k)?;
        p.dataset_mut().remove_element(tag);
    }
    Ok(blake3::hash(&p.encode_dataset()?).to_hex().to_string())
}

/// blake3 of the PixelData element's value bytes, hex; `None` when the file has no PixelData.
/// Encapsulated (undefined length) pixel data is hashed from its first item to the end of the file.
pub fn pixel_hash(bytes: &[u8]) -> Result<Option<String>, DicomError> {
    let l = layout(bytes)?;
    let Some(at) = l.pixel_start else {
        return Ok(None);
    };
    let explicit = l.transfer_syntax != IMPLICIT_LE;
    let (len_at, header) = if explicit { (at + 8, 12) } else { (at + 4, 8) };
    let len = if l.transfer_syntax == EXPLICIT_BE {
        bytes
            .get(len_at..len_at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    } else {
        u32_le(bytes, len_at)
    }
    .ok_or_else(|| DicomError::Truncated("the PixelData element header is cut off".into()))?;
    let start = at + header;
    let value = if len == u32::MAX {
        &bytes[start.min(bytes.len())..]
    } else {
        let end = start
            .checked_add(len as usize)
            .filter(|e| *e <= bytes.len())
            .ok_or_else(|| DicomError::Truncated("the pixel data is cut off".into()))?;
        &bytes[start..end]
    };
    Ok(Some(blake3::hash(value).to_hex().to_string()))
}
