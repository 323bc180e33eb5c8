//! QR codes of presentations: PNG and SVG images and terminal output, and
//! reading a presentation back from an image (PNG, as `cairn cert qr` writes
//! it, or a photo-like greyscale picture).
//!
//! Presentation text is all Base45 characters, so the code uses the QR
//! alphanumeric mode (5.5 bits per character), as EU Digital COVID
//! Certificates do; error correction is level M (about 15% damage tolerated).

use qrcode::{EcLevel, QrCode};

use super::{Error, Result};

fn code(text: &str) -> Result<QrCode> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| Error::Qr(format!("the presentation does not fit in a QR code: {e}")))
}

/// The QR code's version (1 to 40), a measure of its size.
pub fn version(text: &str) -> Result<i16> {
    Ok(match code(text)?.version() {
        qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
    })
}

/// A PNG image of the QR code, 4 pixels per module and a quiet zone.
pub fn png(text: &str) -> Result<Vec<u8>> {
    let image = code(text)?.render::<image::Luma<u8>>().module_dimensions(4, 4).build();
    let mut bytes = Vec::new();
    image::DynamicImage::ImageLuma8(image)
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|e| Error::Qr(format!("cannot encode the PNG: {e}")))?;
    Ok(bytes)
}

/// An SVG image of the QR code.
pub fn svg(text: &str) -> Result<String> {
    Ok(code(text)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

/// The QR code drawn with Unicode half blocks (two modules per character
/// cell), dark on light, for a terminal.
pub fn terminal(text: &str) -> Result<String> {
    Ok(code(text)?
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// The largest image file [`decode_image`] reads. A photographed or
/// rendered presentation is far smaller.
pub const MAX_IMAGE_BYTES: usize = 8 * 1024 * 1024;
/// The widest and tallest image [`decode_image`] decodes, in pixels, read
/// from the image header before any pixel is decoded (a small compressed file
/// can declare a huge canvas).
pub const MAX_IMAGE_SIDE: u32 = 4096;

/// Finds and decodes the QR code in an image file's bytes (PNG, or another
/// format the `image` crate reads). The file size and the pixel dimensions
/// are checked against [`MAX_IMAGE_BYTES`] and [`MAX_IMAGE_SIDE`] before
/// anything is decoded.
pub fn decode_image(bytes: &[u8]) -> Result<String> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(Error::Qr(format!(
            "the image file is {} bytes, more than the limit of {MAX_IMAGE_BYTES}",
            bytes.len()
        )));
    }
    let unreadable = |e: image::ImageError| Error::Qr(format!("not a readable image: {e}"));
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| Error::Qr(format!("not a readable image: {e}")))
    };
    let (width, height) = reader()?.into_dimensions().map_err(unreadable)?;
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(Error::Qr(format!(
            "the image is {width}x{height} pixels, more than the limit of {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}"
        )));
    }
    let mut reader = reader()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    // Four bytes a pixel at most once decoded, twice for the conversion to grey.
    limits.max_alloc = Some(8 * u64::from(MAX_IMAGE_SIDE) * u64::from(MAX_IMAGE_SIDE));
    reader.limits(limits);
    let image = reader.decode().map_err(unreadable)?.to_luma8();
    let (width, height) = image.dimensions();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(width as usize, height as usize, |x, y| {
            image.get_pixel(x as u32, y as u32).0[0]
        });
    let grids = prepared.detect_grids();
    let grid = grids.first().ok_or_else(|| Error::Qr("no QR code found".into()))?;
    let (_meta, content) =
        grid.decode().map_err(|e| Error::Qr(format!("the QR code cannot be decoded: {e}")))?;
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trips_through_the_decoder() {
        let text = format!("CRN1:{}", "6BF.T8-A0 $%*+/".repeat(60));
        let png = png(&text).unwrap();
        assert_eq!(decode_image(&png).unwrap(), text);
        assert!(svg(&text).unwrap().starts_with("<?xml"));
        assert!(terminal(&text).unwrap().contains('▀'));
        assert!(version(&text).unwrap() > 10);
        assert!(decode_image(b"not an image").unwrap_err().to_string().contains("image"));
    }

    #[test]
    fn oversized_images_are_refused_before_decoding() {
        let error = decode_image(&vec![0u8; MAX_IMAGE_BYTES + 1]).unwrap_err().to_string();
        assert!(error.contains("limit") && error.contains("bytes"), "{error}");

        // A tiny PNG whose header declares a canvas one pixel too wide: refused from the header.
        let wide = image::GrayImage::new(MAX_IMAGE_SIDE + 1, 1);
        let mut png = Vec::new();
        image::DynamicImage::ImageLuma8(wide)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert!(png.len() < 1024, "{} bytes", png.len());
        let error = decode_image(&png).unwrap_err().to_string();
        assert!(error.contains(&format!("{}x1 pixels", MAX_IMAGE_SIDE + 1)), "{error}");
    }
}
