//! Build the web app (web/, with Vite) into OUT_DIR, to be embedded. Needs Node.js 20 and
//! npm; `npm ci` installs the locked packages when node_modules is missing or older than the
//! lock file.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    // Read when the script runs, not baked in when it is compiled (`env!`): the compiled script
    // is shared by every checkout that shares the target folder.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let web = Path::new(&manifest).join("../../web");
    // Relative to the package, not absolute: cargo keys a workspace member's build output
    // without its path, so clones sharing a target folder (CI's, this checkout's) share this
    // script's output, and an absolute path would have one checkout watch the other's files.
    for input in ["src", "index.html", "package.json", "package-lock.json", "vite.config.js"] {
        println!("cargo:rerun-if-changed=../../web/{input}");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("dist");
    let installed = web.join("node_modules/.package-lock.json");
    let stale = match (modified(&installed), modified(&web.join("package-lock.json"))) {
        (Some(installed), Some(lock)) => installed < lock,
        _ => true,
    };
    if stale {
        npm(&web, &["ci", "--no-audit", "--no-fund", "--loglevel=error"], None);
    }
    npm(&web, &["run", "build", "--silent"], Some(&out));
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn npm(web: &Path, args: &[&str], out: Option<&Path>) {
    let mut command = Command::new("npm");
    command.args(args).current_dir(web);
    if let Some(out) = out {
        command.env("PORCHLIGHT_WEB_OUT", out);
    }
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("`npm {}` in {} failed ({status})", args.join(" "), web.display()),
        Err(e) => panic!(
            "`npm {}`: {e}. The web app is built with Node.js 20 and npm (apt-get install nodejs npm, or see README)",
            args.join(" ")
        ),
    }
}
