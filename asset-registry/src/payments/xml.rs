//! The XML writers of `pain.001.001.03` and `pain.008.001.02`, after the
//! whole batch has been validated.
//!
//! The writer is a few lines over a `String`: every text goes through
//! [`escape`], the element order follows the published schemas, and the
//! totals (`NbOfTxs`, `CtrlSum`) are computed from integers.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::error::{Error, Result};
use super::validate;
use super::{Batch, Direction, Instruction, Party};

const PAIN_001: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03";
const PAIN_008: &str = "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02";

/// The largest control sum the schemas' `DecimalNumber` (18 digits) can
/// write with two decimals.
const MAX_CONTROL_SUM_MINOR: u64 = 999_999_999_999_999_999;

/// `text` with the five XML special characters replaced by entities, safe
/// in element content and in double- or single-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// An amount of minor units written with two decimals: `12345` → `123.45`.
pub fn format_amount(amount_minor: u64) -> String {
    format!("{}.{:02}", amount_minor / 100, amount_minor % 100)
}

/// The `pain.001.001.03` credit-transfer file of `batch`: one payment
/// information block paying every instruction from the agency's account.
///
/// Every instruction must be a [`Direction::Credit`] without a mandate.
pub fn pain_001(batch: &Batch) -> Result<String> {
    let checked = Checked::new(batch, Direction::Credit)?;
    let mut xml = Xml::new(PAIN_001);
    xml.open("CstmrCdtTrfInitn");
    checked.group_header(&mut xml);
    xml.open("PmtInf");
    xml.leaf("PmtInfId", &checked.message_id);
    xml.leaf("PmtMtd", "TRF");
    xml.leaf("BtchBookg", "true");
    xml.leaf("NbOfTxs", &checked.instructions.len().to_string());
    xml.leaf("CtrlSum", &format_amount(checked.control_sum_minor));
    xml.open("PmtTpInf");
    xml.open("SvcLvl");
    xml.leaf("Cd", "SEPA");
    xml.close("SvcLvl");
    // SSBE: social security benefit, so the beneficiary's bank can apply the
    // protections national law gives benefits.
    xml.open("CtgyPurp");
    xml.leaf("Cd", "SSBE");
    xml.close("CtgyPurp");
    xml.close("PmtTpInf");
    xml.leaf("ReqdExctnDt", &batch.requested_date.to_string());
    xml.open("Dbtr");
    xml.leaf("Nm", &checked.party.name);
    xml.close("Dbtr");
    account(&mut xml, "DbtrAcct", &checked.party.iban);
    agent(&mut xml, "DbtrAgt", checked.party.bic.as_deref());
    xml.leaf("ChrgBr", "SLEV");
    for instruction in &checked.instructions {
        xml.open("CdtTrfTxInf");
        xml.open("PmtId");
        xml.leaf("EndToEndId", &instruction.end_to_end_id);
        xml.close("PmtId");
        xml.open("Amt");
        xml.amount("InstdAmt", &instruction.currency, instruction.amount_minor);
        xml.close("Amt");
        if let Some(bic) = &instruction.bic {
            agent(&mut xml, "CdtrAgt", Some(bic));
        }
        xml.open("Cdtr");
        xml.leaf("Nm", &instruction.counterparty_name);
        xml.close("Cdtr");
        account(&mut xml, "CdtrAcct", &instruction.iban);
        remittance(&mut xml, &instruction.remittance);
        xml.close("CdtTrfTxInf");
    }
    xml.close("PmtInf");
    xml.close("CstmrCdtTrfInitn");
    Ok(xml.finish())
}

