//! The app as a Telegram Mini App, in Chromium: launch parameters in the URL fragment
//! as Telegram puts them there, initData signed with a test bot token, and a stand-in
//! for the mobile clients' `TelegramWebviewProxy` that records what the app posts.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ClientFrame, ServerFrame, SystemEvent};
use chat_server::auth::telegram::{sign_init_data, url_encode as component};
use common::{
    Driver, Peer, TestServer, before_every_page, screenshot, script, wait_for_text, wait_until,
};
use fantoccini::{Client, Locator};
use std::time::{SystemTime, UNIX_EPOCH};

const BOT: &str = "4242:e2e-test-bot-token";

/// What Telegram's mobile clients put into the page: the bridge object. The stand-in
/// records every event with its data.
const STAND_IN: &str = r#"
window.__posted = [];
window.TelegramWebviewProxy = {
  postEvent(type, data) { window.__posted.push([type, JSON.parse(data || "{}")]); }
};
"#;

fn now() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

fn init_data(user: &str) -> String {
    sign_init_data(
        BOT,
        &[
            ("query_id", "AAHdF6IQAAAAAN0XohDhrOrc"),
            ("user", user),
            ("auth_date", &now()),
            ("signature", "c2lnbmF0dXJl"),
        ],
    )
}

/// The URL Telegram opens: the app with its launch parameters in the fragment.
fn launch_url(server: &TestServer, init_data: &str, theme: &str) -> String {
    format!(
        "{}/#tgWebAppData={}&tgWebAppVersion=8.0&tgWebAppPlatform=ios&tgWebAppThemeParams={}",
        server.url(),
        component(init_data),
        component(theme)
    )
}

/// The events the app posted, in order, as `[type, data]`.
async fn posted(browser: &Client) -> Vec<(String, serde_json::Value)> {
    let all = script(browser, "return window.__posted;").await;
    serde_json::from_value(all).unwrap()
}

/// The data of the last `kind` event posted.
async fn last(browser: &Client, kind: &str) -> serde_json::Value {
    posted(browser)
        .await
        .into_iter()
        .rev()
        .find(|(k, _)| k == kind)
        .map(|(_, data)| data)
        .unwrap_or_default()
}

/// Waits until the app is up as a Mini App: the room list, no name dialog, and
/// `web_app_ready` posted.
async fn mini_app_ready(phone: &Client) {
    phone
        .wait()
        .at_most(common::WAIT)
        .for_element(Locator::Css("#join-room"))
        .await
        .unwrap();
    assert_eq!(
        script(phone, "return !!document.querySelector('#name');").await,
        false,
        "no name dialog inside Telegram"
    );
    wait_until(phone, "window.__posted.some(e => e[0] == 'web_app_ready')").await;
}

