use clap::Parser;

fn main() {
    let cli = hybridauth::cli::Cli::parse();
    std::process::exit(hybridauth::cli::run(cli));
}