/// The `pain.008.001.02` direct-debit file of `batch`: one SEPA core,
/// recurrent (`RCUR`) payment information block collecting every
/// instruction into the agency's account.
///
/// Every instruction must be a [`Direction::Debit`] with a mandate, and the
/// agency must have a creditor identifier. Every collection is marked
/// `RCUR`: since the 2016 rulebook the first collection of a series may be
/// sent as recurrent, which keeps the monthly run free of state.
pub fn pain_008(batch: &Batch) -> Result<String> {
    let checked = Checked::new(batch, Direction::Debit)?;
    let Some(creditor_id) = &checked.party.creditor_id else {
        return Err(Error::CreditorId {
            field: "party.creditor_id".into(),
            reason: "a direct debit needs the agency's SEPA creditor identifier".into(),
        });
    };
    let mut xml = Xml::new(PAIN_008);
    xml.open("CstmrDrctDbtInitn");
    checked.group_header(&mut xml);
    xml.open("PmtInf");
    xml.leaf("PmtInfId", &checked.message_id);
    xml.leaf("PmtMtd", "DD");
    xml.leaf("BtchBookg", "true");
    xml.leaf("NbOfTxs", &checked.instructions.len().to_string());
    xml.leaf("CtrlSum", &format_amount(checked.control_sum_minor));
    xml.open("PmtTpInf");
    xml.open("SvcLvl");
    xml.leaf("Cd", "SEPA");
    xml.close("SvcLvl");
    xml.open("LclInstrm");
    xml.leaf("Cd", "CORE");
    xml.close("LclInstrm");
    xml.leaf("SeqTp", "RCUR");
    xml.close("PmtTpInf");
    xml.leaf("ReqdColltnDt", &batch.requested_date.to_string());
    xml.open("Cdtr");
    xml.leaf("Nm", &checked.party.name);
    xml.close("Cdtr");
    account(&mut xml, "CdtrAcct", &checked.party.iban);
    agent(&mut xml, "CdtrAgt", checked.party.bic.as_deref());
    xml.leaf("ChrgBr", "SLEV");
    xml.open("CdtrSchmeId");
    xml.open("Id");
    xml.open("PrvtId");
    xml.open("Othr");
    xml.leaf("Id", creditor_id);
    xml.open("SchmeNm");
    xml.leaf("Prtry", "SEPA");
    xml.close("SchmeNm");
    xml.close("Othr");
    xml.close("PrvtId");
    xml.close("Id");
    xml.close("CdtrSchmeId");
    for instruction in &checked.instructions {
        xml.open("DrctDbtTxInf");
        xml.open("PmtId");
        xml.leaf("EndToEndId", &instruction.end_to_end_id);
        xml.close("PmtId");
        xml.amount("InstdAmt", &instruction.currency, instruction.amount_minor);
        // Checked::new refused debits without a mandate.
        if let Some(mandate) = &instruction.mandate {
            xml.open("DrctDbtTx");
            xml.open("MndtRltdInf");
            xml.leaf("MndtId", &mandate.id);
            xml.leaf("DtOfSgntr", &mandate.signed_on.to_string());
            xml.close("MndtRltdInf");
            xml.close("DrctDbtTx");
        }
        agent(&mut xml, "DbtrAgt", instruction.bic.as_deref());
        xml.open("Dbtr");
        xml.leaf("Nm", &instruction.counterparty_name);
        xml.close("Dbtr");
        account(&mut xml, "DbtrAcct", &instruction.iban);
        remittance(&mut xml, &instruction.remittance);
        xml.close("DrctDbtTxInf");
    }
    xml.close("PmtInf");
    xml.close("CstmrDrctDbtInitn");
    Ok(xml.finish())
}

/// `<{tag}><Id><IBAN>…</IBAN></Id></{tag}>`.
fn account(xml: &mut Xml, tag: &str, iban: &str) {
    xml.open(tag);
    xml.open("Id");
    xml.leaf("IBAN", iban);
    xml.close("Id");
    xml.close(tag);
}

/// A bank by BIC, or `NOTPROVIDED` as the SEPA guidelines ask when the BIC
/// is not known.
fn agent(xml: &mut Xml, tag: &str, bic: Option<&str>) {
    xml.open(tag);
    xml.open("FinInstnId");
    match bic {
        Some(bic) => xml.leaf("BIC", bic),
        None => {
            xml.open("Othr");
            xml.leaf("Id", "NOTPROVIDED");
            xml.close("Othr");
        }
    }
    xml.close("FinInstnId");
    xml.close(tag);
}

fn remittance(xml: &mut Xml, text: &str) {
    xml.open("RmtInf");
    xml.leaf("Ustrd", text);
    xml.close("RmtInf");
}

/// A batch whose every field passed validation, in the form written out:
/// IBANs compact, texts transliterated.
struct Checked {
    message_id: String,
    created_at: String,
    party: Party,
    instructions: Vec<Instruction>,
    control_sum_minor: u64,
}

impl Checked {
    fn new(batch: &Batch, direction: Direction) -> Result<Checked> {
        let message_id = validate::identifier("message_id", &batch.message_id)?;
        let party = Party {
            name: validate::text("party.name", &batch.party.name, validate::MAX_NAME_CHARS)?,
            iban: validate::iban("party.iban", &batch.party.iban)?,
            bic: batch
                .party
                .bic
                .as_deref()
                .map(|bic| validate::bic("party.bic", bic))
                .transpose()?,
            creditor_id: batch
                .party
                .creditor_id
                .as_deref()
                .map(|id| validate::creditor_id("party.creditor_id", id))
                .transpose()?,
        };
        if batch.instructions.is_empty() {
            return Err(Error::Batch {
                reason: "it has no instructions; a file needs at least one".into(),
            });
        }
        let mut seen = BTreeSet::new();
        let mut currency: Option<&str> = None;
        let mut control_sum_minor = 0u64;
        let mut instructions = Vec::with_capacity(batch.instructions.len());
        for (instruction_idx, instruction) in batch.instructions.iter().enumerate() {
            let at = format!("instructions[{instruction_idx}] ({})", instruction.end_to_end_id);
            instructions.push(check_instruction(&at, instruction, direction)?);
            if !seen.insert(instruction.end_to_end_id.as_str()) {
                return Err(Error::Batch {
                    reason: format!(
                        "{at}: the end-to-end id appears twice; a payment would be made twice"
                    ),
                });
            }
            match currency {
                None => currency = Some(&instruction.currency),
                Some(first) if first != instruction.currency => {
                    return Err(Error::Currency {
                        field: format!("{at}.currency"),
                        currency: instruction.currency.clone(),
                        reason: format!(
                            "differs from the batch's first currency {first}; one file holds one currency"
                        ),
                    });
                }
                Some(_) => {}
            }
            control_sum_minor = control_sum_minor
                .checked_add(instruction.amount_minor)
                .filter(|sum| *sum <= MAX_CONTROL_SUM_MINOR)
                .ok_or_else(|| Error::Batch {
                    reason: "the control sum exceeds 18 digits; split the batch".into(),
                })?;
        }
        Ok(Checked {
            message_id,
            created_at: batch.created_at.to_string(),
            party,
            instructions,
            control_sum_minor,
        })
    }