/// Telegram calling into the page, as its clients do.
async fn telegram_sends(browser: &Client, kind: &str, data: &str) {
    script(
        browser,
        &format!("window.Telegram.WebView.receiveEvent({kind:?}, {data}); return true;"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_telegram_the_app_signs_in_takes_the_theme_and_uses_the_native_buttons() {
    let server = TestServer::start_with(|c| c.telegram_bot_token = Some(BOT.into())).await;
    let driver = Driver::start().await;
    let phone = driver.browser(390, 844).await;
    before_every_page(&phone, STAND_IN).await;
    let theme = r##"{"bg_color":"#1c2b3a","secondary_bg_color":"#142230","text_color":"#f5f5f5","hint_color":"#8899aa","button_color":"#ff8800","button_text_color":"#000000"}"##;
    let tess = init_data(
        r#"{"id":777,"first_name":"Tess","last_name":"Ter","username":"tess_t","photo_url":"https:\/\/t.me\/i\/userpic\/320\/tess.svg"}"#,
    );
    phone
        .goto(&launch_url(&server, &tess, theme))
        .await
        .unwrap();

    // Signed in with no name dialog; the first screen is ready, and said so.
    mini_app_ready(&phone).await;
    let kinds: Vec<String> = posted(&phone).await.into_iter().map(|(k, _)| k).collect();
    assert!(kinds.contains(&"web_app_expand".to_owned()), "{kinds:?}");
    // The page is in the theme's colours.
    let background = "getComputedStyle(document.documentElement).backgroundColor";
    wait_until(&phone, &format!("{background} == 'rgb(28, 43, 58)'")).await;
    screenshot(&phone, "telegram-list-390x844").await;
    // Telegram gives the fragment only at launch: a reload without it is still the Mini
    // App (the launch parameters were kept in session storage).
    phone.goto(&server.url()).await.unwrap();
    mini_app_ready(&phone).await;
    wait_until(&phone, &format!("{background} == 'rgb(28, 43, 58)'")).await;

    // Others see the Telegram user by name, under `tg_<id>`, and nothing more.
    let mut watcher = Peer::connect_query(
        server.addr,
        &format!(
            "?tg={}",
            component(&init_data(r#"{"id":778,"first_name":"Watcher"}"#))
        ),
    )
    .await;
    watcher.join("lobby").await;
    common::join_room(&phone, "lobby").await;
    match watcher
        .until(|f| matches!(f, ServerFrame::System { .. }))
        .await
    {
        ServerFrame::System { event, user, .. } => {
            assert_eq!(event, SystemEvent::Join);
            assert_eq!(
                (user.id.as_str(), user.name.as_str()),
                ("tg_777", "Tess Ter")
            );
        }
        _ => unreachable!(),
    }

    // One screen at a time on a phone: the room, with Telegram's back button shown.
    wait_for_text(&phone, ".room-title", "lobby").await;
    wait_until(
        &phone,
        "document.querySelector('.chat').classList.contains('in-room')",
    )
    .await;
    wait_until(
        &phone,
        "getComputedStyle(document.querySelector('.sidebar')).display == 'none'",
    )
    .await;
    wait_until(
        &phone,
        "window.__posted.filter(e => e[0] == 'web_app_setup_back_button').pop()[1].is_visible === true",
    )
    .await;
    screenshot(&phone, "telegram-room-390x844").await;
    // Pressing it goes back to the list, and hides it again.
    telegram_sends(&phone, "back_button_pressed", "undefined").await;
    wait_until(
        &phone,
        "document.querySelector('.chat').classList.contains('list')",
    )
    .await;
    wait_until(
        &phone,
        "getComputedStyle(document.querySelector('.room')).display == 'none'",
    )
    .await;
    assert_eq!(
        last(&phone, "web_app_setup_back_button").await["is_visible"],
        false
    );

    // The theme follows Telegram live.
    telegram_sends(
        &phone,
        "theme_changed",
        r##"{"theme_params": {"bg_color": "#ffffff", "text_color": "#000000"}}"##,
    )
    .await;
    wait_until(&phone, &format!("{background} == 'rgb(255, 255, 255)'")).await;
    telegram_sends(
        &phone,
        "viewport_changed",
        r#"{"height": 600, "is_state_stable": true}"#,
    )
    .await;
    wait_until(
        &phone,
        "getComputedStyle(document.documentElement).getPropertyValue('--tg-viewport-stable-height') == '600px'",
    )
    .await;

    // A stranger: a match buzzes, and the main button offers the next stranger.
    common::click_text(&phone, ".stranger button", "Talk to a stranger").await;
    wait_until(
        &phone,
        "document.querySelector('.stranger').innerText.includes('Looking for a stranger')",
    )
    .await;
    watcher
        .send(&ClientFrame::Match { interests: vec![] })
        .await;
    watcher
        .until(|f| matches!(f, ServerFrame::Matched { .. }))
        .await;
    wait_for_text(&phone, ".room-title", "Stranger").await;
    wait_until(
        &phone,
        "window.__posted.some(e => e[0] == 'web_app_trigger_haptic_feedback' && e[1].notification_type == 'success')",
    )
    .await;
    wait_until(
        &phone,
        "(b => b && b.is_visible && b.text == 'Next stranger')(window.__posted.filter(e => e[0] == 'web_app_setup_main_button').pop()[1])",
    )
    .await;
    telegram_sends(&phone, "main_button_pressed", "undefined").await;
    watcher
        .until(|f| {
            matches!(
                f,
                ServerFrame::System {
                    event: SystemEvent::Leave,
                    ..
                }
            )
        })
        .await;
    wait_until(
        &phone,
        "window.__posted.filter(e => e[0] == 'web_app_setup_main_button').pop()[1].is_visible === false",
    )
    .await;
    phone.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_parameter_opens_its_room_or_the_stranger_queue() {
    let server = TestServer::start_with(|c| c.telegram_bot_token = Some(BOT.into())).await;
    let driver = Driver::start().await;
    let phone = driver.browser(390, 844).await;
    before_every_page(&phone, STAND_IN).await;
    let theme = r##"{"bg_color":"#1c2b3a"}"##;
    // The bot's "/start lobby" button opens the app at `?startapp=lobby`.
    let tess = init_data(r#"{"id":777,"first_name":"Tess"}"#);
    let url = launch_url(&server, &tess, theme).replacen("/#", "/?startapp=lobby#", 1);
    phone.goto(&url).await.unwrap();
    wait_for_text(&phone, ".room-title", "lobby").await;
    wait_until(
        &phone,
        "document.querySelector('.chat').classList.contains('in-room')",
    )
    .await;
    // A t.me link's start parameter (`tgWebAppStartParam`) asks for a stranger.
    let zoe = init_data(r#"{"id":778,"first_name":"Zoe"}"#);
    let url = format!(
        "{}&tgWebAppStartParam=stranger",
        launch_url(&server, &zoe, theme)
    );
    let other = driver.browser(390, 844).await;
    before_every_page(&other, STAND_IN).await;
    other.goto(&url).await.unwrap();
    wait_until(
        &other,
        "document.querySelector('.stranger').innerText.includes('Looking for a stranger')",
    )
    .await;
    phone.close().await.unwrap();
    other.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_sign_in_says_why_instead_of_a_blank_page() {
    let server = TestServer::start_with(|c| c.telegram_bot_token = Some(BOT.into())).await;
    let driver = Driver::start().await;
    let phone = driver.browser(390, 844).await;
    before_every_page(&phone, STAND_IN).await;
    let tampered = init_data(r#"{"id":777,"first_name":"Tess"}"#).replacen("777", "778", 1);
    phone
        .goto(&launch_url(
            &server,
            &tampered,
            r##"{"bg_color":"#1c2b3a"}"##,
        ))
        .await
        .unwrap();
    wait_until(
        &phone,
        "document.querySelector('.status').innerText.includes('Cannot sign in (Telegram sign-in: bad signature).')",
    )
    .await;
    screenshot(&phone, "telegram-refused-390x844").await;
    // And it stops trying: the status stays.
    assert_eq!(
        script(
            &phone,
            "return document.querySelector('.status').classList.contains('refused');"
        )
        .await,
        true
    );
    phone.close().await.unwrap();
}
