//! The hint-only guard: finds a complete solution in a reply so it can be
//! replaced with a hint, and holds back code while a reply streams, so a
//! solution is caught before any of it reaches the learner.
//!
//! What counts as a solution, deliberately simple and conservative:
//! - a definition of the problem's entry point (`def` or `async def`, under
//!   its name in any case or with or without underscores, so `twoSum` for
//!   `two_sum`; or a name the entry point is bound to, `two_sum = f`; or a
//!   `lambda` bound to it) whose body does real work: a `return` of a value
//!   other than a stub's (`None`, `[]`, `0`, ...), or three or more
//!   statements. The body may be on the `def` line itself;
//! - any other function that returns a value in three or more statements,
//!   or has six or more (a renamed solution);
//! - any one block of five or more statements (a body without its `def`);
//! - for stdin/stdout problems, a program of four or more statements that
//!   both reads input and prints.
//!
//! A placeholder (`pass`, `...`, a TODO comment) is not a statement, but it
//! excuses nothing: a learner could otherwise ask for a full solution "with
//! a `# TODO` at the end". Code is looked for in fenced blocks (backticks or
//! tildes), indented code blocks, unfenced `def`/`class` blocks and
//! entry-point bindings, each alone and all of them read as one program.
//! Snippets of a line or two, which hints use, pass.

/// Why a reply was replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    pub reason: &'static str,
}

/// The first complete solution in `text`, if there is one.
pub fn find_solution(text: &str, entry_point: Option<&str>) -> Option<Violation> {
    let scan = scan(text, true, entry_point);
    scan.blocks
        .iter()
        .find_map(|block| check_block(block, entry_point, true))
        .or_else(|| check_joined(&scan.blocks, entry_point))
}

/// The blocks read as one program: a solution cut into several blocks, each
/// harmless alone, is still a solution once the learner pastes them together.
fn check_joined(blocks: &[String], entry_point: Option<&str>) -> Option<Violation> {
    if blocks.len() < 2 {
        return None;
    }
    // Several short snippets add up; only definitions and programs that span
    // blocks count here.
    check_block(&blocks.join("\n"), entry_point, false)
}

/// Watches a reply as it streams: releases text that cannot be part of a
/// solution, holds back code until its block is complete and checked.
#[derive(Debug)]
pub struct StreamGuard {
    entry_point: Option<String>,
    text: String,
    released: usize,
    checked_blocks: usize,
}

impl StreamGuard {
    pub fn new(entry_point: Option<&str>) -> Self {
        Self {
            entry_point: entry_point.map(str::to_owned),
            text: String::new(),
            released: 0,
            checked_blocks: 0,
        }
    }

    /// Adds a piece of the reply; returns what may be shown now, or the
    /// violation that ends the reply.
    pub fn push(&mut self, delta: &str) -> Result<String, Violation> {
        self.text.push_str(delta);
        self.step(false)
    }

    /// The reply is complete: checks what was held back and releases it.
    pub fn finish(&mut self) -> Result<String, Violation> {
        self.step(true)
    }

    /// Everything received so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn step(&mut self, finished: bool) -> Result<String, Violation> {
        let scan = scan(&self.text, finished, self.entry_point.as_deref());
        let new_blocks = &scan.blocks[self.checked_blocks.min(scan.blocks.len())..];
        for block in new_blocks {
            if let Some(v) = check_block(block, self.entry_point.as_deref(), true) {
                return Err(v);
            }
        }
        if !new_blocks.is_empty()
            && let Some(v) = check_joined(&scan.blocks, self.entry_point.as_deref())
        {
            return Err(v);
        }
        self.checked_blocks = scan.blocks.len();
        let safe = if finished { self.text.len() } else { scan.safe };
        if safe <= self.released {
            return Ok(String::new());
        }
        let out = self.text[self.released..safe].to_string();
        self.released = safe;
        Ok(out)
    }
}

#[derive(Debug)]
struct Scan {
    /// Complete code blocks, in order.
    blocks: Vec<String>,
    /// Bytes from the start that hold nothing unchecked.
    safe: usize,
}

fn is_marker_prefix(line: &str, entry_point: Option<&str>) -> bool {
    let t = line.trim_start();
    ["```", "~~~", "def ", "async def ", "class "]
        .iter()
        .copied()
        .chain(entry_point)
        .any(|m| t.starts_with(m) || m.starts_with(t))
}

/// Leading whitespace, a tab counting as four spaces (as in Markdown).
fn indent(line: &str) -> usize {
    line.chars()
        .take_while(|c| c.is_whitespace())
        .map(|c| if c == '\t' { 4 } else { 1 })
        .sum()
}

