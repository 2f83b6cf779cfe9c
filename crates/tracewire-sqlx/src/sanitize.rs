//! SQL text for telemetry: literals replaced by `?` (semconv §3.3), and the
//! low-cardinality `db.query.summary` (`SELECT users`, `INSERT orders`).
//!
//! A small lexer, not a parser: it knows strings (`'…'` with `''`, `E'…'`
//! with backslash escapes, `N'…'`, hex `X'…'` and bit `B'…'`), PostgreSQL
//! dollar-quoted strings (`$tag$…$tag$`), quoted identifiers (`"…"`,
//! backticks), comments (`--`, `#` is not treated as one, `/* */` nested),
//! numbers (with sign, decimals, exponents, `0x…`), booleans, and
//! placeholders (`$1`, `?`, `:name`), which are kept.

/// The longest `db.query.text` recorded (characters); longer text is cut.
pub const MAX_QUERY_TEXT: usize = 2048;
/// The longest summary (semconv: 255, on a token boundary).
const MAX_SUMMARY: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    /// A keyword or identifier, quoted or not, as written.
    Word(&'a str),
    /// A literal (string, number, boolean): written as `?`.
    Literal,
    /// A placeholder (`$1`, `?`, `:name`), kept.
    Placeholder(&'a str),
    /// Punctuation and operators, kept.
    Symbol(&'a str),
    /// Whitespace or a comment: one space.
    Space,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Splits `sql` into tokens; never fails (an unterminated string runs to the end).
fn tokens(sql: &str) -> Vec<Token<'_>> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let quoted = |start: usize, quote: u8, backslash: bool| -> usize {
        // Returns the index after the closing quote.
        let mut j = start;
        while j < b.len() {
            if backslash && b[j] == b'\\' {
                j += 2;
                continue;
            }
            if b[j] == quote {
                if j + 1 < b.len() && b[j + 1] == quote {
                    j += 2;
                    continue;
                }
                return j + 1;
            }
            j += 1;
        }
        b.len()
    };
    while i < b.len() {
        let c = b[i];
        let rest = &sql[i..];
        let next = b.get(i + 1).copied();
        // Comments.
        if c == b'-' && next == Some(b'-') {
            i = rest.find('\n').map_or(b.len(), |n| i + n);
            out.push(Token::Space);
            continue;
        }
        if c == b'/' && next == Some(b'*') {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                    depth += 1;
                    j += 2;
                } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            i = j;
            out.push(Token::Space);
            continue;
        }
        if c.is_ascii_whitespace() {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            out.push(Token::Space);
            continue;
        }
        // Prefixed strings: E'…', N'…', X'…', B'…' (and lowercase).
        if matches!(c, b'E' | b'e' | b'N' | b'n' | b'X' | b'x' | b'B' | b'b') && next == Some(b'\'')
        {
            let backslash = matches!(c, b'E' | b'e');
            i = quoted(i + 2, b'\'', backslash);
            out.push(Token::Literal);
            continue;
        }
        if c == b'\'' {
            i = quoted(i + 1, b'\'', false);
            out.push(Token::Literal);
            continue;
        }
        if c == b'"' || c == b'`' {
            let end = quoted(i + 1, c, false);
            out.push(Token::Word(&sql[i..end]));
            i = end;
            continue;
        }
        // `$1` placeholders and `$tag$…$tag$` strings.
        if c == b'$' {
            let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                out.push(Token::Placeholder(&sql[i..i + 1 + digits]));
                i += 1 + digits;
                continue;
            }
            let tag_len = rest[1..]
                .bytes()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                .count();
            if rest.as_bytes().get(1 + tag_len) == Some(&b'$') {
                let tag = &rest[..tag_len + 2];
                let body = i + tag.len();
                i = sql[body..]
                    .find(tag)
                    .map_or(b.len(), |n| body + n + tag.len());
                out.push(Token::Literal);
                continue;
            }
        }
        if c == b'?' {
            out.push(Token::Placeholder("?"));
            i += 1;
            continue;
        }
        if c == b':'
            && next.is_some_and(|n| n.is_ascii_alphabetic())
            && i.checked_sub(1).is_none_or(|p| b[p] != b':')
        {
            let len = rest[1..]
                .chars()
                .take_while(|c| is_word_char(*c))
                .map(char::len_utf8)
                .sum::<usize>();
            out.push(Token::Placeholder(&sql[i..i + 1 + len]));
            i += 1 + len;
            continue;
        }
        // Numbers (a sign belongs to the number after an operator or at the start).
        let signed =
            (c == b'-' || c == b'+') && next.is_some_and(|n| n.is_ascii_digit() || n == b'.') && {
                match out.iter().rev().find(|t| **t != Token::Space) {
                    None => true,
                    Some(Token::Symbol(s)) => *s != ")",
                    Some(Token::Word(w)) => is_keyword(w),
                    _ => false,
                }
            };
        if c.is_ascii_digit() || signed || (c == b'.' && next.is_some_and(|n| n.is_ascii_digit())) {
            let mut j = i + usize::from(signed);
            if b.get(j) == Some(&b'0') && matches!(b.get(j + 1), Some(b'x' | b'X')) {
                j += 2;
                while j < b.len() && b[j].is_ascii_hexdigit() {
                    j += 1;
                }
            } else {
                while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                    j += 1;
                }
                if j < b.len() && (b[j] == b'e' || b[j] == b'E') {
                    let k = j + 1 + usize::from(matches!(b.get(j + 1), Some(b'+' | b'-')));
                    if b.get(k).is_some_and(u8::is_ascii_digit) {
                        j = k;
                        while j < b.len() && b[j].is_ascii_digit() {
                            j += 1;
                        }
                    }
                }
            }
            out.push(Token::Literal);
            i = j;
            continue;
        }
        let ch = rest.chars().next().unwrap_or(' ');
        if is_word_char(ch) {
            let len: usize = rest
                .chars()
                .take_while(|c| is_word_char(*c))
                .map(char::len_utf8)
                .sum();
            let word = &sql[i..i + len];
            if word.eq_ignore_ascii_case("true") || word.eq_ignore_ascii_case("false") {
                out.push(Token::Literal);
            } else {
                out.push(Token::Word(word));
            }
            i += len;
            continue;
        }
        // Two-character operators stay together.
        let len = if matches!(
            &rest.as_bytes()[..rest.len().min(2)],
            b"<=" | b">=" | b"<>" | b"!=" | b"::" | b"||"
        ) {
            2
        } else {
            ch.len_utf8()
        };
        out.push(Token::Symbol(&sql[i..i + len]));
        i += len;
    }
    out
}

