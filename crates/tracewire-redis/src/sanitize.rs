//! `db.query.text` for Redis: the command in CLI syntax with key and field
//! names kept and every value replaced by `?`; arguments of authentication
//! commands are never recorded (semconv §4).

/// How a command's arguments are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Every argument is a key (`DEL k1 k2`, `MGET`, `EXISTS`, `WATCH`).
    AllKeys,
    /// A key, then field/value pairs (`HSET k f v f v`).
    KeyThenPairs,
    /// Key/value pairs (`MSET k v k v`).
    Pairs,
    /// Credentials: nothing after the command is recorded.
    Secret,
    /// Arguments are not data (`SELECT 2`, `PING`, `INFO`, `CLIENT SETNAME`…)
    /// but may still be: keep only the first (a subcommand or index).
    FirstOnly,
    /// The usual shape: a key, then values.
    KeyThenValues,
}

fn shape(command: &str) -> Shape {
    match command {
        "DEL" | "UNLINK" | "EXISTS" | "MGET" | "TOUCH" | "WATCH" | "SINTER" | "SUNION"
        | "SDIFF" | "PFCOUNT" => Shape::AllKeys,
        "HSET" | "HMSET" | "HSETNX" => Shape::KeyThenPairs,
        "MSET" | "MSETNX" => Shape::Pairs,
        "AUTH" | "HELLO" | "MIGRATE" => Shape::Secret,
        "SELECT" | "PING" | "INFO" | "CLIENT" | "CONFIG" | "COMMAND" | "CLUSTER" | "SCRIPT"
        | "FUNCTION" => Shape::FirstOnly,
        _ => Shape::KeyThenValues,
    }
}

/// A command name upper-cased on the stack, to match against the commands
/// this module knows (`db.operation.name` keeps the name as sent). Every
/// command is called on every traced operation: no allocation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommandName {
    upper: [u8; Self::LONGEST],
    len: usize,
}

impl CommandName {
    /// Longer than any command matched here (`BRPOPLPUSH`, `FCALL_RO`):
    /// a longer name matches none of them and is kept as empty.
    const LONGEST: usize = 16;

    pub(crate) fn of(command: &[u8]) -> Self {
        let mut upper = [0; Self::LONGEST];
        if command.len() > Self::LONGEST {
            return Self { upper, len: 0 };
        }
        for (to, from) in upper.iter_mut().zip(command) {
            *to = from.to_ascii_uppercase();
        }
        Self {
            upper,
            len: command.len(),
        }
    }

    /// The upper-cased name (empty when not valid UTF-8 or too long).
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.upper[..self.len]).unwrap_or("")
    }
}

/// The longest `db.query.text` recorded, in bytes: a command with thousands
/// of keys (`DEL k1 … k9999`) must not make a megabyte attribute.
pub(crate) const MAX_QUERY_TEXT: usize = 2048;

