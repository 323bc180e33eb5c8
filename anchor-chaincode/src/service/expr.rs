//! The rule and formula language of service definitions: a small, total,
//! deterministic expression language written as JSON.
//!
//! An expression is one of:
//! - an integer literal (`80000`) or a boolean literal (`true`);
//! - a reference: `{"fact": "household_income"}` (a fact recorded by the
//!   automatic checks), `{"output": "income_accounting.assistance"}` (an
//!   output of a review step), `{"const": "local_threshold"}` (a constant
//!   of the definition) or `{"var": "application_date"}` (the day of the
//!   application, as days since 1970-01-01 from the applying transaction's
//!   recorded time; `decision_date` likewise at a decision);
//! - an operation, an object with one key naming the operator and an array
//!   of operands: `add`, `sub`, `mul` (integers, any number of operands),
//!   `div` (two operands, rounding towards negative infinity; a zero
//!   divisor is an error), `ratio` (an amount and a rate in basis points:
//!   `amount × rate / 10000`, rounded down), `min`, `max`, `lt`, `le`,
//!   `gt`, `ge`, `eq`, `ne` (two integers), `and`, `or` (booleans), `not`
//!   (one boolean) and `if` (a boolean and two branches of one type).
//!
//! Integers are `i64`; every operation is checked, so an overflow is an
//! error rather than a wrapped value. There are no floating-point numbers,
//! no loops and no clock: the same inputs always give the same value on
//! every node.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value as Json;

/// The deepest expression accepted, so evaluation never exhausts the stack.
pub const MAX_DEPTH: usize = 32;
/// The most nodes in one expression.
pub const MAX_NODES: usize = 512;

/// A parsed expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// An integer literal.
    Int(i64),
    /// A boolean literal.
    Bool(bool),
    /// A reference to a named input.
    Ref(RefKind, String),
    /// An operator applied to operands.
    Op(Op, Vec<Expr>),
}

/// What a reference names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RefKind {
    /// A fact of the automatic checks.
    Fact,
    /// A review step's output, as `step.name`.
    Output,
    /// A constant of the definition.
    Const,
    /// A variable given by the ledger (`application_date`, `decision_date`).
    Var,
}

impl RefKind {
    fn key(self) -> &'static str {
        match self {
            RefKind::Fact => "fact",
            RefKind::Output => "output",
            RefKind::Const => "const",
            RefKind::Var => "var",
        }
    }
}

/// An operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Ratio,
    Min,
    Max,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
    Not,
    If,
}

const OPS: [(&str, Op); 17] = [
    ("add", Op::Add),
    ("sub", Op::Sub),
    ("mul", Op::Mul),
    ("div", Op::Div),
    ("ratio", Op::Ratio),
    ("min", Op::Min),
    ("max", Op::Max),
    ("lt", Op::Lt),
    ("le", Op::Le),
    ("gt", Op::Gt),
    ("ge", Op::Ge),
    ("eq", Op::Eq),
    ("ne", Op::Ne),
    ("and", Op::And),
    ("or", Op::Or),
    ("not", Op::Not),
    ("if", Op::If),
];

impl Op {
    fn name(self) -> &'static str {
        OPS.iter().find(|(_, op)| *op == self).map_or("?", |(name, _)| name)
    }
}

/// A value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// The type of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// An integer.
    Int,
    /// A boolean.
    Bool,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Int => "integer",
            Type::Bool => "boolean",
        })
    }
}

/// The named inputs of an evaluation.
#[derive(Clone, Debug, Default)]
pub struct Inputs<'a> {
    /// Facts of the automatic checks.
    pub facts: Option<&'a BTreeMap<String, i64>>,
    /// Step outputs, by `step.name`.
    pub outputs: Option<&'a BTreeMap<String, i64>>,
    /// Constants of the definition.
    pub constants: Option<&'a BTreeMap<String, i64>>,
    /// Ledger variables.
    pub vars: Option<&'a BTreeMap<String, i64>>,
}

