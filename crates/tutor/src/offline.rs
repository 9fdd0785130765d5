//! The offline tutor: a deterministic hint engine used when no model is
//! configured. It reads the latest verdict (what the learner already saw)
//! and explains it, then reveals the problem's next graded hint.
//!
//! - Time limit exceeded: the input sizes the statement allows and the
//!   complexity they demand (and a nested loop in the code, if any).
//! - Wrong answer: the failing visible example and how the output differs.
//! - Runtime error: the exception, what it usually means, and the line.
//! - Syntax error, memory and output limits, accepted: what they mean.

use domain::submission::{Verdict, VerdictKind};
use serde_json::Value;

use crate::context::{TutorRequest, verdict_name};

/// The engine's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineReply {
    pub text: String,
    /// Graded hints revealed after this reply.
    pub hints_revealed: u32,
}

/// Answers `req`: the verdict explained, then the next graded hint.
pub fn reply(req: &TutorRequest) -> OfflineReply {
    let mut parts = Vec::new();
    match &req.judged {
        Some(j) => parts.push(explain(&j.verdict, &j.code, req)),
        None if req.code.is_some() => parts.push(
            "You have not submitted yet: submit your code and I can tell you what the judge saw."
                .to_string(),
        ),
        None => parts.push(
            "Start with the examples: work one out by hand and write down each step you take."
                .to_string(),
        ),
    }
    let (hint, hints_revealed) = next_hint(req);
    parts.push(hint);
    OfflineReply {
        text: parts.join("\n\n"),
        hints_revealed,
    }
}

/// The next graded hint as text, and the hints revealed after giving it.
pub fn next_hint(req: &TutorRequest) -> (String, u32) {
    let total = req.problem.hints.len() as u32;
    match req.next_hint() {
        Some(h) => (
            format!("Hint {} of {total}: {h}", req.hints_revealed + 1),
            req.hints_revealed + 1,
        ),
        None if total == 0 => (
            "This problem has no written hints; try the smallest input that breaks your code and trace it line by line."
                .to_string(),
            req.hints_revealed,
        ),
        None => (
            format!(
                "You have all {total} hints. The last one: {}",
                req.problem.hints[total as usize - 1]
            ),
            req.hints_revealed,
        ),
    }
}

fn explain(verdict: &Verdict, code: &str, req: &TutorRequest) -> String {
    match verdict.kind {
        VerdictKind::Accepted => format!(
            "Your latest submission was accepted ({} of {} tests, slowest {} ms). Well done! \
             If you want to go further, compare your runtime in the problem's ranking.",
            verdict.passed, verdict.total, verdict.runtime_ms
        ),
        VerdictKind::TimeLimitExceeded => time_limit(verdict, code, req),
        VerdictKind::WrongAnswer => wrong_answer(verdict),
        VerdictKind::RuntimeError => runtime_error(verdict, code),
        VerdictKind::CompileError => syntax_error(verdict, code),
        VerdictKind::MemoryLimitExceeded => format!(
            "{} after {} passing tests: your code keeps too much in memory. Look for lists built \
             only to be looped over once, copies made inside a loop (slices, `list(...)`), or deep recursion; \
             keep only what the next step needs.",
            verdict_name(verdict.kind),
            verdict.passed
        ),
        VerdictKind::OutputLimitExceeded => "Output limit exceeded: your code prints far more than the answer. \
             Remove debugging `print` calls, and check that a print is not inside a loop."
            .to_string(),
        VerdictKind::InternalError => {
            "The judge itself failed on your latest submission; that is not your code's fault. Submit it again."
                .to_string()
        }
    }
}

fn first_failing_test(verdict: &Verdict) -> Option<(u32, bool)> {
    verdict
        .tests
        .iter()
        .find(|t| t.verdict != VerdictKind::Accepted)
        .map(|t| (t.index, t.hidden))
}

fn time_limit(verdict: &Verdict, code: &str, req: &TutorRequest) -> String {
    let which = match first_failing_test(verdict) {
        Some((i, true)) => format!("on hidden test {} (one of the large ones)", i + 1),
        Some((i, false)) => format!("on example {}", i + 1),
        None => "on a test".to_string(),
    };
    let mut out = format!(
        "Time limit exceeded {which}, after {} of {} tests passed: the limit is {} ms per test.",
        verdict.passed, verdict.total, req.problem.time_limit_ms
    );
    match largest_size(&req.problem.statement) {
        Some((what, n)) => {
            let (fits, note) = complexity_for(n);
            out.push_str(&format!(
                " The statement allows {what} up to {}. An O(n²) approach then takes about {} steps, \
                 and Python manages roughly 10^7 simple steps per second, so you need {fits}. {note}",
                thousands(n),
                approx_power(n.saturating_mul(n)),
            ));
        }
        None => out.push_str(
            " Look at the constraints in the statement: the largest input decides which complexity fits.",
        ),
    }
    if let Some(line) = nested_loop(code) {
        out.push_str(&format!(
            " Your code has a loop inside a loop (line {line}): for each element it walks the input again, which is O(n²)."
        ));
    }
    out
}

