//! DQX's `sql_query` check: a SQL query over the input (`{{ input_view }}`) returns a boolean
//! condition column, per `merge_columns` key (joined back to the input rows null-safely) or,
//! without them, one value for every row. medallion runs the single-table subset of Spark SQL
//! such checks are written in: `SELECT … FROM {{ input_view }} [AS t] [WHERE …] [GROUP BY …]
//! [HAVING …] [ORDER BY …]`, with aggregate calls (`count(*)`, `count(DISTINCT x)`, `sum`,
//! `avg`, `min`, `max`, the deviations and variances, `median`, `count_if`, …) anywhere in the
//! select list and `HAVING`; expressions as in every other check ([`super::expr`]). Anything
//! else (joins, subqueries, reference datasets, `LIMIT`, window functions) is refused when the
//! check list loads, naming the construct.

use sqlparser::ast::{
    self, DuplicateTreatment, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    SelectItem, SetExpr, Statement, TableFactor,
};
use sqlparser::dialect::DatabricksDialect;
use sqlparser::parser::Parser;

use super::aggregates::AggrType;
use super::checks::{ArgValue, Check};
use super::dataset_args::{bool_arg, err, str_arg, string_list};
use super::error::CheckError;
use super::expr::{parse::from_ast, Expr};

/// The input's name inside the parsed query.
const INPUT: &str = "__medallion_input__";
/// The prefix of the columns aggregate calls are replaced by.
pub const AGG_PREFIX: &str = "__medallion_agg_";

/// One aggregate call of the query.
#[derive(Debug, Clone)]
pub struct Aggregate {
    pub aggr: AggrType,
    /// The argument (`None`: `*`).
    pub arg: Option<Expr>,
}

/// The query, compiled.
#[derive(Debug, Clone)]
pub struct Plan {
    pub filter: Option<Expr>,
    pub group_by: Vec<Expr>,
    /// Aggregate `k` is the column `{AGG_PREFIX}{k}` in `items` and `having`.
    pub aggregates: Vec<Aggregate>,
    /// The output columns: name and expression; `None` for `SELECT *` (every input column).
    pub items: Option<Vec<(String, Expr)>>,
    pub having: Option<Expr>,
}

impl Plan {
    /// Whether the query aggregates (output rows are groups, not input rows).
    pub fn aggregates_rows(&self) -> bool {
        !self.group_by.is_empty() || !self.aggregates.is_empty()
    }
}

/// A compiled `sql_query` check.
#[derive(Debug, Clone)]
pub struct SqlQuery {
    /// The query as given.
    pub query: String,
    pub merge_columns: Vec<String>,
    pub condition_column: String,
    pub negate: bool,
    /// The message of a failing row (`msg`, or DQX's default naming the query).
    pub message: String,
    pub plan: Plan,
}

impl PartialEq for SqlQuery {
    /// The same query text and arguments (the plan follows from them).
    fn eq(&self, other: &Self) -> bool {
        (
            &self.query,
            &self.merge_columns,
            &self.condition_column,
            self.negate,
            &self.message,
        ) == (
            &other.query,
            &other.merge_columns,
            &other.condition_column,
            other.negate,
            &other.message,
        )
    }
}

/// Compiles `sql_query`: the check and its generated name.
pub fn compile(check: &Check) -> Result<(SqlQuery, String), CheckError> {
    let query = match check.arg("query") {
        Some(ArgValue::Str(q)) if !q.trim().is_empty() => q.clone(),
        _ => return Err(err(check, "query", "missing required argument 'query'")),
    };
    let merge_columns = string_list(check, "merge_columns", false)?;
    let condition_column = str_arg(check, "condition_column")?
        .unwrap_or("condition")
        .to_string();
    let placeholder = str_arg(check, "input_placeholder")?.unwrap_or("input_view");
    let negate = bool_arg(check, "negate", false)?;
    let message = match str_arg(check, "msg")? {
        Some(m) if !m.is_empty() => m.to_string(),
        _ if negate => format!("Value is matching query: '{query}'"),
        _ => format!("Value is not matching query: '{query}'"),
    };
    let name = match str_arg(check, "name")? {
        Some(n) if !n.is_empty() => n.to_string(),
        _ if merge_columns.is_empty() => format!("query_{condition_column}_violation"),
        _ => format!(
            "{}_query_{condition_column}_violation",
            merge_columns.join("_")
        ),
    };
    let resolved = resolve_placeholder(&query, placeholder).map_err(|m| err(check, "query", m))?;
    let plan = plan(&resolved).map_err(|m| err(check, "query", m))?;
    if let Some(items) = &plan.items {
        for wanted in merge_columns.iter().chain([&condition_column]) {
            if !items.iter().any(|(n, _)| n.eq_ignore_ascii_case(wanted)) {
                return Err(err(
                    check,
                    "query",
                    format!("the query returns no column '{wanted}'"),
                ));
            }
        }
    }
    Ok((
        SqlQuery {
            query,
            merge_columns,
            condition_column,
            negate,
            message,
            plan,
        },
        name,
    ))
}

