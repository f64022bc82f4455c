//! The flow tests, written once over any store and run twice: on the in-memory store
//! (`tests/flows_memory.rs`, plain `cargo test`, no DynamoDB) and on DynamoDB through moto
//! (`tests/flows_dynamodb.rs`). A flow is `pub async fn name<S: FlowStore>()`; the
//! `all_flows!` list below turns each into a test for a given store, and a flow left out
//! of it is dead code, which the lint refuses.

pub mod authorizer;
pub mod jwt;
pub mod lifecycle;
pub mod quota;
pub mod refresh;

use crate::common::*;
use aws_sdk_dynamodb::types::AttributeValue;
use oauth_token_service::oauth::ClientRecord;
use oauth_token_service::store::dynamodb::DynamoStore;
use oauth_token_service::store::memory::MemoryStore;
use oauth_token_service::store::{ClientAdmin, GetFamily, GetToken, GrantStore, PutKeyring};

/// A numeric attribute of a stored token, to change behind the service's back.
#[derive(Debug, Clone, Copy)]
pub enum TokenNumber {
    ExpiresAt,
    UsedAtMs,
    AnsweredAtMs,
    AnswerByMs,
}

/// What a flow needs of a store beside what the service uses: a fresh one, clients in
/// it, and a way to age a token.
pub trait FlowStore: GrantStore + GetToken + GetFamily + ClientAdmin + PutKeyring + Sized {
    async fn fresh() -> Self;
    /// Stores a client whole; `must_be_new` refuses to replace one.
    async fn seed_client(&self, client: &ClientRecord, must_be_new: bool);
    /// Sets (or with `None` removes) a number on a stored token.
    async fn set_token_number(&self, token_hash: &str, field: TokenNumber, value: Option<u64>);
    /// How many items the tokens table holds (tokens, family records, the keyring).
    async fn token_items(&self) -> usize;
    /// Marks a family's record revoked and sweeps nothing: a family revocation whose sweep
    /// was cut short before it reached any token.
    async fn revoke_family_record(&self, family: &str);
}

impl FlowStore for MemoryStore {
    async fn fresh() -> Self {
        MemoryStore::new()
    }

    async fn seed_client(&self, client: &ClientRecord, must_be_new: bool) {
        if must_be_new {
            assert!(self.create_client(client).await.unwrap(), "client id taken");
        } else {
            self.put_client(client.clone());
        }
    }

    async fn set_token_number(&self, token_hash: &str, field: TokenNumber, value: Option<u64>) {
        self.update_token(token_hash, |t| match field {
            TokenNumber::ExpiresAt => t.expires_at = value.unwrap_or(0),
            TokenNumber::UsedAtMs => t.used_at_ms = value,
            TokenNumber::AnsweredAtMs => t.answered_at_ms = value,
            TokenNumber::AnswerByMs => t.answer_by_ms = value,
        });
    }

    async fn token_items(&self) -> usize {
        self.tokens().len()
    }

    async fn revoke_family_record(&self, family: &str) {
        MemoryStore::revoke_family_record(self, family);
    }
}

impl FlowStore for DynamoStore {
    async fn fresh() -> Self {
        fresh_store().await
    }

    async fn seed_client(&self, client: &ClientRecord, must_be_new: bool) {
        assert!(
            self.put_client(client, must_be_new).await.unwrap(),
            "client id taken"
        );
    }

    async fn set_token_number(&self, token_hash: &str, field: TokenNumber, value: Option<u64>) {
        let name = match field {
            TokenNumber::ExpiresAt => "expires_at",
            TokenNumber::UsedAtMs => "used_at_ms",
            TokenNumber::AnsweredAtMs => "answered_at_ms",
            TokenNumber::AnswerByMs => "answer_by_ms",
        };
        let request = raw_dynamodb()
            .await
            .update_item()
            .table_name(self.tokens_table())
            .key("token_hash", AttributeValue::S(token_hash.to_owned()))
            .expression_attribute_names("#n", name);
        let request = match value {
            Some(v) => request
                .update_expression("SET #n = :v")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
            None => request.update_expression("REMOVE #n"),
        };
        request.send().await.unwrap();
    }

    async fn token_items(&self) -> usize {
        scan_items(self.tokens_table()).await.len()
    }

    async fn revoke_family_record(&self, family: &str) {
        // As the family revocation's first write stores it.
        raw_dynamodb()
            .await
            .update_item()
            .table_name(self.tokens_table())
            .key("token_hash", AttributeValue::S(format!("family#{family}")))
            .update_expression("SET kind = :kind, revoked_at = :now, expires_at = :expires")
            .expression_attribute_values(":kind", AttributeValue::S("family".into()))
            .expression_attribute_values(":now", AttributeValue::N(now().to_string()))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N((now() + 86_400).to_string()),
            )
            .send()
            .await
            .unwrap();
    }
}

