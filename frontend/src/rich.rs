//! A message's text in pieces: plain text, web links and `@mentions`; and the names a
//! mention being typed can become.
//!
//! Pure (no web APIs), so the rules are tested natively. The pieces are borrowed from
//! the text and the view turns each into a text node or an element: nothing is ever
//! parsed as HTML, and only `http://` and `https://` become links (a `javascript:` URL
//! stays text).

/// Whether `c` continues a word: ASCII letters, digits and `_`, and any other script's
/// character (so `@Ada` does not mention Ada in `@Adaé`). Unicode's own letter classes
/// would add their tables to the app's budgeted download.
fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()
}

/// One run of a message's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    /// A web address, exactly as written (it is also the link's target).
    Link(&'a str),
    /// `@name` of someone in the room, the `@` included; `me` when it names the reader.
    Mention {
        text: &'a str,
        me: bool,
    },
}

/// Splits `text` into pieces: links, mentions of `names` (the people in the room) and of
/// `me` (the reader's own name), and the text between them.
pub fn pieces<'a>(text: &'a str, names: &[&str], me: Option<&str>) -> Vec<Piece<'a>> {
    let mut pieces = Vec::new();
    let mut plain = 0; // where the current run of plain text began
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let at_word_start = !text[..at].chars().next_back().is_some_and(word_char);
        let found = if !at_word_start {
            None
        } else if let Some(after) = rest.strip_prefix('@') {
            mention(after, names, me).map(|(len, me)| (1 + len, Some(me)))
        } else {
            link(rest).map(|len| (len, None))
        };
        match found {
            Some((len, mention)) => {
                if plain < at {
                    pieces.push(Piece::Text(&text[plain..at]));
                }
                let run = &text[at..at + len];
                pieces.push(match mention {
                    Some(me) => Piece::Mention { text: run, me },
                    None => Piece::Link(run),
                });
                at += len;
                plain = at;
            }
            None => at += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    if plain < text.len() {
        pieces.push(Piece::Text(&text[plain..]));
    }
    pieces
}

/// Whether `text` mentions `name` (`@name` as a whole word; ASCII letters in any case).
pub fn mentions(text: &str, name: &str) -> bool {
    pieces(text, &[], Some(name))
        .iter()
        .any(|piece| matches!(piece, Piece::Mention { me: true, .. }))
}

/// While `draft` ends in a mention being typed (`@` and the start of a name, at the
/// start of a word): the names among `names` it can become, at most five.
pub fn completions<'a>(draft: &str, names: &[&'a str]) -> Vec<&'a str> {
    let Some(at) = draft.rfind('@') else {
        return Vec::new();
    };
    let typed = &draft[at + 1..];
    if typed.contains(char::is_whitespace) || draft[..at].chars().next_back().is_some_and(word_char)
    {
        return Vec::new();
    }
    names
        .iter()
        .copied()
        .filter(|name| {
            name.len() > typed.len()
                && name
                    .get(..typed.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(typed))
        })
        .take(5)
        .collect()
}

/// `draft` with the mention being typed completed to `@name`.
pub fn complete(draft: &str, name: &str) -> String {
    let at = draft.rfind('@').unwrap_or(draft.len());
    format!("{}@{name} ", &draft[..at])
}

/// The length of the longest name that `after` (the text after an `@`) starts with as a
/// whole word, and whether it is `me`.
fn mention(after: &str, names: &[&str], me: Option<&str>) -> Option<(usize, bool)> {
    let starts_with = |name: &str| {
        !name.is_empty()
            && after.get(..name.len()).is_some_and(|head| {
                head.eq_ignore_ascii_case(name)
                    && !after[name.len()..].chars().next().is_some_and(word_char)
            })
    };
    let mine = me.filter(|name| starts_with(name)).map(str::len);
    let other = names
        .iter()
        .filter(|name| starts_with(name))
        .map(|name| name.len())
        .max();
    match (mine, other) {
        (Some(mine), Some(other)) if other > mine => Some((other, false)),
        (Some(mine), _) => Some((mine, true)),
        (None, other) => other.map(|len| (len, false)),
    }
}

/// The length of the web address `rest` starts with: `http://` or `https://` and a host,
/// up to a space or a character that cannot be in a URL, without the punctuation that
/// usually follows one in a sentence (a closing bracket stays when the URL opened it).
fn link(rest: &str) -> Option<usize> {
    let scheme = ["https://", "http://"].into_iter().find(|scheme| {
        rest.get(..scheme.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
    })?;
    let end = rest
        .find(|c: char| c.is_whitespace() || c.is_control() || "<>\"`".contains(c))
        .unwrap_or(rest.len());
    let mut url = &rest[..end];
    loop {
        let trimmed = url.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '*']);
        let trimmed = match trimmed.strip_suffix(')') {
            Some(inner) if inner.matches('(').count() < trimmed.matches(')').count() => inner,
            _ => trimmed,
        };
        if trimmed.len() == url.len() {
            break;
        }
        url = trimmed;
    }
    (url.len() > scheme.len()).then_some(url.len())
}

