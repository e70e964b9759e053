//! Names of griddock's own files next to an upload's target (see `upload.rs`): the
//! temporary `.griddock-tmp.<random hex>.<name>` and the resumable
//! `.griddock-part.<name>` (RFC 3659 §5 REST STREAM restarts from it).

use super::INTERNAL_PREFIX;

/// Longest file name (bytes) Linux file systems accept.
pub(crate) const NAME_MAX: usize = 255;

/// A fresh, unguessable temporary name for an upload of `name`. The target name is
/// included for the operator's benefit, shortened (at a char boundary) to fit NAME_MAX.
pub(super) fn temp_name(name: &str) -> String {
    let head = format!("{INTERNAL_PREFIX}tmp.{:016x}.", rand::random::<u64>());
    let room = NAME_MAX - head.len();
    format!("{head}{}", truncate(name, room))
}

/// The part file for `name`, or `None` when that would exceed NAME_MAX (such uploads are
/// not resumable from a part file).
pub(super) fn part_name(name: &str) -> Option<String> {
    let part = format!("{INTERNAL_PREFIX}part.{name}");
    (part.len() <= NAME_MAX).then_some(part)
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_hidden_unique_and_bounded() {
        let a = temp_name("data.bin");
        let b = temp_name("data.bin");
        assert!(
            a.starts_with(".griddock-tmp.") && a.ends_with(".data.bin"),
            "{a}"
        );
        assert_eq!(a.len(), ".griddock-tmp.".len() + 16 + 1 + "data.bin".len());
        assert_ne!(a, b);
        let long = "é".repeat(200);
        let t = temp_name(&long);
        assert!(t.len() <= NAME_MAX, "{}", t.len());
    }

    #[test]
    fn part_names() {
        assert_eq!(part_name("x").as_deref(), Some(".griddock-part.x"));
        assert!(part_name(&"a".repeat(240)).is_some());
        assert!(part_name(&"a".repeat(241)).is_none());
    }
}
