//! Comparing an actual output with the expected one, in Rust, outside the
//! sandbox: expected outputs never reach the user's process.
//!
//! Function problems compare JSON values; stdio problems compare text. Numbers
//! in JSON compare by value, as Python's `==` would (`1 == 1.0`), but a boolean
//! is never a number (`true != 1`), unlike in Python.

use std::cmp::Ordering;

use domain::problem::{Checker, ProblemKind};
use serde_json::Value;

/// Does `actual` pass against `expected` for a problem of this kind?
///
/// For function problems both are JSON texts; an `actual` that is not JSON
/// fails. An `expected` that is not JSON (the domain rejects such problems)
/// falls back to comparing trimmed texts, so it can only pass on equal text.
pub fn check_output(checker: &Checker, kind: &ProblemKind, expected: &str, actual: &str) -> bool {
    match kind {
        ProblemKind::Function { .. } => {
            let Ok(expected_value) = serde_json::from_str::<Value>(expected) else {
                return expected.trim() == actual.trim();
            };
            match serde_json::from_str::<Value>(actual) {
                Ok(actual) => check_json(checker, &expected_value, &actual),
                Err(_) => false,
            }
        }
        ProblemKind::StdIo => check_text(checker, expected, actual),
    }
}

/// Compares two JSON values (function problems).
pub fn check_json(checker: &Checker, expected: &Value, actual: &Value) -> bool {
    match checker {
        Checker::Exact => json_eq(expected, actual, &|e, a| e == a),
        Checker::Float { abs_tol, rel_tol } => json_eq(expected, actual, &|e, a| {
            within_tolerance(e, a, *abs_tol, *rel_tol)
        }),
        Checker::Unordered => match (expected, actual) {
            (Value::Array(e), Value::Array(a)) => {
                if e.len() != a.len() {
                    return false;
                }
                let mut e: Vec<&Value> = e.iter().collect();
                let mut a: Vec<&Value> = a.iter().collect();
                e.sort_by(|x, y| json_cmp(x, y));
                a.sort_by(|x, y| json_cmp(x, y));
                e.iter()
                    .zip(&a)
                    .all(|(x, y)| json_cmp(x, y) == Ordering::Equal)
            }
            _ => json_eq(expected, actual, &|e, a| e == a),
        },
    }
}

/// Compares two program outputs (stdio problems).
pub fn check_text(checker: &Checker, expected: &str, actual: &str) -> bool {
    match checker {
        Checker::Exact => normalized_lines(expected) == normalized_lines(actual),
        Checker::Float { abs_tol, rel_tol } => {
            let e: Vec<&str> = expected.split_whitespace().collect();
            let a: Vec<&str> = actual.split_whitespace().collect();
            e.len() == a.len()
                && e.iter()
                    .zip(&a)
                    .all(|(e, a)| match (parse_finite(e), parse_finite(a)) {
                        (Some(e), Some(a)) => within_tolerance(e, a, *abs_tol, *rel_tol),
                        _ => e == a,
                    })
        }
        Checker::Unordered => {
            let mut e = normalized_lines(expected);
            let mut a = normalized_lines(actual);
            // Blank lines carry no content; in a multiset only their count
            // would differ, which is noise.
            e.retain(|l| !l.is_empty());
            a.retain(|l| !l.is_empty());
            e.sort_unstable();
            a.sort_unstable();
            e == a
        }
    }
}

/// Lines with trailing whitespace (and `\r`) removed, trailing blank lines
/// dropped.
fn normalized_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