#[cfg(test)]
mod tests {
    use super::Piece::{Link, Mention, Text};
    use super::*;

    #[test]
    fn web_addresses_become_links_without_the_sentence_around_them() {
        let cases: [(&str, &[Piece]); 8] = [
            (
                "see https://example.com/a?b=1#c",
                &[Text("see "), Link("https://example.com/a?b=1#c")],
            ),
            ("http://x.org.", &[Link("http://x.org"), Text(".")]),
            (
                "(at https://x.org/wiki/A_(b)), ok",
                &[
                    Text("(at "),
                    Link("https://x.org/wiki/A_(b)"),
                    Text("), ok"),
                ],
            ),
            ("HTTPS://X.ORG!", &[Link("HTTPS://X.ORG"), Text("!")]),
            (
                "<https://x.org>",
                &[Text("<"), Link("https://x.org"), Text(">")],
            ),
            (
                "two: http://a.b http://c.d",
                &[
                    Text("two: "),
                    Link("http://a.b"),
                    Text(" "),
                    Link("http://c.d"),
                ],
            ),
            ("https:// alone", &[Text("https:// alone")]),
            ("xhttps://a.b", &[Text("xhttps://a.b")]),
        ];
        for (text, expected) in cases {
            assert_eq!(pieces(text, &[], None), expected, "{text}");
        }
    }

    #[test]
    fn nothing_else_becomes_a_link() {
        for text in [
            "javascript:alert(1)",
            "JavaScript://%0aalert(1)",
            "data:text/html,<b>x</b>",
            "ftp://x.org",
            "www.example.com",
            "<a href=\"https://x.org\">x</a>",
        ] {
            let links = pieces(text, &[], None)
                .into_iter()
                .filter(|p| matches!(p, Link(_)))
                .collect::<Vec<_>>();
            assert!(
                links.iter().all(
                    |l| matches!(l, Link(u) if u.starts_with("https://x.org") && !u.contains('"'))
                ),
                "{text}: {links:?}"
            );
        }
        assert_eq!(
            pieces("javascript:alert(1)", &[], None),
            [Text("javascript:alert(1)")]
        );
    }

    #[test]
    fn mentions_are_names_of_people_here_and_the_readers_own_is_marked() {
        let names = ["Bob", "Bob Smith", "Ада"];
        assert_eq!(
            pieces(
                "hi @bob smith and @Ada, not @Bobby or x@Bob",
                &names,
                Some("Ada")
            ),
            [
                Text("hi "),
                Mention {
                    text: "@bob smith",
                    me: false
                },
                Text(" and "),
                Mention {
                    text: "@Ada",
                    me: true
                },
                Text(", not @Bobby or x@Bob"),
            ]
        );
        assert_eq!(
            pieces("@Ада! @Адам", &names, None),
            [
                Mention {
                    text: "@Ада",
                    me: false
                },
                Text("! @Адам")
            ]
        );
        assert_eq!(pieces("@nobody", &names, Some("Ada")), [Text("@nobody")]);
    }

    #[test]
    fn typing_at_offers_the_names_that_fit() {
        let names = ["Bob", "bea", "Cy", "Bob Smith"];
        assert_eq!(completions("hi @b", &names), ["Bob", "bea", "Bob Smith"]);
        assert_eq!(completions("@", &names).len(), 4);
        assert_eq!(
            completions("hi @Bob", &names),
            ["Bob Smith"],
            "an exact name is done"
        );
        assert!(completions("hi @b ", &names).is_empty(), "the word ended");
        assert!(completions("mail@b", &names).is_empty(), "not a word start");
        assert!(completions("no at", &names).is_empty());
        assert_eq!(complete("hi @b", "Bob Smith"), "hi @Bob Smith ");
        assert!(mentions(&complete("hi @b", "Bob Smith"), "Bob Smith"));
    }

    #[test]
    fn mentions_tell_whether_the_reader_is_named() {
        assert!(mentions("@ada look", "Ada"));
        assert!(mentions("ping @ADA", "Ada"));
        assert!(!mentions("ada without at", "Ada"));
        assert!(!mentions("@Adam", "Ada"));
        assert!(!mentions("mail@ada", "Ada"));
        assert!(!mentions("", "Ada"));
    }
}
