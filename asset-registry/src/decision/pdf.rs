//! The printable decision: a one-page A4 PDF with the case reference, the
//! service, the outcome, the amount, the reasons, who decided and when, the
//! document hash, the signer key, and a QR code of `cairn-decision:<hash>`
//! drawn as vector rectangles, so that it prints sharp at any size and a
//! phone can read it back.
//!
//! The PDF is written with `pdf-writer` (a small crate of the Typst
//! project with no dependencies beyond a few tiny number formatters), and
//! uses three of the standard 14 fonts (Helvetica, Helvetica-Bold and
//! Courier) in WinAnsi encoding, so nothing is embedded and the file stays a
//! few kilobytes. Text outside WinAnsi (Latin-1 and a few typographic
//! characters) is printed as `?`; the JSON decision file keeps the exact
//! text. Line breaking measures Helvetica with its published advance widths.
//!
//! The output is a pure function of the signed decision: the same decision
//! renders to the same bytes (no creation date, no random document id).

use pdf_writer::{Content, Name, Pdf, Rect, Ref, Str, TextStr};
use qrcode::{Color, EcLevel, QrCode};

use super::{DecisionError, Outcome, Result, SignedDecision, qr_payload};

/// A4 in PostScript points.
const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const MARGIN: f32 = 56.0;
/// Where the values of the labelled rows start.
const VALUE_X: f32 = 190.0;
/// The side of one QR module, in points (1.06 mm).
const QR_MODULE: f32 = 3.0;
/// The bottom edge of the QR code.
const QR_BOTTOM: f32 = 72.0;

const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");
const MONO: Name<'static> = Name(b"F3");

