//! What the CLI prints when something fails: one line per problem, in the user's language.

use closedloop_domain::{ErrorCode, Lang};

/// A failure the CLI knows how to explain.
#[derive(Debug)]
pub enum Failure {
    /// Rows refused, each already formatted as one line.
    Rows {
        lines: Vec<String>,
        summary: String,
    },
    Coded {
        code: &'static str,
        message: String,
    },
}

impl std::error::Error for Failure {}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Rows { summary, .. } => f.write_str(summary),
            Failure::Coded { message, .. } => f.write_str(message),
        }
    }
}

impl Failure {
    pub fn coded(e: &dyn ErrorCode, lang: Lang) -> Failure {
        Failure::Coded {
            code: e.code(),
            message: e.message(lang),
        }
    }
}

/// How many refused rows are printed before the rest is summed up.
const SHOWN_ROWS: usize = 50;

pub fn print_failure(e: &anyhow::Error, lang: Lang) {
    let prefix = lang.pick("错误", "error");
    match e.downcast_ref::<Failure>() {
        Some(Failure::Rows { lines, summary }) => {
            for l in lines.iter().take(SHOWN_ROWS) {
                eprintln!("{prefix}: {l}");
            }
            if lines.len() > SHOWN_ROWS {
                eprintln!(
                    "{prefix}: {}",
                    lang.pick(
                        &format!("……另有{}行", lines.len() - SHOWN_ROWS),
                        &format!("… and {} more", lines.len() - SHOWN_ROWS)
                    )
                );
            }
            eprintln!("{prefix}: {summary}");
        }
        Some(Failure::Coded { code, message }) => eprintln!("{prefix} [{code}]: {message}"),
        None => eprintln!("{prefix}: {e:#}"),
    }
}
