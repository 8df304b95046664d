//! SQL text → [`Expr`], through `sqlparser`'s expression parser (Databricks dialect).
//!
//! Supported: column references (plain or back-quoted), literals (`'quoted'` and `"quoted"`
//! strings as in Spark, numbers, `true`/`false`/`null`, `DATE '…'`, `TIMESTAMP '…'`),
//! comparisons, arithmetic, `AND`/`OR`/`NOT`, `IS [NOT] NULL`, `IS [NOT] TRUE/FALSE`,
//! `[NOT] IN (…)`, `[NOT] LIKE`/`ILIKE`, `[NOT] RLIKE`, `[NOT] BETWEEN`, `CASE`,
//! `CAST`/`TRY_CAST` and the functions `try_to_timestamp`, `to_timestamp`, `to_date`,
//! `current_timestamp`, `current_date`, `length`, `lower`, `upper`, `trim`, `abs`, `coalesce`,
//! `greatest`. Anything else is an error that names the unsupported construct.

use std::sync::Arc;

use sqlparser::ast::{
    self, BinaryOperator, CastKind, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator,
    Value,
};
use sqlparser::dialect::DatabricksDialect;
use sqlparser::parser::Parser;

use super::datetime::{self, DateTimeFormat};
use super::error::ExprError;
use super::{ArithOp, CastTo, CmpOp, Expr, Func, Lit};

/// Parses one SQL expression.
///
/// ```
/// use medallion::quality::expr::parse;
/// let e = parse("temperature_c BETWEEN -90 AND 60").unwrap();
/// assert_eq!(e.columns(), vec!["temperature_c".to_string()]);
/// assert!(parse("(SELECT 1)").is_err());
/// ```
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    let parse_err = |reason: String| ExprError::Parse {
        text: text.to_string(),
        reason,
    };
    let dialect = DatabricksDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| parse_err(e.to_string()))?;
    let ast = parser.parse_expr().map_err(|e| parse_err(e.to_string()))?;
    // Anything left over (e.g. `a b`) is an error.
    let next = parser.peek_token();
    if next.token != sqlparser::tokenizer::Token::EOF {
        return Err(parse_err(format!("unexpected '{}'", next.token)));
    }
    convert(&ast).map_err(|cause| ExprError::Unsupported {
        text: text.to_string(),
        cause: Box::new(cause),
    })
}

/// Converts an expression `sqlparser` already parsed (part of a larger statement); `text` names
/// it in errors.
pub fn from_ast(e: &ast::Expr, text: &str) -> Result<Expr, ExprError> {
    convert(e).map_err(|cause| ExprError::Unsupported {
        text: text.to_string(),
        cause: Box::new(cause),
    })
}

fn convert(e: &ast::Expr) -> Result<Expr, ExprError> {
    use ast::Expr as A;
    Ok(match e {
        A::Identifier(id) => ident(id),
        A::CompoundIdentifier(parts) => {
            return Err(ExprError::unsupported(format!(
                "nested field reference '{}'",
                parts
                    .iter()
                    .map(|p| p.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".")
            )))
        }
        A::Value(v) => Expr::Literal(value(&v.value)?),
        A::Nested(inner) => convert(inner)?,
        A::UnaryOp { op, expr } => unary(op, expr)?,
        A::BinaryOp { left, op, right } => binary(left, op, right)?,
        A::IsNull(x) => convert(x)?.is_null(),
        A::IsNotNull(x) => convert(x)?.is_not_null(),
        A::IsTrue(x) => is_bool(convert(x)?, true, false),
        A::IsNotTrue(x) => is_bool(convert(x)?, true, true),
        A::IsFalse(x) => is_bool(convert(x)?, false, false),
        A::IsNotFalse(x) => is_bool(convert(x)?, false, true),
        A::In {
            expr,
            target: ast::InTarget::List(list),
            negated,
            ..
        } => Expr::InList {
            expr: Box::new(convert(expr)?),
            list: list.iter().map(convert).collect::<Result<_, _>>()?,
            negated: *negated,
        },
        A::Between {
            expr,
            negated,
            low,
            high,
        } => Expr::Between {
            expr: Box::new(convert(expr)?),
            low: Box::new(convert(low)?),
            high: Box::new(convert(high)?),
            negated: *negated,
        },
        A::Like {
            negated,
            any: false,
            expr,
            pattern,
            escape_char,
        } => like(expr, pattern, escape_char.as_deref(), *negated, false)?,
        A::ILike {
            negated,
            any: false,
            expr,
            pattern,
            escape_char,
        } => like(expr, pattern, escape_char.as_deref(), *negated, true)?,
        A::RLike {
            negated,
            expr,
            pattern,
            ..
        } => rlike(expr, pattern, *negated)?,
        A::Case {
            operand,
            conditions,
            else_result,
            ..
        } => Expr::Case {
            operand: operand
                .as_ref()
                .map(|o| convert(o).map(Box::new))
                .transpose()?,
            whens: conditions
                .iter()
                .map(|w| Ok((convert(&w.condition)?, convert(&w.result)?)))
                .collect::<Result<_, ExprError>>()?,
            otherwise: else_result
                .as_ref()
                .map(|o| convert(o).map(Box::new))
                .transpose()?,
        },
        A::Cast {
            kind,
            expr,
            data_type,
            format: None,
        } => {
            let to = cast_target(&data_type.to_string())
                .ok_or_else(|| ExprError::unsupported(format!("cast to '{data_type}'")))?;
            let _ = matches!(kind, CastKind::TryCast | CastKind::SafeCast);
            Expr::func(Func::Cast(to), vec![convert(expr)?])
        }
        A::TypedString(ts) => typed_string(&ts.value.value, &ts.data_type)?,
        A::Trim {
            trim_where: None,
            trim_what: None,
            expr,
            trim_characters: None,
        } => convert(expr)?.call(Func::Trim),
        A::Function(f) => function(f)?,
        other => return Err(ExprError::unsupported(format!("'{other}'"))),
    })
}

