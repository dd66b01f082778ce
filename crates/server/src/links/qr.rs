//! QR codes for short links, drawn from the code's module matrix (SVG and PNG), so no
//! image library is needed.

use qrcode::{Color, EcLevel, QrCode};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QrOptions {
    /// Width and height in pixels (PNG) or CSS pixels (SVG), 64–2048.
    pub size: u32,
    /// Quiet zone around the code, in modules (the standard asks for 4).
    pub margin: u32,
    pub ec: EcLevel,
}

impl Default for QrOptions {
    fn default() -> Self {
        QrOptions {
            size: 512,
            margin: 4,
            ec: EcLevel::M,
        }
    }
}

impl QrOptions {
    /// From query values; `None` for out-of-range ones.
    pub fn parse(size: Option<u32>, margin: Option<u32>, ec: Option<&str>) -> Option<QrOptions> {
        let d = QrOptions::default();
        let size = size.unwrap_or(d.size);
        let margin = margin.unwrap_or(d.margin);
        if !(64..=2048).contains(&size) || margin > 16 {
            return None;
        }
        let ec = match ec.map(str::to_ascii_uppercase).as_deref() {
            None => d.ec,
            Some("L") => EcLevel::L,
            Some("M") => EcLevel::M,
            Some("Q") => EcLevel::Q,
            Some("H") => EcLevel::H,
            Some(_) => return None,
        };
        Some(QrOptions { size, margin, ec })
    }
}

/// The dark modules, row by row, with the margin, and the side length in modules.
fn matrix(data: &str, o: &QrOptions) -> Result<(Vec<bool>, usize), qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), o.ec)?;
    let w = code.width();
    let m = o.margin as usize;
    let side = w + 2 * m;
    let mut out = vec![false; side * side];
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == Color::Dark {
            let (y, x) = (i / w, i % w);
            out[(y + m) * side + x + m] = true;
        }
    }
    Ok((out, side))
}

pub fn svg(data: &str, o: &QrOptions) -> Result<String, qrcode::types::QrError> {
    let (dark, side) = matrix(data, o)?;
    // One rectangle per horizontal run of dark modules.
    let mut path = String::new();
    for y in 0..side {
        let mut x = 0;
        while x < side {
            if dark[y * side + x] {
                let start = x;
                while x < side && dark[y * side + x] {
                    x += 1;
                }
                let n = x - start;
                path.push_str(&format!("M{start} {y}h{n}v1h-{n}z"));
            } else {
                x += 1;
            }
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{s}\" height=\"{s}\" viewBox=\"0 0 {side} {side}\" shape-rendering=\"crispEdges\"><rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>",
        s = o.size
    ))
}

pub fn png(data: &str, o: &QrOptions) -> Result<Vec<u8>, String> {
    let (dark, side) = matrix(data, o).map_err(|e| e.to_string())?;
    // Whole pixels per module: the image is at most `size`, never blurred.
    let scale = (o.size as usize / side).max(1);
    let px = side * scale;
    let mut pixels = vec![255u8; px * px];
    for y in 0..px {
        for x in 0..px {
            if dark[(y / scale) * side + x / scale] {
                pixels[y * px + x] = 0;
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, px as u32, px as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(&pixels).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// A rendered QR image: its bytes, MIME type and file extension.
pub struct Image {
    pub bytes: Vec<u8>,
    pub mime: &'static str,
    pub ext: &'static str,
}

/// Render `data` as PNG (`png`) or SVG, off the async runtime (a 2048-pixel PNG is
/// millions of pixels).
pub async fn render(data: String, o: QrOptions, png: bool) -> Result<Image, String> {
    tokio::task::spawn_blocking(move || {
        if png {
            self::png(&data, &o).map(|bytes| Image {
                bytes,
                mime: "image/png",
                ext: "png",
            })
        } else {
            svg(&data, &o)
                .map(|s| Image {
                    bytes: s.into_bytes(),
                    mime: "image/svg+xml",
                    ext: "svg",
                })
                .map_err(|e| e.to_string())
        }
    })
    .await
    .map_err(|e| format!("rendering the QR code: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_svg_and_png() {
        let o = QrOptions::default();
        let s = svg("https://lucarne.test/l/abc?qr=1", &o).unwrap();
        // 31 bytes need version 3 (29 modules) at level M, plus 4 modules of margin a side.
        assert!(
            s.starts_with("<svg") && s.contains("viewBox=\"0 0 37 37\""),
            "{s}"
        );
        assert!(
            s.contains("M4 4h7v1h-7z"),
            "the finder pattern's top row is one run"
        );
        let p = png("https://lucarne.test/l/abc?qr=1", &o).unwrap();
        assert_eq!(&p[1..4], b"PNG");
        assert!(QrOptions::parse(Some(10), None, None).is_none());
        assert!(QrOptions::parse(None, Some(40), None).is_none());
        assert!(QrOptions::parse(None, None, Some("x")).is_none());
        assert_eq!(
            QrOptions::parse(None, None, Some("h")).map(|o| o.ec),
            Some(EcLevel::H)
        );
    }
}
