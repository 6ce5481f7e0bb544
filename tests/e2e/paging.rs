//! ListUsers: complete, stable pages, literal prefixes and searches,
//! tamper-proof tokens.

use std::collections::BTreeSet;

use accesskey_client::{ListUsers, NewUser, pb};
use tonic::Code;

use crate::harness::{TestServer, code, on_every_backend};

async fn list_all(server: &TestServer, page_size: i32, prefix: &str) -> Vec<pb::User> {
    let mut users = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = server
            .admin
            .list_users(
                ListUsers::new()
                    .page_size(page_size)
                    .page_token(page_token.clone())
                    .prefix(prefix),
            )
            .await
            .expect("list");
        assert!(page.users.len() <= usize::try_from(page_size).unwrap_or(usize::MAX));
        users.extend(page.users);
        if page.next_page_token.is_empty() {
            return users;
        }
        page_token = page.next_page_token;
    }
}

async fn pages_cover_every_user_exactly_once_despite_concurrent_changes(server: TestServer) {
    let mut ids = Vec::new();
    for i in 0..23 {
        ids.push(server.create_user(&format!("user{i:02}"), &[]).await.id);
    }
    // The first page, then churn, then the rest.
    let first = server
        .admin
        .list_users(ListUsers::new().page_size(5))
        .await
        .expect("first page");
    assert_eq!(first.users.len(), 5);
    server
        .admin
        .delete_user(ids[2])
        .await
        .expect("delete a seen user");
    server
        .admin
        .delete_user(ids[20])
        .await
        .expect("delete an unseen user");
    let late = server.create_user("latecomer", &[]).await;

    let mut seen: Vec<i64> = first.users.iter().map(|u| u.id).collect();
    let mut token = first.next_page_token;
    while !token.is_empty() {
        let page = server
            .admin
            .list_users(ListUsers::new().page_size(5).page_token(token))
            .await
            .expect("next page");
        seen.extend(page.users.iter().map(|u| u.id));
        token = page.next_page_token;
    }
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no user twice");
    for (i, id) in ids.iter().enumerate() {
        if i != 20 {
            assert!(unique.contains(id), "user{i:02} missing");
        }
    }
    assert!(!unique.contains(&ids[20]), "deleted before its page");
    assert!(
        unique.contains(&late.id),
        "users added meanwhile appear at the end"
    );
}

async fn page_size_zero_means_the_default_and_negative_is_invalid(server: TestServer) {
    for i in 0..3 {
        server.create_user(&format!("u{i}"), &[]).await;
    }
    let page = server
        .admin
        .list_users(ListUsers::new())
        .await
        .expect("list");
    assert_eq!(page.users.len(), 4, "three users plus the admin");
    assert!(page.next_page_token.is_empty());
    let negative = ListUsers::new().page_size(-1);
    assert_eq!(
        code(server.admin.list_users(negative).await),
        Code::InvalidArgument
    );
}

async fn prefixes_match_case_insensitively_and_literally(server: TestServer) {
    for name in ["Team_A.svc", "team_b.svc", "teamXa.svc", "other"] {
        server.create_user(name, &[]).await;
    }
    let names = |users: Vec<pb::User>| users.into_iter().map(|u| u.username).collect::<Vec<_>>();
    assert_eq!(
        names(list_all(&server, 1, "TEAM_").await),
        ["Team_A.svc", "team_b.svc"],
        "`_` is literal"
    );
    assert_eq!(
        names(list_all(&server, 10, "team").await),
        ["Team_A.svc", "team_b.svc", "teamXa.svc"]
    );
    let wildcard = ListUsers::new().prefix("%");
    let err = server
        .admin
        .list_users(wildcard)
        .await
        .expect_err("not a username character");
    assert_eq!(err.code(), Some(Code::InvalidArgument));
    assert!(err.to_string().contains("username_prefix"), "{err}");
}

