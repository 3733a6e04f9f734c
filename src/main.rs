//! minik: parse the command line, build the output policy, run the command, and render
//! any error as `error:` / `Caused by:` / `hint:`.

mod addons;
mod cli;
mod cluster;
mod commands;
mod download;
mod error;
mod image;
mod k8s;
mod runtime;
mod spark;
mod ui;
mod units;

use clap::Parser;

use cli::{Cli, Command};
use ui::{Level, Ui};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let level = if cli.quiet {
        Level::Quiet
    } else if cli.verbose {
        Level::Verbose
    } else {
        Level::Normal
    };
    let ui = Ui::new(level);
    let rt = tokio::runtime::Runtime::new().expect("cannot start the async runtime");
    let result = rt.block_on(async {
        match cli.command {
            Command::Start(args) => commands::start::run(&ui, args).await,
            Command::Stop(p) => commands::stop::run(&ui, p).await,
            Command::Delete(args) => commands::delete::run(&ui, args).await,
            Command::Status(args) => commands::status::run(args).await,
            Command::List(args) => commands::list::run(&ui, args).await,
            Command::Logs(args) => commands::logs::run(args).await,
            Command::Ssh(args) => commands::ssh::run(args).await,
            Command::Kubeconfig(p) => commands::kubeconfig::run(p).await,
            Command::Kubectl(args) => commands::kubectl::run(args).await,
            Command::Image(cmd) => commands::image::run(&ui, cmd).await,
            Command::Spark(cmd) => commands::spark::run(&ui, cmd).await,
            Command::Addons(cmd) => commands::addons::run(&ui, cmd).await,
            Command::Dashboard(args) => commands::dashboard::run(&ui, args).await,
            Command::Service(args) => commands::service::run(&ui, args).await,
            Command::Completion(args) => {
                use clap::CommandFactory;
                clap_complete::generate(
                    args.shell,
                    &mut Cli::command(),
                    "minik",
                    &mut std::io::stdout(),
                );
                Ok(0)
            }
        }
    });
    match result {
        Ok(code) => std::process::ExitCode::from(code),
        Err(err) => {
            eprintln!("{}", error::render(&err));
            std::process::ExitCode::FAILURE
        }
    }
}
