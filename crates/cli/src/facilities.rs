//! `closedloop facilities`: the facility register with occupancy against capacity.

use crate::closed_loop::TextOrJson;
use crate::config::Config;
use crate::report::Failure;
use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct FacilitiesArgs {
    /// Region code: facilities in this region and everything below it
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

pub async fn run(args: FacilitiesArgs, config: &Config) -> Result<()> {
    let lang = config.lang;
    let store = crate::cli::open_store(config).await?;
    let scope = crate::exchange::scope(&store, args.region.as_deref(), lang).await?;
    let list = store
        .facility_occupancy_for(scope.as_deref())
        .await
        .map_err(|e| Failure::coded(&e, lang))?;
    store.close().await;
    match args.format {
        TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&list)?),
        TextOrJson::Text => {
            println!(
                "{}",
                lang.pick(
                    "场所\t名称\t类型\t区划\t在管\t容量\t空余",
                    "facility\tname\tkind\tregion\toccupied\tcapacity\tfree"
                )
            );
            for f in &list {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    f.facility.facility_id,
                    f.facility.name,
                    f.facility.kind.label(lang),
                    f.facility.region_code.as_deref().unwrap_or("-"),
                    f.occupied,
                    f.facility.capacity,
                    f.free
                );
            }
        }
    }
    Ok(())
}
