//! The read-model contract against PostgreSQL, and the same stream fed to
//! PostgreSQL and to memory answering every question identically.

use super::*;
use crate::read::contract;
use crate::read::memory::MemoryReadModels;

#[tokio::test]
async fn projections_pass_the_read_model_contract() {
    let Some(db) = postgres().await else { return };
    let projections = db.projections().await;
    contract::run(&projections, &contract::stream::stream()).await;
    db.drop_all(&[&projections]).await;
}

#[tokio::test]
async fn projections_and_memory_answer_alike() {
    let Some(db) = postgres().await else { return };
    let projections = db.projections().await;
    let memory = MemoryReadModels::new();
    let stream = contract::stream::stream();
    contract::feed(&projections, &stream).await;
    contract::feed(&memory, &stream).await;
    let questions = contract::questions(&stream);
    assert!(questions.searches.len() > 100, "{}", questions.searches.len());
    let from_postgres = contract::answers(&projections, &questions).await;
    let from_memory = contract::answers(&memory, &questions).await;
    assert!(from_postgres.searches.iter().any(|found| found.len() > 1 && found[0].rank > 0.0));
    contract::assert_same_answers(&questions, &from_postgres, &from_memory);
    db.drop_all(&[&projections]).await;
}