/// A line of a Markdown indented code block (four spaces or a tab).
fn indented_code(line: &str) -> bool {
    let t = line.trim();
    // A nested list item is prose, however deep.
    let list_item = ["- ", "* ", "+ "].iter().any(|m| t.starts_with(m))
        || t.split_once(". ")
            .is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty());
    !t.is_empty() && indent(line) >= 4 && !list_item
}

/// The fence a line opens or closes (three backticks or tildes).
fn fence_marker(line: &str) -> Option<&'static str> {
    let t = line.trim_start();
    ["```", "~~~"].into_iter().find(|m| t.starts_with(m))
}

fn opens_definition(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("def ") || t.starts_with("async def ") || t.starts_with("class ")
}

/// `two_sum = ...` for the entry point `two_sum`: a one-line block.
fn binds_entry_point(line: &str, entry_point: Option<&str>) -> bool {
    entry_point.is_some_and(|ep| bound_name(line).is_some_and(|(name, _)| same_name(name, ep)))
}

/// `name = value` (not `==`): the name and the value.
fn bound_name(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.trim().split_once('=')?;
    let name = name.trim();
    let is_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    (is_name && !value.starts_with('='))
        .then(|| (name.rsplit('.').next().unwrap_or(name), value.trim()))
}

/// Python names compared as a model might respell them: `twoSum`,
/// `TwoSum` and `two_sum` are one name.
fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| *c != '_')
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    norm(a) == norm(b)
}

/// Splits `text` into code blocks; with `finished`, blocks still open at the
/// end count as complete.
fn scan(text: &str, finished: bool, entry_point: Option<&str>) -> Scan {
    let mut blocks = Vec::new();
    // (start of the fence line, start of its content, its marker)
    let mut fence: Option<(usize, usize, &str)> = None;
    // (start, indentation of the def line)
    let mut definition: Option<(usize, usize)> = None;
    let mut pos = 0;
    let mut partial: Option<usize> = None;
    while pos < text.len() {
        let end = text[pos..].find('\n').map(|i| pos + i + 1);
        let Some(line_end) = end else {
            partial = Some(pos);
            break;
        };
        let line = &text[pos..line_end];
        let content = line.trim_end_matches(['\n', '\r']);
        if let Some((_, body, marker)) = fence {
            if content.trim_start().starts_with(marker) {
                blocks.push(text[body..pos].to_string());
                fence = None;
            }
        } else {
            if let Some((start, def_indent)) = definition {
                let continues = content.trim().is_empty() || indent(content) > def_indent;
                if !continues {
                    blocks.push(text[start..pos].to_string());
                    definition = None;
                }
            }
            if definition.is_none() {
                if let Some(marker) = fence_marker(content) {
                    fence = Some((pos, line_end, marker));
                } else if opens_definition(content) {
                    definition = Some((pos, indent(content)));
                } else if indented_code(content) {
                    // Unfenced code (a program for a stdin/stdout problem):
                    // held like a definition's body until it ends.
                    definition = Some((pos, 3));
                } else if binds_entry_point(content, entry_point) {
                    blocks.push(content.to_string());
                }
            }
        }
        pos = line_end;
    }
    if finished {
        if let Some((_, body, _)) = fence {
            blocks.push(text[body..].to_string());
        } else if let Some((start, _)) = definition {
            blocks.push(text[start..].to_string());
        } else if let Some(p) = partial
            && (opens_definition(&text[p..])
                || indented_code(&text[p..])
                || binds_entry_point(&text[p..], entry_point))
        {
            blocks.push(text[p..].to_string());
        }
        return Scan {
            blocks,
            safe: text.len(),
        };
    }
    let mut safe = text.len();
    if let Some((start, _, _)) = fence {
        safe = start;
    } else if let Some((start, _)) = definition {
        safe = start;
    } else if let Some(p) = partial
        && (is_marker_prefix(&text[p..], entry_point) || indent(&text[p..]) >= 4)
    {
        safe = p;
    }
    Scan { blocks, safe }
}

/// A statement line that does something (not blank, a comment, a docstring
/// line, or a placeholder).
fn meaningful(line: &str) -> bool {
    let t = line.trim();
    !(t.is_empty()
        || t.starts_with('#')
        || t.starts_with("\"\"\"")
        || t.starts_with("'''")
        || is_placeholder(t))
}

/// `pass`, `...` or `raise NotImplementedError`, with or without a comment
/// after it. (A TODO in a comment is a comment, and so no statement.)
fn is_placeholder(t: &str) -> bool {
    let code = t.split('#').next().unwrap_or("").trim();
    code == "pass" || code == "..." || code.starts_with("raise NotImplementedError")
}