fn unary(op: &UnaryOperator, expr: &ast::Expr) -> Result<Expr, ExprError> {
    Ok(match op {
        UnaryOperator::Not => convert(expr)?.not(),
        UnaryOperator::Plus => convert(expr)?,
        UnaryOperator::Minus => match convert(expr)? {
            Expr::Literal(Lit::Int(i)) => Expr::Literal(Lit::Int(i.wrapping_neg())),
            Expr::Literal(Lit::Float(x)) => Expr::Literal(Lit::Float(-x)),
            other => Expr::Neg(Box::new(other)),
        },
        other => return Err(ExprError::unsupported(format!("operator '{other}'"))),
    })
}

fn binary(left: &ast::Expr, op: &BinaryOperator, right: &ast::Expr) -> Result<Expr, ExprError> {
    let l = convert(left)?;
    let r = convert(right)?;
    Ok(match op {
        BinaryOperator::And => l.and(r),
        BinaryOperator::Or => l.or(r),
        BinaryOperator::Eq => l.cmp(CmpOp::Eq, r),
        BinaryOperator::NotEq => l.cmp(CmpOp::NotEq, r),
        BinaryOperator::Lt => l.cmp(CmpOp::Lt, r),
        BinaryOperator::LtEq => l.cmp(CmpOp::LtEq, r),
        BinaryOperator::Gt => l.cmp(CmpOp::Gt, r),
        BinaryOperator::GtEq => l.cmp(CmpOp::GtEq, r),
        BinaryOperator::Plus => l.arith(ArithOp::Add, r),
        BinaryOperator::Minus => l.arith(ArithOp::Sub, r),
        BinaryOperator::Multiply => l.arith(ArithOp::Mul, r),
        BinaryOperator::Divide => l.arith(ArithOp::Div, r),
        BinaryOperator::Modulo => l.arith(ArithOp::Mod, r),
        other => return Err(ExprError::unsupported(format!("operator '{other}'"))),
    })
}

/// `x [NOT] RLIKE 'pattern'` (Java regex semantics).
fn rlike(expr: &ast::Expr, pattern: &ast::Expr, negated: bool) -> Result<Expr, ExprError> {
    let pat = string_literal(pattern)
        .ok_or_else(|| ExprError::invalid("RLIKE needs a string literal pattern"))?;
    let re = super::javaregex::compile(&pat).map_err(|error| ExprError::InvalidRegex {
        pattern: pat.clone(),
        error,
    })?;
    let m = Expr::RLike {
        expr: Box::new(convert(expr)?),
        regex: Arc::new(re),
    };
    Ok(if negated { m.not() } else { m })
}

/// `DATE '…'` / `TIMESTAMP '…'`.
fn typed_string(v: &Value, data_type: &ast::DataType) -> Result<Expr, ExprError> {
    let text = match v {
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
        other => return Err(ExprError::unsupported(format!("typed literal {other}"))),
    };
    let ty = data_type.to_string().to_ascii_lowercase();
    let p = datetime::parse_iso(text.as_bytes())
        .ok_or_else(|| ExprError::invalid(format!("invalid {ty} literal '{text}'")))?;
    if ty.starts_with("date") {
        let days = p
            .date_days()
            .ok_or_else(|| ExprError::invalid("date out of range"))?;
        Ok(Expr::Literal(Lit::Date(days)))
    } else if ty.starts_with("timestamp") {
        let us = p
            .timestamp_us()
            .ok_or_else(|| ExprError::invalid("timestamp out of range"))?;
        Ok(Expr::Literal(Lit::Timestamp(us)))
    } else {
        Err(ExprError::unsupported(format!(
            "typed literal of type {ty}"
        )))
    }
}

