//! PostgreSQL's token rules, as far as the screen needs them: where comments, quoted strings and
//! dollar quotes end (to split at top-level semicolons), and what name an identifier stands
//! for, in every spelling the server accepts: unquoted (ASCII folded to lower case), quoted
//! (`"search_path"`, `""` for a quote), and Unicode-escaped (`U&"search\005fpath"`, with or
//! without `UESCAPE '!'`). A name that cannot be decoded the way the server would is an error,
//! so the caller refuses the statement instead of guessing.

/// A token of a statement: enough to read keywords and names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    /// An unquoted word (keyword or identifier), ASCII letters folded to lower case as
    /// PostgreSQL folds them.
    Word(String),
    /// A quoted identifier, decoded (`""` and Unicode escapes resolved); case is kept.
    Quoted(String),
    /// Anything else: punctuation, a number, a string or dollar-quoted literal, a parameter.
    Other,
}

impl Token {
    /// The keyword this token is, if it is an unquoted word (keywords cannot be quoted).
    pub(super) fn keyword(&self) -> Option<&str> {
        match self {
            Token::Word(word) => Some(word),
            _ => None,
        }
    }

    /// The name this token stands for where a name is expected (a setting, a function),
    /// lower-cased: settings are looked up ignoring case, and for function names the wider
    /// match only refuses more.
    pub(super) fn name(&self) -> Option<String> {
        match self {
            Token::Word(word) => Some(word.clone()),
            Token::Quoted(name) => Some(name.to_ascii_lowercase()),
            Token::Other => None,
        }
    }
}

/// The statement's text could not be read the way the server reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Undecodable;

/// The tokens of `statement`, in order, skipping blanks and comments.
pub(super) fn tokens(statement: &str) -> Tokens<'_> {
    Tokens {
        bytes: statement.as_bytes(),
        at: 0,
    }
}

/// An iterator over a statement's tokens; see [`tokens`].
pub(super) struct Tokens<'s> {
    bytes: &'s [u8],
    at: usize,
}

impl Tokens<'_> {
    /// The first byte of the next token, without taking it.
    pub(super) fn next_byte(&self) -> Option<u8> {
        let at = skip_blank(self.bytes, self.at)?;
        self.bytes.get(at).copied()
    }
}

impl Iterator for Tokens<'_> {
    type Item = Result<Token, Undecodable>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.bytes;
        let Some(start) = skip_blank(bytes, self.at) else {
            self.at = bytes.len();
            return Some(Err(Undecodable));
        };
        let &first = bytes.get(start)?;
        let (token, end) = if matches!(first, b'u' | b'U')
            && bytes.get(start + 1) == Some(&b'&')
            && bytes.get(start + 2) == Some(&b'"')
        {
            match unicode_identifier(bytes, start + 2) {
                Ok(decoded) => decoded,
                Err(err) => {
                    self.at = bytes.len();
                    return Some(Err(err));
                }
            }
        } else if first == b'"' {
            let Some(end) = quoted_end(bytes, start, b'"', false) else {
                self.at = bytes.len();
                return Some(Err(Undecodable));
            };
            let body = &bytes[start + 1..end - 1];
            let name = String::from_utf8_lossy(body).replace("\"\"", "\"");
            (Token::Quoted(name), end)
        } else if first.is_ascii_alphabetic() || first == b'_' || first >= 0x80 {
            let len = bytes[start..]
                .iter()
                .take_while(|b| is_ident_byte(**b) || **b == b'$')
                .count();
            let word = String::from_utf8_lossy(&bytes[start..start + len]).to_ascii_lowercase();
            (Token::Word(word), start + len)
        } else if first.is_ascii_digit() {
            let len = bytes[start..]
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b'.')
                .count();
            (Token::Other, start + len)
        } else {
            match skip_token(bytes, start) {
                Some(end) => (Token::Other, end),
                None => {
                    self.at = bytes.len();
                    return Some(Err(Undecodable));
                }
            }
        };
        self.at = end;
        Some(Ok(token))
    }
}

