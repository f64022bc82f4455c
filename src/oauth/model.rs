//! The protocol's nouns: clients, tokens, token families, grant types and token kinds, as
//! the flow reads and writes them. Storage keeps them; it does not define them.

/// A grant type a client may be allowed to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    ClientCredentials,
    RefreshToken,
}

impl GrantType {
    pub const ALL: [GrantType; 2] = [GrantType::ClientCredentials, GrantType::RefreshToken];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::RefreshToken => "refresh_token",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// The access-token format a client gets (PROTOCOL §10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenFormat {
    /// 40 characters of `[A-Za-z0-9]`, looked up in the tokens table.
    Opaque,
    /// An RS256-signed JWT (RFC 9068) that verifiers check with the published keys.
    Jwt,
}

impl TokenFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenFormat::Opaque => "opaque",
            TokenFormat::Jwt => "jwt",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "opaque" => Some(TokenFormat::Opaque),
            "jwt" => Some(TokenFormat::Jwt),
            _ => None,
        }
    }
}

/// A registered client (PROTOCOL §8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub client_id: String,
    pub name: String,
    /// One or two self-describing hash strings, oldest first (two while rotating).
    pub secret_hashes: Vec<String>,
    pub grants: Vec<GrantType>,
    pub scopes: Vec<String>,
    /// Granted when no scope is requested; empty means all of `scopes`.
    pub default_scopes: Vec<String>,
    /// Per-client lifetimes in seconds, overriding the deployment's.
    pub access_ttl: Option<u64>,
    pub refresh_ttl: Option<u64>,
    pub disabled: bool,
    /// The access-token format; `None`: the deployment's (`TOKEN_FORMAT`).
    pub token_format: Option<TokenFormat>,
    /// The `aud` of its JWT access tokens; empty: the deployment's (`JWT_AUDIENCE`, else
    /// the issuer).
    pub audiences: Vec<String>,
    /// May introspect every client's tokens.
    pub resource_server: bool,
    /// At most this many token requests served per clock hour (PROTOCOL §11.1); `None`:
    /// no quota, and nothing counted.
    pub max_tokens_per_hour: Option<u64>,
    pub created_at: u64,
    pub updated_at: u64,
}

impl ClientRecord {
    /// A new enabled client with the default grants and no scopes.
    pub fn new(client_id: &str, name: &str, secret_hash: String, now: u64) -> Self {
        ClientRecord {
            client_id: client_id.to_owned(),
            name: name.to_owned(),
            secret_hashes: vec![secret_hash],
            grants: GrantType::ALL.to_vec(),
            scopes: Vec::new(),
            default_scopes: Vec::new(),
            access_ttl: None,
            refresh_ttl: None,
            disabled: false,
            token_format: None,
            audiences: Vec::new(),
            resource_server: false,
            max_tokens_per_hour: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Longest client id the service looks up.
pub const MAX_CLIENT_ID_LEN: usize = 128;

/// Client ids are 1–128 characters of `[A-Za-z0-9._~-]` (URL-unreserved), so that
/// form-url-decoding never changes a valid id and nothing else is ever looked up.
pub fn is_valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "access" => Some(TokenKind::Access),
            "refresh" => Some(TokenKind::Refresh),
            _ => None,
        }
    }
}

/// An issued token as stored: under its SHA-256, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Lowercase hex SHA-256 of the token.
    pub token_hash: String,
    pub kind: TokenKind,
    pub client_id: String,
    pub scope: Vec<String>,
    pub issued_at: u64,
    /// Epoch seconds; also the table's TTL attribute.
    pub expires_at: u64,
    /// Shared by every token descended from one client_credentials grant: the hash of the
    /// family's first refresh token, which is also where its family record starts.
    pub family: String,
    /// When a refresh token was exchanged, in epoch milliseconds; `None` while unused.
    pub used_at_ms: Option<u64>,
    /// When the rotation that consumed this refresh token was answered (epoch ms), written
    /// just before the answer; `None` until then, or if that request never learnt its
    /// outcome.
    pub answered_at_ms: Option<u64>,
    /// The consuming request's deadline (epoch ms): its answer went out before then, so a
    /// use that began earlier, with `answered_at_ms` unset, may be a lost race.
    pub answer_by_ms: Option<u64>,
    /// On a refresh token: the family's access tokens that were live when it was issued,
    /// its own sibling included, so that revoking the family needs no index.
    pub family_tokens: Vec<FamilyToken>,
    /// On a refresh token issued by a rotation: the hash of the refresh token presented to
    /// that rotation, so that the reuse grace replaces only a just-consumed token's own
    /// successor. `None` on a family's first refresh token.
    pub parent: Option<String>,
    pub revoked: bool,
}

/// An access token of a family, as listed on the family's refresh tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyToken {
    pub token_hash: String,
    pub expires_at: u64,
}

impl TokenRecord {
    /// Live: not expired by its own `expires_at` (TTL deletes late), not revoked, and for a
    /// refresh token not yet used.
    pub fn is_live(&self, now: u64) -> bool {
        now < self.expires_at && !self.revoked && self.used_at_ms.is_none()
    }

    /// Whether the token belongs to a refresh family, whose record (`FamilyRecord`) must be
    /// read wherever the token is accepted: every refresh token, and an access token issued
    /// beside one. An access token issued alone is its own family and has no record.
    pub fn in_refresh_family(&self) -> bool {
        self.kind == TokenKind::Refresh || self.family != self.token_hash
    }

    /// Whether the rotation that consumed this refresh token had been answered when a
    /// request that started at `started_ms` began. Unknown answers count as given by the
    /// consuming request's deadline; a token consumed before these were recorded counts as
    /// answered when it was consumed.
    pub fn consumption_answered_before(&self, started_ms: u64) -> bool {
        match (self.used_at_ms, self.answered_at_ms, self.answer_by_ms) {
            (None, _, _) => false,
            (Some(_), Some(answered), _) => answered < started_ms,
            (Some(_), None, Some(by)) => by <= started_ms,
            (Some(used), None, None) => used < started_ms,
        }
    }
}

/// The state every token of a family shares, read with strong consistency: once it says
/// revoked, no rotation in the family can commit (its transaction checks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyRecord {
    pub family: String,
    pub revoked: bool,
    /// The family's one unconsumed refresh token; `None` until the first rotation, when it
    /// is the family's first refresh token (whose hash is the family's id).
    pub current_refresh: Option<String>,
}

impl FamilyRecord {
    /// The hash of the family's current refresh token.
    pub fn current(&self) -> &str {
        self.current_refresh.as_deref().unwrap_or(&self.family)
    }
}
