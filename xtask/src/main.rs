//! `cargo xtask`: the project task runner (build, package and push plugin images, Higress manifests).
//!
//! Each subcommand is a module with `ABOUT`, `USAGE` and `run(Flags)`; adding one is one line in
//! the `commands!` list below.

mod archive;
mod credentials;
mod examples;
mod flags;
mod local_gateway;
mod oci;
mod registry;
mod schema;
mod spec;
#[cfg(test)]
mod tidy;
mod workspace;

use flags::Flags;

macro_rules! commands {
    ($($name:ident),* $(,)?) => {
        $(mod $name;)*

        /// (name, one-line description, usage, entry point) of every subcommand.
        const COMMANDS: &[(&str, &str, &str, fn(Flags) -> anyhow::Result<()>)] =
            &[$((stringify!($name), $name::ABOUT, $name::USAGE, $name::run)),*];
    };
}

commands![build, package, push, manifest, demo, bench, tzdata];

fn help() -> String {
    let mut text = String::from("usage: cargo xtask <command> [flags]\n\ncommands:\n");
    for (name, about, _, _) in COMMANDS {
        text.push_str(&format!("  {name:<10} {about}\n"));
    }
    text.push_str("\n`cargo xtask <command> --help` shows a command's flags.");
    text
}

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(name) = args.next() else {
        eprintln!("{}", help());
        return std::process::ExitCode::from(2);
    };
    if name == "help" || name == "--help" || name == "-h" {
        println!("{}", help());
        return std::process::ExitCode::SUCCESS;
    }
    let Some((_, _, usage, run)) = COMMANDS.iter().find(|(n, ..)| *n == name) else {
        eprintln!("unknown command `{name}`\n\n{}", help());
        return std::process::ExitCode::from(2);
    };
    let flags = Flags::new(args.collect(), usage);
    if flags.wants_help() {
        println!("{}", flags.usage());
        return std::process::ExitCode::SUCCESS;
    }
    match run(flags) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
