//! `doc/configuration.md` shows the one table of settings (`scorelet::config::SETTINGS`) as the
//! code has it. After changing the table, regenerate the doc with
//! `SCORELET_UPDATE_DOCS=1 cargo test --test configuration_doc`.

use std::path::Path;

const BEGIN: &str = "<!-- settings:begin (generated from src/config.rs) -->\n";
const END: &str = "<!-- settings:end -->";

#[test]
fn the_configuration_doc_shows_the_settings_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("doc/configuration.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let start = doc.find(BEGIN).expect("doc/configuration.md lacks the settings:begin marker") + BEGIN.len();
    let end = start + doc[start..].find(END).expect("doc/configuration.md lacks the settings:end marker");
    let want = scorelet::config::markdown();
    if doc[start..end] == want {
        return;
    }
    if std::env::var_os("SCORELET_UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{}{want}{}", &doc[..start], &doc[end..])).unwrap();
        return;
    }
    panic!("doc/configuration.md is out of date: run SCORELET_UPDATE_DOCS=1 cargo test --test configuration_doc");
}
