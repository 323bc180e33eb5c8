//! The checks a bank applies before it accepts a payment file: IBAN check
//! digits and country lengths, BIC shape, SEPA creditor identifiers,
//! amounts, ISO 4217 code shape, identifiers, and the SEPA character set.
//!
//! Free text (names and remittance information) is **transliterated** into
//! the SEPA basic Latin character set (`a-z A-Z 0-9 / - ? : ( ) . , ' +` and
//! space): Latin letters with diacritics lose them (`é` → `e`, `ß` → `ss`,
//! `Æ` → `AE`, `ł` → `l`), `&` becomes `+`, typographic quotes and dashes
//! become `'` and `-`, and runs of white space become one space. Any other
//! character (`<`, `>`, `"`, `@`, `_`, non-Latin scripts …) is **rejected**
//! with an error naming the field, the character and its position, because
//! guessing a spelling of a beneficiary's name would pay the wrong person.
//! Identifiers are never transliterated: they are rejected when they leave
//! the set.

use super::error::{Error, Result};

/// The largest amount of one SEPA transaction, in minor units
/// (9 999 999 999.99 in a currency of two decimals).
pub const MAX_AMOUNT_MINOR: u64 = 999_999_999_999;

/// The longest name the SEPA rulebooks accept.
pub const MAX_NAME_CHARS: usize = 70;

/// The longest unstructured remittance information.
pub const MAX_REMITTANCE_CHARS: usize = 140;

/// The longest identifier (`Max35Text`).
pub const MAX_ID_CHARS: usize = 35;

/// The IBAN length of every country in the SWIFT IBAN registry.
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

/// The IBAN length of a country, if the country issues IBANs.
pub fn iban_length(country: &str) -> Option<usize> {
    IBAN_LENGTHS.iter().find(|(code, _)| *code == country).map(|(_, length)| *length)
}

/// The IBAN in electronic form (upper case, no spaces), if it is valid:
/// known country, that country's length, letters and digits only, and
/// check digits that make the number 1 modulo 97 (ISO 13616).
pub fn iban(field: &str, text: &str) -> Result<String> {
    let bad = |reason: String| Error::Iban { field: field.to_owned(), reason };
    let compact: String =
        text.chars().filter(|c| *c != ' ').map(|c| c.to_ascii_uppercase()).collect();
    if let Some(position) = compact.chars().position(|c| !c.is_ascii_alphanumeric()) {
        return Err(bad(format!(
            "only letters, digits and spaces are allowed; character {} is not one",
            position + 1
        )));
    }
    let bytes = compact.as_bytes();
    if bytes.len() < 5 {
        return Err(bad(format!("{} characters is too short", bytes.len())));
    }
    if !bytes[0].is_ascii_uppercase() || !bytes[1].is_ascii_uppercase() {
        return Err(bad("it must start with a two-letter country code".into()));
    }
    if !bytes[2].is_ascii_digit() || !bytes[3].is_ascii_digit() {
        return Err(bad("the two characters after the country code must be check digits".into()));
    }
    let country = &compact[0..2];
    let Some(expected) = iban_length(country) else {
        return Err(bad(format!("country {country} does not issue IBANs")));
    };
    if bytes.len() != expected {
        return Err(bad(format!(
            "an IBAN of {country} has {expected} characters, this one has {}",
            bytes.len()
        )));
    }
    let rearranged = format!("{}{}", &compact[4..], &compact[0..4]);
    if mod97(&rearranged) != 1 {
        return Err(bad("the check digits do not match (mod-97 check failed)".into()));
    }
    Ok(compact)
}

/// The two check digits ISO 7064 MOD 97-10 gives for `body` (letters and
/// digits, letters counting A = 10 … Z = 35), as used by IBANs and SEPA
/// creditor identifiers: `body` must already end with the country code and
/// `00`.
pub fn check_digits(body: &str) -> u8 {
    // 98 - (n mod 97) is between 2 and 98, so it fits in a u8.
    (98 - mod97(body)) as u8
}

