//! The optional adapters this build of `cairn` has: `kafka`, `pg` and `s3`
//! (all on by default). A flag of an adapter the build lacks stays in
//! `--help` and answers with an error naming the feature.

/// Each optional feature and whether this build has it.
const BUILT: [(&str, bool); 3] = [
    ("kafka", cfg!(feature = "kafka")),
    ("pg", cfg!(feature = "pg")),
    ("s3", cfg!(feature = "s3")),
];

/// Succeeds when this build has `feature`; otherwise says how to get it.
pub(crate) fn need(feature: &str) -> anyhow::Result<()> {
    let built = BUILT.iter().any(|&(name, on)| name == feature && on);
    if built { Ok(()) } else { Err(missing(feature)) }
}

/// The error of a flag or command whose adapter this build lacks.
pub(crate) fn missing(feature: &str) -> anyhow::Error {
    anyhow::format_err!(
        "this cairn was built without the {feature} feature; rebuild with --features {feature}"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_feature_is_named() {
        let error = super::need("no-such-feature").unwrap_err().to_string();
        assert!(error.contains("--features no-such-feature"), "{error}");
    }
}