/// Parses an expression from JSON.
pub fn parse(json: &Json) -> Result<Expr, String> {
    let mut nodes = 0;
    parse_at(json, 0, &mut nodes)
}

fn parse_at(json: &Json, depth: usize, nodes: &mut usize) -> Result<Expr, String> {
    *nodes += 1;
    if depth > MAX_DEPTH {
        return Err(format!("expression nested deeper than {MAX_DEPTH}"));
    }
    if *nodes > MAX_NODES {
        return Err(format!("expression has more than {MAX_NODES} nodes"));
    }
    match json {
        Json::Bool(b) => Ok(Expr::Bool(*b)),
        Json::Number(n) => n.as_i64().map(Expr::Int).ok_or_else(|| {
            format!(
                "number {n} is not a 64-bit integer (no fractions: use minor units or basis points)"
            )
        }),
        Json::Object(map) if map.len() == 1 => {
            let Some((key, operand)) = map.iter().next() else {
                return Err("empty object is not an expression".into());
            };
            for kind in [RefKind::Fact, RefKind::Output, RefKind::Const, RefKind::Var] {
                if key == kind.key() {
                    return match operand {
                        Json::String(name) if valid_ref(name) => Ok(Expr::Ref(kind, name.clone())),
                        _ => Err(format!(
                            "{{\"{key}\": …}} takes a name of letters, digits, _ and .; got {operand}"
                        )),
                    };
                }
            }
            let op = OPS
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, op)| *op)
                .ok_or_else(|| format!("unknown operator {key:?}"))?;
            let Json::Array(items) = operand else {
                return Err(format!("operator {key:?} takes an array of operands"));
            };
            let arity_ok = match op {
                Op::Add | Op::Mul | Op::Min | Op::Max | Op::And | Op::Or => !items.is_empty(),
                Op::Sub => !items.is_empty(),
                Op::Div | Op::Ratio | Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Eq | Op::Ne => {
                    items.len() == 2
                }
                Op::Not => items.len() == 1,
                Op::If => items.len() == 3,
            };
            if !arity_ok {
                return Err(format!("operator {key:?} given {} operands", items.len()));
            }
            let operands = items
                .iter()
                .map(|item| parse_at(item, depth + 1, nodes))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Expr::Op(op, operands))
        }
        other => Err(format!("{other} is not an expression")),
    }
}