/// The remainder modulo 97 of the number written by `text`, letters
/// counting A = 10 … Z = 35. Characters that are not ASCII letters or digits
/// must have been refused before.
fn mod97(text: &str) -> u32 {
    let mut remainder = 0u32;
    for c in text.chars() {
        let value = c.to_digit(36).unwrap_or(0);
        remainder =
            if value < 10 { (remainder * 10 + value) % 97 } else { (remainder * 100 + value) % 97 };
    }
    remainder
}

/// The BIC, if it has the ISO 9362 shape the schemas require:
/// `[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?`.
pub fn bic(field: &str, text: &str) -> Result<String> {
    let bad = || Error::Bic { field: field.to_owned() };
    let bytes = text.as_bytes();
    if bytes.len() != 8 && bytes.len() != 11 {
        return Err(bad());
    }
    let upper_or_digit = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    if !bytes[0..6].iter().all(u8::is_ascii_uppercase)
        || !(bytes[6].is_ascii_uppercase() || (b'2'..=b'9').contains(&bytes[6]))
        || !(upper_or_digit(bytes[7]) && bytes[7] != b'O')
        || !bytes[8..].iter().all(|b| upper_or_digit(*b))
    {
        return Err(bad());
    }
    Ok(text.to_owned())
}

/// The SEPA creditor identifier, if valid: country code, two check digits,
/// a three-character business code, and the national identifier; the
/// check digits are computed over the national identifier followed by the
/// country code and `00`, the business code left out.
pub fn creditor_id(field: &str, text: &str) -> Result<String> {
    let bad = |reason: &str| Error::CreditorId { field: field.to_owned(), reason: reason.into() };
    let bytes = text.as_bytes();
    if bytes.len() < 8 || bytes.len() > MAX_ID_CHARS {
        return Err(bad("it must have 8 to 35 characters"));
    }
    if !bytes.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return Err(bad("only upper-case letters and digits are allowed"));
    }
    if !bytes[0].is_ascii_uppercase() || !bytes[1].is_ascii_uppercase() {
        return Err(bad("it must start with a two-letter country code"));
    }
    if !bytes[2].is_ascii_digit() || !bytes[3].is_ascii_digit() {
        return Err(bad("the two characters after the country code must be check digits"));
    }
    let body = format!("{}{}00", &text[7..], &text[0..2]);
    let expected = check_digits(&body);
    if text[2..4] != format!("{expected:02}") {
        return Err(bad("the check digits do not match (mod-97 check failed)"));
    }
    Ok(text.to_owned())
}

/// The amount, if it is at least one minor unit and at most
/// [`MAX_AMOUNT_MINOR`].
pub fn amount(field: &str, amount_minor: u64) -> Result<u64> {
    if amount_minor == 0 || amount_minor > MAX_AMOUNT_MINOR {
        return Err(Error::Amount { field: field.to_owned(), amount_minor });
    }
    Ok(amount_minor)
}

/// The currency, if it has the shape of an ISO 4217 code (three upper-case
/// letters). Whether the bank's scheme takes it (SEPA takes only `EUR`) is
/// the bank's rule, not the file's.
pub fn currency(field: &str, code: &str) -> Result<String> {
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Error::Currency {
            field: field.to_owned(),
            currency: code.to_owned(),
            reason: "is not an ISO 4217 code (three upper-case letters, such as EUR)".into(),
        });
    }
    Ok(code.to_owned())
}

/// Whether `c` is in the SEPA basic Latin character set.
pub fn is_sepa_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '/' | '-' | '?' | ':' | '(' | ')' | '.' | ',' | '\'' | '+' | ' ')
}

