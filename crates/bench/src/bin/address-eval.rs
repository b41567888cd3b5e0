//! Prints how well the address parser finds house numbers and streets on the usaddress sets.
//!
//! `cargo run -p porchlight-bench --bin address-eval` (from the repository root).

use std::path::Path;

use porchlight_bench::{locations, usaddress};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/addresses/usaddress");
    let sets: [(&str, &[&str]); 2] = [
        (
            "measure_performance (usaddress's own test set)",
            &[
                "measure_performance_test_data_labeled.xml",
                "measure_performance_test_data_multi_word_state_addresses.xml",
                "measure_performance_test_data_simple_address_patterns.xml",
            ],
        ),
        (
            "training (usaddress trains on these; Porchlight's rules were written looking at both sets)",
            &[
                "training_labeled.xml",
                "training_us50_train_tagged.xml",
                "training_us50_messiest_manual_label.xml",
                "training_multi_word_state_addresses.xml",
            ],
        ),
    ];
    let verbose = std::env::args().any(|a| a == "--misses");
    dispatch_locations(verbose);
    for (name, files) in sets {
        let mut all = Vec::new();
        for f in files {
            all.extend(usaddress::load(&dir.join(f)).unwrap_or_else(|e| panic!("{e}")));
        }
        let s = usaddress::score(&all);
        println!("{name}");
        println!("  strings {}, with a house number {}", s.strings, s.with_number);
        println!("  house number exactly right  {:>4}  {:6.2}%", s.number_right, 100.0 * s.number_rate());
        println!("  street exactly right        {:>4}  {:6.2}%", s.street_right, 100.0 * s.street_rate());
        if verbose {
            for (text, got) in &s.misses {
                println!("    miss: {:?} -> {got:?}", text.replace('\n', " | "));
            }
        }
    }
}

/// The labelled real dispatch strings of data/locations, with usaddress's figure beside ours
/// when the Python package is installed.
fn dispatch_locations(verbose: bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let set =
        locations::load(&root.join("../../data/locations/labelled.tsv")).unwrap_or_else(|e| panic!("{e}"));
    let right = set.iter().filter(|l| locations::exactly_right(l)).count();
    println!("dispatch locations (data/locations/labelled.tsv, every city in ../shared/data/cad)");
    println!("  strings {}", set.len());
    println!("  Porchlight exactly right    {right:>4}  {:6.2}%", 100.0 * right as f64 / set.len() as f64);
    if verbose {
        for l in set.iter().filter(|l| !locations::exactly_right(l)) {
            println!("    miss: {:?} -> {:?}", l.text, locations::classify(&l.text));
        }
    }
    let script = root.join("usaddress_dispatch.py");
    let mut python = std::process::Command::new("python3");
    python.arg(&script);
    if verbose {
        python.arg("--misses");
    }
    match python.output() {
        Ok(out) if out.status.success() => print!("{}", String::from_utf8_lossy(&out.stdout)),
        _ => println!("  usaddress: not measured (pip install usaddress, then run this again)"),
    }
}