/// Renders the printable one-page PDF of a signed decision.
///
/// It renders what it is given; check the decision with
/// [`SignedDecision::verify`] first where it comes from elsewhere.
pub fn render_pdf(signed: &SignedDecision) -> Result<Vec<u8>> {
    let document = &signed.document;
    let document_hash = document.document_hash();
    let payload = qr_payload(&document_hash);
    let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)
        .map_err(|e| DecisionError::Qr { reason: e.to_string() })?;

    let mut content = Content::new();

    // The heading.
    text(
        &mut content,
        BOLD,
        18.0,
        MARGIN,
        786.0,
        &win_ansi("Decision on a social-security application"),
    );
    content.set_fill_gray(0.35);
    text(
        &mut content,
        REGULAR,
        9.0,
        MARGIN,
        770.0,
        &win_ansi(
            "Signed decision document (cairn-decision-v1). Keep this page with its decision file.",
        ),
    );
    content.set_fill_gray(0.0);
    rule(&mut content, 760.0);

    // The labelled rows, then the reasons and the evidence; they flow down
    // to the verification block and are cut, with a note, if they do not fit.
    let mut rows = Rows::default();
    rows.row("Case reference", Font::Mono, 10.0, &document.case_id);
    rows.row(
        "Service",
        Font::Regular,
        10.0,
        &format!("{}, version {}", document.service_id, document.service_version),
    );
    let outcome = match document.outcome {
        Outcome::Approved => "Approved",
        Outcome::Rejected => "Rejected",
        Outcome::Returned => "Returned for more material",
    };
    let outcome = if document.appeal {
        format!("{outcome} (decided on appeal)")
    } else {
        outcome.to_string()
    };
    rows.row("Outcome", Font::Bold, 11.0, &outcome);
    let amount = match (document.amount_minor, &document.currency) {
        (Some(amount_minor), Some(currency)) => format_amount(amount_minor, currency),
        _ => "None".to_string(),
    };
    rows.row("Amount", Font::Regular, 10.0, &amount);
    rows.row("Decided by", Font::Regular, 10.0, &document.decided_by_organisation);
    rows.row("Reviewer role", Font::Regular, 10.0, &document.decided_by_role);
    rows.row("Reviewer address", Font::Mono, 9.0, &document.decided_by_address);
    rows.row("Date", Font::Regular, 10.0, &format_date(document.decided_at_ms));
    rows.gap(8.0);
    if document.reasons.is_empty() {
        rows.row("Reasons", Font::Regular, 10.0, "None given.");
    } else {
        rows.label("Reasons");
        for (reason_idx, reason) in document.reasons.iter().enumerate() {
            // The first reason starts on the label's baseline.
            let advance = if reason_idx == 0 { 0.0 } else { 16.0 };
            rows.numbered(reason_idx + 1, reason, advance);
        }
    }
    rows.gap(8.0);
    if document.evidence.is_empty() {
        rows.row("Evidence relied on", Font::Regular, 10.0, "None.");
    } else {
        rows.label("Evidence relied on");
        for (hash_idx, hash) in document.evidence.iter().enumerate() {
            // The first hash sits on the label's baseline.
            let advance = if hash_idx == 0 { 0.0 } else { 11.0 };
            rows.line(Font::Mono, 8.0, VALUE_X, advance, win_ansi(hash));
        }
    }

    let qr_side = code.width() as f32 * QR_MODULE;
    let verify_top = QR_BOTTOM + qr_side + 30.0;
    rows.draw(&mut content, 736.0, verify_top + 28.0);

    // The verification block: QR code on the left, hash and key beside it.
    rule(&mut content, verify_top);
    text(&mut content, BOLD, 11.0, MARGIN, verify_top - 18.0, &win_ansi("Verification"));
    draw_qr(&mut content, &code, MARGIN, QR_BOTTOM + qr_side);
    let info_x = MARGIN + qr_side + 18.0;
    let mut info_y = QR_BOTTOM + qr_side - 8.0;
    let mut info = |content: &mut Content, font: Name<'_>, size: f32, advance: f32, line: &[u8]| {
        text(content, font, size, info_x, info_y, line);
        info_y -= advance;
    };
    info(&mut content, BOLD, 9.0, 12.0, &win_ansi("Document hash (SHA-256)"));
    info(&mut content, MONO, 8.0, 18.0, &win_ansi(&hex::encode(document_hash)));
    info(&mut content, BOLD, 9.0, 12.0, &win_ansi("Signed with the key (Ed25519)"));
    info(&mut content, MONO, 8.0, 18.0, &win_ansi(&hex::encode(signed.signer_public_key)));
    let explanation = "The QR code holds cairn-decision: and the document hash. Anyone holding \
        the decision file can check it offline: its signature must hold under the key above, \
        which the ledger registers for the deciding organisation, and its document hash must \
        equal the one printed here and the one anchored on the ledger.";
    for line in wrap(&win_ansi(explanation), Font::Regular, 8.0, PAGE_WIDTH - MARGIN - info_x) {
        info(&mut content, REGULAR, 8.0, 10.0, &line);
    }

    let mut pdf = Pdf::new();
    let catalog_id = Ref::new(1);
    let page_tree_id = Ref::new(2);
    let page_id = Ref::new(3);
    let content_id = Ref::new(4);
    let info_id = Ref::new(5);
    let font_ids = [
        (REGULAR, Ref::new(6), "Helvetica"),
        (BOLD, Ref::new(7), "Helvetica-Bold"),
        (MONO, Ref::new(8), "Courier"),
    ];

    pdf.catalog(catalog_id).pages(page_tree_id);
    pdf.pages(page_tree_id).kids([page_id]).count(1);
    {
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT));
        page.parent(page_tree_id);
        page.contents(content_id);
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        for (name, id, _) in font_ids {
            fonts.pair(name, id);
        }
    }
    for (_, id, base_font) in font_ids {
        pdf.type1_font(id)
            .base_font(Name(base_font.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.stream(content_id, &content.finish());
    pdf.document_info(info_id)
        .title(TextStr(&format!("Decision on case {}", document.case_id)))
        .producer(TextStr("Cairn"));
    Ok(pdf.finish())
}

/// The three fonts, for measuring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Font {
    Regular,
    Bold,
    Mono,
}

impl Font {
    fn name(self) -> Name<'static> {
        match self {
            Font::Regular => REGULAR,
            Font::Bold => BOLD,
            Font::Mono => MONO,
        }
    }

    /// The advance width of a WinAnsi byte in thousandths of the font size.
    /// Bold is measured as regular plus a tenth, which errs on the wide side.
    fn width(self, byte: u8) -> u32 {
        match self {
            Font::Mono => 600,
            Font::Regular => helvetica_width(byte),
            Font::Bold => helvetica_width(byte) * 11 / 10,
        }
    }

    fn measure(self, text: &[u8], size: f32) -> f32 {
        text.iter().map(|&byte| self.width(byte)).sum::<u32>() as f32 * size / 1000.0
    }
}

