//! `switchboard backup OUT` and `switchboard restore FILE`: the embedded database copied out
//! and put back, whether or not an engine runs on the data directory (`store::backup` says
//! how a running engine is kept safe).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use switchboard::Config;
use switchboard::store::backup::{self, Applied};

#[derive(Args)]
pub struct BackupArgs {
    /// Where to write the backup (a SQLite file).
    out: PathBuf,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    config: Config,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup to restore (made by `switchboard backup` or Settings' Download backup).
    file: PathBuf,
    #[command(flatten)]
    config: Config,
}

/// The data directory, or the way to back up PostgreSQL.
fn data_dir(config: &Config) -> anyhow::Result<PathBuf> {
    if config.database_url.is_some() {
        bail!("{}", backup::USE_PG_DUMP);
    }
    Ok(config.resolved_data_dir()?)
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let dir = data_dir(&args.config)?;
    if args.out.exists() && !args.force {
        bail!(
            "{} already exists; choose another name, or pass --force to replace it",
            args.out.display()
        );
    }
    // Written beside OUT under another name, checked, then renamed: OUT is never a half
    // copy, and an existing one is replaced only once the new one is good.
    let parent = match args.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = args
        .out
        .file_name()
        .context("OUT must name a file")?
        .to_string_lossy()
        .into_owned();
    let partial = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_file(&partial);
    let made = backup::backup_file(&dir, &partial).await?;
    let placed = if args.force {
        std::fs::rename(&partial, &args.out)
    } else {
        // A link fails if OUT appeared meanwhile, where a rename would replace it.
        std::fs::hard_link(&partial, &args.out).and_then(|()| std::fs::remove_file(&partial))
    };
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&partial);
        bail!("cannot write {}: {e}", args.out.display());
    }
    println!(
        "Backed up {} to {} ({}, schema {}); its integrity check passed.",
        dir.join(switchboard::store::DB_FILE).display(),
        args.out.display(),
        size(made.bytes),
        made.schema_version
    );
    println!("{}", backup::NO_CREDENTIALS);
    Ok(())
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let dir = data_dir(&args.config)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let what = args.file.display().to_string();
    let staged = backup::stage(&dir, &args.file, &what).await?;
    match backup::apply_staged(&dir).await? {
        Applied::Restored { kept } => {
            println!(
                "Restored {what} (schema {}) into {}.",
                staged.schema_version,
                dir.display()
            );
            if let Some(kept) = kept {
                println!("The database it replaced is kept as {}.", kept.display());
            }
        }
        Applied::InUse => println!(
            "A Switchboard engine is running on {}: the backup {what} (schema {}) is checked \
             and staged, and takes effect when Switchboard restarts; the database in use now \
             will be kept beside it.",
            dir.display(),
            staged.schema_version
        ),
        Applied::NothingStaged => bail!("the staged restore disappeared from {}", dir.display()),
    }
    println!(
        "Credentials are not in a backup: the ones in this machine's keyring (or secrets.json) \
         are used."
    );
    Ok(())
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}
