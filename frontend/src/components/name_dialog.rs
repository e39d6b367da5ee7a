//! First visit: choose a display name (checked with the protocol's own rules).

use chat_protocol::validate;
use leptos::prelude::*;

/// The display name as the server will take it, or why it would refuse it. The server
/// normalizes names to NFC; the browser's own normalizer does the same here, so that the
/// length and character rules see what the server will see.
pub fn checked_name(draft: &str) -> Result<String, String> {
    let draft = String::from(js_sys::JsString::from(draft).normalize("NFC"));
    validate::display_name(&draft).map_err(|refusal| refusal.message)
}

#[component]
pub fn NameDialog(on_done: impl Fn(String) + 'static) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match checked_name(&draft.get_untracked()) {
            Ok(name) => on_done(name),
            Err(why) => problem.set(Some(why)),
        }
    };
    view! {
        <main class="name-dialog">
            <form on:submit=submit>
                <h1>"Welcome to Chat"</h1>
                <label for="name">"Pick a display name"</label>
                <input
                    id="name"
                    name="name"
                    autocomplete="nickname"
                    maxlength="32"
                    placeholder="e.g. Ada"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                />
                <p class="problem" role="alert">{move || problem.get()}</p>
                <button type="submit">"Start chatting"</button>
            </form>
        </main>
    }
}