/// The largest size bound in the statement's constraints (`len(x) <= N`,
/// `n <= 10^5`), with what it bounds.
pub fn largest_size(statement: &str) -> Option<(String, u64)> {
    let mut best: Option<(String, u64)> = None;
    for line in statement.lines() {
        let line = line
            .replace('≤', "<=")
            .replace('`', "")
            .replace("\\le", "<=");
        if let Some(n) = at_most(&line) {
            consider(&mut best, "the input", n);
        }
        let parts: Vec<&str> = line.split("<=").map(str::trim).collect();
        if parts.len() < 2 {
            continue;
        }
        for pair in parts.windows(2) {
            let what = pair[0].split_whitespace().last().unwrap_or("");
            // A length, or a one-letter count (n, k, R, C); never a value
            // like `nums[i]`.
            let is_size = what.contains("len(")
                || (what.len() == 1 && what.chars().all(|c| c.is_ascii_alphabetic()));
            if !is_size {
                continue;
            }
            let bound = pair[1].split([',', ';']).next().and_then(parse_number);
            if let Some(n) = bound {
                consider(&mut best, what, n);
            }
        }
    }
    best
}

fn consider(best: &mut Option<(String, u64)>, what: &str, n: u64) {
    if best.as_ref().is_none_or(|(_, b)| n > *b) {
        *best = Some((what.to_string(), n));
    }
}

/// "The input is at most 100000 characters long."
fn at_most(line: &str) -> Option<u64> {
    let rest = line.split("at most").nth(1)?;
    let counts_size = ["character", "element", "item", "line", "word", "number"]
        .iter()
        .any(|w| rest.contains(w));
    if !counts_size {
        return None;
    }
    rest.split_whitespace().next().and_then(parse_number)
}

/// `20000`, `20_000`, `10^5`, `10**5`, `2*10^5`, `1e5`.
fn parse_number(text: &str) -> Option<u64> {
    let t = text
        .trim()
        .trim_end_matches(['.', ')'])
        .replace(['_', ',', ' '], "");
    if let Ok(n) = t.parse::<u64>() {
        return Some(n);
    }
    let (coef, rest) = match t.split_once('*') {
        Some((c, r)) if !r.starts_with('*') => {
            (c.trim().parse::<u64>().ok()?, r.trim().to_string())
        }
        _ => (1, t.clone()),
    };
    let power = |base: &str, exp: &str| -> Option<u64> {
        let b: u64 = base.trim().parse().ok()?;
        let e: u32 = exp.trim().parse().ok()?;
        b.checked_pow(e)
    };
    let value = if let Some((b, e)) = rest.split_once("**") {
        power(b, e)?
    } else if let Some((b, e)) = rest.split_once('^') {
        power(b, e)?
    } else if let Some((m, e)) = rest.split_once(['e', 'E']) {
        m.trim()
            .parse::<u64>()
            .ok()?
            .checked_mul(10u64.checked_pow(e.trim().parse().ok()?)?)?
    } else {
        return None;
    };
    coef.checked_mul(value)
}