/// One test per flow for the store type given.
macro_rules! flow_tests {
    ($store:ty; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                flows::$module::$name::<$store>().await
            }
        )*
    };
}

/// Every flow, as tests on the store type given.
macro_rules! all_flows {
    ($store:ty) => {
        flow_tests!($store;
            jwt::a_jwt_client_gets_a_signed_rfc9068_access_token,
            jwt::issuing_a_jwt_without_a_refresh_token_writes_nothing,
            jwt::introspection_and_the_authorizer_accept_a_live_jwt,
            jwt::forged_jwts_are_refused_everywhere,
            jwt::a_revoked_jwt_is_refused_until_it_expires,
            jwt::a_disabled_or_deleted_clients_jwts_are_refused,
            jwt::a_jwt_family_is_revoked_on_reuse_jwts_included,
            jwt::a_revoked_familys_jwts_are_refused_though_never_swept,
            jwt::a_rotated_key_is_published_at_once_and_signs_only_after_the_delay,
            jwt::discovery_documents_name_the_keys,
            jwt::whoami_answers_from_the_jwt_authorizers_claims,
            refresh::a_refresh_rotates_both_tokens_and_consumes_the_old_one,
            refresh::reuse_of_a_consumed_refresh_token_revokes_its_family,
            refresh::another_clients_refresh_token_is_invalid_and_revokes_nothing,
            refresh::an_access_token_is_not_a_refresh_token,
            refresh::an_expired_refresh_token_whose_item_remains_is_invalid,
            refresh::a_revoked_refresh_token_is_invalid,
            refresh::a_requested_scope_must_be_within_the_original_grant,
            refresh::of_twenty_concurrent_refreshes_exactly_one_succeeds_and_none_revokes,
            refresh::an_attacker_rotating_a_stolen_token_cannot_outrun_the_family_revocation,
            refresh::a_revoked_familys_tokens_are_refused_everywhere_though_never_swept,
            refresh::a_replay_right_after_the_rotation_answered_is_reuse,
            refresh::a_use_that_began_before_the_consuming_rotation_was_answered_is_a_lost_race,
            refresh::within_the_reuse_grace_the_same_client_gets_a_new_pair_and_nothing_is_revoked,
            refresh::after_the_reuse_grace_a_re_presented_token_revokes_its_family,
            refresh::the_reuse_grace_does_not_reach_past_a_successor_that_was_used,
            refresh::a_refresh_token_the_grace_retired_presented_again_is_reuse,
            refresh::the_reuse_grace_does_not_apply_to_another_client_or_a_revoked_family,
            refresh::a_refresh_without_scope_drops_scopes_the_client_no_longer_has,
            refresh::a_client_without_the_refresh_grant_gets_no_refresh_token,
            lifecycle::introspection_of_a_live_access_token_gives_its_facts,
            lifecycle::introspection_is_inactive_for_unknown_and_other_clients_tokens,
            lifecycle::a_resource_server_may_introspect_every_clients_tokens,
            lifecycle::an_expired_token_whose_item_remains_is_inactive,
            lifecycle::revoking_an_access_token_makes_it_inactive_and_leaves_the_refresh_token,
            lifecycle::revoking_a_refresh_token_revokes_its_family,
            lifecycle::revoking_unknown_or_other_clients_tokens_answers_200_and_changes_nothing,
            lifecycle::revoke_and_introspect_authenticate_the_client_and_need_a_token,
            lifecycle::metadata_describes_the_service_as_it_is,
            lifecycle::unknown_paths_answer_404_in_json_with_no_store,
            authorizer::a_live_access_token_is_authorized_with_its_client_and_scope,
            authorizer::a_refresh_token_is_not_authorized,
            authorizer::an_expired_access_token_whose_item_remains_is_not_authorized,
            authorizer::a_revoked_access_token_is_not_authorized,
            authorizer::malformed_missing_and_unknown_tokens_are_not_authorized,
            authorizer::whoami_answers_from_the_authorizers_context,
            quota::over_its_hourly_quota_a_client_gets_429_with_retry_after_and_nothing,
            quota::failed_requests_never_count_against_a_quota,
            quota::a_refresh_counts_and_a_refused_one_consumes_nothing,
            quota::a_refresh_that_loses_its_race_is_not_counted,
            quota::of_twenty_concurrent_requests_exactly_the_quota_succeed
        );
    };
}
