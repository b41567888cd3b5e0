//! DESIGN.md invariant 4: nothing in the video-request world can read an incident, and
//! nothing in the incident world can read a camera, an owner or a clip. The portal is one
//! crate with its own database; this test fails if it comes to depend on a crate of the
//! incident world, or one of those on it. Only the binary, which wires both, knows both.

use std::path::{Path, PathBuf};

fn crates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every Rust source file below `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_portal_depends_on_no_crate_of_the_incident_world() {
    let manifest = std::fs::read_to_string(crates().join("portal/Cargo.toml")).unwrap();
    // The transparency log is neither world's: both write its entries, and it depends on
    // neither (checked below). Nor is the database plumbing (porchlight-db), which knows no
    // table of either.
    let neither = ["porchlight-ledger.", "porchlight-db."];
    let ours: Vec<&str> = manifest
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("porchlight-") && !neither.iter().any(|n| l.starts_with(n))
        })
        .collect();
    assert!(ours.is_empty(), "the portal's Cargo.toml names {ours:?}");
    let others: Vec<String> = std::fs::read_dir(crates())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "portal" && name != "ledger" && name != "db")
        .map(|name| format!("porchlight_{name}"))
        .collect();
    assert!(others.len() >= 7, "{others:?}");
    for file in sources(&crates().join("portal")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for other in &others {
                assert!(
                    !line.contains(&format!("{other}::")),
                    "{}:{} uses {other}: {line}",
                    file.display(),
                    n + 1
                );
            }
        }
    }
}

#[test]
fn no_crate_of_the_incident_world_depends_on_the_portal() {
    let mut checked = 0;
    for entry in std::fs::read_dir(crates()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // The binary wires both worlds; the portal is the portal.
        if name == "porchlight" || name == "portal" || !entry.path().join("Cargo.toml").exists() {
            continue;
        }
        checked += 1;
        let manifest = std::fs::read_to_string(entry.path().join("Cargo.toml")).unwrap();
        assert!(!manifest.contains("porchlight-portal"), "crates/{name}/Cargo.toml depends on the portal");
        for file in sources(&entry.path()) {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(!text.contains("porchlight_portal"), "{} uses the portal", file.display());
        }
    }
    assert!(checked >= 7, "only {checked} crates found");
}

#[test]
fn the_transparency_log_depends_on_neither_world() {
    for part in ["ledger", "db"] {
        let manifest = std::fs::read_to_string(crates().join(part).join("Cargo.toml")).unwrap();
        let ours: Vec<&str> = manifest
            .lines()
            .filter(|l| {
                l.trim_start().starts_with("porchlight-") && !l.trim_start().starts_with("porchlight-db.")
            })
            .collect();
        assert!(ours.is_empty(), "the {part} crate's Cargo.toml names {ours:?}");
    }
}
