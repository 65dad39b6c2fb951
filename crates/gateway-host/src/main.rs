//! `gateway-host serve --config FILE [--profile-fuel]`: runs the gateway from a YAML or JSON
//! config until interrupted; `--profile-fuel` turns the fuel profile on (`profile_fuel: true`).

use std::io::Write as _;
use std::path::PathBuf;
use std::time::SystemTime;

use gateway_host::{Gateway, GatewayConfig};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct StderrLogger {
    level: log::LevelFilter,
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let ts = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
            let _ = writeln!(
                std::io::stderr(),
                "{}.{:03} {:<5} {}: {}",
                ts.as_secs(),
                ts.subsec_millis(),
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

fn usage() -> ! {
    eprintln!("usage: gateway-host serve --config FILE [--profile-fuel]");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("serve") {
        usage();
    }
    let mut config_path: Option<PathBuf> = None;
    let mut profile_fuel = false;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--config" | "-c" => {
                config_path = args.get(i + 1).map(PathBuf::from);
                i += 2;
            }
            "--profile-fuel" => {
                profile_fuel = true;
                i += 1;
            }
            _ => usage(),
        }
    }
    let Some(config_path) = config_path else { usage() };
    let mut config = match GatewayConfig::from_file(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gateway-host: {e:#}");
            std::process::exit(1);
        }
    };
    config.profile_fuel |= profile_fuel;
    let level = config.log_filter();
    let _ = log::set_boxed_logger(Box::new(StderrLogger { level }));
    log::set_max_level(level);
    let gateway = match Gateway::start(config) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("gateway-host: {e:#}");
            std::process::exit(1);
        }
    };
    for addr in gateway.addrs() {
        println!("gateway-host listening on http://{addr}");
    }
    let _ = std::io::stdout().flush();
    // Serve until the process is signalled (SIGINT/SIGTERM end it).
    loop {
        std::thread::park();
    }
}
