//! Command-line flags: a tiny `--name value` / `--name=value` / `--switch` parser shared by every subcommand.

use anyhow::{Result, bail};

/// The arguments of one subcommand, consumed flag by flag; [`Flags::finish`] rejects leftovers.
#[derive(Debug)]
pub struct Flags {
    args: Vec<String>,
    usage: &'static str,
}

impl Flags {
    pub fn new(args: Vec<String>, usage: &'static str) -> Flags {
        Flags { args, usage }
    }

    /// True when `--help`/`-h` was given; the caller prints [`Flags::usage`].
    pub fn wants_help(&self) -> bool {
        self.args.iter().any(|a| a == "--help" || a == "-h")
    }

    pub fn usage(&self) -> &'static str {
        self.usage
    }

    /// Removes `--name value` or `--name=value` and returns the value.
    pub fn value(&mut self, name: &str) -> Result<Option<String>> {
        let prefix = format!("{name}=");
        let Some(i) = self.args.iter().position(|a| a == name || a.starts_with(&prefix)) else {
            return Ok(None);
        };
        let arg = self.args.remove(i);
        if let Some(v) = arg.strip_prefix(&prefix) {
            return Ok(Some(v.to_string()));
        }
        if i >= self.args.len() || self.args[i].starts_with("--") {
            bail!("{name} needs a value\n\n{}", self.usage);
        }
        Ok(Some(self.args.remove(i)))
    }

    /// Like [`Flags::value`], but the flag must be present.
    pub fn required(&mut self, name: &str) -> Result<String> {
        match self.value(name)? {
            Some(v) => Ok(v),
            None => bail!("missing {name}\n\n{}", self.usage),
        }
    }

    /// Removes a boolean `--name` switch and says whether it was there.
    pub fn switch(&mut self, name: &str) -> bool {
        let before = self.args.len();
        self.args.retain(|a| a != name);
        self.args.len() != before
    }

    /// Fails on any argument no one asked for.
    pub fn finish(self) -> Result<()> {
        if let Some(extra) = self.args.first() {
            bail!("unexpected argument `{extra}`\n\n{}", self.usage);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Flags;

    fn flags(args: &[&str]) -> Flags {
        Flags::new(args.iter().map(|s| s.to_string()).collect(), "usage")
    }

    #[test]
    fn reads_separate_and_joined_values_and_switches() {
        let mut f = flags(&["--plugin", "a", "--version=1.2.3", "--insecure"]);
        assert_eq!(f.value("--plugin").ok().flatten().as_deref(), Some("a"));
        assert_eq!(f.value("--version").ok().flatten().as_deref(), Some("1.2.3"));
        assert!(f.switch("--insecure"));
        assert!(!f.switch("--insecure"));
        assert!(f.finish().is_ok());
    }

    #[test]
    fn rejects_missing_values_and_leftovers() {
        let mut f = flags(&["--plugin"]);
        assert!(f.value("--plugin").is_err());
        let f = flags(&["--bogus"]);
        let err = f.finish().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("unexpected argument `--bogus`"), "{err}");
    }
}
