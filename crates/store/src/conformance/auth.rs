//! Projects, keys, users and sessions: put, replace, list and delete by kind and id.

use crate::Store;
use spyglass_model::auth::{
    ApiKeyRecord, AuthKind, AuthRecord, KeyScope, Project, Role, SessionRecord, UserRecord,
};

pub async fn auth_records_round_trip(store: &dyn Store) {
    let project = AuthRecord::Project(Project {
        id: "conf-auth".into(),
        name: "Conformance".into(),
        created_ns: 1,
    });
    let key = ApiKeyRecord {
        id: "abcd1234".into(),
        project_id: "conf-auth".into(),
        name: "ci".into(),
        scope: KeyScope::Ingest,
        prefix: "sg_ingest_abcd1234".into(),
        salt: "00".repeat(16),
        hash: "11".repeat(32),
        created_ns: 2,
        created_by: "admin".into(),
        revoked_ns: None,
    };
    let user = AuthRecord::User(UserRecord {
        id: "u1".into(),
        username: "ada".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        admin: false,
        roles: [("conf-auth".to_string(), Role::Viewer)].into(),
        created_ns: 3,
    });
    // A session shares its id with the user on purpose: ids are unique per kind only.
    let session = AuthRecord::Session(SessionRecord {
        id: "u1".into(),
        user_id: "u1".into(),
        csrf: "ff".repeat(16),
        created_ns: 4,
        expires_ns: 5,
    });
    let before = store.auth_records().await.unwrap().len();
    for r in [&project, &AuthRecord::Key(key.clone()), &user, &session] {
        store.put_auth_record(r).await.unwrap();
    }
    let all = store.auth_records().await.unwrap();
    assert_eq!(all.len(), before + 4);
    for r in [&project, &user, &session] {
        assert!(all.contains(r), "{r:?} missing");
    }

    // Revoking replaces the key's row.
    let revoked = AuthRecord::Key(ApiKeyRecord {
        revoked_ns: Some(9),
        ..key
    });
    store.put_auth_record(&revoked).await.unwrap();
    let all = store.auth_records().await.unwrap();
    assert_eq!(all.len(), before + 4);
    assert!(all.contains(&revoked));

    assert!(
        store
            .delete_auth_record(AuthKind::Session, "u1")
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_auth_record(AuthKind::Session, "u1")
            .await
            .unwrap()
    );
    let all = store.auth_records().await.unwrap();
    assert!(!all.contains(&session) && all.contains(&user));
}
