//! Text from a run (control-plane answers, CLI output, file names) on its way to a
//! terminal or a text report: control characters become visible escapes, so no
//! byte of evidence can move the cursor, recolour, erase or reorder what a person
//! reads (an `ESC [` sequence that repaints FAIL as PASS, a newline that forges a
//! report line, a bidi override that reverses one).

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as itself: C0 and C1 controls and DEL
/// (newline and tab included: a field value is one line), and the Unicode bidi
/// controls, which reorder the text around them without being controls to Rust.
fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
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
    fn a_document_keeps_its_layout_and_shows_every_other_control() {
        let page = "<p>\tok</p>\n<p>\u{202e}LIAF \u{1b}[32m</p>\n";
        assert_eq!(
            escape_document(page),
            "<p>\tok</p>\n<p>\\u{202e}LIAF \\u{1b}[32m</p>\n"
        );
        assert!(matches!(escape_document("<p>é\n</p>"), Cow::Borrowed(_)));
    }
}