fn parse_finite(token: &str) -> Option<f64> {
    token.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Whichever tolerance is looser wins.
fn within_tolerance(expected: f64, actual: f64, abs_tol: f64, rel_tol: f64) -> bool {
    if expected == actual {
        return true;
    }
    let diff = (expected - actual).abs();
    diff <= abs_tol || diff <= rel_tol * expected.abs()
}

/// Structural equality with numbers compared through `numbers_match`.
fn json_eq(expected: &Value, actual: &Value, numbers_match: &dyn Fn(f64, f64) -> bool) -> bool {
    match (expected, actual) {
        (Value::Number(e), Value::Number(a)) => {
            // Integers compare exactly, so large ones do not collapse in f64.
            if let (Some(e), Some(a)) = (e.as_i64(), a.as_i64()) {
                return e == a;
            }
            if let (Some(e), Some(a)) = (e.as_u64(), a.as_u64()) {
                return e == a;
            }
            match (e.as_f64(), a.as_f64()) {
                (Some(e), Some(a)) => numbers_match(e, a),
                _ => false,
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(e, a)| json_eq(e, a, numbers_match))
        }
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len()
                && e.iter()
                    .all(|(k, e)| a.get(k).is_some_and(|a| json_eq(e, a, numbers_match)))
        }
        _ => expected == actual,
    }
}

