//! Word handling shared by the text salience detectors and the text plugins.

/// Lower-case a word and strip the punctuation around it.
pub(crate) fn normalize_word(w: &str) -> String {
    w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase()
}

/// Common English function words that carry no content.
pub(crate) fn is_stopword(w: &str) -> bool {
    matches!(
        w,
        "a" | "an"
            | "the"
            | "and"
            | "or"
            | "of"
            | "to"
            | "in"
            | "on"
            | "at"
            | "for"
            | "is"
            | "are"
            | "was"
            | "were"
            | "be"
            | "it"
            | "this"
            | "that"
            | "with"
            | "as"
            | "by"
            | "i"
            | "you"
            | "we"
            | "me"
            | "my"
            | "your"
            | "our"
            | "from"
            | "has"
            | "have"
            | "had"
            | "will"
            | "would"
            | "so"
            | "do"
            | "does"
            | "all"
            | "can"
            | "what"
            | "its"
    )
}