fn ident(id: &ast::Ident) -> Expr {
    // Spark reads "double quoted" text as a string literal, `back quoted` as an identifier.
    if id.quote_style == Some('"') {
        Expr::Literal(Lit::Str(id.value.clone()))
    } else {
        Expr::Column(id.value.clone())
    }
}

fn is_bool(e: Expr, want: bool, negated: bool) -> Expr {
    // `x IS TRUE` is never null: true only when x is true.
    let test = e.clone().is_not_null().and(if want { e } else { e.not() });
    let test = Expr::func(Func::Coalesce, vec![test, Expr::lit(Lit::Bool(false))]);
    if negated {
        test.not()
    } else {
        test
    }
}

fn value(v: &Value) -> Result<Lit, ExprError> {
    Ok(match v {
        Value::Number(n, _) => {
            let s = n.to_string();
            let t = s.trim_end_matches(['L', 'l', 'D', 'd']);
            if let Ok(i) = t.parse::<i64>() {
                Lit::Int(i)
            } else {
                Lit::Float(
                    t.parse::<f64>()
                        .map_err(|_| ExprError::invalid(format!("invalid number '{s}'")))?,
                )
            }
        }
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Lit::Str(s.clone()),
        Value::EscapedStringLiteral(s) => Lit::Str(s.clone()),
        Value::Boolean(b) => Lit::Bool(*b),
        Value::Null => Lit::Null,
        other => return Err(ExprError::unsupported(format!("literal {other}"))),
    })
}

fn string_literal(e: &ast::Expr) -> Option<String> {
    match convert(e).ok()? {
        Expr::Literal(Lit::Str(s)) => Some(s),
        _ => None,
    }
}

fn cast_target(ty: &str) -> Option<CastTo> {
    let t = ty.to_ascii_lowercase();
    let base = t.split('(').next().unwrap_or("").trim();
    Some(match base {
        "string" | "varchar" | "char" | "text" => CastTo::String,
        "double" | "float" | "real" | "decimal" | "numeric" | "float64" | "double precision" => {
            CastTo::Double
        }
        "bigint" | "int" | "integer" | "smallint" | "tinyint" | "long" | "int64" => CastTo::Long,
        "boolean" | "bool" => CastTo::Boolean,
        "date" => CastTo::Date,
        "timestamp" | "timestamp_ntz" | "timestamp_ltz" => CastTo::Timestamp,
        _ => return None,
    })
}

/// SQL LIKE pattern → anchored regex (`%` any run, `_` one char, escape char default `\`).
fn like(
    expr: &ast::Expr,
    pattern: &ast::Expr,
    escape: Option<&ast::Expr>,
    negated: bool,
    ci: bool,
) -> Result<Expr, ExprError> {
    let pat = string_literal(pattern)
        .ok_or_else(|| ExprError::invalid("LIKE needs a string literal pattern"))?;
    let esc = match escape {
        Some(e) => {
            let one_char = || ExprError::invalid("ESCAPE needs a one-character string");
            let s = string_literal(e).ok_or_else(one_char)?;
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => c,
                _ => return Err(one_char()),
            }
        }
        None => '\\',
    };
    let mut re = String::from(if ci { "(?is)^" } else { "(?s)^" });
    let mut chars = pat.chars();
    while let Some(c) = chars.next() {
        if c == esc {
            match chars.next() {
                Some(n) => re.push_str(&regex::escape(&n.to_string())),
                None => {
                    return Err(ExprError::invalid(
                        "LIKE pattern ends with the escape character",
                    ))
                }
            }
        } else if c == '%' {
            re.push_str(".*");
        } else if c == '_' {
            re.push('.');
        } else {
            re.push_str(&regex::escape(&c.to_string()));
        }
    }
    re.push('$');
    let regex = regex::Regex::new(&re)
        .map_err(|e| ExprError::invalid(format!("invalid LIKE pattern: {e}")))?;
    Ok(Expr::Like {
        expr: Box::new(convert(expr)?),
        regex: Arc::new(regex),
        negated,
    })
}