/// One line of flowing text, placed `advance` points below the previous.
struct Line {
    font: Font,
    size: f32,
    x: f32,
    advance: f32,
    text: Vec<u8>,
}

/// The flowing part of the page, laid out before it is drawn.
#[derive(Default)]
struct Rows {
    lines: Vec<Line>,
}

impl Rows {
    fn line(&mut self, font: Font, size: f32, x: f32, advance: f32, text: Vec<u8>) {
        self.lines.push(Line { font, size, x, advance, text });
    }

    /// Extra space before the next line: an empty line that only advances.
    fn gap(&mut self, points: f32) {
        self.line(Font::Regular, 10.0, MARGIN, points, Vec::new());
    }

    fn label(&mut self, label: &str) {
        self.line(Font::Bold, 10.0, MARGIN, 16.0, win_ansi(label));
    }

    /// A label and its value on the same baseline, the value wrapped in its
    /// column.
    fn row(&mut self, label: &str, font: Font, size: f32, value: &str) {
        self.label(label);
        let width = PAGE_WIDTH - MARGIN - VALUE_X;
        for (line_idx, line) in wrap(&win_ansi(value), font, size, width).into_iter().enumerate() {
            let advance = if line_idx == 0 { 0.0 } else { size + 3.0 };
            self.line(font, size, VALUE_X, advance, line);
        }
    }

    /// A numbered paragraph in the value column, `advance` points below the
    /// previous line.
    fn numbered(&mut self, number: usize, paragraph: &str, advance: f32) {
        let size = 10.0;
        let indent = 16.0;
        let width = PAGE_WIDTH - MARGIN - VALUE_X - indent;
        self.line(Font::Regular, size, VALUE_X, advance, win_ansi(&format!("{number}.")));
        for (line_idx, line) in
            wrap(&win_ansi(paragraph), Font::Regular, size, width).into_iter().enumerate()
        {
            let advance = if line_idx == 0 { 0.0 } else { size + 3.0 };
            self.line(Font::Regular, size, VALUE_X + indent, advance, line);
        }
    }

    /// Draws the lines from `top` down, stopping above `bottom` with a note
    /// that the rest is in the decision file.
    fn draw(&self, content: &mut Content, top: f32, bottom: f32) {
        let mut y = top + 16.0;
        for (line_idx, line) in self.lines.iter().enumerate() {
            if y - line.advance < bottom {
                let n_left =
                    self.lines[line_idx..].iter().filter(|line| !line.text.is_empty()).count();
                let note = format!(
                    "{n_left} more lines do not fit on this page; the decision file holds the full text."
                );
                content.set_fill_gray(0.35);
                text(content, REGULAR, 9.0, VALUE_X, y - 14.0, &win_ansi(&note));
                content.set_fill_gray(0.0);
                return;
            }
            y -= line.advance;
            if !line.text.is_empty() {
                text(content, line.font.name(), line.size, line.x, y, &line.text);
            }
        }
    }
}

/// One line of text at an absolute position.
fn text(content: &mut Content, font: Name<'_>, size: f32, x: f32, y: f32, line: &[u8]) {
    content.begin_text();
    content.set_font(font, size);
    content.next_line(x, y);
    content.show(Str(line));
    content.end_text();
}

/// A thin horizontal rule across the text column.
fn rule(content: &mut Content, y: f32) {
    content.set_line_width(0.5);
    content.move_to(MARGIN, y);
    content.line_to(PAGE_WIDTH - MARGIN, y);
    content.stroke();
}

