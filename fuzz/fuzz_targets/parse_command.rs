//! Fuzz the control-line parser: any bytes a client sends must give a command or a
//! parse error, never a panic; a parsed command's log form never shows the password.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = griddock::ftp::control::parse(data) {
        let shown = format!("{cmd} | {cmd:?}");
        if let griddock::ftp::control::Command::Pass(_) = &cmd {
            assert_eq!(shown, "PASS <redacted> | Pass(<redacted>)");
        }
    }
});