    fn group_header(&self, xml: &mut Xml) {
        xml.open("GrpHdr");
        xml.leaf("MsgId", &self.message_id);
        xml.leaf("CreDtTm", &self.created_at);
        xml.leaf("NbOfTxs", &self.instructions.len().to_string());
        xml.leaf("CtrlSum", &format_amount(self.control_sum_minor));
        xml.open("InitgPty");
        xml.leaf("Nm", &self.party.name);
        xml.close("InitgPty");
        xml.close("GrpHdr");
    }
}

/// One instruction checked and normalised, or the first thing wrong with it.
fn check_instruction(
    at: &str,
    instruction: &Instruction,
    direction: Direction,
) -> Result<Instruction> {
    let field = |name: &str| format!("{at}.{name}");
    if instruction.direction != direction {
        let file = match direction {
            Direction::Credit => "a credit-transfer file (pain.001)",
            Direction::Debit => "a direct-debit file (pain.008)",
        };
        let kind = match instruction.direction {
            Direction::Credit => "credit",
            Direction::Debit => "debit",
        };
        return Err(Error::Batch {
            reason: format!("{at}: a {kind} instruction cannot go into {file}"),
        });
    }
    let end_to_end_id = validate::identifier(&field("end_to_end_id"), &instruction.end_to_end_id)?;
    let expected =
        super::end_to_end_id(direction, &instruction.case_id, instruction.period).map_err(
            |_| Error::CaseId { field: field("case_id"), case_id: instruction.case_id.clone() },
        )?;
    if end_to_end_id != expected {
        return Err(Error::Identifier {
            field: field("end_to_end_id"),
            value: end_to_end_id,
            reason: format!(
                "it must be {expected}, derived from the direction, case id and period"
            ),
        });
    }
    let mandate = match (&instruction.mandate, direction) {
        (None, Direction::Credit) => None,
        (Some(_), Direction::Credit) => {
            return Err(Error::Batch {
                reason: format!("{at}: a credit transfer has no mandate; remove it"),
            });
        }
        (None, Direction::Debit) => {
            return Err(Error::Batch {
                reason: format!("{at}: a direct debit needs the payer's mandate"),
            });
        }
        (Some(mandate), Direction::Debit) => Some(super::Mandate {
            id: validate::identifier(&field("mandate.id"), &mandate.id)?,
            signed_on: mandate.signed_on,
        }),
    };
    Ok(Instruction {
        end_to_end_id,
        case_id: instruction.case_id.clone(),
        period: instruction.period,
        direction,
        amount_minor: validate::amount(&field("amount_minor"), instruction.amount_minor)?,
        currency: validate::currency(&field("currency"), &instruction.currency)?,
        counterparty_name: validate::text(
            &field("counterparty_name"),
            &instruction.counterparty_name,
            validate::MAX_NAME_CHARS,
        )?,
        iban: validate::iban(&field("iban"), &instruction.iban)?,
        bic: instruction.bic.as_deref().map(|bic| validate::bic(&field("bic"), bic)).transpose()?,
        remittance: validate::text(
            &field("remittance"),
            &instruction.remittance,
            validate::MAX_REMITTANCE_CHARS,
        )?,
        mandate,
    })
}

/// An indented XML document under construction.
struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn new(namespace: &str) -> Xml {
        let mut out = String::with_capacity(4096);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "<Document xmlns=\"{}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">",
            escape(namespace)
        );
        Xml { out, depth: 1 }
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn open(&mut self, tag: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{tag}>");
        self.depth += 1;
    }

    fn close(&mut self, tag: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        let _ = writeln!(self.out, "</{tag}>");
    }

    fn leaf(&mut self, tag: &str, text: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{tag}>{}</{tag}>", escape(text));
    }

    fn amount(&mut self, tag: &str, currency: &str, amount_minor: u64) {
        self.indent();
        let _ = writeln!(
            self.out,
            "<{tag} Ccy=\"{}\">{}</{tag}>",
            escape(currency),
            format_amount(amount_minor)
        );
    }

    fn finish(mut self) -> String {
        self.out.push_str("</Document>\n");
        self.out
    }
}
