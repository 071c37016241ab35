//! Colour for a person at a terminal: the status words (PASS, FAIL, MISMATCH, ...)
//! styled, everything else as it is. Written through `anstream`, which drops the
//! styling when stdout is not a terminal, under `NO_COLOR`, or with `CLICOLOR=0`
//! (and keeps it with `CLICOLOR_FORCE`), so a pipe or a file gets plain text.

use anstyle::{AnsiColor, Style};

/// The style of a status word, or `None` for any other word.
fn style_of(word: &str) -> Option<Style> {
    let color = match word {
        "PASS" => AnsiColor::Green,
        "FAIL" | "MISMATCH" | "INCONSISTENT" | "STALE" => AnsiColor::Red,
        "NOT_RUN" | "UNSIGNED" => AnsiColor::Yellow,
        _ => return None,
    };
    Some(Style::new().bold().fg_color(Some(color.into())))
}

/// `text` with each whole status word wrapped in its style: a word is a maximal run
/// of letters, digits and `_`, so `FAILED` or `xPASS` stay plain.
pub fn styled(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        match style_of(word) {
            Some(s) => out.push_str(&format!("{s}{word}{s:#}")),
            None => out.push_str(word),
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Prints `text` and a newline to stdout, styled on a terminal.
pub fn println(text: &str) {
    anstream::println!("{}", styled(text));
}

/// Prints `text` and a newline to stderr, styled on a terminal.
pub fn eprintln(text: &str) {
    anstream::eprintln!("{}", styled(text));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_status_words_are_styled() {
        let s = styled("  FAIL     VAL08-01 FAILED xPASS PASS_ (PASS)");
        assert_eq!(s.matches("\x1b[0m").count(), 2, "{s:?}");
        assert!(s.contains("FAILED") && s.contains("xPASS"));
        assert_eq!(styled("no status here"), "no status here");
    }
}