fn complexity_for(n: u64) -> (&'static str, &'static str) {
    match n {
        0..=12 => (
            "nothing special: even trying every order fits",
            "If it is still slow, look for an infinite loop.",
        ),
        13..=25 => (
            "at most O(2ⁿ)",
            "Trying every subset fits, every order does not.",
        ),
        26..=500 => ("O(n³) or better", "Three nested loops still fit."),
        501..=5_000 => ("O(n²) or better", "Two nested loops fit; three do not."),
        5_001..=2_000_000 => (
            "O(n log n) or O(n)",
            "One pass (with a dictionary or a set), or sorting first, fits.",
        ),
        _ => (
            "better than linear, O(log n) or a formula",
            "Even one pass over the input is too slow.",
        ),
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn approx_power(n: u64) -> String {
    if n < 1000 {
        return n.to_string();
    }
    let mut exp = (n as f64).log10().floor() as i32;
    let mut mantissa = (n as f64 / 10f64.powi(exp)).round() as u64;
    if mantissa >= 10 {
        mantissa /= 10;
        exp += 1;
    }
    if mantissa == 1 {
        format!("10^{exp}")
    } else {
        format!("{mantissa}×10^{exp}")
    }
}

/// The line of the first loop nested in another, if any.
fn nested_loop(code: &str) -> Option<usize> {
    let mut loops: Vec<usize> = Vec::new();
    for (i, line) in code.lines().enumerate() {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let indent = line.len() - t.len();
        loops.retain(|&l| l < indent);
        let is_loop = t.starts_with("for ") || t.starts_with("while ");
        if is_loop {
            if !loops.is_empty() {
                return Some(i + 1);
            }
            loops.push(indent);
        }
    }
    None
}

fn wrong_answer(verdict: &Verdict) -> String {
    let Some(f) = &verdict.failed_example else {
        let which = match first_failing_test(verdict) {
            Some((i, _)) => format!("test {}", i + 1),
            None => "a hidden test".to_string(),
        };
        return format!(
            "Wrong answer on {which}, a hidden test, after {} of {} passed: your code handles the examples \
             but not every case. Hidden tests probe edge cases: empty or one-element input, duplicates, \
             negative numbers, the smallest and the largest values. Try each by hand.",
            verdict.passed, verdict.total
        );
    };
    let mut out = format!(
        "Wrong answer on example {}: for input {} the expected output is {}, but your code gave {}.",
        f.index + 1,
        f.input.trim(),
        f.expected.trim(),
        f.actual.trim()
    );
    out.push(' ');
    out.push_str(&difference(&f.expected, &f.actual));
    out
}

/// How `actual` differs from `expected`, in one sentence.
pub fn difference(expected: &str, actual: &str) -> String {
    let (e, a) = (expected.trim(), actual.trim());
    if e == a {
        return "The two differ only in whitespace or line endings: check spaces and newlines in what you print."
            .to_string();
    }
    match (
        serde_json::from_str::<Value>(e),
        serde_json::from_str::<Value>(a),
    ) {
        (Ok(ev), Ok(av)) => json_difference(&ev, &av),
        _ if matches!(a, "None" | "null" | "") => {
            "Your code returned nothing (None): is there a `return` on every path, and not only inside a loop?"
                .to_string()
        }
        _ => line_difference(e, a),
    }
}

fn json_difference(e: &Value, a: &Value) -> String {
    match (e, a) {
        (_, Value::Null) => {
            "Your code returned None: is there a `return` on every path, and not only inside a loop?"
                .to_string()
        }
        (Value::Array(ea), Value::Array(aa)) if ea.len() != aa.len() => format!(
            "You return {} element{} where {} {} expected.",
            aa.len(),
            if aa.len() == 1 { "" } else { "s" },
            ea.len(),
            if ea.len() == 1 { "is" } else { "are" }
        ),
        (Value::Array(ea), Value::Array(aa)) => {
            let mut es: Vec<String> = ea.iter().map(Value::to_string).collect();
            let mut as_: Vec<String> = aa.iter().map(Value::to_string).collect();
            es.sort();
            as_.sort();
            if es == as_ {
                return "You have the right elements in the wrong order: check which order the statement asks for."
                    .to_string();
            }
            let i = ea
                .iter()
                .zip(aa)
                .position(|(x, y)| x != y)
                .unwrap_or(0);
            format!(
                "They first differ at position {i}: expected {}, you have {}.",
                ea[i], aa[i]
            )
        }
        (Value::Number(en), Value::Number(an)) => match (en.as_f64(), an.as_f64()) {
            (Some(x), Some(y)) if (x - y).abs() == 1.0 => format!(
                "You are off by one ({} instead of {}): check your loop bounds, `<` against `<=`, and where counting starts.",
                an, en
            ),
            (Some(x), Some(y)) => format!(
                "Your number is {} the expected one (by {}).",
                if y > x { "larger than" } else { "smaller than" },
                (y - x).abs()
            ),
            _ => "The numbers differ.".to_string(),
        },
        (Value::Bool(_), Value::Bool(_)) => {
            "You return the opposite truth value: find the case your condition gets backwards."
                .to_string()
        }
        _ if std::mem::discriminant(e) != std::mem::discriminant(a) => format!(
            "The expected answer is {}, but you return {}.",
            json_kind(e),
            json_kind(a)
        ),
        _ => "The values differ: trace the example by hand and compare each step with your code."
            .to_string(),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "None",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a dictionary",
    }
}

fn line_difference(e: &str, a: &str) -> String {
    let el: Vec<&str> = e.lines().collect();
    let al: Vec<&str> = a.lines().collect();
    if el.iter().map(|l| l.trim()).eq(al.iter().map(|l| l.trim())) {
        return "The lines differ only in spaces at their ends.".to_string();
    }
    if el.len() != al.len() {
        return format!(
            "You print {} line{} where {} {} expected.",
            al.len(),
            if al.len() == 1 { "" } else { "s" },
            el.len(),
            if el.len() == 1 { "is" } else { "are" }
        );
    }
    let i = el.iter().zip(&al).position(|(x, y)| x != y).unwrap_or(0);
    format!(
        "Line {} differs: expected `{}`, you printed `{}`.",
        i + 1,
        el[i],
        al[i]
    )
}

/// What an exception usually means.
fn exception_advice(kind: &str) -> &'static str {
    match kind {
        "IndexError" => {
            "An index past the end of a list: check loop bounds (`range(len(x))` against `range(len(x) + 1)`) and empty inputs."
        }
        "KeyError" => {
            "A dictionary lookup of a key that is not there: check with `in` first, or use `.get()`."
        }
        "TypeError" => {
            "A value of the wrong type was used: often None where a number or list was expected, or a call with the wrong arguments."
        }
        "ValueError" => {
            "A conversion or call got a value it cannot take (`int('')`, `.index()` of a missing item)."
        }
        "ZeroDivisionError" => "A division by zero: which input makes the divisor 0?",
        "RecursionError" => {
            "Recursion too deep: a missing or unreachable base case, or an input deeper than Python's limit (about 1000); consider a loop with your own stack."
        }
        "NameError" => {
            "A name used before it was defined: check spelling and where each variable is first set."
        }
        "AttributeError" => "A method or attribute that this type does not have, often on None.",
        "UnboundLocalError" => "A local variable read before it was assigned on this path.",
        "EOFError" => {
            "Reading more input than there is: read exactly the lines the format describes."
        }
        "AssertionError" => "One of your own `assert`s failed.",
        _ => "Read the message and check the line it points at with the failing input.",
    }
}

/// The exception's type and message from the last line of a traceback.
fn exception(message: &str) -> (String, String) {
    let last = message
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    match last.split_once(':') {
        Some((kind, rest)) if !kind.contains(' ') => (kind.to_string(), rest.trim().to_string()),
        _ => (last.to_string(), String::new()),
    }
}

/// The last line number of the learner's file in a traceback or message.
fn error_line(message: &str) -> Option<usize> {
    let mut found = None;
    for line in message.lines() {
        let user_file = line.contains("solution.py") || !line.contains("File \"");
        if !user_file {
            continue;
        }
        if let Some(rest) = line.split("line ").nth(1) {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse() {
                found = Some(n);
            }
        }
    }
    found
}

fn quote_line(code: &str, line: usize) -> Option<String> {
    code.lines()
        .nth(line.checked_sub(1)?)
        .map(|l| format!("line {line}: `{}`", l.trim()))
}

fn runtime_error(verdict: &Verdict, code: &str) -> String {
    let message = verdict.message.as_deref().unwrap_or("");
    let (kind, text) = exception(message);
    let mut out = if kind.is_empty() {
        "Runtime error: your code stopped with an error.".to_string()
    } else if text.is_empty() {
        format!("Runtime error: {kind}.")
    } else {
        format!("Runtime error: {kind}: {text}.")
    };
    if let Some(line) = error_line(message) {
        match quote_line(code, line) {
            Some(q) => out.push_str(&format!(" It happened at {q}.")),
            None => out.push_str(&format!(" It happened at line {line}.")),
        }
    }
    out.push(' ');
    out.push_str(exception_advice(&kind));
    if let Some(f) = &verdict.failed_example {
        out.push_str(&format!(" The input was {}.", f.input.trim()));
    }
    out
}

fn syntax_error(verdict: &Verdict, code: &str) -> String {
    let message = verdict.message.as_deref().unwrap_or("a syntax error");
    let mut out = format!("Python could not read your code: {}.", message.trim());
    if let Some(line) = error_line(message)
        && let Some(q) = quote_line(code, line)
    {
        out.push_str(&format!(" Look at {q} and the line before it: a missing `:`, bracket or quote is the usual cause."));
    }
    out
}
