//! The store's schema for both backends, in one place: numbered migrations, applied in order
//! inside one transaction at start and recorded (SQLite: `PRAGMA user_version`; PostgreSQL:
//! the `schema_version` table), so a store made by an older hybridauth is brought up to date
//! and one made by a newer hybridauth is refused rather than misread.
//!
//! The two lists describe the same tables, columns and indexes. SQLite's grew one change at a
//! time; PostgreSQL's 1 is the schema SQLite reached at its migration 8, and each later one
//! matches one of SQLite's (PostgreSQL 2 = SQLite 9). A change to the
//! schema adds one entry to each list, side by side in the same commit.

/// SQLite's migrations.
pub const SQLITE: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sam TEXT NOT NULL, sam_lc TEXT NOT NULL,
        upn TEXT NOT NULL, upn_lc TEXT NOT NULL,
        display_name TEXT NOT NULL, mail TEXT, groups TEXT NOT NULL,
        enabled INTEGER NOT NULL, account_expires INTEGER,
        password_hash TEXT NOT NULL, syncable_hash TEXT, password_set_at INTEGER NOT NULL,
        password_expired INTEGER NOT NULL, must_change INTEGER NOT NULL,
        admin INTEGER NOT NULL, mfa TEXT NOT NULL, modern_auth_only INTEGER NOT NULL,
        created_at INTEGER NOT NULL, enabled_changed_at INTEGER NOT NULL,
        ever_had_app_password INTEGER NOT NULL, deleted_at INTEGER
    );
    CREATE UNIQUE INDEX users_sam ON users (sam_lc) WHERE deleted_at IS NULL;
    CREATE UNIQUE INDEX users_upn ON users (upn_lc) WHERE deleted_at IS NULL;
    CREATE TABLE app_passwords (
        user_id INTEGER NOT NULL, name TEXT NOT NULL, created_at INTEGER NOT NULL,
        last_used INTEGER, hash TEXT NOT NULL, tag TEXT NOT NULL,
        PRIMARY KEY (user_id, name)
    );
    CREATE TABLE history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL,
        user_id INTEGER, snapshot TEXT
    );
    CREATE INDEX history_user ON history (user_id, seq);
    CREATE INDEX history_at ON history (at);
    CREATE TABLE intervals (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,
        object_secs INTEGER NOT NULL, phs_secs INTEGER NOT NULL
    );
    CREATE TABLE ad_lockout (
        user_id INTEGER PRIMARY KEY, bad_count INTEGER NOT NULL,
        last_bad_at INTEGER, locked_at INTEGER
    );
    CREATE TABLE smart_lockout (user_id INTEGER PRIMARY KEY, state TEXT NOT NULL);
    "#,
    // 2: the names each snapshot answered to, so the cloud path finds an account by index.
    r#"
    ALTER TABLE history ADD COLUMN sam_lc TEXT;
    ALTER TABLE history ADD COLUMN upn_lc TEXT;
    UPDATE history SET sam_lc = lower(json_extract(snapshot, '$.sam')),
                       upn_lc = lower(json_extract(snapshot, '$.upn')) WHERE kind = 'user';
    CREATE INDEX history_sam ON history (sam_lc);
    CREATE INDEX history_upn ON history (upn_lc);
    "#,
    // 3: smart lockout's fingerprints of recent wrong passwords leave the store (they are kept
    // in memory now; see verify::recent_bad). secure_delete overwrites the freed bytes.
    r#"
    UPDATE smart_lockout SET state = json_remove(state, '$.recent_bad');
    "#,
    // 4: the cloud signs in by UPN, or by mail with the tenant's email-sign-in, and Conditional
    // Access scopes policies by group: snapshots carry the synced mail (indexed) and groups.
    // Earlier snapshots take the account's current mail and groups (no history of either was
    // kept before). users.groups is newline-separated.
    r#"
    ALTER TABLE history ADD COLUMN mail_lc TEXT;
    UPDATE history SET snapshot = json_set(snapshot,
        '$.mail', (SELECT mail FROM users WHERE users.id = history.user_id),
        '$.groups', COALESCE((SELECT CASE WHEN groups = '' THEN json('[]') ELSE json('["' ||
            replace(replace(replace(groups, '\', '\\'), '"', '\"'), char(10), '","') || '"]') END
            FROM users WHERE users.id = history.user_id), json('[]')))
        WHERE kind = 'user' AND json_extract(snapshot, '$.exists');
    UPDATE history SET mail_lc = lower(json_extract(snapshot, '$.mail')) WHERE kind = 'user';
    CREATE INDEX history_mail ON history (mail_lc);
    "#,
    // 5: LDAP searches find users by mail through an index, and a cloud decision finds the
    // last manual sync among a million history rows without scanning them.
    r#"
    CREATE INDEX users_mail ON users (lower(mail)) WHERE deleted_at IS NULL;
    CREATE INDEX history_sync ON history (at, seq) WHERE kind = 'sync';
    "#,
    // 6: group memberships as rows, so that a group is found by name through an index and
    // listing groups reads memberships, not every user. Backfilled from users.groups
    // (newline-separated) of live users.
    r#"
    CREATE TABLE memberships (
        group_lc TEXT NOT NULL, group_name TEXT NOT NULL, user_id INTEGER NOT NULL,
        PRIMARY KEY (group_lc, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX memberships_user ON memberships (user_id);
    WITH RECURSIVE split(user_id, g, rest) AS (
        SELECT id, '', groups || char(10) FROM users WHERE deleted_at IS NULL
        UNION ALL
        SELECT user_id, substr(rest, 1, instr(rest, char(10)) - 1),
               substr(rest, instr(rest, char(10)) + 1)
        FROM split WHERE rest != ''
    )
    INSERT OR IGNORE INTO memberships (group_lc, group_name, user_id)
        SELECT lower(g), g, user_id FROM split WHERE g != '';
    "#,
    // 7: the NT hash MS-CHAP checks (hex), for passwords set with hashing.store_nt_hash.
    r#"
    ALTER TABLE users ADD COLUMN nt_hash TEXT;
    "#,
    // 8: the admin page lists accounts deleted on-prem that the cloud may still hold, without
    // reading every user.
    r#"
    CREATE INDEX users_deleted ON users (deleted_at) WHERE deleted_at IS NOT NULL;
    "#,
    // 9: MFA over RADIUS (the NPS extension): methods registered in the cloud, the last TOTP
    // step each used (a code is good once), and push notifications waiting on the phone.
    // (IF NOT EXISTS: new tables only, so a store rewound to an older version re-runs it.)
    r#"
    CREATE TABLE IF NOT EXISTS mfa_methods (
        user_id INTEGER NOT NULL, kind TEXT NOT NULL, secret TEXT,
        is_default INTEGER NOT NULL, created_at INTEGER NOT NULL, last_step INTEGER,
        PRIMARY KEY (user_id, kind)
    );
    CREATE TABLE IF NOT EXISTS mfa_pushes (
        id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL,
        opened_at INTEGER NOT NULL, answer TEXT, answered_at INTEGER
    );
    CREATE INDEX IF NOT EXISTS mfa_pushes_pending ON mfa_pushes (user_id, id) WHERE answer IS NULL;
    "#,
];

/// PostgreSQL's migrations. Times are microseconds since the epoch (BIGINT), as in SQLite, so
/// both backends order and compare them alike. The `hybridauth_changed` trigger notifies every
/// node listening on `hybridauth_changes` when a statement changed anything a decision reads
/// (see `postgres_scope`); `health` (the `/healthz` probe's heartbeat) has none.
pub const POSTGRES: &[&str] = &[
    // 1: the schema of SQLite's migration 8.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE users (
        id BIGSERIAL PRIMARY KEY,
        sam TEXT NOT NULL, sam_lc TEXT NOT NULL,
        upn TEXT NOT NULL, upn_lc TEXT NOT NULL,
        display_name TEXT NOT NULL, mail TEXT, groups TEXT NOT NULL,
        enabled BOOLEAN NOT NULL, account_expires BIGINT,
        password_hash TEXT NOT NULL, syncable_hash TEXT, password_set_at BIGINT NOT NULL,
        password_expired BOOLEAN NOT NULL, must_change BOOLEAN NOT NULL,
        admin BOOLEAN NOT NULL, mfa TEXT NOT NULL, modern_auth_only BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL, enabled_changed_at BIGINT NOT NULL,
        ever_had_app_password BOOLEAN NOT NULL, deleted_at BIGINT, nt_hash TEXT
    );
    CREATE UNIQUE INDEX users_sam ON users (sam_lc) WHERE deleted_at IS NULL;
    CREATE UNIQUE INDEX users_upn ON users (upn_lc) WHERE deleted_at IS NULL;
    CREATE INDEX users_mail ON users (lower(mail)) WHERE deleted_at IS NULL;
    CREATE INDEX users_deleted ON users (deleted_at) WHERE deleted_at IS NOT NULL;
    CREATE TABLE app_passwords (
        user_id BIGINT NOT NULL, name TEXT NOT NULL, created_at BIGINT NOT NULL,
        last_used BIGINT, hash TEXT NOT NULL, tag TEXT NOT NULL,
        PRIMARY KEY (user_id, name)
    );
    CREATE TABLE history (
        seq BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, kind TEXT NOT NULL,
        user_id BIGINT, snapshot TEXT, sam_lc TEXT, upn_lc TEXT, mail_lc TEXT
    );
    CREATE INDEX history_user ON history (user_id, seq);
    CREATE INDEX history_at ON history (at);
    CREATE INDEX history_sam ON history (sam_lc);
    CREATE INDEX history_upn ON history (upn_lc);
    CREATE INDEX history_mail ON history (mail_lc);
    CREATE INDEX history_sync ON history (at, seq) WHERE kind = 'sync';
    CREATE TABLE intervals (
        seq BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL,
        object_secs BIGINT NOT NULL, phs_secs BIGINT NOT NULL
    );
    CREATE TABLE ad_lockout (
        user_id BIGINT PRIMARY KEY, bad_count INTEGER NOT NULL,
        last_bad_at BIGINT, locked_at BIGINT
    );
    CREATE TABLE smart_lockout (user_id BIGINT PRIMARY KEY, state TEXT NOT NULL);
    CREATE TABLE memberships (
        group_lc TEXT NOT NULL, group_name TEXT NOT NULL, user_id BIGINT NOT NULL,
        PRIMARY KEY (group_lc, user_id)
    );
    CREATE INDEX memberships_user ON memberships (user_id);
    CREATE TABLE health (node TEXT PRIMARY KEY, at BIGINT NOT NULL);
    CREATE FUNCTION hybridauth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('hybridauth_changes', '');
        RETURN NULL;
    END $$;
    CREATE TRIGGER meta_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON meta
        FOR EACH STATEMENT EXECUTE FUNCTION hybridauth_changed();
    CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
        FOR EACH STATEMENT EXECUTE FUNCTION hybridauth_changed();
    CREATE TRIGGER app_passwords_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON app_passwords
        FOR EACH STATEMENT EXECUTE FUNCTION hybridauth_changed();
    CREATE TRIGGER history_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON history
        FOR EACH STATEMENT EXECUTE FUNCTION hybridauth_changed();
    CREATE TRIGGER intervals_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON intervals
        FOR EACH STATEMENT EXECUTE FUNCTION hybridauth_changed();
    CREATE TRIGGER ad_lockout_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ad_lockout
        FOR EACH STATEMENT EXECUTE FUNCTION hybridauth_changed();
    CREATE TRIGGER smart_lockout_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON smart_lockout
        FOR EACH STATEMENT EXECUTE FUNCTION hybridauth_changed();
    CREATE TRIGGER memberships_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON memberships
        FOR EACH STATEMENT EXECUTE FUNCTION hybridauth_changed();
    "#,
    // 2: SQLite's 9 (MFA over RADIUS). Pushes are polled by id, not read by decisions: no
    // trigger.
    r#"
    CREATE TABLE mfa_methods (
        user_id BIGINT NOT NULL, kind TEXT NOT NULL, secret TEXT,
        is_default BOOLEAN NOT NULL, created_at BIGINT NOT NULL, last_step BIGINT,
        PRIMARY KEY (user_id, kind)
    );
    CREATE TABLE mfa_pushes (
        id BIGSERIAL PRIMARY KEY, user_id BIGINT NOT NULL,
        opened_at BIGINT NOT NULL, answer TEXT, answered_at BIGINT
    );
    CREATE INDEX mfa_pushes_pending ON mfa_pushes (user_id, id) WHERE answer IS NULL;
    CREATE TRIGGER mfa_methods_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mfa_methods
        FOR EACH STATEMENT EXECUTE FUNCTION hybridauth_changed();
    "#,
    // 3 (PostgreSQL only): a notification names the table that changed, so that a lockout
    // count (one per wrong password, from every node) makes the nodes forget the lockout
    // states they remember and nothing else (see `postgres_scope`).
    r#"
    CREATE OR REPLACE FUNCTION hybridauth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('hybridauth_changes', TG_TABLE_NAME);
        RETURN NULL;
    END $$;
    "#,
];

/// Whether a store at schema `version` can be opened by this build, which knows `known`
/// migrations: a newer store is refused with the operator's way out.
pub fn check_version(version: usize, known: usize) -> Result<(), String> {
    if version > known {
        return Err(format!(
            "store schema version {version} is newer than this hybridauth ({known}); upgrade hybridauth"
        ));
    }
    Ok(())
}