/// A total order on JSON values consistent with [`json_eq`] under exact
/// number comparison, for sorting multisets.
fn json_cmp(x: &Value, y: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (x, y) {
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::Number(a), Value::Number(b)) => {
            if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
                return a.cmp(&b);
            }
            if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
                return a.cmp(&b);
            }
            let a = a.as_f64().unwrap_or(f64::NAN);
            let b = b.as_f64().unwrap_or(f64::NAN);
            a.total_cmp(&b)
        }
        (Value::String(a), Value::String(b)) => a.cmp(b),
        (Value::Array(a), Value::Array(b)) => a
            .iter()
            .zip(b)
            .map(|(a, b)| json_cmp(a, b))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.len().cmp(&b.len())),
        (Value::Object(a), Value::Object(b)) => {
            // serde_json's map iterates in key order (no `preserve_order`).
            a.len().cmp(&b.len()).then_with(|| {
                a.iter()
                    .zip(b)
                    .map(|((ka, va), (kb, vb))| ka.cmp(kb).then_with(|| json_cmp(va, vb)))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
        }
        _ => rank(x).cmp(&rank(y)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function() -> ProblemKind {
        ProblemKind::Function {
            entry_point: "f".into(),
            params: vec!["x".into()],
        }
    }

    fn float(abs_tol: f64, rel_tol: f64) -> Checker {
        Checker::Float { abs_tol, rel_tol }
    }

    #[test]
    fn exact_json_compares_values_not_text() {
        let k = function();
        assert!(check_output(&Checker::Exact, &k, "[1, 2,3]", "[1,2,3]"));
        assert!(check_output(
            &Checker::Exact,
            &k,
            "{\"a\":1,\"b\":[true]}",
            "{\"b\": [true], \"a\": 1}"
        ));
        assert!(check_output(&Checker::Exact, &k, "3", "3.0"));
        assert!(!check_output(&Checker::Exact, &k, "[1,2,3]", "[1,3,2]"));
        assert!(!check_output(&Checker::Exact, &k, "1", "true"));
        assert!(!check_output(&Checker::Exact, &k, "\"1\"", "1"));
        assert!(!check_output(&Checker::Exact, &k, "1", "not json"));
        assert!(!check_output(
            &Checker::Exact,
            &k,
            "0.3",
            "0.30000000000000004"
        ));
        assert!(!check_output(
            &Checker::Exact,
            &k,
            "9007199254740993",
            "9007199254740992"
        ));
    }

    #[test]
    fn exact_text_ignores_trailing_whitespace_and_final_newlines_only() {
        let c = Checker::Exact;
        assert!(check_text(&c, "1 2\n3\n", "1 2   \n3"));
        assert!(check_text(&c, "1 2\n3", "1 2\r\n3\r\n\n\n"));
        assert!(check_text(&c, "", "\n\n"));
        assert!(!check_text(&c, "1 2\n3", " 1 2\n3"));
        assert!(!check_text(&c, "1 2\n3", "1  2\n3"));
        assert!(!check_text(&c, "1\n3", "1\n\n3"));
        assert!(!check_text(&c, "1\n2", "2\n1"));
    }

    #[test]
    fn float_accepts_within_absolute_tolerance() {
        let c = float(1e-6, 0.0);
        assert!(check_json(&c, &0.3.into(), &0.300_000_5.into()));
        assert!(!check_json(&c, &0.3.into(), &0.300_002.into()));
        assert!(check_text(&c, "0.3 1e-7", "0.3000005 0"));
        assert!(!check_text(&c, "0.3", "0.31"));
    }

    #[test]
    fn float_accepts_within_relative_tolerance() {
        let c = float(0.0, 1e-6);
        assert!(check_json(&c, &1e9.into(), &1_000_000_500.0.into()));
        assert!(!check_json(&c, &1e9.into(), &1_000_002_000.0.into()));
        assert!(!check_json(&c, &1e-9.into(), &2e-9.into()));
        assert!(check_text(&c, "1000000000", "1000000500.0"));
    }

    #[test]
    fn float_uses_the_looser_tolerance_and_recurses_into_arrays() {
        let c = float(1e-3, 1e-9);
        let k = function();
        assert!(check_output(
            &c,
            &k,
            "[[0.5, 1.0], 2]",
            "[[0.5004, 0.9996], 2.0]"
        ));
        assert!(!check_output(&c, &k, "[[0.5, 1.0], 2]", "[[0.51, 1.0], 2]"));
        assert!(!check_output(&c, &k, "[0.5, 1.0]", "[0.5]"));
        assert!(check_output(
            &c,
            &k,
            "{\"x\": 1.0, \"s\": \"a\"}",
            "{\"x\": 1.0001, \"s\": \"a\"}"
        ));
        assert!(!check_output(
            &c,
            &k,
            "{\"x\": 1.0, \"s\": \"a\"}",
            "{\"x\": 1.0, \"s\": \"b\"}"
        ));
        // Non-numeric tokens in text compare exactly.
        assert!(check_text(&c, "YES 0.5", "YES 0.5004"));
        assert!(!check_text(&c, "YES 0.5", "yes 0.5"));
        assert!(!check_text(&c, "0.5", "nan"));
    }

    #[test]
    fn unordered_json_compares_the_top_level_array_as_a_multiset() {
        let c = Checker::Unordered;
        let k = function();
        assert!(check_output(
            &c,
            &k,
            "[[1,2],[3],[1,2]]",
            "[[3],[1,2],[1,2]]"
        ));
        assert!(check_output(&c, &k, "[1, 2, 2, 3]", "[2, 3, 2, 1.0]"));
        assert!(!check_output(&c, &k, "[1, 2, 2, 3]", "[1, 2, 3, 3]"));
        assert!(!check_output(&c, &k, "[1, 2, 2]", "[1, 2]"));
        // Only the top level is unordered.
        assert!(!check_output(&c, &k, "[[1,2]]", "[[2,1]]"));
        assert!(check_output(
            &c,
            &k,
            "[{\"a\":1},null,\"x\",true]",
            "[true,\"x\",null,{\"a\":1}]"
        ));
        // Not arrays: exact.
        assert!(check_output(&c, &k, "5", "5"));
        assert!(!check_output(&c, &k, "5", "[5]"));
    }

    #[test]
    fn unordered_text_compares_lines_as_a_multiset() {
        let c = Checker::Unordered;
        assert!(check_text(
            &c,
            "a\nb\nb\n",
            "b  \nA\nb".replace('A', "a").as_str()
        ));
        assert!(!check_text(&c, "a\nb\nb\n", "a\na\nb\n"));
        assert!(!check_text(&c, "a\nb\nb\n", "a\nb\n"));
        assert!(!check_text(&c, "a b\n", "b a\n"));
    }
}