/// The QR code's dark modules as one path of rectangles (one per run of
/// dark modules in a row), filled black; `top` is the upper edge. The light
/// quiet zone is the white page around it.
fn draw_qr(content: &mut Content, code: &QrCode, left: f32, top: f32) {
    let width = code.width();
    let colors = code.to_colors();
    for (row_idx, row) in colors.chunks(width).enumerate() {
        let y = top - (row_idx + 1) as f32 * QR_MODULE;
        let mut col_idx = 0;
        while col_idx < width {
            if row[col_idx] != Color::Dark {
                col_idx += 1;
                continue;
            }
            let start = col_idx;
            while col_idx < width && row[col_idx] == Color::Dark {
                col_idx += 1;
            }
            // A hair taller than a module, so rows overlap and no seam shows.
            content.rect(
                left + start as f32 * QR_MODULE,
                y - 0.05,
                (col_idx - start) as f32 * QR_MODULE,
                QR_MODULE + 0.05,
            );
        }
    }
    content.set_fill_gray(0.0);
    content.fill_nonzero();
}

/// Breaks WinAnsi text into lines no wider than `width` points, at spaces
/// where it can and inside a word where a word alone is too wide.
fn wrap(text: &[u8], font: Font, size: f32, width: f32) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    for word in text.split(|&byte| byte == b' ').filter(|word| !word.is_empty()) {
        let candidate_width = if current.is_empty() {
            font.measure(word, size)
        } else {
            font.measure(&current, size) + font.measure(b" ", size) + font.measure(word, size)
        };
        if candidate_width <= width {
            if !current.is_empty() {
                current.push(b' ');
            }
            current.extend_from_slice(word);
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        // The word starts a line; split it where it alone is too wide.
        for &byte in word {
            if !current.is_empty()
                && font.measure(&current, size) + font.measure(&[byte], size) > width
            {
                lines.push(std::mem::take(&mut current));
            }
            current.push(byte);
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// Text in WinAnsi encoding (Windows-1252): ASCII and Latin-1 as they are,
/// the typographic characters of 0x80 to 0x9F by their codes, control
/// characters as spaces, anything else as `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' | '\u{a0}'..='\u{ff}' => c as u8,
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8a,
            '‹' => 0x8b,
            'Œ' => 0x8c,
            'Ž' => 0x8e,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9a,
            '›' => 0x9b,
            'œ' => 0x9c,
            'ž' => 0x9e,
            'Ÿ' => 0x9f,
            c if c.is_control() => b' ',
            _ => b'?',
        })
        .collect()
}

/// Helvetica's advance widths (from its AFM) for the printable ASCII
/// characters 32 to 126, in thousandths of the font size.
const HELVETICA_ASCII: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // ' ' to '/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584,
    556, // '0' to '?'
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722,
    778, // '@' to 'O'
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
    556, // 'P' to '_'
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556,
    556, // '`' to 'o'
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 'p' to '~'
];

/// Helvetica's width of a WinAnsi byte; bytes above ASCII (accented
/// letters and typographic marks) are taken as wide as a digit, about the
/// width of most of them.
fn helvetica_width(byte: u8) -> u32 {
    match byte {
        32..=126 => u32::from(HELVETICA_ASCII[usize::from(byte - 32)]),
        _ => 556,
    }
}

/// The amount with its currency, in major units with the currency's
/// number of decimals (ISO 4217) and thousands separated by commas:
/// `CNY 1,234.56`, `JPY 1,500`.
fn format_amount(amount_minor: i64, currency: &str) -> String {
    let decimals: u32 = match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    };
    let divisor = 10u64.pow(decimals);
    let magnitude = amount_minor.unsigned_abs();
    let major = (magnitude / divisor).to_string();
    let mut grouped = String::with_capacity(major.len() + major.len() / 3);
    for (digit_idx, digit) in major.chars().enumerate() {
        if digit_idx > 0 && (major.len() - digit_idx).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if amount_minor < 0 { "-" } else { "" };
    if decimals == 0 {
        format!("{currency} {sign}{grouped}")
    } else {
        let minor = magnitude % divisor;
        format!("{currency} {sign}{grouped}.{minor:0width$}", width = decimals as usize)
    }
}