/// `U&"…"` starting with the quote at `quote`, then an optional `UESCAPE 'c'`: the decoded
/// name and the index after it.
fn unicode_identifier(bytes: &[u8], quote: usize) -> Result<(Token, usize), Undecodable> {
    let close = quoted_end(bytes, quote, b'"', false).ok_or(Undecodable)?;
    let body = String::from_utf8_lossy(&bytes[quote + 1..close - 1]).replace("\"\"", "\"");
    let mut end = close;
    let mut escape = '\\';
    let after = skip_blank(bytes, close).ok_or(Undecodable)?;
    let word_len = bytes[after..]
        .iter()
        .take_while(|b| is_ident_byte(**b))
        .count();
    if bytes[after..after + word_len].eq_ignore_ascii_case(b"uescape") {
        let open = skip_blank(bytes, after + word_len).ok_or(Undecodable)?;
        if bytes.get(open) != Some(&b'\'') {
            return Err(Undecodable);
        }
        let literal_end = quoted_end(bytes, open, b'\'', false).ok_or(Undecodable)?;
        let literal = String::from_utf8_lossy(&bytes[open + 1..literal_end - 1]).replace("''", "'");
        let mut chars = literal.chars();
        escape = match (chars.next(), chars.next()) {
            (Some(c), None)
                if !c.is_ascii_hexdigit()
                    && !matches!(c, '+' | '\'' | '"')
                    && !c.is_whitespace() =>
            {
                c
            }
            _ => return Err(Undecodable),
        };
        end = literal_end;
    }
    Ok((Token::Quoted(unescape(&body, escape)?), end))
}

/// Resolves `\XXXX`, `\+XXXXXX` and `\\` (with `escape` for `\`), surrogate pairs included.
fn unescape(body: &str, escape: char) -> Result<String, Undecodable> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    let mut high_surrogate: Option<u32> = None;
    while let Some(c) = chars.next() {
        if c != escape {
            if high_surrogate.is_some() {
                return Err(Undecodable);
            }
            out.push(c);
            continue;
        }
        let digits = match chars.peek() {
            Some(&next) if next == escape => {
                chars.next();
                if high_surrogate.is_some() {
                    return Err(Undecodable);
                }
                out.push(escape);
                continue;
            }
            Some('+') => {
                chars.next();
                6
            }
            _ => 4,
        };
        let hex: String = chars.by_ref().take(digits).collect();
        if hex.len() != digits || !hex.chars().all(|h| h.is_ascii_hexdigit()) {
            return Err(Undecodable);
        }
        let code = u32::from_str_radix(&hex, 16).map_err(|_| Undecodable)?;
        match (high_surrogate.take(), code) {
            (None, 0xD800..=0xDBFF) => high_surrogate = Some(code),
            (Some(high), 0xDC00..=0xDFFF) => {
                let combined = 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00);
                out.push(char::from_u32(combined).ok_or(Undecodable)?);
            }
            (None, code) => out.push(char::from_u32(code).ok_or(Undecodable)?),
            (Some(_), _) => return Err(Undecodable),
        }
    }
    if high_surrogate.is_some() {
        return Err(Undecodable);
    }
    Ok(out)
}

/// The index after whitespace and comments from `i`; `None` inside an unterminated comment.
pub(super) fn skip_blank(bytes: &[u8], mut i: usize) -> Option<usize> {
    loop {
        match bytes.get(i) {
            Some(b) if b.is_ascii_whitespace() => i += 1,
            Some(b'-') if bytes.get(i + 1) == Some(&b'-') => i = line_end(bytes, i),
            Some(b'/') if bytes.get(i + 1) == Some(&b'*') => i = block_comment_end(bytes, i)?,
            _ => return Some(i),
        }
    }
}

