//! gRPC wire details the node and the command line share.

/// The message bytes of a single uncompressed gRPC frame: a flag byte (0,
/// not compressed), a four-byte big-endian length, then exactly that many
/// bytes. Signatures cover these bytes, so both sides take them out the same way.
pub(crate) fn frame_message(body: &[u8]) -> Result<&[u8], String> {
    if body.len() < 5 {
        return Err(format!(
            "request body is {} bytes, shorter than a gRPC frame header",
            body.len()
        ));
    }
    if body[0] != 0 {
        return Err("compressed request messages are not accepted: the signature covers the uncompressed bytes".into());
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    if body.len() != 5 + len {
        return Err(format!(
            "request body holds {} bytes after the frame header, the frame says {len}",
            body.len() - 5
        ));
    }
    Ok(&body[5..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_taken_apart_exactly() {
        assert_eq!(frame_message(&[0, 0, 0, 0, 2, 7, 8]).unwrap(), &[7, 8]);
        assert!(frame_message(&[0, 0, 0]).unwrap_err().contains("shorter"));
        assert!(frame_message(&[1, 0, 0, 0, 0]).unwrap_err().contains("compressed"));
        assert!(frame_message(&[0, 0, 0, 0, 3, 7]).unwrap_err().contains("the frame says 3"));
    }
}