/// The name a `def` line defines, and what follows its colon on the same
/// line (`def f(x): return x`), if anything.
fn definition(line: &str) -> Option<(&str, Option<&str>)> {
    let t = line.trim_start();
    let rest = t
        .strip_prefix("def ")
        .or_else(|| t.strip_prefix("async def "))?;
    let name = rest.split('(').next()?.trim();
    if name.is_empty() {
        return None;
    }
    // The colon that ends the signature: the first one after the last `)`
    // (an annotation `-> list[int]` has no colon).
    let inline = rest
        .rfind(')')
        .and_then(|close| rest[close..].split_once(':'))
        .map(|(_, after)| after.trim())
        .filter(|after| !after.is_empty() && !after.starts_with('#'));
    Some((name, inline))
}

/// The lines of the body of the `def` on `lines[at]`.
fn body<'a>(lines: &[&'a str], at: usize) -> Vec<&'a str> {
    let def_indent = indent(lines[at]);
    lines[at + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > def_indent)
        .copied()
        .collect()
}

/// Statements on a line: `a = 1; b = 2` is two.
fn statements(line: &str) -> usize {
    if !meaningful(line) {
        return 0;
    }
    line.split(';').filter(|s| meaningful(s)).count().max(1)
}

/// What a stub returns: no answer.
fn is_stub_value(value: &str) -> bool {
    let v = value
        .split('#')
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches(';')
        .trim();
    matches!(
        v,
        "" | "None" | "..." | "[]" | "{}" | "()" | "0" | "-1" | "''" | "\"\"" | "False" | "True"
    )
}

/// Whether a line returns (or yields, or prints) a value other than a
/// stub's: `return x`, `return(x)`, `if a: return b`.
fn returns_value(line: &str) -> bool {
    let t = line.trim();
    if !meaningful(t) {
        return false;
    }
    let word = |c: char| c.is_alphanumeric() || c == '_';
    ["return", "yield", "print"].iter().any(|kw| {
        t.match_indices(kw).any(|(i, _)| {
            let before = t[..i].chars().next_back();
            let after = &t[i + kw.len()..];
            before.is_none_or(|c| !word(c))
                && !after.starts_with(word)
                && (*kw != "print" || after.trim_start().starts_with('('))
                && !is_stub_value(after)
        })
    })
}

/// Top-level statements in one block that make it more than an
/// illustration: a function's body written without its `def`.
const LOOSE_CODE_MAX: usize = 5;

fn check_block(code: &str, entry_point: Option<&str>, single: bool) -> Option<Violation> {
    let lines: Vec<&str> = code.lines().collect();
    // Names bound to the entry point (`two_sum = f`): `f` is the entry point.
    let mut entry_names: Vec<&str> = entry_point.into_iter().collect();
    if let Some(ep) = entry_point {
        for line in &lines {
            if let Some((name, value)) = bound_name(line)
                && same_name(name, ep)
            {
                if value.starts_with("lambda") && value.contains(':') {
                    let body = value.split_once(':').map_or("", |(_, b)| b.trim());
                    if !is_stub_value(body) {
                        return Some(Violation {
                            reason: "the reply binds the entry point to a lambda",
                        });
                    }
                }
                entry_names.push(value);
            }
        }
    }
    for (i, line) in lines.iter().enumerate() {
        let Some((name, inline)) = definition(line) else {
            continue;
        };
        let mut body = body(&lines, i);
        body.extend(inline);
        let count: usize = body.iter().map(|l| statements(l)).sum();
        let returns = body.iter().any(|l| returns_value(l));
        let is_entry = entry_names.iter().any(|ep| same_name(name, ep));
        if is_entry && (returns || count >= 3) {
            return Some(Violation {
                reason: "the reply defines the entry point with a full body",
            });
        }
        if (returns && count >= 3) || count >= 6 {
            return Some(Violation {
                reason: "the reply writes a complete function",
            });
        }
    }
    let statements: usize = lines.iter().map(|l| statements(l)).sum();
    if single && statements >= LOOSE_CODE_MAX {
        return Some(Violation {
            reason: "the reply writes a solution's body without its definition",
        });
    }
    if entry_point.is_none() {
        let reads =
            code.contains("input(") || code.contains("sys.stdin") || code.contains("open(0");
        let writes = code.contains("print(") || code.contains("sys.stdout");
        if statements >= 4 && reads && writes {
            return Some(Violation {
                reason: "the reply writes a complete program",
            });
        }
    }
    None
}