/// The index after the token that starts at `i` (a quoted string or identifier, a dollar-quoted
/// string, a comment, or one byte); `None` if it does not end.
pub(super) fn skip_token(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes[i] {
        b'\'' => {
            let escapes = i > 0
                && bytes[i - 1].eq_ignore_ascii_case(&b'e')
                && (i < 2 || !is_ident_byte(bytes[i - 2]));
            quoted_end(bytes, i, b'\'', escapes)
        }
        b'"' => quoted_end(bytes, i, b'"', false),
        b'-' if bytes.get(i + 1) == Some(&b'-') => Some(line_end(bytes, i)),
        b'/' if bytes.get(i + 1) == Some(&b'*') => block_comment_end(bytes, i),
        b'$' if i == 0 || !is_ident_byte(bytes[i - 1]) => match dollar_tag(bytes, i) {
            Some(tag) => {
                let body = i + tag.len();
                let close = find(&bytes[body..], tag)?;
                Some(body + close + tag.len())
            }
            None => Some(i + 1),
        },
        _ => Some(i + 1),
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// `$tag$` (or `$$`) starting at `i`, if that is a dollar quote rather than a `$1` parameter.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<&[u8]> {
    let rest = &bytes[i + 1..];
    let len = rest.iter().take_while(|b| is_ident_byte(**b)).count();
    if len > 0 && rest[0].is_ascii_digit() {
        return None;
    }
    (rest.get(len) == Some(&b'$')).then(|| &bytes[i..i + len + 2])
}

fn quoted_end(bytes: &[u8], open: usize, quote: u8, escapes: bool) -> Option<usize> {
    let mut j = open + 1;
    loop {
        match *bytes.get(j)? {
            b'\\' if escapes => j += 2,
            b if b == quote => {
                if bytes.get(j + 1) == Some(&quote) {
                    j += 2;
                } else {
                    return Some(j + 1);
                }
            }
            _ => j += 1,
        }
    }
}

fn line_end(bytes: &[u8], i: usize) -> usize {
    bytes[i..]
        .iter()
        .position(|b| *b == b'\n' || *b == b'\r')
        .map_or(bytes.len(), |p| i + p + 1)
}

/// Block comments nest in PostgreSQL.
fn block_comment_end(bytes: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j + 1 < bytes.len() {
        match (bytes[j], bytes[j + 1]) {
            (b'/', b'*') => {
                depth += 1;
                j += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                j += 2;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => j += 1,
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(sql: &str) -> Vec<Token> {
        tokens(sql).collect::<Result<_, _>>().expect("decodes")
    }

    fn word(w: &str) -> Token {
        Token::Word(w.to_owned())
    }

    fn quoted(w: &str) -> Token {
        Token::Quoted(w.to_owned())
    }

    #[test]
    fn words_fold_and_quoted_names_keep_case() {
        assert_eq!(
            all("SET/**/Search_Path TO tb"),
            [word("set"), word("search_path"), word("to"), word("tb")]
        );
        assert_eq!(
            all(r#"set "Search_Path" = "a""b""#),
            [
                word("set"),
                quoted("Search_Path"),
                Token::Other,
                quoted("a\"b")
            ]
        );
        // Names inside literals, dollar quotes and comments are not tokens of their own.
        let words: Vec<Token> = all("select f($1, 'set_config', $$role$$) -- search_path\n")
            .into_iter()
            .filter(|t| *t != Token::Other)
            .collect();
        assert_eq!(words, [word("select"), word("f")]);
    }

    #[test]
    fn unicode_identifiers_decode_as_the_server_does() {
        assert_eq!(all(r#"U&"search\005fpath""#), [quoted("search_path")]);
        assert_eq!(all(r#"u&"search\+00005Fpath""#), [quoted("search_path")]);
        assert_eq!(
            all(r#"U&"search!005fpath" UESCAPE '!' TO x"#),
            [quoted("search_path"), word("to"), word("x")]
        );
        assert_eq!(
            all(r#"U&"a\\b" /* c */ uescape /* d */ '#'"#),
            [quoted(r"a\\b")]
        );
        assert_eq!(all(r#"U&"\D83D\DE00""#), [quoted("\u{1F600}")]);
        for bad in [
            r#"U&"\00""#,
            r#"U&"\D83D""#,
            r#"U&"x" UESCAPE 'ab'"#,
            r#"U&"x" UESCAPE 'a'"#,
            r#"U&"x" UESCAPE x"#,
            r#"U&"x"#,
            "/* open",
        ] {
            assert!(tokens(bad).any(|t| t.is_err()), "{bad} must not decode");
        }
    }
}