fn valid_ref(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

impl Expr {
    /// The type of the expression, checking its operands; `lookup` gives
    /// whether a reference exists.
    pub fn type_check(&self, lookup: &dyn Fn(RefKind, &str) -> bool) -> Result<Type, String> {
        match self {
            Expr::Int(_) => Ok(Type::Int),
            Expr::Bool(_) => Ok(Type::Bool),
            Expr::Ref(kind, name) => {
                if lookup(*kind, name) {
                    Ok(Type::Int)
                } else {
                    Err(format!("{} {name:?} is not defined", kind.key()))
                }
            }
            Expr::Op(op, operands) => {
                let types = operands
                    .iter()
                    .map(|operand| operand.type_check(lookup))
                    .collect::<Result<Vec<_>, _>>()?;
                let all = |wanted: Type| {
                    if types.iter().all(|t| *t == wanted) {
                        Ok(())
                    } else {
                        Err(format!("operator {:?} takes {wanted} operands", op.name()))
                    }
                };
                match op {
                    Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Ratio | Op::Min | Op::Max => {
                        all(Type::Int).map(|()| Type::Int)
                    }
                    Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Eq | Op::Ne => {
                        all(Type::Int).map(|()| Type::Bool)
                    }
                    Op::And | Op::Or | Op::Not => all(Type::Bool).map(|()| Type::Bool),
                    Op::If => {
                        if types[0] != Type::Bool {
                            return Err("operator \"if\" takes a boolean condition".into());
                        }
                        if types[1] != types[2] {
                            return Err("the branches of \"if\" have different types".into());
                        }
                        Ok(types[1])
                    }
                }
            }
        }
    }

    /// Every reference in the expression.
    pub fn refs(&self, into: &mut Vec<(RefKind, String)>) {
        match self {
            Expr::Ref(kind, name) => into.push((*kind, name.clone())),
            Expr::Op(_, operands) => operands.iter().for_each(|operand| operand.refs(into)),
            Expr::Int(_) | Expr::Bool(_) => {}
        }
    }

    /// Evaluates the expression.
    pub fn eval(&self, inputs: &Inputs<'_>) -> Result<Value, String> {
        match self {
            Expr::Int(n) => Ok(Value::Int(*n)),
            Expr::Bool(b) => Ok(Value::Bool(*b)),
            Expr::Ref(kind, name) => {
                let map = match kind {
                    RefKind::Fact => inputs.facts,
                    RefKind::Output => inputs.outputs,
                    RefKind::Const => inputs.constants,
                    RefKind::Var => inputs.vars,
                };
                map.and_then(|map| map.get(name))
                    .map(|n| Value::Int(*n))
                    .ok_or_else(|| format!("{} {name:?} has no value", kind.key()))
            }
            Expr::Op(op, operands) => eval_op(*op, operands, inputs),
        }
    }

    /// Evaluates an integer expression.
    pub fn eval_int(&self, inputs: &Inputs<'_>) -> Result<i64, String> {
        match self.eval(inputs)? {
            Value::Int(n) => Ok(n),
            Value::Bool(_) => Err("expected an integer, got a boolean".into()),
        }
    }

    /// Evaluates a boolean expression.
    pub fn eval_bool(&self, inputs: &Inputs<'_>) -> Result<bool, String> {
        match self.eval(inputs)? {
            Value::Bool(b) => Ok(b),
            Value::Int(_) => Err("expected a boolean, got an integer".into()),
        }
    }
}

fn overflow(op: Op) -> String {
    format!("integer overflow in {:?}", op.name())
}

fn eval_op(op: Op, operands: &[Expr], inputs: &Inputs<'_>) -> Result<Value, String> {
    let int = |idx: usize| operands[idx].eval_int(inputs);
    let ints = || operands.iter().map(|e| e.eval_int(inputs)).collect::<Result<Vec<_>, _>>();
    Ok(match op {
        Op::Add => Value::Int(
            ints()?
                .into_iter()
                .try_fold(0i64, |acc, n| acc.checked_add(n))
                .ok_or_else(|| overflow(op))?,
        ),
        Op::Mul => Value::Int(
            ints()?
                .into_iter()
                .try_fold(1i64, |acc, n| acc.checked_mul(n))
                .ok_or_else(|| overflow(op))?,
        ),
        Op::Sub => {
            let values = ints()?;
            let (first, rest) = values.split_first().ok_or_else(|| overflow(op))?;
            if rest.is_empty() {
                Value::Int(first.checked_neg().ok_or_else(|| overflow(op))?)
            } else {
                Value::Int(
                    rest.iter()
                        .try_fold(*first, |acc, n| acc.checked_sub(*n))
                        .ok_or_else(|| overflow(op))?,
                )
            }
        }
        Op::Div => {
            let (a, b) = (int(0)?, int(1)?);
            if b == 0 {
                return Err("division by zero".into());
            }
            let quotient = a.checked_div(b).ok_or_else(|| overflow(op))?;
            let floor = if (a % b != 0) && ((a < 0) != (b < 0)) { quotient - 1 } else { quotient };
            Value::Int(floor)
        }
        Op::Ratio => {
            let (amount, rate) = (i128::from(int(0)?), i128::from(int(1)?));
            let product = amount * rate;
            let floor = product.div_euclid(10_000);
            Value::Int(i64::try_from(floor).map_err(|_| overflow(op))?)
        }
        Op::Min => Value::Int(ints()?.into_iter().min().ok_or_else(|| overflow(op))?),
        Op::Max => Value::Int(ints()?.into_iter().max().ok_or_else(|| overflow(op))?),
        Op::Lt => Value::Bool(int(0)? < int(1)?),
        Op::Le => Value::Bool(int(0)? <= int(1)?),
        Op::Gt => Value::Bool(int(0)? > int(1)?),
        Op::Ge => Value::Bool(int(0)? >= int(1)?),
        Op::Eq => Value::Bool(int(0)? == int(1)?),
        Op::Ne => Value::Bool(int(0)? != int(1)?),
        Op::And => {
            let mut all = true;
            for operand in operands {
                all &= operand.eval_bool(inputs)?;
            }
            Value::Bool(all)
        }
        Op::Or => {
            let mut any = false;
            for operand in operands {
                any |= operand.eval_bool(inputs)?;
            }
            Value::Bool(any)
        }
        Op::Not => Value::Bool(!operands[0].eval_bool(inputs)?),
        Op::If => {
            if operands[0].eval_bool(inputs)? {
                operands[1].eval(inputs)?
            } else {
                operands[2].eval(inputs)?
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, facts: &[(&str, i64)]) -> Result<Value, String> {
        let facts: BTreeMap<String, i64> =
            facts.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        let json: Json = serde_json::from_str(text).map_err(|e| e.to_string())?;
        parse(&json)?.eval(&Inputs { facts: Some(&facts), ..Inputs::default() })
    }

    #[test]
    fn minimum_living_guarantee_formula() {
        let formula = r#"{"mul": [{"max": [0, {"sub": [80000, {"div": [{"fact": "income"}, {"fact": "members"}]}]}]}, {"fact": "members"}]}"#;
        assert_eq!(eval(formula, &[("income", 90000), ("members", 3)]), Ok(Value::Int(150000)));
        assert_eq!(eval(formula, &[("income", 300000), ("members", 3)]), Ok(Value::Int(0)));
    }

    #[test]
    fn arithmetic_is_checked_and_floors() {
        assert_eq!(eval(r#"{"div": [-7, 2]}"#, &[]), Ok(Value::Int(-4)));
        assert_eq!(eval(r#"{"div": [7, 2]}"#, &[]), Ok(Value::Int(3)));
        assert_eq!(eval(r#"{"div": [1, 0]}"#, &[]), Err("division by zero".into()));
        assert!(
            eval(r#"{"mul": [9223372036854775807, 2]}"#, &[]).unwrap_err().contains("overflow")
        );
        assert_eq!(eval(r#"{"ratio": [500000, 800]}"#, &[]), Ok(Value::Int(40000)));
        assert_eq!(eval(r#"{"sub": [5]}"#, &[]), Ok(Value::Int(-5)));
    }

    #[test]
    fn bad_expressions_are_named() {
        assert!(eval("1.5", &[]).unwrap_err().contains("not a 64-bit integer"));
        assert!(eval(r#"{"pow": [1, 2]}"#, &[]).unwrap_err().contains("unknown operator"));
        assert!(eval(r#"{"lt": [1]}"#, &[]).unwrap_err().contains("given 1 operands"));
        assert!(eval(r#"{"fact": "missing"}"#, &[]).unwrap_err().contains("no value"));
        let deep = (0..40).fold("1".to_string(), |acc, _| format!("{{\"not\": [{acc}]}}"));
        assert!(eval(&deep, &[]).unwrap_err().contains("deeper"));
    }

    #[test]
    fn type_check_catches_mixed_types() {
        let json: Json = serde_json::from_str(r#"{"and": [1, true]}"#).unwrap();
        let expr = parse(&json).unwrap();
        assert!(expr.type_check(&|_, _| true).unwrap_err().contains("boolean operands"));
        let json: Json = serde_json::from_str(r#"{"ge": [{"fact": "x"}, 3]}"#).unwrap();
        assert_eq!(parse(&json).unwrap().type_check(&|_, name| name == "x"), Ok(Type::Bool));
        assert!(parse(&json).unwrap().type_check(&|_, _| false).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_json_never_panics(text in ".{0,200}") {
            if let Ok(json) = serde_json::from_str::<Json>(&text)
                && let Ok(expr) = parse(&json)
            {
                let _ = expr.eval(&Inputs::default());
            }
        }
    }
}
