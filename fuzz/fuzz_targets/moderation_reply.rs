//! Fuzzes a moderator's answer by mail (`mail::decision::decision_in`): any text a
//! mailbox sends back must give a decision or none, never a panic (its first word is cut out
//! and lowercased, and lowercasing can change a word's length in bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use listbridge::mail::decision::{Decision, decision_in};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match decision_in(&text) {
        // A reason given is a piece of what the moderator wrote, never empty.
        Some(Decision::Reject { reason }) => {
            assert!(!reason.is_empty());
            assert!(
                text.contains(reason.as_str())
                    || reason == "A moderator decided not to publish it.",
                "{reason:?} is not in {text:?}"
            );
        }
        Some(Decision::Approve { text: None }) | None => {}
        Some(other) => panic!("{other:?} from a mailed answer"),
    }
});