/// The UTC date of a time in milliseconds since the Unix epoch, as a
/// citizen reads it and in ISO 8601: `4 December 2026 (2026-12-04, UTC)`.
/// It is computed from the number alone (days to civil date, after Howard
/// Hinnant's algorithm), without a clock or a time zone database.
fn format_date(ms_since_epoch: u64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let (year, month, day) = civil_from_days(ms_since_epoch / 86_400_000);
    let month_name = MONTHS[(month - 1) as usize];
    format!("{day} {month_name} {year} ({year:04}-{month:02}-{day:02}, UTC)")
}

/// The proleptic Gregorian (year, month 1 to 12, day 1 to 31) of a count of
/// days since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u32, u32) {
    // Shifted to start on 0000-03-01, so that leap days end each cycle.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 } as u32;
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc_dates() {
        assert_eq!(format_date(0), "1 January 1970 (1970-01-01, UTC)");
        // 2024-02-29T23:59:59.999Z and the next millisecond.
        assert_eq!(format_date(1_709_251_199_999), "29 February 2024 (2024-02-29, UTC)");
        assert_eq!(format_date(1_709_251_200_000), "1 March 2024 (2024-03-01, UTC)");
        assert_eq!(format_date(1_796_342_400_000), "4 December 2026 (2026-12-04, UTC)");
        assert_eq!(format_date(951_782_400_000), "29 February 2000 (2000-02-29, UTC)");
        assert_eq!(format_date(4_107_542_400_000), "1 March 2100 (2100-03-01, UTC)");
        // The largest time still gives a date, not a panic.
        assert!(format_date(u64::MAX).ends_with(", UTC)"));
    }

    #[test]
    fn amounts_use_the_currency_decimals() {
        assert_eq!(format_amount(123_456, "CNY"), "CNY 1,234.56");
        assert_eq!(format_amount(5, "EUR"), "EUR 0.05");
        assert_eq!(format_amount(0, "CNY"), "CNY 0.00");
        assert_eq!(format_amount(1_500, "JPY"), "JPY 1,500");
        assert_eq!(format_amount(1_234_567, "KWD"), "KWD 1,234.567");
        assert_eq!(format_amount(100_000_000, "CNY"), "CNY 1,000,000.00");
        assert_eq!(format_amount(-250, "CNY"), "CNY -2.50");
        assert_eq!(format_amount(i64::MIN, "CNY"), "CNY -92,233,720,368,547,758.08");
    }

    #[test]
    fn text_is_win_ansi() {
        assert_eq!(win_ansi("Café – “ok” €5"), b"Caf\xe9 \x96 \x93ok\x94 \x805");
        assert_eq!(win_ansi("低保 ok"), b"?? ok");
        assert_eq!(win_ansi("a\tb"), b"a b");
    }

    #[test]
    fn wrapping_keeps_lines_inside_the_width() {
        let text =
            win_ansi(&"The household's per-capita income is above the local threshold. ".repeat(5));
        let lines = wrap(&text, Font::Regular, 10.0, 200.0);
        assert!(lines.len() > 3, "{lines:?}");
        for line in &lines {
            assert!(Font::Regular.measure(line, 10.0) <= 200.0);
            assert!(!line.starts_with(b" ") && !line.ends_with(b" "));
        }
        let rejoined: Vec<u8> = lines.join(&b' ');
        assert_eq!(rejoined, text.trim_ascii_end());

        // A word wider than the line is split.
        let long = vec![b'W'; 100];
        let lines = wrap(&long, Font::Regular, 10.0, 100.0);
        assert!(lines.len() > 1);
        assert_eq!(lines.concat(), long);
        assert_eq!(wrap(b"", Font::Mono, 10.0, 100.0), vec![Vec::<u8>::new()]);
    }
}