fn function(f: &ast::Function) -> Result<Expr, ExprError> {
    let name = f
        .name
        .0
        .last()
        .map(|p| p.to_string())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if f.filter.is_some() || f.over.is_some() || !f.within_group.is_empty() {
        return Err(ExprError::unsupported(format!(
            "aggregate/window use of {name}()"
        )));
    }
    let args: Vec<Expr> = match &f.args {
        FunctionArguments::None => Vec::new(),
        FunctionArguments::List(list) => {
            if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                return Err(ExprError::unsupported(format!(
                    "{name}() with DISTINCT or clauses"
                )));
            }
            list.args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => convert(e),
                    other => Err(ExprError::unsupported(format!(
                        "argument '{other}' of {name}()"
                    ))),
                })
                .collect::<Result<_, _>>()?
        }
        FunctionArguments::Subquery(_) => {
            return Err(ExprError::unsupported(format!("subquery in {name}()")))
        }
    };
    let arity = |lo: usize, hi: usize| -> Result<(), ExprError> {
        if args.len() < lo || args.len() > hi {
            Err(ExprError::Arity {
                function: name.clone(),
                expected: if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo} to {hi}")
                },
                got: args.len(),
            })
        } else {
            Ok(())
        }
    };
    let fmt_arg = |args: &[Expr]| -> Result<Option<Arc<DateTimeFormat>>, ExprError> {
        match args.get(1) {
            None => Ok(None),
            Some(Expr::Literal(Lit::Str(p))) => Ok(Some(Arc::new(DateTimeFormat::compile(p)?))),
            Some(_) => Err(ExprError::invalid(format!(
                "the format of {name}() must be a string literal"
            ))),
        }
    };
    let one = |args: Vec<Expr>, f: Func| Expr::Func(f, args.into_iter().take(1).collect());
    Ok(match name.as_str() {
        "try_to_timestamp" => {
            arity(1, 2)?;
            let f = fmt_arg(&args)?;
            one(args, Func::TryToTimestamp(f)).cached()
        }
        "to_timestamp" => {
            arity(1, 2)?;
            let f = fmt_arg(&args)?;
            one(args, Func::ToTimestamp(f)).cached()
        }
        "to_date" => {
            arity(1, 2)?;
            let f = fmt_arg(&args)?;
            one(args, Func::ToDate(f)).cached()
        }
        "current_timestamp" | "now" => {
            arity(0, 0)?;
            Expr::Func(Func::CurrentTimestamp, args)
        }
        "current_date" | "curdate" => {
            arity(0, 0)?;
            Expr::Func(Func::CurrentDate, args)
        }
        "size" | "cardinality" | "array_size" => {
            arity(1, 1)?;
            Expr::Func(Func::Size, args)
        }
        "length" | "char_length" | "character_length" | "len" => {
            arity(1, 1)?;
            Expr::Func(Func::Length, args)
        }
        "lower" | "lcase" => {
            arity(1, 1)?;
            Expr::Func(Func::Lower, args).cached()
        }
        "upper" | "ucase" => {
            arity(1, 1)?;
            Expr::Func(Func::Upper, args).cached()
        }
        "trim" => {
            arity(1, 1)?;
            Expr::Func(Func::Trim, args).cached()
        }
        "abs" => {
            arity(1, 1)?;
            Expr::Func(Func::Abs, args)
        }
        "coalesce" | "ifnull" | "nvl" => {
            arity(1, usize::MAX)?;
            Expr::Func(Func::Coalesce, args)
        }
        "greatest" => {
            arity(1, usize::MAX)?;
            Expr::Func(Func::Greatest, args)
        }
        "concat" => {
            arity(0, usize::MAX)?;
            Expr::Func(Func::Concat, args)
        }
        other => return Err(ExprError::UnsupportedFunction(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_supported_subset() {
        for ok in [
            "a",
            "`weird col`",
            "a = 'x'",
            "a <> 1 AND NOT b IS NULL",
            "a + b * 2 - c / 3 % 2 >= -1.5",
            "a IN (1, 2, 3)",
            "a NOT IN ('x', \"y\")",
            "a LIKE 'ws-%'",
            "a NOT ILIKE '_b%'",
            "a RLIKE '^x'",
            "a BETWEEN 1 AND 3",
            "CASE WHEN a > 1 THEN 'big' ELSE 'small' END",
            "CASE a WHEN 1 THEN 'one' END",
            "try_to_timestamp(event_time)",
            "to_timestamp(a, 'yyyy-MM-dd HH:mm:ss')",
            "to_date(a)",
            "current_timestamp()",
            "current_date()",
            "length(trim(lower(upper(a)))) > 0",
            "abs(coalesce(a, b, 0)) < 1",
            "CAST(a AS DOUBLE) > 1",
            "DATE '2024-01-01'",
            "TIMESTAMP '2024-01-01 10:00:00'",
            "a IS TRUE",
        ] {
            parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn rejects_unsupported() {
        for bad in [
            "a b",
            "(SELECT 1)",
            "foo(a)",
            "s.a",
            "count(*) OVER ()",
            "a LIKE b",
            "to_timestamp(a, b)",
            "to_date(a, 'yyyy-QQ')",
            "",
            "a RLIKE '('",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn negative_literals_fold() {
        assert!(matches!(
            parse("-90").unwrap(),
            Expr::Literal(Lit::Int(-90))
        ));
        assert!(matches!(parse("-0.5").unwrap(), Expr::Literal(Lit::Float(x)) if x == -0.5));
    }
}