/// An identifier (message id, end-to-end id, mandate id) checked against the
/// SEPA rules: 1 to 35 characters of the SEPA set without spaces, not
/// starting or ending with `/` and without `//`.
pub fn identifier(field: &str, value: &str) -> Result<String> {
    let bad = |reason: String| Error::Identifier {
        field: field.to_owned(),
        value: value.to_owned(),
        reason,
    };
    let n_chars = value.chars().count();
    if n_chars == 0 || n_chars > MAX_ID_CHARS {
        return Err(bad(format!("it must have 1 to {MAX_ID_CHARS} characters, not {n_chars}")));
    }
    if let Some((position, c)) =
        value.chars().enumerate().find(|(_, c)| !is_sepa_char(*c) || *c == ' ')
    {
        return Err(bad(format!(
            "character {c:?} at position {} is not allowed (letters, digits and / - ? : ( ) . , ' + only)",
            position + 1
        )));
    }
    if value.starts_with('/') || value.ends_with('/') || value.contains("//") {
        return Err(bad("it must not start or end with / or contain //".into()));
    }
    Ok(value.to_owned())
}

/// Free text transliterated into the SEPA character set (see the module
/// docs), trimmed, with white space collapsed, and at most `max_chars`
/// characters; an empty result or an untransliterable character is an
/// error naming the field.
pub fn text(field: &str, value: &str, max_chars: usize) -> Result<String> {
    let bad = |reason: String| Error::Text { field: field.to_owned(), reason };
    let mut out = String::with_capacity(value.len());
    let mut pending_space = false;
    for (position, c) in value.chars().enumerate() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        if !transliterate(c, &mut out) {
            return Err(bad(format!(
                "character {c:?} at position {} is outside the SEPA character set and has no transliteration",
                position + 1
            )));
        }
    }
    if out.is_empty() {
        return Err(bad("it is empty".into()));
    }
    let n_chars = out.chars().count();
    if n_chars > max_chars {
        return Err(bad(format!(
            "it has {n_chars} characters after transliteration; at most {max_chars} are allowed"
        )));
    }
    Ok(out)
}

/// Latin Extended-A (U+0100 to U+017F), one base letter each; `?` marks the
/// ligatures handled apart.
const LATIN_EXTENDED_A: &[u8; 128] = b"AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIi??JjKkkLlLlLlLlLlNnNnNnnNnOoOoOo??RrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";

/// Appends the SEPA spelling of `c` to `out`; false if it has none.
fn transliterate(c: char, out: &mut String) -> bool {
    if is_sepa_char(c) {
        out.push(c);
        return true;
    }
    let spelled = match c {
        '&' => "+",
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '`' | '\u{B4}' => "'",
        '\u{2010}'..='\u{2015}' => "-",
        'À'..='Å' => "A",
        'à'..='å' => "a",
        'Æ' => "AE",
        'æ' => "ae",
        'Ç' => "C",
        'ç' => "c",
        'È'..='Ë' => "E",
        'è'..='ë' => "e",
        'Ì'..='Ï' => "I",
        'ì'..='ï' => "i",
        'Ð' => "D",
        'ð' => "d",
        'Ñ' => "N",
        'ñ' => "n",
        'Ò'..='Ö' | 'Ø' => "O",
        'ò'..='ö' | 'ø' => "o",
        'Ù'..='Ü' => "U",
        'ù'..='ü' => "u",
        'Ý' => "Y",
        'ý' | 'ÿ' => "y",
        'Þ' => "TH",
        'þ' => "th",
        'ß' => "ss",
        '\u{132}' => "IJ",
        '\u{133}' => "ij",
        '\u{152}' => "OE",
        '\u{153}' => "oe",
        '\u{218}' => "S",
        '\u{219}' => "s",
        '\u{21A}' => "T",
        '\u{21B}' => "t",
        '\u{100}'..='\u{17F}' => {
            let index = c as usize - 0x100;
            return match LATIN_EXTENDED_A.get(index) {
                Some(letter) if *letter != b'?' => {
                    out.push(char::from(*letter));
                    true
                }
                _ => false,
            };
        }
        _ => return false,
    };
    out.push_str(spelled);
    true
}
