//! The `ringside` command line.

fn main() {
    eprintln!("ringside: nothing here yet");
    std::process::exit(2);
}