/// Sanitized text of one command: `args[0]` is the command name, `command`
/// the same upper-cased (the caller has it already); cut at
/// [`MAX_QUERY_TEXT`] bytes (on a character boundary).
pub(crate) fn query_text(command: &CommandName, args: &[&[u8]]) -> String {
    let Some((name, rest)) = args.split_first() else {
        return String::new();
    };
    let shape = shape(command.as_str());
    let keep = |i: usize| match shape {
        Shape::AllKeys => true,
        Shape::KeyThenPairs => i == 0 || !i.is_multiple_of(2),
        Shape::Pairs => i.is_multiple_of(2),
        Shape::Secret => false,
        Shape::FirstOnly | Shape::KeyThenValues => i == 0,
    };
    // One allocation of the final size (within the cut and a character).
    let len = name.len()
        + rest
            .iter()
            .enumerate()
            .map(|(i, arg)| 1 + if keep(i) { arg.len() } else { 1 })
            .sum::<usize>();
    let mut text = String::with_capacity(len.min(MAX_QUERY_TEXT + 4));
    text.push_str(&String::from_utf8_lossy(name));
    for (i, arg) in rest.iter().enumerate() {
        if text.len() >= MAX_QUERY_TEXT {
            break;
        }
        text.push(' ');
        if keep(i) {
            text.push_str(&String::from_utf8_lossy(arg));
        } else {
            text.push('?');
        }
    }
    if text.len() > MAX_QUERY_TEXT {
        let mut cut = MAX_QUERY_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// Commands that wait server-side for data (their duration measures the
/// wait, not the database): kept out of `db.client.operation.duration`.
pub(crate) fn is_blocking(command: &str, args: &[&[u8]]) -> bool {
    match command {
        "BLPOP" | "BRPOP" | "BLMOVE" | "BRPOPLPUSH" | "BZPOPMIN" | "BZPOPMAX" | "BLMPOP"
        | "BZMPOP" | "WAIT" | "WAITAOF" => true,
        "XREAD" | "XREADGROUP" => args.iter().any(|a| a.eq_ignore_ascii_case(b"BLOCK")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(args: &[&str]) -> String {
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        crate::query_text(&bytes)
    }

    #[test]
    fn keys_stay_values_go() {
        assert_eq!(
            text(&["SET", "user:1", "{\"name\":\"ada\"}", "EX", "60"]),
            "SET user:1 ? ? ?"
        );
        assert_eq!(text(&["GET", "user:1"]), "GET user:1");
        assert_eq!(
            text(&["HSET", "h", "f1", "v1", "f2", "v2"]),
            "HSET h f1 ? f2 ?"
        );
        assert_eq!(text(&["MSET", "a", "1", "b", "2"]), "MSET a ? b ?");
        assert_eq!(text(&["DEL", "a", "b"]), "DEL a b");
        assert_eq!(text(&["SELECT", "2"]), "SELECT 2");
    }

    #[test]
    fn the_text_is_cut_at_its_bound_on_a_character_boundary() {
        let keys: Vec<String> = (0..5000).map(|i| format!("k\u{e9}{i}")).collect();
        let mut args = vec!["DEL"];
        args.extend(keys.iter().map(String::as_str));
        let cut = text(&args);
        assert!(
            cut.len() <= MAX_QUERY_TEXT && cut.len() > MAX_QUERY_TEXT - 16,
            "{}",
            cut.len()
        );
        assert!(cut.starts_with("DEL k\u{e9}0 k\u{e9}1 "));
        let long_name = "X".repeat(10_000);
        assert_eq!(text(&[&long_name, "v"]).len(), MAX_QUERY_TEXT);
    }

    #[test]
    fn credentials_are_never_recorded() {
        assert_eq!(text(&["AUTH", "default", "hunter2"]), "AUTH ? ?");
        assert_eq!(text(&["HELLO", "3", "AUTH", "u", "p"]), "HELLO ? ? ? ?");
        assert_eq!(text(&["auth", "hunter2"]), "auth ?");
    }

    #[test]
    fn command_names_are_matched_upper_cased_and_odd_ones_match_nothing() {
        assert_eq!(CommandName::of(b"blPop").as_str(), "BLPOP");
        assert_eq!(CommandName::of(b"FCALL_RO").as_str(), "FCALL_RO");
        assert_eq!(
            CommandName::of(&[b'a'; 17]).as_str(),
            "",
            "longer than any known"
        );
        assert_eq!(CommandName::of(&[0xff, b'x']).as_str(), "", "not UTF-8");
        // The shapes follow the upper-cased name, whatever the case sent.
        assert_eq!(text(&["mset", "a", "1"]), "mset a ?");
        assert_eq!(text(&["hello", "3", "AUTH", "u", "p"]), "hello ? ? ? ?");
    }

    #[test]
    fn blocking_commands_are_recognized() {
        assert!(is_blocking("BLPOP", &[]));
        assert!(is_blocking(
            "XREADGROUP",
            &[b"GROUP", b"g", b"c", b"block", b"0"]
        ));
        assert!(!is_blocking(
            "XREAD",
            &[b"COUNT", b"1", b"STREAMS", b"s", b"0"]
        ));
        assert!(!is_blocking("GET", &[]));
    }
}
