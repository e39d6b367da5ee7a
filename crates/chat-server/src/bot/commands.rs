//! The bot's commands and its replies: pure, so every one is unit-tested.

use chat_protocol::validate;
use serde_json::{Value, json};

/// A command a user sent the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/start`, or a deep link `/start <room>` (`t.me/<bot>?start=<room>`).
    Start(Option<String>),
    /// `/chat`: straight to a stranger.
    Chat,
    Mute,
    Unmute,
    Help,
}

/// The start parameter that opens the stranger queue (no room may have this name:
/// public rooms are matched case-sensitively, and this one is reserved here).
pub const STRANGER: &str = "stranger";

/// Reads a command from a message's text: `/name`, `/name@bot` and `/name argument`.
/// Anything else, an unknown command included, is asked for help.
pub fn parse(text: &str) -> Command {
    let mut words = text.split_whitespace();
    let name = words.next().unwrap_or("");
    let name = name.split('@').next().unwrap_or("");
    match name {
        "/start" => Command::Start(words.next().map(str::to_owned)),
        "/chat" => Command::Chat,
        "/mute" => Command::Mute,
        "/unmute" => Command::Unmute,
        _ => Command::Help,
    }
}

/// The `sendMessage` body that answers `command` in `chat_id`, with a button that opens
/// the app at `public_url` (where the command says: a room, or the stranger queue).
pub fn reply(command: &Command, chat_id: i64, public_url: &str) -> Value {
    // `t.me/<bot>?start=stranger` is the link to the stranger queue.
    let command = match command {
        Command::Start(Some(start)) if start == STRANGER => &Command::Chat,
        other => other,
    };
    let (text, label, start) = match command {
        Command::Start(Some(room)) if validate::room(room).is_ok_and(|k| !k.is_private()) => (
            format!("Open {room} to join the conversation."),
            format!("Open {room}"),
            Some(room.as_str()),
        ),
        Command::Start(_) => (
            "Welcome! Chat in rooms, write to people privately, or talk to a stranger \
             anonymously. I will tell you when someone writes while the app is closed \
             (/mute turns that off)."
                .to_owned(),
            "Open the chat".to_owned(),
            None,
        ),
        Command::Chat => (
            "Talk to a random stranger: neither of you sees who the other is.".to_owned(),
            "Talk to a stranger".to_owned(),
            Some(STRANGER),
        ),
        Command::Mute => (
            "Notifications are off. /unmute turns them back on.".to_owned(),
            "Open the chat".to_owned(),
            None,
        ),
        Command::Unmute => (
            "Notifications are on: I will tell you when someone writes while the app is closed."
                .to_owned(),
            "Open the chat".to_owned(),
            None,
        ),
        Command::Help => (
            "/start opens the chat\n/chat talks to a random stranger\n/mute stops my \
             notifications\n/unmute turns them back on\n/help shows this"
                .to_owned(),
            "Open the chat".to_owned(),
            None,
        ),
    };
    json!({
        "chat_id": chat_id,
        "text": text,
        "reply_markup": {"inline_keyboard": [[{"text": label, "web_app": {"url": app_url(public_url, start)}}]]},
    })
}

/// The app's address, with a start parameter when there is one (`?startapp=`, the name
/// Telegram's own links use for a Mini App's start parameter).
pub fn app_url(public_url: &str, start: Option<&str>) -> String {
    let base = public_url.trim_end_matches('/');
    match start {
        Some(start) => format!("{base}/?startapp={}", chat_telegram::url_encode(start)),
        None => format!("{base}/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_with_bot_names_and_arguments() {
        assert_eq!(parse("/start"), Command::Start(None));
        assert_eq!(parse("/start lobby"), Command::Start(Some("lobby".into())));
        assert_eq!(
            parse("/start@ChatBot  lobby "),
            Command::Start(Some("lobby".into()))
        );
        assert_eq!(parse("/chat"), Command::Chat);
        assert_eq!(parse("/mute"), Command::Mute);
        assert_eq!(parse("/unmute@ChatBot"), Command::Unmute);
        assert_eq!(parse("/help"), Command::Help);
        assert_eq!(parse("hello"), Command::Help);
        assert_eq!(parse(""), Command::Help);
    }

    fn button_url(reply: &Value) -> &str {
        reply["reply_markup"]["inline_keyboard"][0][0]["web_app"]["url"]
            .as_str()
            .unwrap_or_default()
    }

    #[test]
    fn every_reply_has_a_web_app_button_to_the_app() {
        let url = "https://chat.example/";
        for command in [
            Command::Start(None),
            Command::Chat,
            Command::Mute,
            Command::Unmute,
            Command::Help,
        ] {
            let reply = reply(&command, 42, url);
            assert_eq!(reply["chat_id"], 42);
            assert!(
                button_url(&reply).starts_with("https://chat.example/"),
                "{reply}"
            );
        }
        assert_eq!(
            button_url(&reply(&Command::Start(None), 1, url)),
            "https://chat.example/"
        );
        assert_eq!(
            button_url(&reply(&Command::Start(Some("lobby".into())), 1, url)),
            "https://chat.example/?startapp=lobby"
        );
        assert_eq!(
            button_url(&reply(&Command::Chat, 1, url)),
            "https://chat.example/?startapp=stranger"
        );
        assert_eq!(
            reply(&Command::Start(Some(STRANGER.into())), 1, url),
            reply(&Command::Chat, 1, url),
            "the deep link to a stranger"
        );
    }

    #[test]
    fn a_deep_link_to_something_that_is_no_public_room_just_opens_the_app() {
        for bad in ["~dm.a.b", "no spaces", "-x"] {
            let reply = reply(&Command::Start(Some(bad.into())), 1, "https://c.example");
            assert_eq!(button_url(&reply), "https://c.example/", "{bad}");
        }
    }
}
