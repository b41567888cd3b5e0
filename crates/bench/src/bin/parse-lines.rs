//! Reads location strings, one a line, and prints what the parser made of each as TSV:
//! class (numbered, intersection, street, none), number, street, second street.
//! A tool for building and checking labelled sets: `cargo run -p porchlight-bench --bin parse-lines < FILE`.

use std::io::BufRead;

use porchlight_bench::locations::classify;

fn main() {
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("readable input");
        let (class, number, street, street2) = classify(&line.replace("\\n", "\n"));
        println!("{class}\t{}\t{street}\t{street2}", number.map(|n| n.to_string()).unwrap_or_default());
    }
}
