//! The comma-separated `name` / `name=value` lists of `AUTONOMY_FAULTS` and `AUTONOMY_VARIANT`.

/// The items of `spec`, each split at its first `=`; blanks around names, values and
/// commas are ignored, and so are empty items (a trailing comma is harmless).
pub fn items(spec: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| match item.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim())),
            None => (item, None),
        })
}

/// Parses environment variable `var` with `parse`; unset means `T::default()`.
pub fn from_env<T: Default, E>(
    var: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, E> {
    match std::env::var(var) {
        Ok(spec) => parse(&spec),
        Err(_) => Ok(T::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_names_and_values_and_skips_blanks() {
        let got: Vec<_> = items(" a , b=1,, c = x=y ,").collect();
        assert_eq!(got, [("a", None), ("b", Some("1")), ("c", Some("x=y"))]);
        assert_eq!(items("").count(), 0);
    }
}