async fn forged_tampered_or_misused_page_tokens_are_invalid(server: TestServer) {
    for i in 0..3 {
        server.create_user(&format!("p{i}"), &[]).await;
    }
    let first = server
        .admin
        .list_users(ListUsers::new().page_size(1))
        .await
        .expect("list");
    let token = first.next_page_token;
    assert!(!token.is_empty());
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    for bad in [
        tampered,
        "forged".to_owned(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
    ] {
        let err = server
            .admin
            .list_users(ListUsers::new().page_size(1).page_token(bad))
            .await
            .expect_err("invalid token");
        assert_eq!(err.code(), Some(Code::InvalidArgument));
        assert!(err.to_string().contains("page_token"), "{err}");
    }
    let other_query = ListUsers::new().page_size(1).page_token(token).prefix("p");
    assert_eq!(
        code(server.admin.list_users(other_query).await),
        Code::InvalidArgument
    );
}

/// `search` looks for its text, literally and ignoring case, in username,
/// display name and email; it pages, combines with the prefix, binds its
/// page tokens, and refuses only what no one types.
async fn search_matches_any_name_literally_and_ignoring_case(server: TestServer) {
    let create = async |user: NewUser| server.admin.create_user(user).await.expect("create");
    create(NewUser::new("under_score").display_name("Plain")).await;
    create(NewUser::new("underXscore").display_name("100% sure")).await;
    create(NewUser::new("slash").display_name("back\\slash! BANG")).await;
    create(NewUser::new("mail").email("Ops.Team@Example.test")).await;
    let found = async |query: ListUsers| -> Vec<String> {
        let page = server.admin.list_users(query).await.expect("list");
        page.users.into_iter().map(|user| user.username).collect()
    };
    let search = |text: &str| ListUsers::new().search(text);
    assert_eq!(
        found(search("R_S")).await,
        ["under_score"],
        "`_` is literal"
    );
    assert_eq!(found(search("%")).await, ["underXscore"], "`%` is literal");
    assert_eq!(found(search("\\")).await, ["slash"], "`\\` is literal");
    assert_eq!(
        found(search("! bang")).await,
        ["slash"],
        "the escape char too"
    );
    assert_eq!(found(search("ops.team@EXAMPLE")).await, ["mail"]);
    assert_eq!(found(search("score")).await, ["under_score", "underXscore"]);
    assert_eq!(
        found(search("score").prefix("UNDERX")).await,
        ["underXscore"],
        "both must match"
    );
    // Pages, with tokens bound to the search.
    let first = server
        .admin
        .list_users(search("score").page_size(1))
        .await
        .expect("a page");
    assert_eq!(first.users.len(), 1);
    let token = first.next_page_token;
    assert_eq!(
        found(search("score").page_size(1).page_token(token.clone())).await,
        ["underXscore"]
    );
    assert_eq!(
        code(
            server
                .admin
                .list_users(search("scor").page_token(token))
                .await
        ),
        Code::InvalidArgument,
        "a token of another search"
    );
    // Anything typed is a search; only what no one types is refused.
    assert!(found(search(&"é".repeat(256))).await.is_empty());
    for (bad, why) in [
        ("a".repeat(257), "at most 256"),
        ("a\0b".to_owned(), "control"),
    ] {
        let err = server
            .admin
            .list_users(search(&bad))
            .await
            .expect_err("refused");
        assert_eq!(err.code(), Some(Code::InvalidArgument));
        assert!(
            err.to_string().contains("search:") && err.to_string().contains(why),
            "{err}"
        );
    }
}

on_every_backend!(
    pages_cover_every_user_exactly_once_despite_concurrent_changes,
    page_size_zero_means_the_default_and_negative_is_invalid,
    prefixes_match_case_insensitively_and_literally,
    forged_tampered_or_misused_page_tokens_are_invalid,
    search_matches_any_name_literally_and_ignoring_case,
);

/// Users may hold 256 permissions of 128 characters: 1,000 of them would
/// pass the 16 MiB response limit, so a page is also capped by size, and
/// paging still returns every user exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_large_users_stay_under_the_response_limit() {
    let server = TestServer::start().await;
    let permissions: Vec<String> = (0..256)
        .map(|i| format!("p{i:03}.{}", "x".repeat(123)))
        .collect();
    assert!(permissions.iter().all(|p| p.len() == 128));
    // Created 16 at a time.
    let mut created = 0;
    let mut pending = Vec::new();
    for creation in (0..520).map(|i| {
        let admin = server.admin.clone();
        let user = NewUser::new(format!("fat{i:03}")).permissions(permissions.clone());
        tokio::spawn(async move { admin.create_user(user).await.expect("create") })
    }) {
        pending.push(creation);
        if pending.len() == 16 {
            for task in pending.drain(..) {
                task.await.expect("task");
                created += 1;
            }
        }
    }
    for task in pending {
        task.await.expect("task");
        created += 1;
    }
    assert_eq!(created, 520);

    let first = server
        .admin
        .list_users(ListUsers::new().page_size(1000))
        .await
        .expect("one page, not an oversized response");
    assert!(first.users.len() < 521, "capped by size");
    assert!(
        !first.next_page_token.is_empty(),
        "and it says there is more"
    );
    let all = server.admin.list_all_users("").await.expect("every page");
    assert_eq!(all.len(), 521, "every user exactly once");
    let mut ids: Vec<i64> = all.iter().map(|user| user.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 521);
}