/// The query with `{{ placeholder }}` (spaces allowed inside the braces) replaced by the input's
/// name; another placeholder (a reference dataset) is refused.
fn resolve_placeholder(query: &str, placeholder: &str) -> Result<String, String> {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let key = rest[start + 2..start + len].trim();
        out.push_str(&rest[..start]);
        if key != placeholder {
            return Err(format!(
                "'{{{{ {key} }}}}': medallion's sql_query reads the input only \
                 ('{{{{ {placeholder} }}}}'), not reference datasets"
            ));
        }
        out.push_str(INPUT);
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn unsupported(what: impl std::fmt::Display) -> String {
    format!(
        "{what} is not supported: medallion's sql_query runs one SELECT over the input \
         (WHERE, GROUP BY, HAVING, aggregate calls)"
    )
}

/// Parses and checks the query's shape.
fn plan(sql: &str) -> Result<Plan, String> {
    let statements =
        Parser::parse_sql(&DatabricksDialect {}, sql).map_err(|e| format!("cannot parse: {e}"))?;
    let [Statement::Query(query)] = statements.as_slice() else {
        return Err("the query must be a single SELECT statement".into());
    };
    if query.with.is_some() {
        return Err(unsupported("WITH"));
    }
    if query.limit_clause.is_some() || query.fetch.is_some() {
        return Err(unsupported("LIMIT"));
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Err(unsupported(format!("'{}'", query.body)));
    };
    if select.distinct.is_some() {
        return Err(unsupported("SELECT DISTINCT"));
    }
    let alias = match select.from.as_slice() {
        [one] if one.joins.is_empty() => match &one.relation {
            TableFactor::Table { name, alias, .. } if name.to_string() == INPUT => {
                alias.as_ref().map(|a| a.name.value.clone())
            }
            other => return Err(unsupported(format!("FROM {other}"))),
        },
        [_] => return Err(unsupported("JOIN")),
        _ => return Err("the query must read FROM the input".into()),
    };
    let mut lift = Lifter {
        alias,
        aggregates: Vec::new(),
    };
    let filter = match &select.selection {
        Some(e) => Some(lift.plain(e)?),
        None => None,
    };
    let group_by = match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs
            .iter()
            .map(|e| lift.plain(e))
            .collect::<Result<Vec<_>, _>>()?,
        other => return Err(unsupported(other)),
    };
    let mut items = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::Wildcard(_) if select.projection.len() == 1 => {}
            SelectItem::UnnamedExpr(e) => {
                let name = match e {
                    ast::Expr::Identifier(id) => id.value.clone(),
                    ast::Expr::CompoundIdentifier(parts) => {
                        parts.last().map(|p| p.value.clone()).unwrap_or_default()
                    }
                    other => other.to_string(),
                };
                items.push((name, lift.lifted(e)?));
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                items.push((alias.value.clone(), lift.lifted(expr)?));
            }
            other => return Err(unsupported(format!("select item '{other}'"))),
        }
    }
    let having = match &select.having {
        Some(e) => Some(lift.lifted(e)?),
        None => None,
    };
    let wildcard = items.is_empty();
    let plan = Plan {
        filter,
        group_by,
        aggregates: lift.aggregates,
        items: (!wildcard).then_some(items),
        having,
    };
    if wildcard && plan.aggregates_rows() {
        return Err(unsupported("SELECT * with GROUP BY"));
    }
    Ok(plan)
}

/// Rewrites expressions of the query: aggregate calls become columns, `t.col` (the input's
/// alias) becomes `col`.
struct Lifter {
    alias: Option<String>,
    aggregates: Vec<Aggregate>,
}