fn is_keyword(word: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "SELECT",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "VALUES",
        "SET",
        "THEN",
        "ELSE",
        "WHEN",
        "CASE",
        "IN",
        "IS",
        "LIKE",
        "BETWEEN",
        "LIMIT",
        "OFFSET",
        "RETURN",
        "RETURNING",
        "BY",
        "HAVING",
        "ON",
        "AS",
        "DEFAULT",
    ];
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// `sql` with every literal replaced by `?`, comments dropped, whitespace
/// collapsed, `IN (?, ?, ?)` collapsed to `IN (?)`, and cut at
/// [`MAX_QUERY_TEXT`] characters.
pub fn sanitize(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len().min(MAX_QUERY_TEXT));
    for token in tokens(sql) {
        match token {
            Token::Word(w) | Token::Placeholder(w) | Token::Symbol(w) => out.push_str(w),
            Token::Literal => out.push('?'),
            Token::Space => {
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
            }
        }
    }
    let collapsed = collapse_in_lists(out.trim_end());
    truncate(&collapsed, MAX_QUERY_TEXT).to_owned()
}

/// `IN (?, ?, ?)` → `IN (?)` (any spacing).
fn collapse_in_lists(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('(') {
        let (before, after) = rest.split_at(open + 1);
        out.push_str(before);
        let inner_len = after.find(')').unwrap_or(after.len());
        let inner = &after[..inner_len];
        let only_marks = inner.split(',').all(|p| p.trim() == "?") && inner.contains(',');
        let is_in = before[..before.len() - 1]
            .trim_end()
            .to_ascii_uppercase()
            .ends_with(" IN");
        if only_marks && is_in {
            out.push('?');
            rest = &after[inner_len..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn truncate(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Operations that start a summary entry.
const OPERATIONS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "UPSERT",
    "REPLACE",
    "CREATE",
    "ALTER",
    "DROP",
    "TRUNCATE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "CALL",
    "EXPLAIN",
    "GRANT",
    "REVOKE",
    "VACUUM",
    "ANALYZE",
    "COPY",
    "LOCK",
    "SHOW",
    "USE",
    "PRAGMA",
];

/// Words after which the next identifier is a target.
const TARGET_INTRODUCERS: &[&str] = &[
    "FROM", "JOIN", "INTO", "UPDATE", "TABLE", "INDEX", "VIEW", "TRUNCATE",
];

/// `{op} {target} {op} {target}…` (semconv `db.query.summary`), e.g.
/// `SELECT users`, `INSERT shipping_details SELECT orders`; identifiers as
/// written. Empty when the text has no known operation.
pub fn summary(sql: &str) -> String {
    let words: Vec<Token<'_>> = tokens(sql)
        .into_iter()
        .filter(|t| *t != Token::Space)
        .collect();
    let mut parts: Vec<String> = Vec::new();
    let mut expect_target = false;
    let mut i = 0;
    while i < words.len() {
        match &words[i] {
            Token::Word(w) => {
                let upper = w.to_ascii_uppercase();
                let skippable = matches!(
                    upper.as_str(),
                    "IF" | "NOT" | "EXISTS" | "ONLY" | "TABLE" | "LATERAL"
                );
                if expect_target
                    && !skippable
                    && (is_keyword(w) || OPERATIONS.contains(&upper.as_str()))
                {
                    // `… DO UPDATE SET …` (an upsert's conflict clause) names no table.
                    expect_target = false;
                }
                if expect_target {
                    if matches!(
                        upper.as_str(),
                        "IF" | "NOT" | "EXISTS" | "ONLY" | "TABLE" | "LATERAL"
                    ) {
                        i += 1;
                        continue;
                    }
                    // schema.table stays one target.
                    let mut target = (*w).to_owned();
                    while matches!(words.get(i + 1), Some(Token::Symbol("."))) {
                        if let Some(Token::Word(next)) = words.get(i + 2) {
                            target.push('.');
                            target.push_str(next);
                            i += 2;
                        } else {
                            break;
                        }
                    }
                    parts.push(target);
                    expect_target = false;
                } else if OPERATIONS.contains(&upper.as_str()) {
                    let is_update_target = upper == "UPDATE";
                    parts.push(upper.clone());
                    expect_target = is_update_target || upper == "TRUNCATE";
                } else if TARGET_INTRODUCERS.contains(&upper.as_str()) {
                    expect_target = true;
                }
            }
            Token::Symbol("(") if expect_target => expect_target = false,
            _ => {}
        }
        i += 1;
    }
    let mut out = String::new();
    for part in parts {
        let needed = part.len() + usize::from(!out.is_empty());
        if out.len() + needed > MAX_SUMMARY {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_become_placeholders() {
        assert_eq!(
            sanitize("SELECT * FROM users WHERE name = 'bob' AND age > 42"),
            "SELECT * FROM users WHERE name = ? AND age > ?"
        );
        assert_eq!(
            sanitize("INSERT INTO t (a, b) VALUES (1.5e10, -7)"),
            "INSERT INTO t (a, b) VALUES (?, ?)"
        );
        assert_eq!(sanitize("SELECT a - 1 FROM t"), "SELECT a - ? FROM t");
        assert_eq!(
            sanitize("SELECT x FROM t WHERE f = TRUE"),
            "SELECT x FROM t WHERE f = ?"
        );
    }

    #[test]
    fn quotes_inside_strings_and_escape_strings() {
        assert_eq!(
            sanitize("SELECT 'it''s' , E'a\\'b' FROM t"),
            "SELECT ? , ? FROM t"
        );
        assert_eq!(
            sanitize("SELECT N'unicode', X'DEADBEEF', B'0101', 0xFF"),
            "SELECT ?, ?, ?, ?"
        );
    }

    #[test]
    fn dollar_quoted_strings_and_placeholders() {
        assert_eq!(
            sanitize("SELECT $$secret 'stuff'$$, $tag$more$tag$ WHERE id = $1"),
            "SELECT ?, ? WHERE id = $1"
        );
        assert_eq!(
            sanitize("SELECT * FROM t WHERE a = ? AND b = :name"),
            "SELECT * FROM t WHERE a = ? AND b = :name"
        );
        assert_eq!(sanitize("SELECT a::text FROM t"), "SELECT a::text FROM t");
    }

    #[test]
    fn comments_are_dropped() {
        assert_eq!(
            sanitize("SELECT 1 -- password 'x'\nFROM t /* 'secret' /* nested */ */ WHERE a = 2"),
            "SELECT ? FROM t WHERE a = ?"
        );
    }

    #[test]
    fn in_lists_collapse_and_identifiers_stay() {
        assert_eq!(
            sanitize("SELECT * FROM t WHERE id IN (1, 2, 3)"),
            "SELECT * FROM t WHERE id IN (?)"
        );
        assert_eq!(
            sanitize("SELECT \"Name\", `weird col` FROM \"Users\""),
            "SELECT \"Name\", `weird col` FROM \"Users\""
        );
        assert_eq!(
            sanitize("SELECT col1, t2.col3 FROM t2"),
            "SELECT col1, t2.col3 FROM t2"
        );
    }

    #[test]
    fn unicode_and_unterminated_input_do_not_panic() {
        assert_eq!(
            sanitize("SELECT 'héllo wörld' AS grüße"),
            "SELECT ? AS grüße"
        );
        assert_eq!(sanitize("SELECT 'unterminated"), "SELECT ?");
        assert_eq!(sanitize("SELECT $$unterminated"), "SELECT ?");
        let long = format!("SELECT {}", "a, ".repeat(2000));
        assert_eq!(sanitize(&long).chars().count(), MAX_QUERY_TEXT);
    }

    #[test]
    fn summaries() {
        assert_eq!(
            summary("SELECT id, name FROM users WHERE id = $1"),
            "SELECT users"
        );
        assert_eq!(
            summary("insert into shipping_details (a) select a from orders"),
            "INSERT shipping_details SELECT orders"
        );
        assert_eq!(
            summary("UPDATE accounts SET balance = 0"),
            "UPDATE accounts"
        );
        assert_eq!(
            summary("DELETE FROM public.sessions WHERE x"),
            "DELETE public.sessions"
        );
        assert_eq!(
            summary("CREATE TABLE IF NOT EXISTS users (id INT)"),
            "CREATE users"
        );
        assert_eq!(summary("SELECT 1"), "SELECT");
        assert_eq!(summary("SELECT * FROM (SELECT 1) AS x"), "SELECT SELECT");
        assert_eq!(
            summary("SELECT a FROM t1 JOIN \"T2\" ON t1.id = \"T2\".id"),
            "SELECT t1 \"T2\""
        );
        assert_eq!(
            summary("with x as (select 1) select * from x"),
            "SELECT SELECT x"
        );
        assert_eq!(
            summary("INSERT INTO jobs (id) VALUES (?1) ON CONFLICT (id) DO UPDATE SET status = ?2"),
            "INSERT jobs UPDATE"
        );
    }
}
