//! Text from a run (control-plane answers, CLI output, file names) on its way to a
//! terminal or a text report: control characters become visible escapes, so no
//! byte of evidence can move the cursor, recolour, erase or reorder what a person
//! reads (an `ESC [` sequence that repaints FAIL as PASS, a newline that forges a
//! report line, a bidi override that reverses one).

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as itself: C0 and C1 controls and DEL
/// (newline and tab included: a field value is one line), the line and paragraph
/// separators (a line break to a browser or an editor), and every Unicode format
/// character (general category Cf): the bidi controls, which reorder the text around
/// them, and the invisible ones (zero-width space and joiners, soft hyphen, byte
/// order mark, tags), which make two different strings look the same.
fn must_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || is_format(c)
}

/// Unicode general category Cf (format characters), as of Unicode 15.1.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// `s` with every character [`must_escape`] names written as `\u{hex}`; text
/// without one is returned unchanged (borrowed), so a normal report keeps its bytes.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(must_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if must_escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`escape`] of every line of `text`, keeping its line breaks: for a rendered
/// block (a summary, a report) whose own newlines are structure.
pub fn escape_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|l| match l.strip_suffix('\n') {
            Some(body) => format!("{}\n", escape(body)),
            None => escape(l).into_owned(),
        })
        .collect()
}

/// [`escape`] of a whole document whose own line breaks and tabs are layout (an HTML
/// page): every other character [`must_escape`] names becomes visible. A page's own
/// markup holds none, so only text from a run is changed; maud escapes the markup
/// characters, this the ones a browser would act on silently (a bidi override that
/// shows FAIL reversed, an escape sequence copied out of the page into a terminal).
pub fn escape_document(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c != '\n' && c != '\t' && must_escape(c))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c != '\n' && c != '\t' && must_escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_untouched_and_controls_are_visible() {
        assert!(matches!(
            escape("observed 200; ok é 日本"),
            Cow::Borrowed(_)
        ));
        assert_eq!(escape("\u{1b}[32mPASS"), "\\u{1b}[32mPASS");
        assert_eq!(
            escape("a\nb\tc\r\u{7f}\u{9b}"),
            "a\\u{a}b\\u{9}c\\u{d}\\u{7f}\\u{9b}"
        );
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(escape_lines("a\u{1b}\nb\n"), "a\\u{1b}\nb\n");
    }

    #[test]
    fn invisible_format_characters_and_separators_are_visible() {
        for (c, shown) in [
            ('\u{200B}', "\\u{200b}"),
            ('\u{2028}', "\\u{2028}"),
            ('\u{2029}', "\\u{2029}"),
            ('\u{00AD}', "\\u{ad}"),
            ('\u{FEFF}', "\\u{feff}"),
            ('\u{2060}', "\\u{2060}"),
            ('\u{E0041}', "\\u{e0041}"),
        ] {
            let url = format!("http://127.0.0.1{c}:8080");
            assert_eq!(escape(&url), format!("http://127.0.0.1{shown}:8080"));
            assert!(escape_document(&url).contains(shown), "{c:?}");
        }
        // Letters, marks, spaces and symbols are text: left as they are.
        for text in [
            "café naïve",
            "日本語 한국어",
            "a\u{00A0}b",
            "e\u{0301}",
            "✓ ✗ µs →",
        ] {
            assert!(matches!(escape(text), Cow::Borrowed(_)), "{text:?}");
        }
    }

    #[test]
    fn a_document_keeps_its_layout_and_shows_every_other_control() {
        let page = "<p>\tok</p>\n<p>\u{202e}LIAF \u{1b}[32m</p>\n";
        assert_eq!(
            escape_document(page),
            "<p>\tok</p>\n<p>\\u{202e}LIAF \\u{1b}[32m</p>\n"
        );
        assert!(matches!(escape_document("<p>é\n</p>"), Cow::Borrowed(_)));
    }
}