impl Lifter {
    /// An expression that may not aggregate (WHERE, GROUP BY).
    fn plain(&mut self, e: &ast::Expr) -> Result<Expr, String> {
        let before = self.aggregates.len();
        let out = self.lifted(e)?;
        if self.aggregates.len() != before {
            return Err(format!("aggregate call in '{e}'"));
        }
        Ok(out)
    }

    /// An expression with its aggregate calls lifted out.
    fn lifted(&mut self, e: &ast::Expr) -> Result<Expr, String> {
        let mut e = e.clone();
        self.walk(&mut e)?;
        from_ast(&e, &e.to_string()).map_err(|x| x.to_string())
    }

    fn walk(&mut self, e: &mut ast::Expr) -> Result<(), String> {
        use ast::Expr as A;
        match e {
            A::CompoundIdentifier(parts) if parts.len() == 2 => {
                if self.alias.as_deref() == Some(parts[0].value.as_str()) {
                    *e = A::Identifier(parts[1].clone());
                }
            }
            A::Function(f) => {
                if let Some(agg) = self.aggregate(f)? {
                    let column = format!("{AGG_PREFIX}{}", self.aggregates.len());
                    self.aggregates.push(agg);
                    *e = A::Identifier(ast::Ident::new(column));
                } else if let FunctionArguments::List(list) = &mut f.args {
                    for a in &mut list.args {
                        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) = a {
                            self.walk(x)?;
                        }
                    }
                }
            }
            A::BinaryOp { left, right, .. } => {
                self.walk(left)?;
                self.walk(right)?;
            }
            A::UnaryOp { expr, .. }
            | A::Nested(expr)
            | A::Cast { expr, .. }
            | A::IsNull(expr)
            | A::IsNotNull(expr)
            | A::IsTrue(expr)
            | A::IsNotTrue(expr)
            | A::IsFalse(expr)
            | A::IsNotFalse(expr) => self.walk(expr)?,
            A::Between {
                expr, low, high, ..
            } => {
                self.walk(expr)?;
                self.walk(low)?;
                self.walk(high)?;
            }
            A::In {
                expr,
                target: ast::InTarget::List(list),
                ..
            } => {
                self.walk(expr)?;
                for x in list {
                    self.walk(x)?;
                }
            }
            A::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                if let Some(o) = operand {
                    self.walk(o)?;
                }
                for w in conditions {
                    self.walk(&mut w.condition)?;
                    self.walk(&mut w.result)?;
                }
                if let Some(x) = else_result {
                    self.walk(x)?;
                }
            }
            A::Subquery(_) | A::In { .. } | A::Exists { .. } => {
                return Err(unsupported("a subquery"))
            }
            _ => {}
        }
        Ok(())
    }

    /// The aggregate a function call is, if it is one.
    fn aggregate(&mut self, f: &ast::Function) -> Result<Option<Aggregate>, String> {
        let name = f.name.to_string().to_ascii_lowercase();
        let aggr = match name.as_str() {
            "mean" => AggrType::Avg,
            "std" => AggrType::Stddev,
            "count" => AggrType::Count,
            "count_if"
            | "sum"
            | "avg"
            | "min"
            | "max"
            | "stddev"
            | "stddev_pop"
            | "stddev_samp"
            | "variance"
            | "var_pop"
            | "var_samp"
            | "median"
            | "skewness"
            | "kurtosis"
            | "approx_count_distinct"
            | "mode" => AggrType::from_name(&name).expect("a DQX aggregate name"),
            _ => return Ok(None),
        };
        if f.over.is_some() || f.filter.is_some() {
            return Err(unsupported(format!("'{f}'")));
        }
        let FunctionArguments::List(list) = &f.args else {
            return Err(unsupported(format!("'{f}'")));
        };
        let distinct = matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct));
        let aggr = match (aggr, distinct) {
            (AggrType::Count, true) => AggrType::CountDistinct,
            (a, false) => a,
            _ => return Err(unsupported(format!("'{f}'"))),
        };
        let arg = match list.args.as_slice() {
            [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] if aggr == AggrType::Count => None,
            [FunctionArg::Unnamed(FunctionArgExpr::Expr(x))] => Some(self.plain(x)?),
            _ => return Err(unsupported(format!("'{f}'"))),
        };
        Ok(Some(Aggregate { aggr, arg }))
    }
}
