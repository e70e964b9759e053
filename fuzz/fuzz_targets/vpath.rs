//! Fuzz `VPath::resolve`, the one function every client path goes through before the
//! capability-based `DataRoot`: whatever the argument and working directory, the result
//! is absolute, normalised (no empty, `.` or `..` components) and never names one of
//! griddock's internal files, a backslash or a line break.
#![no_main]

use griddock::storage::VPath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // First line: the working directory (itself resolved from /), the rest: the argument.
    let (cwd, arg) = text.split_once('\n').unwrap_or(("/", &text));
    let Ok(cwd) = VPath::root().resolve(cwd) else {
        return;
    };
    let Ok(p) = cwd.resolve(arg) else {
        return;
    };
    let s = p.as_str();
    assert!(s.starts_with('/'), "{s:?}");
    assert!(s == "/" || !s.ends_with('/'), "{s:?}");
    for comp in s.split('/').skip(1) {
        assert!(s == "/" || !comp.is_empty(), "empty component in {s:?}");
        assert!(comp != "." && comp != "..", "{s:?}");
        assert!(!comp.starts_with(".griddock-"), "internal name in {s:?}");
        assert!(!comp.contains(['\\', '\r', '\n', '\0']), "{s:?}");
    }
    // Resolving the result again from anywhere gives the same path.
    assert_eq!(VPath::root().resolve(s).unwrap().as_str(), s);
    if let Some(parent) = p.parent() {
        assert!(p.starts_with(&parent));
    }
});
